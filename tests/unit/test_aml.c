/* The AML encoder: exact bytes for each encoding, PkgLength at its size boundaries, and a
 * stream that never writes past its capacity. */
#include "unit.h"

#include "acpi/aml.h"

#include <stdlib.h>

#define CANARY 0xa5

/* Decode the PkgLength at p independently of the encoder: the value and its byte count. */
static uint32_t pkglength_decode(const uint8_t *p, unsigned *nbytes)
{
	unsigned follow = p[0] >> 6;
	uint32_t v;

	*nbytes = 1 + follow;
	if (follow == 0)
		return p[0] & 0x3f;
	assert_int_equal(p[0] & 0x30, 0); /* reserved in multi-byte encodings */
	v = p[0] & 0xf;
	for (unsigned i = 0; i < follow; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	return v;
}

#define assert_stream(a, ...)                                                                      \
	do {                                                                                       \
		static const uint8_t want_[] = {__VA_ARGS__};                                      \
		assert_int_equal(aml_finish(a), sizeof(want_));                                    \
		assert_memory_equal((a)->buf, want_, sizeof(want_));                               \
	} while (0)

/* ---- PkgLength ---- */

static void pkglength_encodings(void **state)
{
	(void)state;
	static const struct {
		uint32_t value;
		unsigned n;
		uint8_t bytes[4];
	} cases[] = {
	    {0, 1, {0x00}},
	    {63, 1, {0x3f}},
	    {64, 2, {0x40, 0x04}},
	    {65, 2, {0x41, 0x04}},
	    {4095, 2, {0x4f, 0xff}},
	    {4096, 3, {0x80, 0x00, 0x01}},
	    {(1u << 20) - 1, 3, {0x8f, 0xff, 0xff}},
	    {1u << 20, 4, {0xc0, 0x00, 0x00, 0x01}},
	    {(1u << 28) - 1, 4, {0xcf, 0xff, 0xff, 0xff}},
	};
	uint8_t out[4];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xee, sizeof(out));
		assert_int_equal(aml_pkglength_encode(cases[i].value, out), cases[i].n);
		assert_memory_equal(out, cases[i].bytes, cases[i].n);
		unsigned n;
		assert_int_equal(pkglength_decode(out, &n), cases[i].value);
		assert_int_equal(n, cases[i].n);
	}
	assert_int_equal(aml_pkglength_encode(1u << 28, out), 0);
	assert_int_equal(aml_pkglength_encode(UINT32_MAX, out), 0);
}

/* Scope(ABCD) { body bytes }: the PkgLength is patched to the smallest size that holds the
 * whole object, and the body moves intact behind it. */
static void scope_with_body(size_t body, unsigned want_n, uint32_t want_value)
{
	size_t cap = body + 16;
	uint8_t *buf = malloc(cap);
	uint8_t *fill = malloc(body);
	struct aml a;

	assert_non_null(buf);
	assert_non_null(fill);
	for (size_t i = 0; i < body; i++)
		fill[i] = (uint8_t)(i * 7 + 3);
	aml_init(&a, buf, cap);
	aml_scope_begin(&a, "ABCD");
	aml_bytes(&a, fill, body);
	aml_scope_end(&a);
	assert_int_equal(aml_finish(&a), 1 + want_n + 4 + body);

	unsigned n;
	assert_int_equal(buf[0], 0x10);
	assert_int_equal(pkglength_decode(buf + 1, &n), want_value);
	assert_int_equal(n, want_n);
	/* The PkgLength counts itself and everything after it, and nothing more. */
	assert_int_equal(want_value, a.len - 1);
	assert_memory_equal(buf + 1 + n, "ABCD", 4);
	assert_memory_equal(buf + 1 + n + 4, fill, body);
	free(fill);
	free(buf);
}

static void pkglength_patch_boundaries(void **state)
{
	(void)state;
	/* name (4) + body: 62 + 1 = 63 still fits one byte; one more needs two. */
	scope_with_body(58, 1, 63);
	scope_with_body(59, 2, 65);
	/* 4093 + 2 = 4095 fits two bytes; one more needs three. */
	scope_with_body(4089, 2, 4095);
	scope_with_body(4090, 3, 4097);
	/* 2^20 - 1 fits three bytes; one more needs four. */
	scope_with_body((1u << 20) - 1 - 3 - 4, 3, (1u << 20) - 1);
	scope_with_body((1u << 20) - 3 - 4, 4, (1u << 20) + 1);
	scope_with_body(0, 1, 5);
}

/* A device inside a scope, the inner growing to a 2-byte PkgLength: the outer length must
 * count the inner's extra byte. */
static void pkglength_nested(void **state)
{
	(void)state;
	uint8_t buf[256], fill[100];
	struct aml a;
	unsigned n1, n2;

	memset(fill, 0x42, sizeof(fill));
	aml_init(&a, buf, sizeof(buf));
	aml_scope_begin(&a, "\\_SB_");
	aml_device_begin(&a, "DEV0");
	aml_bytes(&a, fill, sizeof(fill));
	aml_device_end(&a);
	aml_scope_end(&a);
	long len = aml_finish(&a);
	assert_true(len > 0);

	assert_int_equal(buf[0], 0x10);
	uint32_t outer = pkglength_decode(buf + 1, &n1);
	assert_int_equal(outer, len - 1);
	const uint8_t *d = buf + 1 + n1 + 5; /* past "\_SB_" */
	assert_int_equal(d[0], 0x5b);
	assert_int_equal(d[1], 0x82);
	uint32_t inner = pkglength_decode(d + 2, &n2);
	assert_int_equal(n2, 2);
	assert_int_equal(inner, 2 + 4 + sizeof(fill));
	assert_memory_equal(d + 2 + n2, "DEV0", 4);
	assert_ptr_equal(d + 2 + inner, buf + len);
}

/* ---- data objects ---- */

static void integers(void **state)
{
	(void)state;
	static const struct {
		uint64_t v;
		unsigned n;
		uint8_t bytes[9];
	} cases[] = {
	    {0, 1, {0x00}},
	    {1, 1, {0x01}},
	    {2, 2, {0x0a, 0x02}},
	    {0xff, 2, {0x0a, 0xff}},
	    {0x100, 3, {0x0b, 0x00, 0x01}},
	    {0xffff, 3, {0x0b, 0xff, 0xff}},
	    {0x10000, 5, {0x0c, 0x00, 0x00, 0x01, 0x00}},
	    {0xfec00000, 5, {0x0c, 0x00, 0x00, 0xc0, 0xfe}},
	    {0xffffffff, 5, {0x0c, 0xff, 0xff, 0xff, 0xff}},
	    {0x100000000, 9, {0x0e, 0, 0, 0, 0, 1, 0, 0, 0}},
	    {0x0123456789abcdef, 9, {0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01}},
	    {UINT64_MAX, 9, {0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	};
	uint8_t buf[16];
	struct aml a;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_integer(&a, cases[i].v);
		assert_int_equal(aml_finish(&a), cases[i].n);
		assert_memory_equal(buf, cases[i].bytes, cases[i].n);
	}
}

static void strings(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "QEMU0001");
	assert_stream(&a, 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00);

	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "");
	assert_stream(&a, 0x0d, 0x00);

	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void name_strings(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "_SB");
	assert_stream(&a, '_', 'S', 'B', '_');

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\_SB_");
	assert_stream(&a, '\\', '_', 'S', 'B', '_');

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\_SB.COM1");
	assert_stream(&a, '\\', 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\_SB.PCI0.ISA");
	assert_stream(&a, '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A',
	              '_');

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "^^FOO");
	assert_stream(&a, '^', '^', 'F', 'O', 'O', '_');

	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\");
	assert_stream(&a, '\\', 0x00);

	static const char *const bad[] = {"",   "1ABC", "abcd", "ABCDE", "A..B", "A.",
	                                  ".A", "A-B",  "\\^A", "\\\\A", "A B",  "_SB.1X"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_name_string(&a, bad[i]);
		if (aml_finish(&a) != -EINVAL)
			print_error("name '%s' was accepted\n", bad[i]);
		assert_int_equal(aml_finish(&a), -EINVAL);
	}
}

static void eisaid(void **state)
{
	(void)state;
	uint32_t v;
	uint8_t buf[32];
	struct aml a;

	/* The values firmware has always used for these ids. */
	assert_int_equal(aml_eisaid_value("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105d041);
	assert_int_equal(aml_eisaid_value("PNP0A03", &v), 0);
	assert_int_equal(v, 0x030ad041);
	assert_int_equal(aml_eisaid_value("PNP0a03", &v), 0);
	assert_int_equal(v, 0x030ad041);

	static const char *const bad[] = {"PNP050",   "PNP05011", "pnp0501", "PNP05G1",
	                                  "QEMU0001", "LNRO0005", "P1P0501", ""};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(aml_eisaid_value(bad[i], &v), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_name_eisaid(&a, "_HID", "PNP0501");
	assert_stream(&a, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01);

	aml_init(&a, buf, sizeof(buf));
	aml_name_eisaid(&a, "_HID", "QEMU0001");
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void names(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name_integer(&a, "_UID", 0);
	assert_stream(&a, 0x08, '_', 'U', 'I', 'D', 0x00);

	aml_init(&a, buf, sizeof(buf));
	aml_name_string_value(&a, "_HID", "LNRO0005");
	assert_stream(&a, 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5',
	              0x00);
}

static void package_s5(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_name(&a, "\\_S5_");
	aml_package_begin(&a);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_package_end(&a);
	/* PkgLength 8: itself, NumElements, 2 + 2 + 1 + 1 bytes of elements. */
	assert_stream(&a, 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05,
	              0x00, 0x00);
}

/* VMGenID's ADDR: Method (ADDR, 0, NotSerialized) { Return (Package () {0xdfff0, 0}) }, as
 * iasl compiles it. */
static void method_addr(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "ADDR", 0, 0);
	aml_return(&a);
	aml_package_begin(&a);
	aml_integer(&a, 0xdfff0);
	aml_integer(&a, 0);
	aml_package_end(&a);
	aml_method_end(&a);
	/* Method PkgLength 0x10: itself, the name, the flags, ReturnOp and the 9-byte Package
	 * (PkgLength 8: itself, NumElements, a DWordConst, ZeroOp). */
	assert_stream(&a, 0x14, 0x10, 'A', 'D', 'D', 'R', 0x00, 0xa4, 0x12, 0x08, 0x02, 0x0c, 0xf0,
	              0xff, 0x0d, 0x00, 0x00);
}

/* The Generic Event Device's _EVT:
 * Method (_EVT, 1, Serialized) { If (LEqual (Arg0, 23)) { Notify (\_SB_.VGEN, 0x80) } } */
static void method_evt(void **state)
{
	(void)state;
	uint8_t buf[40];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "_EVT", 1, 1);
	aml_if_begin(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_integer(&a, 23);
	aml_notify(&a, "\\_SB_.VGEN", 0x80);
	aml_if_end(&a);
	aml_method_end(&a);
	/* Flags 0x09: one argument, serialized. If's PkgLength 0x12 covers LEqual (4 bytes),
	 * Notify with its root-prefixed dual name (11) and the value (2). */
	assert_stream(&a, 0x14, 0x19, '_', 'E', 'V', 'T', 0x09, 0xa0, 0x12, 0x93, 0x68, 0x0a, 0x17,
	              0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80);
}

static void method_rejects(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "M000", 8, 0); /* at most 7 arguments */
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "M000", 1, 0);
	aml_arg(&a, 7); /* Arg0 to Arg6 */
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "M000", 0, 0);
	aml_if_begin(&a);
	aml_method_end(&a); /* the If is still open */
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_method_begin(&a, "0BAD", 0, 0);
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void package_counts_direct_elements(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	/* Package(){ "a", Package(){1, 2, 3}, Buffer(){}, EISAID, 7 } has five elements; the
	 * inner package three. */
	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a);
	aml_string(&a, "a");
	aml_package_begin(&a);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 3);
	aml_package_end(&a);
	aml_buffer_begin(&a);
	aml_buffer_end(&a);
	aml_eisaid(&a, "PNP0501");
	aml_integer(&a, 7);
	aml_package_end(&a);
	/* NumElements, "a" (3), the inner package (8), the buffer (3), the DWord (5), 7 (2). */
	assert_int_equal(aml_finish(&a), 24);
	assert_int_equal(buf[0], 0x12);
	assert_int_equal(buf[1], 23);
	assert_int_equal(buf[2], 5);
	assert_memory_equal(buf + 3, "\x0d\x61\x00", 3);
	assert_memory_equal(buf + 6, "\x12\x07\x03\x01\x0a\x02\x0a\x03", 8);

	/* An empty package. */
	aml_init(&a, buf, sizeof(buf));
	aml_package_begin(&a);
	aml_package_end(&a);
	assert_stream(&a, 0x12, 0x02, 0x00);

	/* 256 elements do not fit NumElements. */
	uint8_t big[600];
	aml_init(&a, big, sizeof(big));
	aml_package_begin(&a);
	for (unsigned i = 0; i < 256; i++)
		aml_integer(&a, 0);
	aml_package_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void buffers(void **state)
{
	(void)state;
	uint8_t buf[512], data[300];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_buffer_end(&a);
	assert_stream(&a, 0x11, 0x02, 0x00);

	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_bytes(&a, "\xaa", 1);
	aml_buffer_end(&a);
	assert_stream(&a, 0x11, 0x03, 0x01, 0xaa);

	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_bytes(&a, "\x01\x02\x03", 3);
	aml_buffer_end(&a);
	assert_stream(&a, 0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);

	/* 300 bytes: a WordConst size and a 2-byte PkgLength (1 + 2 + 3 + 300 = 306 total). */
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_bytes(&a, data, sizeof(data));
	aml_buffer_end(&a);
	assert_int_equal(aml_finish(&a), 306);
	unsigned n;
	assert_int_equal(pkglength_decode(buf + 1, &n), 305);
	assert_int_equal(n, 2);
	assert_memory_equal(buf + 3, "\x0b\x2c\x01", 3);
	assert_memory_equal(buf + 6, data, sizeof(data));
}

/* ---- resource templates ---- */

static void restemplate_com1(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_io(&a, 0x3f8, 8);
	aml_res_irq_noflags(&a, 4);
	aml_restemplate_end(&a);
	assert_stream(&a, 0x11, 0x10, 0x0a, 0x0d,                     /* Buffer(13) */
	              0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO(Decode16, ...) */
	              0x22, 0x10, 0x00,                               /* IRQNoFlags(){4} */
	              0x79, 0x00);                                    /* End Tag */
}

static void restemplate_virtio(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_memory32_fixed(&a, 0xd0001000, 0x1000, 1);
	aml_res_interrupt(&a, 6, AML_IRQ_CONSUMER | AML_IRQ_EDGE);
	aml_restemplate_end(&a);
	assert_stream(&a, 0x11, 0x1a, 0x0a, 0x17, /* Buffer(23) */
	              0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0x00,
	              0x00,                                                 /* Memory32Fixed */
	              0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00, /* Interrupt */
	              0x79, 0x00);

	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_memory32_fixed(&a, 0xfed00000, 0x400, 0);
	aml_res_interrupt(&a, 9, AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED | AML_IRQ_WAKE);
	aml_restemplate_end(&a);
	assert_int_equal(aml_finish(&a), 4 + 12 + 9 + 2);
	assert_int_equal(buf[4 + 3], 0x00);  /* ReadOnly */
	assert_int_equal(buf[16 + 3], 0x1c); /* producer, level, low, shared, wake */
}

static void restemplate_rejects(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	/* Descriptors outside a template. */
	aml_init(&a, buf, sizeof(buf));
	aml_res_io(&a, 0x3f8, 8);
	assert_int_equal(aml_finish(&a), -EINVAL);
	assert_int_equal(a.len, 0);

	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_res_irq_noflags(&a, 4);
	assert_int_equal(aml_finish(&a), -EINVAL);

	/* Values a descriptor cannot hold. */
	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_irq_noflags(&a, 16);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_io(&a, 0x505, 0);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_res_interrupt(&a, 5, 0x20);
	assert_int_equal(aml_finish(&a), -EINVAL);

	/* A template closed as a plain buffer, and the reverse. */
	aml_init(&a, buf, sizeof(buf));
	aml_restemplate_begin(&a);
	aml_buffer_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_buffer_begin(&a);
	aml_restemplate_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
}

/* ---- nesting and errors ---- */

static void nesting_errors(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_scope_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_scope_begin(&a, "\\_SB_");
	aml_device_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_device_begin(&a, "DEV0");
	assert_int_equal(aml_finish(&a), -EINVAL); /* still open */
	aml_device_end(&a);
	assert_int_equal(aml_finish(&a), 7);

	aml_init(&a, buf, sizeof(buf));
	aml_package_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);

	aml_init(&a, buf, sizeof(buf));
	aml_device_begin(&a, "dev0");
	assert_int_equal(aml_finish(&a), -EINVAL);

	/* AML_MAX_DEPTH levels nest; one more does not. */
	aml_init(&a, buf, sizeof(buf));
	for (unsigned i = 0; i < AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "S");
	for (unsigned i = 0; i < AML_MAX_DEPTH; i++)
		aml_scope_end(&a);
	assert_true(aml_finish(&a) > 0);
	aml_init(&a, buf, sizeof(buf));
	for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "S");
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void errors_stick(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 5);
	aml_name_string(&a, "bad");
	size_t len = a.len;
	aml_integer(&a, 7);
	aml_scope_begin(&a, "\\_SB_");
	aml_scope_end(&a);
	aml_bytes(&a, "xyz", 3);
	assert_int_equal(a.len, len);
	assert_int_equal(aml_finish(&a), -EINVAL);

	/* The first error wins. */
	aml_init(&a, buf, 1);
	aml_integer(&a, 0x1234);
	aml_name_string(&a, "bad");
	assert_int_equal(aml_finish(&a), -ENOSPC);
}

/* A COM1 device as the DSDT has it. */
static void emit_com1(struct aml *a)
{
	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_io(a, 0x3f8, 8);
	aml_res_irq_noflags(a, 4);
	aml_restemplate_end(a);
	aml_device_end(a);
}

/* Every capacity short of the full length fails with -ENOSPC and leaves every byte past it
 * alone; the full length succeeds with the same bytes. */
static void overflow_never_writes_past_cap(void **state)
{
	(void)state;
	uint8_t ref[128], buf[160];
	struct aml a;

	aml_init(&a, ref, sizeof(ref));
	emit_com1(&a);
	long full = aml_finish(&a);
	assert_true(full > 0 && full < (long)sizeof(ref));

	for (long cap = 0; cap <= full; cap++) {
		memset(buf, CANARY, sizeof(buf));
		aml_init(&a, buf, (size_t)cap);
		emit_com1(&a);
		if (cap < full) {
			assert_int_equal(aml_finish(&a), -ENOSPC);
		} else {
			assert_int_equal(aml_finish(&a), full);
			assert_memory_equal(buf, ref, (size_t)full);
		}
		assert_true(a.len <= (size_t)cap);
		for (size_t i = (size_t)cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], CANARY);
	}
}

/* The bytes fit until the PkgLength grows (or the BufferSize goes in) at the end. */
static void overflow_when_lengths_grow(void **state)
{
	(void)state;
	uint8_t buf[128], fill[59];
	struct aml a;

	memset(fill, 0x11, sizeof(fill));
	/* Scope: 1 + 1 + 4 + 59 = 65 bytes before the end; the end needs one more. */
	memset(buf, CANARY, sizeof(buf));
	aml_init(&a, buf, 65);
	aml_scope_begin(&a, "ABCD");
	aml_bytes(&a, fill, sizeof(fill));
	assert_int_equal(a.err, 0);
	aml_scope_end(&a);
	assert_int_equal(aml_finish(&a), -ENOSPC);
	assert_int_equal(buf[65], CANARY);

	aml_init(&a, buf, 66);
	aml_scope_begin(&a, "ABCD");
	aml_bytes(&a, fill, sizeof(fill));
	aml_scope_end(&a);
	assert_int_equal(aml_finish(&a), 66);

	/* Buffer: 1 + 1 + 3 data bytes; the BufferSize needs two more. */
	memset(buf, CANARY, sizeof(buf));
	aml_init(&a, buf, 6);
	aml_buffer_begin(&a);
	aml_bytes(&a, "abc", 3);
	aml_buffer_end(&a);
	assert_int_equal(aml_finish(&a), -ENOSPC);
	assert_int_equal(buf[6], CANARY);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pkglength_encodings),
	    cmocka_unit_test(pkglength_patch_boundaries),
	    cmocka_unit_test(pkglength_nested),
	    cmocka_unit_test(integers),
	    cmocka_unit_test(strings),
	    cmocka_unit_test(name_strings),
	    cmocka_unit_test(eisaid),
	    cmocka_unit_test(names),
	    cmocka_unit_test(package_s5),
	    cmocka_unit_test(package_counts_direct_elements),
	    cmocka_unit_test(buffers),
	    cmocka_unit_test(restemplate_com1),
	    cmocka_unit_test(restemplate_virtio),
	    cmocka_unit_test(restemplate_rejects),
	    cmocka_unit_test(nesting_errors),
	    cmocka_unit_test(method_addr),
	    cmocka_unit_test(method_evt),
	    cmocka_unit_test(method_rejects),
	    cmocka_unit_test(errors_stick),
	    cmocka_unit_test(overflow_never_writes_past_cap),
	    cmocka_unit_test(overflow_when_lengths_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
