#include "footprint.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* The deepest monitor thread (a vCPU's MMIO exit into a device's register handler, or the
 * API thread parsing a request) uses a few KiB; 512 KiB leaves room to spare and stays
 * under a 2 MiB huge page. The sanitizers' redzones grow every frame: give them more. */
#if defined(__SANITIZE_ADDRESS__)
#define THREAD_STACK_BYTES (4u << 20)
#else
#define THREAD_STACK_BYTES (512u << 10)
#endif

/* The linker's symbols around the writable data (.data starts it, .bss ends at _end). */
extern char __data_start[], _end[];

void footprint_small_pages(void)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)__data_start & ~(page - 1);
	uintptr_t end = ((uintptr_t)_end + page - 1) & ~(page - 1);
	(void)madvise((void *)start, end - start, MADV_NOHUGEPAGE);
}

int footprint_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int r = pthread_attr_init(&attr);
	if (r)
		return r;
	r = pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
	if (!r)
		r = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return r;
}
