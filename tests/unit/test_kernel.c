/* Kernel formats: a synthetic bzImage accepted, and each broken header field refused
 * before guest memory is touched. */
#include "unit.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/kernel.h"
#include "arch/x86/layout.h"

#define MiB         (1024ULL * 1024)
#define SETUP_SECTS 3
#define KOFF        ((SETUP_SECTS + 1) * 512)
#define KSIZE       0x3000
#define PREF        0x1000000ULL
#define INIT_SIZE   0x400000

static uint8_t img[KOFF + KSIZE];
static struct guest_mem gm;

static void put16(unsigned off, uint16_t v)
{
	bp_put16(img, off, v);
}

static void put32(unsigned off, uint32_t v)
{
	bp_put32(img, off, v);
}

/* A bzImage as the boot protocol describes it, protocol 2.15, 64-bit entry. */
static void bz_init(void)
{
	memset(img, 0, sizeof(img));
	img[BP_SETUP_SECTS] = SETUP_SECTS;
	put32(0x1f4, KSIZE / 16); /* syssize */
	put16(BP_BOOT_FLAG, 0xaa55);
	put32(BP_HEADER, BP_HEADER_MAGIC);
	put16(BP_VERSION, 0x020f);
	img[BP_LOADFLAGS] = BP_LOADFLAG_LOADED_HIGH;
	put32(BP_INITRD_ADDR_MAX, 0x7fffffff);
	put32(BP_KERNEL_ALIGNMENT, 0x200000);
	img[BP_RELOCATABLE] = 1;
	put16(BP_XLOADFLAGS, 0x1);
	put32(BP_CMDLINE_SIZE, 2047);
	bp_put64(img, 0x258, PREF);
	put32(0x260, INIT_SIZE);
	for (unsigned i = 0; i < KSIZE; i++)
		img[KOFF + i] = (uint8_t)(i * 31 + 7);
}

static int load(size_t size, enum boot_request req, struct kernel_image *k, char *err)
{
	int fd = unit_memfd(img, size);
	int r = kernel_load(&gm, fd, size, req, k, err, 256);
	close(fd);
	return r;
}

static void expect_refused(size_t size, enum boot_request req, const char *needle)
{
	struct kernel_image k;
	char err[256] = "";
	memset(gm_ptr(&gm, PREF, KSIZE), 0xcc, KSIZE);
	int r = load(size, req, &k, err);
	if (r >= 0 || !strstr(err, needle))
		print_error("got %d '%s', expected a refusal mentioning '%s'\n", r, err, needle);
	assert_true(r < 0);
	assert_non_null(strstr(err, needle));
	const uint8_t *p = gm_ptr(&gm, PREF, KSIZE);
	for (unsigned i = 0; i < KSIZE; i++)
		assert_int_equal(p[i], 0xcc);
}

static int setup(void **state)
{
	(void)state;
	return gm_create(&gm, 64 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM);
}

static int teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static void bzimage_loads(void **state)
{
	(void)state;
	struct kernel_image k;
	char err[256];
	bz_init();
	assert_int_equal(load(sizeof(img), BOOT_REQUEST_AUTO, &k, err), 0);
	assert_true(k.bzimage);
	assert_true(k.is_linux);
	assert_int_equal(k.entry_kind, BOOT_ENTRY_LINUX64);
	assert_int_equal(k.entry, PREF + 0x200);
	assert_int_equal(k.load_high, PREF + INIT_SIZE);
	assert_int_equal(k.cmdline_max, 2047);
	assert_int_equal(k.initrd_limit, 0x80000000ULL);
	assert_memory_equal(gm_ptr(&gm, PREF, KSIZE), img + KOFF, KSIZE);
	assert_memory_equal(k.setup_hdr, img + SETUP_HDR_START, sizeof(k.setup_hdr));
	/* setup_sects 0 means 4. */
	bz_init();
	img[BP_SETUP_SECTS] = 0;
	put32(0x1f4, (KSIZE - 512) / 16);
	assert_int_equal(load(sizeof(img), BOOT_REQUEST_LINUX64, &k, err), 0);
	assert_memory_equal(gm_ptr(&gm, PREF, 16), img + 5 * 512, 16);
}

static void bzimage_refusals(void **state)
{
	(void)state;
	bz_init();
	expect_refused(sizeof(img) - 1, BOOT_REQUEST_AUTO, "truncated");
	expect_refused(KOFF, BOOT_REQUEST_AUTO, "truncated");
	bz_init();
	put32(0x1f4, 0);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "truncated");
	bz_init();
	put32(0x1f4, 0xffffffffu);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "truncated");
	bz_init();
	put16(BP_VERSION, 0x020b);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "2.11; 2.12 or later");
	bz_init();
	put16(BP_XLOADFLAGS, 0x2);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "XLF_KERNEL_64");
	bz_init();
	img[BP_LOADFLAGS] = 0;
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "zImage");
	bz_init();
	put16(BP_BOOT_FLAG, 0x55aa);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "boot flag");
	bz_init();
	put32(BP_KERNEL_ALIGNMENT, 0x300000);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "alignment");
	bz_init();
	bp_put64(img, 0x258, PREF + 0x1000);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "alignment");
	bz_init();
	bp_put64(img, 0x258, 0);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "not a usable place");
	/* More than the guest has, and an address range that wraps. */
	bz_init();
	put32(0x260, 0x10000000);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "--mem");
	bz_init();
	bp_put64(img, 0x258, 0xffffffffffe00000ULL);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "--mem");
	bz_init();
	expect_refused(sizeof(img), BOOT_REQUEST_PVH, "no PVH entry");
}

static void not_a_kernel(void **state)
{
	(void)state;
	bz_init();
	expect_refused(3, BOOT_REQUEST_AUTO, "too short");
	put32(BP_HEADER, 0x12345678);
	expect_refused(sizeof(img), BOOT_REQUEST_AUTO, "neither an ELF file nor a bzImage");
	/* "HdrS" in a file too short for the whole header is not a bzImage either. */
	bz_init();
	expect_refused(0x210, BOOT_REQUEST_AUTO, "neither an ELF file nor a bzImage");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bzimage_loads),
	    cmocka_unit_test(bzimage_refusals),
	    cmocka_unit_test(not_a_kernel),
	};
	unit_init();
	return cmocka_run_group_tests(tests, setup, teardown) ? 1 : 0;
}
