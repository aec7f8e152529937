/* Touches one guest-physical address below 4 GiB, taken from the command line:
 * hole.addr=0x... (4-byte aligned), hole.op=write (default) or read.
 *   hole: writing <addr>	or	hole: reading <addr> / hole: read <addr> = <value>
 *   hole: survived <addr>
 * In the device hole Ember must stop the VM (status 1, MMIO on stderr) so "survived"
 * never appears; at the LAPIC or IOAPIC the access is handled in the kernel. */
#include "guest.h"

#define HOLE_VALUE 0x5a5a5a5a
#define MAPPED_TOP (1UL << 32) /* Ember's page tables stop here */

int main(void)
{
	bool rd = cmdline_has(boot.cmdline, "hole.op", "read");
	u64 addr;

	if (!cmdline_get_u64(boot.cmdline, "hole.addr", &addr) || addr & 3 ||
	    addr > MAPPED_TOP - 4) {
		gprintf("hole: need hole.addr=ADDR, 4-byte aligned, below 4 GiB\n");
		return 1;
	}
	if (rd) {
		gprintf("hole: reading 0x%lx\n", addr);
		gprintf("hole: read 0x%lx = 0x%x\n", addr, mmio_read32(addr));
	} else {
		gprintf("hole: writing 0x%lx\n", addr);
		mmio_write32(addr, HOLE_VALUE);
	}
	gprintf("hole: survived 0x%lx\n", addr);
	return 0;
}
