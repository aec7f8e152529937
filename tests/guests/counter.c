/* A guest that counts in RAM and prints every count on the console, for snapshot tests:
 * after a restore the count must go on with no value repeated or skipped. It ends by
 * itself (status 0) once the count reaches the command line's counter.max (default
 * 1000000), so a lost VM cannot run forever. With counter.dirty=K (at most 1024) it
 * also writes the count into each of K pages at every count: a Diff snapshot taken
 * between two counts holds those K pages and few others. */
#include "guest.h"

static volatile u64 count; /* in RAM: the snapshot's memory file carries it */

/* The pages counter.dirty writes: RAM from 16 MiB on, past the image (the guest has
 * at least 32 MiB; the boot page tables map the first GiB). */
#define DIRTY_MAX 1024
#define pages     ((volatile u64(*)[512])0x1000000)

int main(void)
{
	u64 max = 1000000, delay = 2000000, dirty = 0;
	cmdline_get_u64(boot.cmdline, "counter.max", &max);
	cmdline_get_u64(boot.cmdline, "counter.delay", &delay);
	cmdline_get_u64(boot.cmdline, "counter.dirty", &dirty);
	if (dirty > DIRTY_MAX)
		dirty = DIRTY_MAX;
	serial_puts("counter: start\n");
	while (count < max) {
		count++;
		for (u64 i = 0; i < dirty; i++)
			pages[i][count % 512] = count;
		gprintf("count %llu\n", (unsigned long long)count);
		tsc_delay(delay);
	}
	serial_puts("counter: done\n");
	return 0;
}
