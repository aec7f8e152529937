/* Port I/O to a port no device claims: reads return all ones, writes are ignored. */
#include "guest.h"

#define UNCLAIMED_PORT 0x1234

int main(void)
{
	gprintf("unknown port read 0x%x\n", inb(UNCLAIMED_PORT));
	gprintf("unknown port read16 0x%x\n", inw(UNCLAIMED_PORT));
	gprintf("unknown port read32 0x%x\n", inl(UNCLAIMED_PORT));
	outb(UNCLAIMED_PORT, 0x00);
	outw(UNCLAIMED_PORT, 0x0000);
	outl(UNCLAIMED_PORT, 0x00000000);
	gprintf("unknown port read after write 0x%x\n", inb(UNCLAIMED_PORT));
	return 0;
}
