/* Raises an exception with an empty IDT: the CPU shuts down (triple fault) and Ember
 * must exit 1 naming it. The second marker must never appear. */
#include "guest.h"

int main(void)
{
	serial_puts("triple_fault: faulting now\n");
	guest_triple_fault();
	serial_puts("triple_fault: survived\n");
	return 0;
}
