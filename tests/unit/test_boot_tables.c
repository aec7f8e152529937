/* The boot data a guest finds at entry, read back from guest memory as the guest sees it. */
#include "unit.h"

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/layout.h"
#include "base/guest_mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define PTE_P    0x1ULL
#define PTE_RW   0x2ULL
#define PTE_PS   0x80ULL
#define PTE_ADDR 0x000ffffffffff000ULL

/* Segment descriptor fields (Intel SDM vol. 3, 3.4.5). */
#define DESC_TYPE(d) (((d) >> 40) & 0xf)
#define DESC_S(d)    (((d) >> 44) & 1)
#define DESC_DPL(d)  (((d) >> 45) & 3)
#define DESC_P(d)    (((d) >> 47) & 1)
#define DESC_L(d)    (((d) >> 53) & 1)
#define DESC_DB(d)   (((d) >> 54) & 1)

static const char CMDLINE[] = "console=ttyS0 reboot=k panic=1";

static struct guest_mem gm;

/* The freestanding-guest case: a command line and nothing else. */
static int write_tables(const struct guest_mem *g, const char *cmdline)
{
	struct boot_data bd = {.cmdline = cmdline};
	return boot_write_tables(g, &bd);
}

static int group_setup(void **state)
{
	(void)state;
	if (gm_create(&gm, 128 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM) < 0)
		return -1;
	/* Junk where the tables go: the writer must not rely on zeroed memory. */
	memset(gm_ptr(&gm, 0, 0x30000), 0xcc, 0x30000);
	return write_tables(&gm, CMDLINE) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static const uint8_t *at(gpa_t gpa, uint64_t len)
{
	const uint8_t *p = gm_ptr(&gm, gpa, len);
	assert_non_null(p);
	return p;
}

static uint64_t rd64(gpa_t gpa)
{
	return unit_le(at(gpa, 8), 8);
}

static const uint8_t *zero_page(void)
{
	return at(LAYOUT_ZERO_PAGE, BP_SIZE);
}

/* ---- GDT ---- */

static void gdt_null(void **state)
{
	(void)state;
	assert_int_equal(rd64(LAYOUT_GDT), 0);
}

static void gdt_code64(void **state)
{
	(void)state;
	uint64_t d = rd64(LAYOUT_GDT + BOOT_CS);

	assert_int_equal(BOOT_CS, 0x10);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);  /* code or data, not system */
	assert_true(DESC_TYPE(d) & 0x8); /* code */
	assert_true(DESC_TYPE(d) & 0x2); /* readable */
	assert_int_equal(DESC_L(d), 1);  /* 64-bit */
	assert_int_equal(DESC_DB(d), 0); /* L=1 requires D=0 */
	assert_int_equal(DESC_DPL(d), 0);
	assert_int_equal(d, boot_gdt_entry(BOOT_CS / 8));
}

static void gdt_data(void **state)
{
	(void)state;
	uint64_t d = rd64(LAYOUT_GDT + BOOT_DS);

	assert_int_equal(BOOT_DS, 0x18);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_false(DESC_TYPE(d) & 0x8); /* data */
	assert_true(DESC_TYPE(d) & 0x2);  /* writable */
	assert_int_equal(DESC_DPL(d), 0);
	assert_int_equal(d, boot_gdt_entry(BOOT_DS / 8));
}

static void gdt_tss(void **state)
{
	(void)state;
	uint64_t d = rd64(LAYOUT_GDT + BOOT_TSS);

	assert_int_equal(BOOT_TSS, 0x20);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 0);      /* a system descriptor */
	assert_int_equal(DESC_TYPE(d), 0xb); /* busy 64-bit TSS */
	assert_int_equal(d, boot_gdt_entry(BOOT_TSS / 8));
}

/* ---- page tables ---- */

static void pml4(void **state)
{
	(void)state;
	uint64_t e = rd64(LAYOUT_PML4);

	assert_int_equal(e & PTE_ADDR, LAYOUT_PDPT);
	assert_int_equal(e & (PTE_P | PTE_RW), PTE_P | PTE_RW);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(rd64(LAYOUT_PML4 + 8 * i), 0);
}

static void pdpt(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = rd64(LAYOUT_PDPT + 8 * i);
		assert_int_equal(e & PTE_ADDR, LAYOUT_PD + 0x1000ULL * i);
		assert_int_equal(e & (PTE_P | PTE_RW | PTE_PS), PTE_P | PTE_RW);
	}
	for (unsigned i = 4; i < 512; i++)
		assert_int_equal(rd64(LAYOUT_PDPT + 8 * i), 0);
}

static void pd_identity_4g(void **state)
{
	(void)state;
	/* 4 directories x 512 entries x 2 MiB = the first 4 GiB, device hole included. */
	for (unsigned j = 0; j < 2048; j++) {
		uint64_t e = rd64(LAYOUT_PD + 8ULL * j);
		if ((e & PTE_ADDR) != (uint64_t)j << 21 ||
		    (e & (PTE_P | PTE_RW | PTE_PS)) != (PTE_P | PTE_RW | PTE_PS))
			print_error("PD entry %u is 0x%llx\n", j, (unsigned long long)e);
		assert_int_equal(e & PTE_ADDR, (uint64_t)j << 21);
		assert_int_equal(e & (PTE_P | PTE_RW | PTE_PS), PTE_P | PTE_RW | PTE_PS);
	}
	/* The IOAPIC and LAPIC in the device hole are reachable through the identity map. */
	assert_int_equal(rd64(LAYOUT_PD + 8 * (LAYOUT_IOAPIC >> 21)) & PTE_ADDR,
	                 LAYOUT_IOAPIC & ~(2 * MiB - 1));
	assert_int_equal(rd64(LAYOUT_PD + 8 * (LAYOUT_LAPIC >> 21)) & PTE_ADDR,
	                 LAYOUT_LAPIC & ~(2 * MiB - 1));
}

/* ---- boot_params ---- */

static void bp_magic(void **state)
{
	(void)state;
	const uint8_t *bp = zero_page();

	assert_int_equal(unit_le(bp + BP_BOOT_FLAG, 2), 0xaa55);
	assert_int_equal(BP_BOOT_FLAG, 0x1fe);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(bp[BP_TYPE_OF_LOADER], 0xff);
	assert_int_equal(BP_TYPE_OF_LOADER, 0x210);
}

static void bp_cmdline(void **state)
{
	(void)state;
	const uint8_t *bp = zero_page();

	assert_int_equal(unit_le(bp + 0x228, 4), 0x20000);
	assert_int_equal(unit_le(bp + 0x0c8, 4), 0);
	const char *cl = (const char *)at(LAYOUT_CMDLINE, sizeof(CMDLINE));
	assert_memory_equal(cl, CMDLINE, sizeof(CMDLINE)); /* includes the NUL */
}

static void bp_e820(void **state)
{
	(void)state;
	const uint8_t *bp = zero_page();
	static const struct e820_entry want[] = {
	    {0, 0x9fc00, E820_RAM},
	    {0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED},
	    {0x100000, 128 * MiB - 0x100000, E820_RAM},
	};

	assert_int_equal(bp[0x1e8], 3);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *e = bp + 0x2d0 + 20 * i;
		assert_int_equal(unit_le(e, 8), want[i].addr);
		assert_int_equal(unit_le(e + 8, 8), want[i].size);
		assert_int_equal(unit_le(e + 16, 4), want[i].type);
	}
	/* Nothing after the last entry. */
	for (unsigned i = 0x2d0 + 60; i < 0x2d0 + 80; i++)
		assert_int_equal(bp[i], 0);
}

/* ---- boot_e820_build ---- */

/* A guest_mem with the layout of a guest of ram bytes but no memory behind it:
 * boot_e820_build() only reads the regions. */
static struct guest_mem layout_only(uint64_t ram)
{
	struct guest_mem g;
	memset(&g, 0, sizeof(g));
	g.ram_bytes = ram;
	g.nregions = gm_layout(ram, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM, g.regions);
	return g;
}

static void e820_3200m(void **state)
{
	(void)state;
	struct guest_mem g = layout_only(3200 * MiB);
	struct e820_entry e[8];
	static const struct e820_entry want[] = {
	    {0, 0x9fc00, E820_RAM},
	    {0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED},
	    {0x100000, 3 * GiB - 0x100000, E820_RAM},
	    {4 * GiB, 128 * MiB, E820_RAM},
	};

	assert_int_equal(boot_e820_build(&g, e, 8), 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(e[i].addr, want[i].addr);
		assert_int_equal(e[i].size, want[i].size);
		assert_int_equal(e[i].type, want[i].type);
	}
	/* Low RAM stops at the hole. */
	assert_int_equal(e[2].addr + e[2].size, LAYOUT_MMIO_HOLE);
}

static void e820_real_3200m(void **state)
{
	(void)state;
	struct guest_mem g;
	struct e820_entry e[8];

	/* The same through gm_create (MAP_NORESERVE: nothing is touched). */
	assert_int_equal(gm_create(&g, 3200 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(boot_e820_build(&g, e, 8), 4);
	assert_int_equal(e[3].addr, 4 * GiB);
	assert_int_equal(e[3].size, 128 * MiB);
	assert_int_equal(e[2].addr + e[2].size, 3 * GiB);
	gm_destroy(&g);
}

static void e820_exactly_3g(void **state)
{
	(void)state;
	struct guest_mem g = layout_only(3 * GiB);
	struct e820_entry e[8];

	assert_int_equal(boot_e820_build(&g, e, 8), 3);
	assert_int_equal(e[2].addr, 0x100000);
	assert_int_equal(e[2].addr + e[2].size, 3 * GiB);
}

static void e820_1m(void **state)
{
	(void)state;
	struct guest_mem g = layout_only(MiB);
	struct e820_entry e[8];

	/* RAM below the EBDA and the reserved BIOS area; no (empty) RAM entry at 1 MiB. */
	assert_int_equal(boot_e820_build(&g, e, 8), 2);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, 0x9fc00);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].addr, 0x9fc00);
	assert_int_equal(e[1].size, 0x100000 - 0x9fc00);
	assert_int_equal(e[1].type, E820_RESERVED);
}

static void e820_enospc(void **state)
{
	(void)state;
	struct guest_mem g = layout_only(128 * MiB);
	struct e820_entry e[8];

	memset(e, 0x77, sizeof(e));
	assert_int_equal(boot_e820_build(&g, e, 2), -ENOSPC);
	assert_int_equal(boot_e820_build(&g, e, 0), -ENOSPC);
	/* Nothing written past max (nor, here, at all). */
	assert_int_equal(e[2].addr, 0x7777777777777777ULL);
	assert_int_equal(boot_e820_build(&g, e, 3), 3);

	g = layout_only(3200 * MiB);
	memset(e, 0x77, sizeof(e));
	assert_int_equal(boot_e820_build(&g, e, 3), -ENOSPC);
	assert_int_equal(e[3].addr, 0x7777777777777777ULL);
	assert_int_equal(boot_e820_build(&g, e, 4), 4);
}

/* ---- boot_write_tables: command line and small guests ---- */

static void cmdline_too_long(void **state)
{
	(void)state;
	struct guest_mem g;
	static char line[LAYOUT_CMDLINE_SIZE + 1];

	assert_int_equal(gm_create(&g, 16 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	memset(line, 'a', LAYOUT_CMDLINE_SIZE);
	line[LAYOUT_CMDLINE_SIZE] = '\0';
	assert_int_equal(write_tables(&g, line), -ENOSPC);

	/* One byte shorter fits exactly, its NUL on the last byte of the area. */
	line[LAYOUT_CMDLINE_SIZE - 1] = '\0';
	assert_int_equal(write_tables(&g, line), 0);
	const char *cl = gm_ptr(&g, LAYOUT_CMDLINE, LAYOUT_CMDLINE_SIZE);
	assert_non_null(cl);
	assert_memory_equal(cl, line, LAYOUT_CMDLINE_SIZE);
	gm_destroy(&g);
}

static void cmdline_round_trip(void **state)
{
	(void)state;
	struct guest_mem g;
	static const char line[] =
	    "console=ttyS0  init=/bin/sh -- \"quoted arg\" 'single' a\\\"b  trailing ";

	assert_int_equal(gm_create(&g, 16 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	memset(gm_ptr(&g, LAYOUT_CMDLINE, LAYOUT_CMDLINE_SIZE), 'x', LAYOUT_CMDLINE_SIZE);
	assert_int_equal(write_tables(&g, line), 0);
	const char *cl = gm_ptr(&g, LAYOUT_CMDLINE, sizeof(line));
	assert_non_null(cl);
	assert_memory_equal(cl, line, sizeof(line));
	assert_string_equal(cl, line);

	/* An empty command line is an empty string, not stale text. */
	assert_int_equal(write_tables(&g, ""), 0);
	assert_int_equal(*(const char *)gm_ptr(&g, LAYOUT_CMDLINE, 1), '\0');
	gm_destroy(&g);
}

static void tables_1m_guest(void **state)
{
	(void)state;
	struct guest_mem g;

	/* Everything sits below 0x21000, so a 1 MiB guest has room. */
	assert_int_equal(gm_create(&g, MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(write_tables(&g, "x"), 0);
	const uint8_t *bp = gm_ptr(&g, LAYOUT_ZERO_PAGE, BP_SIZE);
	assert_int_equal(bp[BP_E820_ENTRIES], 2);
	gm_destroy(&g);
}

static void tables_too_little_ram(void **state)
{
	(void)state;
	struct guest_mem g;

	/* 64 KiB holds the GDT, page tables and boot_params but not the command line. */
	assert_int_equal(gm_create(&g, 0x10000, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(write_tables(&g, ""), -ENOSPC);
	gm_destroy(&g);

	/* 32 KiB ends inside the page directories. */
	assert_int_equal(gm_create(&g, 0x8000, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(write_tables(&g, ""), -ENOSPC);
	gm_destroy(&g);
}

/* ---- boot_write_tables: bzImage header, initrd, RSDP, PVH start info ---- */

static void bzimage_header_initrd_rsdp(void **state)
{
	(void)state;
	struct guest_mem g;
	struct kernel_image k = {.entry_kind = BOOT_ENTRY_LINUX64, .bzimage = true};
	assert_int_equal(gm_create(&g, 64 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	/* The image's own header: its fields survive unless the loader owns them. */
	memset(k.setup_hdr, 0x5a, sizeof(k.setup_hdr));
	struct boot_data bd = {.cmdline = "c",
	                       .kernel = &k,
	                       .initrd = 0x3000000,
	                       .initrd_size = 0x123456,
	                       .rsdp = 0xe0000};
	assert_int_equal(boot_write_tables(&g, &bd), 0);
	const uint8_t *bp = gm_ptr(&g, LAYOUT_ZERO_PAGE, BP_SIZE);
	assert_int_equal(bp[BP_SETUP_SECTS], 0x5a);
	assert_int_equal(bp[BP_LOADFLAGS], 0x5a);
	assert_int_equal(bp[BP_TYPE_OF_LOADER], BP_LOADER_UNDEFINED);
	assert_int_equal(bp_get32(bp, BP_HEADER), BP_HEADER_MAGIC);
	assert_int_equal(bp_get32(bp, BP_CMD_LINE_PTR), LAYOUT_CMDLINE);
	assert_int_equal(bp_get32(bp, BP_RAMDISK_IMAGE), 0x3000000);
	assert_int_equal(bp_get32(bp, BP_RAMDISK_SIZE), 0x123456);
	assert_int_equal(bp_get32(bp, BP_EXT_RAMDISK_IMG), 0);
	assert_int_equal(bp_get64(bp, BP_ACPI_RSDP_ADDR), 0xe0000);
	/* Outside the header, boot_params is ours: zero unless written. */
	assert_int_equal(bp[0x290], 0);
	gm_destroy(&g);
}

static void pvh_start_info(void **state)
{
	(void)state;
	struct guest_mem g;
	struct kernel_image k = {.entry_kind = BOOT_ENTRY_PVH};
	assert_int_equal(gm_create(&g, 5ULL * 1024 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	struct boot_data bd = {.cmdline = "pvh",
	                       .kernel = &k,
	                       .initrd = 0x4000000,
	                       .initrd_size = 0x1000,
	                       .rsdp = 0xe0000};
	assert_int_equal(boot_write_tables(&g, &bd), 0);
	const uint8_t *si = gm_ptr(&g, LAYOUT_PVH_INFO, 4096);
	assert_int_equal(bp_get32(si, 0), 0x336ec578);
	assert_int_equal(bp_get32(si, 4), 1);
	assert_int_equal(bp_get32(si, 12), 1);
	uint64_t mods = bp_get64(si, 16);
	assert_int_equal(bp_get64(si, 24), LAYOUT_CMDLINE);
	assert_int_equal(bp_get64(si, 32), 0xe0000);
	uint64_t memmap = bp_get64(si, 40);
	uint32_t n = bp_get32(si, 48);
	assert_int_equal(bp_get64(si, mods - LAYOUT_PVH_INFO), 0x4000000);
	assert_int_equal(bp_get64(si, mods - LAYOUT_PVH_INFO + 8), 0x1000);
	/* The same map as the E820 one: low RAM, the reserved BIOS area, RAM to 3 GiB, and
	 * RAM above 4 GiB. */
	struct e820_entry e[8];
	int ne = boot_e820_build(&g, e, 8);
	assert_int_equal(n, (uint32_t)ne);
	assert_int_equal(ne, 4);
	for (int i = 0; i < ne; i++) {
		unsigned off = (unsigned)(memmap - LAYOUT_PVH_INFO) + 24u * (unsigned)i;
		assert_int_equal(bp_get64(si, off), e[i].addr);
		assert_int_equal(bp_get64(si, off + 8), e[i].size);
		assert_int_equal(bp_get32(si, off + 16), e[i].type);
	}
	assert_int_equal(e[3].addr, 0x100000000ULL);
	/* No initrd: no module. */
	bd.initrd = 0;
	bd.initrd_size = 0;
	assert_int_equal(boot_write_tables(&g, &bd), 0);
	assert_int_equal(bp_get32(si, 12), 0);
	assert_int_equal(bp_get64(si, 16), 0);
	gm_destroy(&g);
}

static void gdt_has_flat_32bit_code(void **state)
{
	(void)state;
	/* The PVH entry's CS: present, code, 32-bit (D=1, L=0), 4 GiB limit. */
	uint64_t d = boot_gdt_entry(BOOT_CS32 / 8);
	assert_true((d >> 47) & 1);
	assert_int_equal((d >> 43) & 1, 1);
	assert_int_equal((d >> 53) & 1, 0);
	assert_int_equal((d >> 54) & 1, 1);
	assert_int_equal((d >> 55) & 1, 1);
	assert_int_equal(d & 0xffff, 0xffff);
}

int main(void)
{
	const struct CMUnitTest tables[] = {
	    cmocka_unit_test(gdt_null),       cmocka_unit_test(gdt_code64),
	    cmocka_unit_test(gdt_data),       cmocka_unit_test(gdt_tss),
	    cmocka_unit_test(pml4),           cmocka_unit_test(pdpt),
	    cmocka_unit_test(pd_identity_4g), cmocka_unit_test(bp_magic),
	    cmocka_unit_test(bp_cmdline),     cmocka_unit_test(bp_e820),
	};
	const struct CMUnitTest other[] = {
	    cmocka_unit_test(e820_3200m),
	    cmocka_unit_test(e820_real_3200m),
	    cmocka_unit_test(e820_exactly_3g),
	    cmocka_unit_test(e820_1m),
	    cmocka_unit_test(e820_enospc),
	    cmocka_unit_test(cmdline_too_long),
	    cmocka_unit_test(cmdline_round_trip),
	    cmocka_unit_test(tables_1m_guest),
	    cmocka_unit_test(tables_too_little_ram),
	    cmocka_unit_test(bzimage_header_initrd_rsdp),
	    cmocka_unit_test(pvh_start_info),
	    cmocka_unit_test(gdt_has_flat_32bit_code),
	};
	int failed = 0;
	unit_init();
	failed += cmocka_run_group_tests(tables, group_setup, group_teardown);
	failed += cmocka_run_group_tests(other, NULL, NULL);
	return failed ? 1 : 0;
}
