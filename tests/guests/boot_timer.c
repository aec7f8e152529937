/* Marks the end of its boot on Firecracker's boot timer (123 to the byte at 0xc0000000),
 * twice (the second must not be logged again), then exits:
 *   boot_timer: marked */
#include "guest.h"

#define BOOT_TIMER 0xc0000000UL

int main(void)
{
	*(volatile u8 *)BOOT_TIMER = 123;
	*(volatile u8 *)BOOT_TIMER = 123;
	serial_puts("boot_timer: marked\n");
	return 0;
}
