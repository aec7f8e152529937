/* The guest-command archive (newc cpio) and where the initrd lands in guest memory. */
#include "unit.h"

#include "arch/x86/layout.h"
#include "vmm/initrd.h"

#include <stdlib.h>

#define MiB (1024ULL * 1024)

/* Parse one newc entry at p: returns its name, data and the next entry's offset. */
static size_t parse_entry(const uint8_t *p, char *name, size_t name_cap, const uint8_t **data,
                          size_t *data_len, unsigned *mode)
{
	char field[9] = {0};
	assert_memory_equal(p, "070701", 6);
	memcpy(field, p + 6 + 8, 8);
	*mode = (unsigned)strtoul(field, NULL, 16);
	memcpy(field, p + 6 + 6 * 8, 8);
	*data_len = strtoul(field, NULL, 16);
	memcpy(field, p + 6 + 11 * 8, 8);
	size_t namesz = strtoul(field, NULL, 16);
	assert_true(namesz <= name_cap);
	memcpy(name, p + 110, namesz);
	assert_int_equal(name[namesz - 1], '\0');
	size_t off = (110 + namesz + 3) & ~(size_t)3;
	*data = p + off;
	return (off + *data_len + 3) & ~(size_t)3;
}

static void archive_layout(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "echo \"a b\" 'c'", ""};
	size_t len;
	uint8_t *a = cmd_archive_build(argv, 4, false, &len);
	assert_non_null(a);
	assert_int_equal(len % 4, 0);

	char name[64];
	const uint8_t *data;
	size_t dlen;
	unsigned mode;
	size_t off = parse_entry(a, name, sizeof(name), &data, &dlen, &mode);
	assert_string_equal(name, "ember.cmd");
	assert_int_equal(mode, 0100400);
	static const char want[] = "tty=0\0\0sh\0-c\0echo \"a b\" 'c'\0";
	assert_int_equal(dlen, sizeof(want)); /* with the empty last argument's NUL */
	assert_memory_equal(data, want, sizeof(want) - 1);
	assert_int_equal(data[dlen - 1], '\0');
	off += parse_entry(a + off, name, sizeof(name), &data, &dlen, &mode);
	assert_string_equal(name, "TRAILER!!!");
	assert_int_equal(dlen, 0);
	assert_int_equal(off, len);
	free(a);

	a = cmd_archive_build(argv, 1, true, &len);
	parse_entry(a, name, sizeof(name), &data, &dlen, &mode);
	assert_memory_equal(data, "tty=1\0\0sh\0", 10);
	free(a);
}

static void initrd_placed_high_and_aligned(void **state)
{
	(void)state;
	struct guest_mem g;
	static uint8_t file[5000];
	char err[256];
	gpa_t at;
	uint64_t total;
	for (size_t i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 13);
	int fd = unit_memfd(file, sizeof(file));
	assert_int_equal(gm_create(&g, 64 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);

	/* File alone: the highest page-aligned place that holds it below the limit. */
	assert_int_equal(initrd_load(&g, fd, sizeof(file), NULL, 0, 16 * MiB, 64 * MiB, &at, &total,
	                             err, sizeof(err)),
	                 0);
	assert_int_equal(total, sizeof(file));
	assert_int_equal(at % 4096, 0);
	assert_true(at + total <= 64 * MiB && at + 4096 + total > 64 * MiB);
	assert_memory_equal(gm_ptr(&g, at, total), file, sizeof(file));

	/* With the archive: it follows at the next 4-byte boundary, zero padding between. */
	static const uint8_t extra[] = {1, 2, 3, 4, 5};
	memset(gm_ptr(&g, 0, 64 * MiB), 0xcc, 64 * MiB);
	assert_int_equal(initrd_load(&g, fd, 4999, extra, sizeof(extra), 0, 32 * MiB, &at, &total,
	                             err, sizeof(err)),
	                 0);
	assert_int_equal(total, 5000 + sizeof(extra));
	assert_true(at + total <= 32 * MiB);
	const uint8_t *p = gm_ptr(&g, at, total);
	assert_memory_equal(p, file, 4999);
	assert_int_equal(p[4999], 0);
	assert_memory_equal(p + 5000, extra, sizeof(extra));

	/* No room between low and limit. */
	assert_int_equal(initrd_load(&g, fd, sizeof(file), NULL, 0, 60 * MiB, 60 * MiB + 4096, &at,
	                             &total, err, sizeof(err)),
	                 -ENOSPC);
	assert_non_null(strstr(err, "no room"));
	/* A limit past RAM is clipped to RAM. */
	assert_int_equal(initrd_load(&g, fd, sizeof(file), NULL, 0, 0, 1ULL << 40, &at, &total, err,
	                             sizeof(err)),
	                 0);
	assert_true(at + total <= 64 * MiB);
	/* A file shorter than claimed is a read error, not garbage in the guest. */
	assert_int_equal(initrd_load(&g, fd, sizeof(file) + 1, NULL, 0, 0, 64 * MiB, &at, &total,
	                             err, sizeof(err)),
	                 -EIO);
	close(fd);
	gm_destroy(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(archive_layout),
	    cmocka_unit_test(initrd_placed_high_and_aligned),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
