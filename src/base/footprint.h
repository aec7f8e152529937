/* The monitor's own memory: kept in small pages, so an idle Ember costs what it touches.
 *
 * Debian's kernels (and most distributions') run transparent huge pages "always": any
 * anonymous mapping with a 2 MiB-aligned stretch inside it is backed by a 2 MiB page on
 * its first touch. For the monitor that turns one byte of .bss or of a thread's stack into
 * 2 MiB of RSS (measured in the rig: 2.3 MiB of .bss and 2 MiB per vCPU stack resident
 * for a guest that only spins). Guest RAM is not the monitor's: its huge pages follow the
 * VM's huge_pages setting (src/vmm/vm.c). */
#ifndef EMBER_BASE_FOOTPRINT_H
#define EMBER_BASE_FOOTPRINT_H

#include <pthread.h>

/* Advise the kernel against huge pages on the program's writable data and .bss. Call once,
 * first thing in main, before seccomp. Advice only: errors are ignored (THP compiled
 * out, or an old kernel). */
void footprint_small_pages(void);

/* pthread_create for a monitor thread: fn(arg) on a stack of THREAD_STACK_BYTES, smaller
 * than a huge page so none can back it. Returns 0 or a positive error number, as
 * pthread_create does. */
int footprint_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
