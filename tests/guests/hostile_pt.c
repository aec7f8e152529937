/* Points the guest's own paging at guest-physical memory far outside RAM (64 GiB).
 * Default: a 2 MiB page-directory entry maps va 0x40000000 to pa 0x1000000000 and the
 * guest reads through it. pt.mode=cr3: CR3 itself is loaded with 0x1000000000, so the
 * next instruction fetch walks tables that do not exist. Either way Ember must stop the
 * VM with status 1 and one line; "pt: survived" must never appear.
 *   pt: maxphyaddr N
 *   pt: reading 0x1000000000 via va 0x40000000	or	pt: loading cr3 0x1000000000 */
#include "guest.h"

#define FAR_PA 0x1000000000UL
#define FAR_VA 0x40000000UL

static u64 pml4[512] __attribute__((aligned(4096)));
static u64 pdpt[512] __attribute__((aligned(4096)));
static u64 pd_low[512] __attribute__((aligned(4096)));
static u64 pd_far[512] __attribute__((aligned(4096)));

int main(void)
{
	u32 a, b, c, d;

	/* If FAR_PA were beyond MAXPHYADDR the walk would fault on reserved bits instead. */
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		gprintf("pt: maxphyaddr %u\n", a & 0xff);
	}

	if (cmdline_has(boot.cmdline, "pt.mode", "cr3")) {
		gprintf("pt: loading cr3 0x%lx\n", FAR_PA);
		write_cr3(FAR_PA);
		gprintf("pt: survived cr3 0x%lx\n", FAR_PA);
		return 0;
	}

	/* The first GiB identity-mapped (this image, low memory), the second GiB's first
	 * 2 MiB sent far away. */
	pml4[0] = (u64)(uintptr_t)pdpt | PTE_P | PTE_RW;
	pdpt[0] = (u64)(uintptr_t)pd_low | PTE_P | PTE_RW;
	pdpt[1] = (u64)(uintptr_t)pd_far | PTE_P | PTE_RW;
	for (u64 i = 0; i < 512; i++)
		pd_low[i] = i << 21 | PTE_P | PTE_RW | PTE_PS;
	pd_far[0] = FAR_PA | PTE_P | PTE_RW | PTE_PS;
	write_cr3((u64)(uintptr_t)pml4);

	gprintf("pt: reading 0x%lx via va 0x%lx\n", FAR_PA, FAR_VA);
	gprintf("pt: survived read 0x%lx = 0x%lx\n", FAR_PA, mmio_read64(FAR_VA));
	return 0;
}
