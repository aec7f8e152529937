/* Writes then reads every I/O port but Ember's exit register, 0 to 0xffff, byte-wide, then word- and dword-wide
 * over the legacy ISA range and PCI config ports. The monitor must survive all of it;
 * the guest then re-initialises the UART and prints
 *   hostile ports survived
 * and resets (status 0). */
#include "guest.h"

/* Ember's exit register (docs/CONTRACTS.md) ends the VM on any write by design, so the
 * sweep leaves it out; the Linux tests exercise it. */
#define EXIT_PORT 0x603

/* 0x0a keeps every reset and power-off bit clear, so only 0xFE to 0x64 (which we never
 * write) could end the VM: bit 0 clear (port 0x92 fast reset), bit 2 clear (0xcf9 reset),
 * bit 5 clear (an ACPI PM1 control high byte's SLP_EN); not 0xF0-0xFF (8042 pulse
 * commands). On the UART it keeps DLAB and loopback off, and as a THR byte it is "\n". */
#define SWEEP 0x0a

static void sweep_wide(u32 from, u32 to)
{
	for (u32 port = from; port < to; port++) {
		outw((u16)port, SWEEP << 8 | SWEEP);
		(void)inw((u16)port);
		outl((u16)port, SWEEP * 0x01010101U);
		(void)inl((u16)port);
	}
}

int main(void)
{
	for (u32 port = 0; port <= 0xffff; port++) {
		if (port == EXIT_PORT)
			continue;
		outb((u16)port, SWEEP);
		(void)inb((u16)port);
	}
	sweep_wide(0, 0x400);
	sweep_wide(0xcf8, 0xd00);
	serial_init();
	serial_puts("\nhostile ports survived\n");
	return 0;
}
