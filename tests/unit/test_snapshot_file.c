/* The snapshot state file: what the writer makes, the reader takes back; and the reader
 * refuses every damaged, truncated or foreign file with one line. */
#include "unit.h"

#include "base/crc32c.h"
#include "base/snapshot_file.h"

#include <stdlib.h>

static uint8_t cpu_a[SF_CPU_ID_BYTES] = {'A', 'M', 'D', 1, 2, 3};
static uint8_t cpu_b[SF_CPU_ID_BYTES] = {'I', 'N', 'T', 1, 2, 3};
static const struct sf_expect expect_a = {.version = "0.1.0", .cpu_id = cpu_a};

/* A file with a few sections of awkward lengths, copied to the heap (caller frees). */
static uint8_t *sample(size_t *len)
{
	struct sf_writer w;
	const uint8_t *buf;
	uint8_t big[1000];
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	sf_writer_init(&w, "0.1.0", cpu_a, 2);
	uint64_t v = 0x1122334455667788ULL;
	sf_add(&w, SF_VCPU_TSC_KHZ, 0, &v, sizeof(v));
	sf_add(&w, SF_VCPU_TSC_KHZ, 1, &v, 3);
	sf_add(&w, SF_MACHINE, 0, big, sizeof(big));
	sf_add(&w, SF_DEVICE, 5, NULL, 0);
	sf_begin(&w, SF_VIRTIO, 2);
	sf_append(&w, big, 5);
	sf_append(&w, big + 5, 6);
	sf_end(&w);
	assert_int_equal(sf_finish(&w, &buf, len), 0);
	uint8_t *copy = malloc(*len);
	memcpy(copy, buf, *len);
	sf_writer_free(&w);
	return copy;
}

static void crc32c_known_values(void **state)
{
	(void)state;
	/* RFC 3720's check value and the empty string. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
	/* Chained calls equal one call. */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
}

static void round_trip(void **state)
{
	(void)state;
	size_t len, slen;
	uint8_t *f = sample(&len);
	struct sf_reader r;
	char err[256] = "";
	assert_int_equal(sf_open(&r, f, len, &expect_a, err, sizeof(err)), 0);
	assert_int_equal(r.hdr.nvcpus, 2);
	assert_int_equal(r.hdr.nsections, 5);
	uint64_t v = 0;
	assert_int_equal(sf_get(&r, SF_VCPU_TSC_KHZ, 0, &v, sizeof(v), "TSC", err, sizeof(err)), 0);
	assert_true(v == 0x1122334455667788ULL);
	/* A wrong size is refused with the section's name. */
	assert_int_equal(
	    sf_get(&r, SF_VCPU_TSC_KHZ, 1, &v, sizeof(v), "vCPU 1's TSC", err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "vCPU 1's TSC is 3 bytes, expected 8"));
	assert_int_equal(
	    sf_get(&r, SF_VCPU_TSC_KHZ, 7, &v, sizeof(v), "vCPU 7's TSC", err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "has no vCPU 7's TSC"));
	const uint8_t *m = sf_find(&r, SF_MACHINE, 0, &slen);
	assert_non_null(m);
	assert_int_equal(slen, 1000);
	assert_int_equal(m[999], (uint8_t)(999 * 7));
	assert_non_null(sf_find(&r, SF_DEVICE, 5, &slen));
	assert_int_equal(slen, 0);
	const uint8_t *vq = sf_find(&r, SF_VIRTIO, 2, &slen);
	assert_int_equal(slen, 11);
	assert_int_equal(vq[10], 70);
	assert_int_equal(sf_count(&r, SF_VCPU_TSC_KHZ), 2);
	free(f);
}

static void every_flipped_byte_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = sample(&len);
	struct sf_reader r;
	char err[256];
	for (size_t i = 0; i < len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			f[i] ^= (uint8_t)(1u << bit);
			err[0] = 0;
			int rc = sf_open(&r, f, len, &expect_a, err, sizeof(err));
			if (rc == 0)
				fail_msg("byte %zu bit %u flipped, yet accepted", i, bit);
			assert_true(err[0] != 0);
			assert_null(strchr(err, '\n')); /* one line */
			f[i] ^= (uint8_t)(1u << bit);
		}
	assert_int_equal(sf_open(&r, f, len, &expect_a, err, sizeof(err)), 0);
	free(f);
}

static void every_truncation_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = sample(&len);
	struct sf_reader r;
	char err[256];
	for (size_t n = 0; n < len; n++) {
		uint8_t *t = malloc(n ? n : 1); /* exact size, so ASan sees any over-read */
		memcpy(t, f, n);
		assert_int_not_equal(sf_open(&r, t, n, &expect_a, err, sizeof(err)), 0);
		if (n >= 8)
			assert_non_null(strstr(err, "truncated"));
		free(t);
	}
	/* A byte too many is refused too. */
	uint8_t *longer = calloc(1, len + 1);
	memcpy(longer, f, len);
	assert_int_equal(sf_open(&r, longer, len + 1, &expect_a, err, sizeof(err)), -EINVAL);
	free(longer);
	free(f);
}

/* Re-seal a file after editing it, as a file from a buggy or hostile writer would be. */
static void reseal(uint8_t *f, size_t len)
{
	uint32_t crc = crc32c(0, f, len - 8);
	memcpy(f + len - 8, &crc, 4);
}

static void foreign_files_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = sample(&len);
	struct sf_reader r;
	char err[256];
	struct sf_expect other_version = {.version = "0.2.0", .cpu_id = cpu_a};
	assert_int_equal(sf_open(&r, f, len, &other_version, err, sizeof(err)), -EXDEV);
	assert_non_null(strstr(err, "made by Ember 0.1.0; this is Ember 0.2.0"));
	struct sf_expect other_cpu = {.version = "0.1.0", .cpu_id = cpu_b};
	assert_int_equal(sf_open(&r, f, len, &other_cpu, err, sizeof(err)), -EXDEV);
	assert_non_null(strstr(err, "another CPU model"));

	struct sf_header h;
	memcpy(&h, f, sizeof(h));
	h.format_version = SF_FORMAT_VERSION + 1;
	memcpy(f, &h, sizeof(h));
	reseal(f, len);
	assert_int_equal(sf_open(&r, f, len, &expect_a, err, sizeof(err)), -EXDEV);
	assert_non_null(strstr(err, "format is version 3"));

	h.format_version = SF_FORMAT_VERSION;
	h.nsections = 4;
	memcpy(f, &h, sizeof(h));
	reseal(f, len);
	assert_int_equal(sf_open(&r, f, len, &expect_a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "5 sections, its header says 4"));

	h.nsections = 5;
	h.nvcpus = SF_MAX_VCPUS + 1;
	memcpy(f, &h, sizeof(h));
	reseal(f, len);
	assert_int_equal(sf_open(&r, f, len, &expect_a, err, sizeof(err)), -EINVAL);

	/* A section that claims to run past the end, checksum made good. */
	h.nvcpus = 2;
	memcpy(f, &h, sizeof(h));
	struct sf_section_hdr s;
	memcpy(&s, f + sizeof(h), sizeof(s));
	for (uint64_t bad = 9; bad < 1ULL << 63; bad = bad * 3 + 1) {
		struct sf_section_hdr t = s;
		t.len = bad;
		memcpy(f + sizeof(h), &t, sizeof(t));
		reseal(f, len);
		if (sf_open(&r, f, len, &expect_a, err, sizeof(err)) == 0) {
			/* Only a length that happens to land exactly on a section boundary can
			 * parse, and then the count disagrees. */
			fail_msg("section length %llu accepted", (unsigned long long)bad);
		}
	}
	free(f);
}

/* Random multi-byte damage, many rounds: never accepted, never read out of bounds. */
static void fuzz_mutations_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = sample(&len);
	uint8_t *m = malloc(len);
	struct sf_reader r;
	char err[256];
	srand(13);
	for (unsigned round = 0; round < 20000; round++) {
		memcpy(m, f, len);
		unsigned edits = 1 + (unsigned)rand() % 8;
		for (unsigned e = 0; e < edits; e++)
			m[(size_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
		size_t n = round % 3 ? len : (size_t)rand() % (len + 1);
		if (!memcmp(m, f, len) && n == len)
			continue;
		if (round % 5 == 0)
			reseal(m, n >= 8 ? n : len); /* get past the checksum: the walk must hold */
		int rc = sf_open(&r, m, n, &expect_a, err, sizeof(err));
		if (rc == 0) {
			/* A resealed file may be valid; every section must then lie inside it. */
			uint32_t t, i;
			size_t sl;
			const uint8_t *p;
			for (unsigned k = 0; (p = sf_section(&r, k, &t, &i, &sl)); k++)
				assert_true(p >= m && p + sl <= m + n - 8);
		}
	}
	free(m);
	free(f);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(crc32c_known_values),
	    cmocka_unit_test(round_trip),
	    cmocka_unit_test(every_flipped_byte_refused),
	    cmocka_unit_test(every_truncation_refused),
	    cmocka_unit_test(foreign_files_refused),
	    cmocka_unit_test(fuzz_mutations_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
