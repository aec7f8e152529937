/* Writes to 0xe0000000, which is neither RAM nor a device in a VM of up to 3 GiB:
 * Ember must stop the VM (status 1, MMIO and the address on stderr) before the write
 * completes, so the second marker must never appear. */
#include "guest.h"

#define UNMAPPED_ADDR 0xe0000000UL

int main(void)
{
	gprintf("unmapped_write: writing 0x%lx\n", UNMAPPED_ADDR);
	mmio_write32(UNMAPPED_ADDR, 0x5a5a5a5a);
	gprintf("unmapped_write: survived 0x%lx\n", UNMAPPED_ADDR);
	return 0;
}
