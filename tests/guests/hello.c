/* The smallest good guest: one marker line, then an i8042 reset (Ember exits 0). */
#include "guest.h"

int main(void)
{
	serial_puts("Hello from an Ember guest\n");
	return 0;
}
