/* A guest that counts in RAM and prints every count on the console, for snapshot tests:
 * after a restore the count must go on with no value repeated or skipped. It ends by
 * itself (status 0) once the count reaches the command line's counter.max (default
 * 1000000), so a lost VM cannot run forever. */
#include "guest.h"

static volatile u64 count; /* in RAM: the snapshot's memory file carries it */

int main(void)
{
	u64 max = 1000000, delay = 2000000;
	cmdline_get_u64(boot.cmdline, "counter.max", &max);
	cmdline_get_u64(boot.cmdline, "counter.delay", &delay);
	serial_puts("counter: start\n");
	while (count < max) {
		count++;
		gprintf("count %llu\n", (unsigned long long)count);
		tsc_delay(delay);
	}
	serial_puts("counter: done\n");
	return 0;
}
