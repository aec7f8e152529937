/* Guest memory: the layout around the device hole and the one gpa-to-pointer check. */
#include "unit.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "arch/x86/layout.h"
#include "base/file_io.h"
#include "base/guest_mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- gm_layout ---- */

static void layout_128m(void **state)
{
	(void)state;
	struct gm_region r[GM_MAX_REGIONS];
	memset(r, 0x5a, sizeof(r));

	assert_int_equal(gm_layout(128 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM, r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 128 * MiB);
}

static void layout_exactly_3g(void **state)
{
	(void)state;
	struct gm_region r[GM_MAX_REGIONS];
	memset(r, 0x5a, sizeof(r));

	/* 3 GiB fills the space below the hole exactly: no high region. */
	assert_int_equal(gm_layout(3 * GiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM, r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 3 * GiB);
}

static void layout_3g_plus_1m(void **state)
{
	(void)state;
	struct gm_region r[GM_MAX_REGIONS];

	assert_int_equal(gm_layout(3 * GiB + MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM, r), 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 3 * GiB);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].size, MiB);
}

static void layout_3200m(void **state)
{
	(void)state;
	struct gm_region r[GM_MAX_REGIONS];

	assert_int_equal(gm_layout(3200 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM, r), 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 3 * GiB);
	assert_int_equal(r[1].gpa, LAYOUT_HIGH_RAM);
	assert_int_equal(r[1].size, 128 * MiB);
	/* Nothing lands in the hole. */
	assert_true(r[0].gpa + r[0].size <= LAYOUT_MMIO_HOLE);
	assert_true(r[1].gpa >= 4 * GiB);
}

/* ---- gm_ptr on a 128 MiB guest ---- */

static struct guest_mem small;

static int small_setup(void **state)
{
	(void)state;
	return gm_create(&small, 128 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM) == 0 ? 0 : -1;
}

static int small_teardown(void **state)
{
	(void)state;
	gm_destroy(&small);
	return 0;
}

static void ptr_inside(void **state)
{
	(void)state;
	uint8_t *base = small.regions[0].host;

	assert_ptr_equal(gm_ptr(&small, 0, 1), base);
	assert_ptr_equal(gm_ptr(&small, 0x1000, 16), base + 0x1000);
	assert_ptr_equal(gm_ptr(&small, 0x200000, 4096), base + 0x200000);
	/* The whole of RAM as one range. */
	assert_ptr_equal(gm_ptr(&small, 0, 128 * MiB), base);
}

static void ptr_last_byte(void **state)
{
	(void)state;
	uint8_t *base = small.regions[0].host;

	assert_ptr_equal(gm_ptr(&small, 128 * MiB - 1, 1), base + 128 * MiB - 1);
	assert_ptr_equal(gm_ptr(&small, 128 * MiB - 8, 8), base + 128 * MiB - 8);
}

static void ptr_one_past_end(void **state)
{
	(void)state;
	assert_null(gm_ptr(&small, 128 * MiB, 1));
	assert_null(gm_ptr(&small, 128 * MiB + 4096, 4096));
	assert_null(gm_ptr(&small, 0, 128 * MiB + 1));
}

static void ptr_len_zero(void **state)
{
	(void)state;
	assert_null(gm_ptr(&small, 0, 0));
	assert_null(gm_ptr(&small, 0x1000, 0));
	assert_null(gm_ptr(&small, 128 * MiB, 0));
}

static void ptr_crossing_region_end(void **state)
{
	(void)state;
	assert_null(gm_ptr(&small, 128 * MiB - 4, 8));
	assert_null(gm_ptr(&small, 128 * MiB - 1, 2));
	assert_null(gm_ptr(&small, 1, 128 * MiB));
}

static void ptr_overflow(void **state)
{
	(void)state;
	/* gpa + len wraps past 2^64: the wrapped end would land inside RAM. */
	assert_null(gm_ptr(&small, 0x1000, UINT64_MAX));
	assert_null(gm_ptr(&small, 0x1000, UINT64_MAX - 0x800));
	assert_null(gm_ptr(&small, UINT64_MAX, 2));
	assert_null(gm_ptr(&small, UINT64_MAX, UINT64_MAX));
	assert_null(gm_ptr(&small, UINT64_MAX - 7, 16));
	/* The largest lengths that do not wrap are still outside RAM. */
	assert_null(gm_ptr(&small, UINT64_MAX, 1));
	assert_null(gm_ptr(&small, 0, UINT64_MAX));
	assert_null(gm_ptr(&small, 1, UINT64_MAX));
}

/* ---- gm_create ---- */

static void create_small(void **state)
{
	(void)state;
	struct guest_mem gm;

	assert_int_equal(gm_create(&gm, 4 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_non_null(gm.mapping);
	assert_int_equal((uintptr_t)gm.mapping % (2 * MiB), 0);
	assert_int_equal(gm.ram_bytes, 4 * MiB);
	assert_int_equal(gm.nregions, 1);
	assert_int_equal(gm.regions[0].gpa, 0);
	assert_int_equal(gm.regions[0].size, 4 * MiB);
	assert_ptr_equal(gm.regions[0].host, gm.mapping);

	/* Writable and zero-filled from end to end. */
	uint8_t *p = gm_ptr(&gm, 0, 4 * MiB);
	assert_non_null(p);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[4 * MiB - 1], 0);
	p[0] = 0x11;
	p[2 * MiB] = 0x22;
	p[4 * MiB - 1] = 0x33;
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 0, 1), 0x11);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 2 * MiB, 1), 0x22);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 4 * MiB - 1, 1), 0x33);

	gm_destroy(&gm);
	assert_null(gm.mapping);
	assert_int_equal(gm.nregions, 0);
	/* Destroying twice (a zeroed struct) is harmless. */
	gm_destroy(&gm);
}

static void create_odd_size(void **state)
{
	(void)state;
	struct guest_mem gm;

	/* Not a multiple of 2 MiB, not even of a page: the base is still 2 MiB aligned. */
	assert_int_equal(gm_create(&gm, 3 * MiB + 4096 + 100, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM),
	                 0);
	assert_int_equal((uintptr_t)gm.mapping % (2 * MiB), 0);
	uint8_t *last = gm_ptr(&gm, 3 * MiB + 4096 + 99, 1);
	assert_non_null(last);
	*last = 0x44;
	assert_null(gm_ptr(&gm, 3 * MiB + 4096 + 100, 1));
	gm_destroy(&gm);
}

/* Whether the VMA at addr carries flag (two letters of smaps' VmFlags, "hg": MADV_HUGEPAGE);
 * -1 when smaps cannot say. */
static int vma_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, found = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			found = strstr(line, flag) != NULL;
	}
	fclose(f);
	return found;
}

/* huge_pages "None": no advice; "Transparent": MADV_HUGEPAGE on all of RAM. */
static void huge_page_advice(void **state)
{
	(void)state;
	struct guest_mem gm;
	assert_int_equal(gm_create(&gm, 8 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	int before = vma_flag(gm.mapping, " hg");
	if (before < 0) {
		gm_destroy(&gm);
		skip(); /* no smaps here */
	}
	assert_int_equal(before, 0);
	int r = gm_advise_huge(&gm);
	if (r == -EINVAL) {
		gm_destroy(&gm);
		skip(); /* a host kernel without THP */
	}
	assert_int_equal(r, 0);
	/* The low 4 MiB in small pages, the rest advised for huge ones. */
	assert_int_equal(vma_flag(gm.mapping, " nh"), 1);
	assert_int_equal(vma_flag(gm.mapping + GM_SMALL_PAGES_LOW - 1, " nh"), 1);
	assert_int_equal(vma_flag(gm.mapping + GM_SMALL_PAGES_LOW, " hg"), 1);
	assert_int_equal(vma_flag(gm.mapping + 8 * MiB - 1, " hg"), 1);
	gm_destroy(&gm);
}

static void create_zero_refused(void **state)
{
	(void)state;
	struct guest_mem gm;

	assert_int_equal(gm_create(&gm, 0, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), -EINVAL);
	assert_null(gm.mapping);
	gm_destroy(&gm);
}

static void create_3200m(void **state)
{
	(void)state;
	struct guest_mem gm;

	/* MAP_NORESERVE: this maps 3200 MiB of address space but touches only a few pages. */
	assert_int_equal(gm_create(&gm, 3200 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal((uintptr_t)gm.mapping % (2 * MiB), 0);
	assert_int_equal(gm.ram_bytes, 3200 * MiB);
	assert_int_equal(gm.nregions, 2);
	assert_int_equal(gm.regions[0].gpa, 0);
	assert_int_equal(gm.regions[0].size, 3 * GiB);
	assert_int_equal(gm.regions[1].gpa, 4 * GiB);
	assert_int_equal(gm.regions[1].size, 128 * MiB);
	assert_ptr_equal(gm.regions[0].host, gm.mapping);
	assert_ptr_equal(gm.regions[1].host, gm.regions[0].host + 3 * GiB);

	/* The high region translates through its own host pointer. */
	uint8_t *hi = gm.regions[1].host;
	assert_ptr_equal(gm_ptr(&gm, 4 * GiB, 1), hi);
	assert_ptr_equal(gm_ptr(&gm, 4 * GiB + 0x1234, 8), hi + 0x1234);
	assert_ptr_equal(gm_ptr(&gm, 4 * GiB + 128 * MiB - 1, 1), hi + 128 * MiB - 1);
	assert_null(gm_ptr(&gm, 4 * GiB + 128 * MiB, 1));
	assert_null(gm_ptr(&gm, 4 * GiB + 128 * MiB - 4, 8));
	assert_ptr_equal(gm_ptr(&gm, 3 * GiB - 1, 1), gm.regions[0].host + 3 * GiB - 1);

	/* The device hole [3 GiB, 4 GiB) is not RAM, and ranges cannot bridge it. */
	assert_null(gm_ptr(&gm, 3 * GiB, 1));
	assert_null(gm_ptr(&gm, LAYOUT_MMIO_DEVICES, 4));
	assert_null(gm_ptr(&gm, LAYOUT_IOAPIC, 4));
	assert_null(gm_ptr(&gm, LAYOUT_LAPIC, 4));
	assert_null(gm_ptr(&gm, 4 * GiB - 1, 1));
	assert_null(gm_ptr(&gm, 3 * GiB - 1, 2));
	assert_null(gm_ptr(&gm, 4 * GiB - 1, 2));
	assert_null(gm_ptr(&gm, 3 * GiB - 4096, GiB + 8192));
	assert_null(gm_ptr(&gm, 0, 3200 * MiB));
	/* Wrapping ranges in a two-region guest. */
	assert_null(gm_ptr(&gm, 4 * GiB, UINT64_MAX));
	assert_null(gm_ptr(&gm, UINT64_MAX - 0xff, 0x200));

	/* Touch a byte at each end of each region: they are distinct, writable memory. */
	uint8_t *lo = gm.regions[0].host;
	lo[0] = 1;
	lo[3 * GiB - 1] = 2;
	hi[0] = 3;
	hi[128 * MiB - 1] = 4;
	assert_int_equal(lo[0], 1);
	assert_int_equal(lo[3 * GiB - 1], 2);
	assert_int_equal(hi[0], 3);
	assert_int_equal(hi[128 * MiB - 1], 4);

	gm_destroy(&gm);
}

/* A Full snapshot's memory file: sparse where RAM is zero, mapped back privately. */
static void save_and_map_back(void **state)
{
	(void)state;
	struct guest_mem gm, back;
	uint64_t ram = 8ULL << 20;
	assert_int_equal(gm_create(&gm, ram, 4ULL << 20, 6ULL << 20), 0);
	for (uint64_t off = 0; off < ram; off += 1 << 20)
		gm.mapping[off + 123] = (uint8_t)(off >> 20) + 1;
	gm.mapping[ram - 4096 - 1] = 0xee; /* a page just before the last */
	int fd = memfd_create("ember-mem", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(gm_save(&gm, fd), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, ram);
	assert_true((uint64_t)st.st_blocks * 512 < ram / 4); /* holes where RAM was zero */
	assert_int_equal(gm_save(&gm, fd), -EEXIST);         /* never over old bytes */

	assert_int_equal(gm_create_from_file(&back, fd, ram, 4ULL << 20, 6ULL << 20), 0);
	assert_int_equal(back.nregions, 2);
	assert_memory_equal(back.mapping, gm.mapping, ram);
	uint8_t *p = gm_ptr(&back, 6ULL << 20, 1); /* the second region is RAM from 4 MiB on */
	assert_ptr_equal(p, back.mapping + (4ULL << 20));
	/* Private: the guest's writes do not reach the file. */
	back.mapping[123] = 0x55;
	uint8_t b = 0;
	assert_int_equal(pread(fd, &b, 1, 123), 1);
	assert_int_equal(b, 1);
	gm_destroy(&back);
	/* A file of the wrong size is refused. */
	assert_int_equal(gm_create_from_file(&back, fd, ram + 4096, 4ULL << 20, 6ULL << 20),
	                 -EINVAL);
	assert_int_equal(ftruncate(fd, ram - 4096), 0);
	assert_int_equal(gm_create_from_file(&back, fd, ram, 4ULL << 20, 6ULL << 20), -EINVAL);
	close(fd);
	gm_destroy(&gm);
}

/* The data extents (SEEK_DATA / SEEK_HOLE) of fd, in 4 KiB pages. */
static uint64_t data_pages(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END), off = 0;
	uint64_t pages = 0;
	while (off < end) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		pages += (uint64_t)(hole - data) / 4096;
		off = hole;
	}
	return pages;
}

/* A Diff snapshot's memory file: the pages KVM's log (here: bits) and the devices
 * (gm_mark_dirty) name, and the last page, nothing else; merged onto its base
 * (file_copy_data), the base becomes RAM as it is now, a page that became zero too. */
static void diff_save_and_merge(void **state)
{
	(void)state;
	struct guest_mem gm;
	uint64_t ram = 8ULL << 20;
	assert_int_equal(gm_create(&gm, ram, 4ULL << 20, 6ULL << 20), 0);
	for (uint64_t off = 0; off < ram; off += 4096 * 7)
		gm.mapping[off + 5] = (uint8_t)(off >> 12) | 1;
	int base = memfd_create("ember-base", MFD_CLOEXEC);
	int diff = memfd_create("ember-diff", MFD_CLOEXEC);
	assert_true(base >= 0 && diff >= 0);
	assert_int_equal(gm_save(&gm, base), 0);

	assert_int_equal(gm_track_dirty(&gm, 0), 0);
	uint64_t *bits = calloc(gm_bitmap_words(&gm), 8);
	assert_non_null(bits);
	gm.mapping[10 * 4096 + 1] = 0x77; /* "the guest" wrote pages 10 and 14 (to zero) */
	gm.mapping[14 * 4096 + 5] = 0;
	bits[0] |= 1u << 10 | 1u << 14;
	gm.mapping[30 * 4096 + 9] = 0x99; /* "a device" wrote page 30 */
	gm_mark_dirty(&gm, gm.mapping + 30 * 4096 + 9, 1);
	gm_mark_dirty(&gm, gm.mapping + ram, 1); /* outside RAM: ignored */
	gm_mark_dirty(&gm, gm.mapping - 1, 2);   /* starts outside: ignored */
	gm_take_dirty(&gm, bits);
	assert_int_equal(bits[0], 1u << 10 | 1u << 14 | 1u << 30);
	uint64_t *again = calloc(gm_bitmap_words(&gm), 8);
	assert_non_null(again);
	gm_take_dirty(&gm, again); /* taking clears */
	for (size_t i = 0; i < gm_bitmap_words(&gm); i++)
		assert_int_equal(again[i], 0);
	free(again);

	assert_int_equal(gm_save_pages(&gm, diff, bits), 4); /* and the last page */
	struct stat st;
	assert_int_equal(fstat(diff, &st), 0);
	assert_int_equal(st.st_size, ram);
	assert_int_equal(data_pages(diff), 4);
	assert_int_equal(gm_save_pages(&gm, diff, bits), -EEXIST);

	uint64_t bytes = 0;
	assert_int_equal(file_copy_data(base, diff, &bytes), 0);
	assert_int_equal(bytes, 4 * 4096);
	uint8_t *merged = malloc(ram);
	assert_non_null(merged);
	assert_int_equal(file_read_exact(base, merged, ram, 0), 0);
	assert_memory_equal(merged, gm.mapping, ram);
	assert_int_equal(merged[14 * 4096 + 5], 0);

	/* Booted: every page dirty. */
	assert_int_equal(gm_track_dirty(&gm, 1), 0);
	memset(bits, 0, gm_bitmap_words(&gm) * 8);
	gm_take_dirty(&gm, bits);
	assert_int_equal(bits[gm_bitmap_words(&gm) - 1], UINT64_MAX);
	free(merged);
	free(bits);
	close(base);
	close(diff);
	gm_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest layout[] = {
	    cmocka_unit_test(layout_128m),
	    cmocka_unit_test(layout_exactly_3g),
	    cmocka_unit_test(layout_3g_plus_1m),
	    cmocka_unit_test(layout_3200m),
	};
	const struct CMUnitTest ptr[] = {
	    cmocka_unit_test(ptr_inside),
	    cmocka_unit_test(ptr_last_byte),
	    cmocka_unit_test(ptr_one_past_end),
	    cmocka_unit_test(ptr_len_zero),
	    cmocka_unit_test(ptr_crossing_region_end),
	    cmocka_unit_test(ptr_overflow),
	};
	const struct CMUnitTest create[] = {
	    cmocka_unit_test(create_small),        cmocka_unit_test(create_odd_size),
	    cmocka_unit_test(create_zero_refused), cmocka_unit_test(create_3200m),
	    cmocka_unit_test(huge_page_advice),    cmocka_unit_test(save_and_map_back),
	    cmocka_unit_test(diff_save_and_merge),
	};
	int failed = 0;
	unit_init();
	failed += cmocka_run_group_tests(layout, NULL, NULL);
	failed += cmocka_run_group_tests(ptr, small_setup, small_teardown);
	failed += cmocka_run_group_tests(create, NULL, NULL);
	return failed ? 1 : 0;
}
