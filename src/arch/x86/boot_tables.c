/* The boot data a guest finds in memory at entry: GDT, identity page tables, boot_params. */
#include "boot.h"
#include "bootparam.h"
#include "layout.h"

#include <errno.h>
#include <string.h>

/* A segment descriptor from the 16-bit "access byte | flags << 12" form, a base and a
 * 20-bit limit (Intel SDM vol. 3, 3.4.5). */
static uint64_t seg_desc(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

uint64_t boot_gdt_entry(unsigned index)
{
	switch (index) {
	case BOOT_CS32 / 8:
		return seg_desc(0xc09b, 0, 0xfffff); /* G, D/B, present, code exec/read, accessed */
	case BOOT_CS / 8:
		return seg_desc(0xa09b, 0, 0xfffff); /* G, L, present, code exec/read, accessed */
	case BOOT_DS / 8:
		return seg_desc(0xc093, 0,
		                0xfffff); /* G, D/B, present, data read/write, accessed */
	case BOOT_TSS / 8:
		return seg_desc(0x808b, 0, 0xfffff); /* G, present, busy 64-bit TSS */
	case BOOT_TSS / 8 + 1:
		return 0; /* a 64-bit TSS descriptor is 16 bytes: base bits 63:32 are 0 */
	default:
		return 0;
	}
}

#define GDT_ENTRIES (BOOT_TSS / 8 + 2)
#define PTE_P       0x1ULL
#define PTE_RW      0x2ULL
#define PTE_PS      0x80ULL

int boot_e820_build(const struct guest_mem *gm, struct e820_entry *out, size_t max)
{
	struct e820_entry e[2 + 2 * GM_MAX_REGIONS];
	size_t n = 0;

	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];
		uint64_t end = r->gpa + r->size;
		if (r->gpa != 0) {
			e[n++] = (struct e820_entry){r->gpa, r->size, E820_RAM};
			continue;
		}
		/* The region at 0 holds the legacy BIOS area: RAM below the EBDA, reserved
		 * up to 1 MiB (ACPI tables live there), RAM again from 1 MiB. */
		e[n++] = (struct e820_entry){0, end < LAYOUT_EBDA ? end : LAYOUT_EBDA, E820_RAM};
		if (end > LAYOUT_EBDA)
			e[n++] = (struct e820_entry){LAYOUT_EBDA, LAYOUT_HIMEM - LAYOUT_EBDA,
			                             E820_RESERVED};
		if (end > LAYOUT_HIMEM)
			e[n++] = (struct e820_entry){LAYOUT_HIMEM, end - LAYOUT_HIMEM, E820_RAM};
	}
	if (n > max)
		return -ENOSPC;
	memcpy(out, e, n * sizeof(e[0]));
	return (int)n;
}

static int write_gdt(const struct guest_mem *gm)
{
	uint8_t *gdt = gm_ptr(gm, LAYOUT_GDT, GDT_ENTRIES * 8);
	if (!gdt)
		return -ENOSPC;
	for (unsigned i = 0; i < GDT_ENTRIES; i++)
		bp_put64(gdt, i * 8, boot_gdt_entry(i));
	return 0;
}

static int write_page_tables(const struct guest_mem *gm)
{
	uint8_t *pml4 = gm_ptr(gm, LAYOUT_PML4, 4096);
	uint8_t *pdpt = gm_ptr(gm, LAYOUT_PDPT, 4096);
	uint8_t *pd = gm_ptr(gm, LAYOUT_PD, 4096 * LAYOUT_PD_COUNT);
	if (!pml4 || !pdpt || !pd)
		return -ENOSPC;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	bp_put64(pml4, 0, LAYOUT_PDPT | PTE_P | PTE_RW);
	for (unsigned i = 0; i < LAYOUT_PD_COUNT; i++)
		bp_put64(pdpt, i * 8, (LAYOUT_PD + 4096ULL * i) | PTE_P | PTE_RW);
	for (unsigned j = 0; j < 512 * LAYOUT_PD_COUNT; j++)
		bp_put64(pd, j * 8, ((uint64_t)j << 21) | PTE_P | PTE_RW | PTE_PS);
	return 0;
}

static int write_boot_params(const struct guest_mem *gm, const struct boot_data *bd,
                             const struct e820_entry *map, int n)
{
	size_t len = strlen(bd->cmdline);
	uint8_t *bp = gm_ptr(gm, LAYOUT_ZERO_PAGE, BP_SIZE);
	if (len >= LAYOUT_CMDLINE_SIZE)
		return -ENOSPC;
	char *cl = gm_ptr(gm, LAYOUT_CMDLINE, len + 1);
	if (!bp || !cl)
		return -ENOSPC;
	memcpy(cl, bd->cmdline, len + 1);

	memset(bp, 0, BP_SIZE);
	/* A bzImage's own header first, so the fields below override it (boot.rst: "copy
	 * the setup header into boot_params, then fill in the loader's fields"). */
	if (bd->kernel && bd->kernel->bzimage)
		memcpy(bp + SETUP_HDR_START, bd->kernel->setup_hdr, sizeof(bd->kernel->setup_hdr));
	bp_put16(bp, BP_BOOT_FLAG, BP_BOOT_FLAG_MAGIC);
	bp_put32(bp, BP_HEADER, BP_HEADER_MAGIC);
	bp_put8(bp, BP_TYPE_OF_LOADER, BP_LOADER_UNDEFINED);
	bp_put32(bp, BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	bp_put32(bp, BP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
	bp_put32(bp, BP_RAMDISK_IMAGE, (uint32_t)bd->initrd);
	bp_put32(bp, BP_EXT_RAMDISK_IMG, (uint32_t)(bd->initrd >> 32));
	bp_put32(bp, BP_RAMDISK_SIZE, (uint32_t)bd->initrd_size);
	bp_put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)(bd->initrd_size >> 32));
	bp_put64(bp, BP_ACPI_RSDP_ADDR, bd->rsdp);
	bp_put8(bp, BP_E820_ENTRIES, (uint8_t)n);
	for (int i = 0; i < n; i++) {
		unsigned off = BP_E820_TABLE + (unsigned)i * E820_ENTRY_SIZE;
		bp_put64(bp, off, map[i].addr);
		bp_put64(bp, off + 8, map[i].size);
		bp_put32(bp, off + 16, map[i].type);
	}
	return 0;
}

/* The PVH start info (Xen's public arch-x86/hvm/start_info.h, version 1): the header,
 * then one module entry for the initrd, then the memory map, all in one page. */
#define PVH_MAGIC        0x336ec578u
#define PVH_INFO_SIZE    56
#define PVH_MODULE_SIZE  32
#define PVH_MEMMAP_ENTRY 24

static int write_pvh_info(const struct guest_mem *gm, const struct boot_data *bd,
                          const struct e820_entry *map, int n)
{
	uint64_t mods = LAYOUT_PVH_INFO + PVH_INFO_SIZE;
	uint64_t memmap = mods + PVH_MODULE_SIZE;
	uint64_t size = memmap - LAYOUT_PVH_INFO + (uint64_t)n * PVH_MEMMAP_ENTRY;
	uint8_t *p = gm_ptr(gm, LAYOUT_PVH_INFO, size);
	if (!p || size > 4096)
		return -ENOSPC;
	memset(p, 0, size);
	bp_put32(p, 0, PVH_MAGIC);
	bp_put32(p, 4, 1); /* version */
	bp_put32(p, 12, bd->initrd_size ? 1 : 0);
	bp_put64(p, 16, bd->initrd_size ? mods : 0);
	bp_put64(p, 24, LAYOUT_CMDLINE);
	bp_put64(p, 32, bd->rsdp);
	bp_put64(p, 40, memmap);
	bp_put32(p, 48, (uint32_t)n);
	if (bd->initrd_size) {
		bp_put64(p, PVH_INFO_SIZE, bd->initrd);
		bp_put64(p, PVH_INFO_SIZE + 8, bd->initrd_size);
	}
	for (int i = 0; i < n; i++) {
		unsigned off =
		    (unsigned)(memmap - LAYOUT_PVH_INFO) + (unsigned)i * PVH_MEMMAP_ENTRY;
		bp_put64(p, off, map[i].addr);
		bp_put64(p, off + 8, map[i].size);
		bp_put32(p, off + 16, map[i].type);
	}
	return 0;
}

int boot_write_tables(const struct guest_mem *gm, const struct boot_data *bd)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = boot_e820_build(gm, map, E820_MAX_ENTRIES);
	if (n < 0)
		return n;
	int r = write_gdt(gm);
	if (!r)
		r = write_page_tables(gm);
	if (!r)
		r = write_boot_params(gm, bd, map, n);
	if (!r && bd->kernel && bd->kernel->entry_kind == BOOT_ENTRY_PVH)
		r = write_pvh_info(gm, bd, map, n);
	return r;
}
