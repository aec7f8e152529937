/* The AML encoder: opcodes and encodings from ACPI 6.x chapter 20, descriptors from 6.4. */
#include "aml.h"

#include <errno.h>
#include <string.h>

#define AML_ZERO_OP       0x00
#define AML_ONE_OP        0x01
#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP      0x10
#define AML_BUFFER_OP     0x11
#define AML_PACKAGE_OP    0x12
#define AML_METHOD_OP     0x14
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP     0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ARG0_OP       0x68 /* Arg0Op .. Arg6Op: 0x68 .. 0x6e */
#define AML_NOTIFY_OP     0x86
#define AML_LEQUAL_OP     0x93
#define AML_IF_OP         0xa0
#define AML_RETURN_OP     0xa4
#define AML_ROOT_CHAR     '\\'
#define AML_PARENT_CHAR   '^'
#define AML_NULL_NAME     0x00

/* Resource descriptor tags (6.4.2, 6.4.3): small items carry their length in the tag. */
#define RES_IRQ_NOFLAGS    0x22 /* IRQ descriptor, 2 bytes: no information byte */
#define RES_IO             0x47 /* I/O port descriptor, 7 bytes */
#define RES_END_TAG        0x79 /* End Tag, 1 byte: the checksum */
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_INTERRUPT  0x89
#define RES_IO_DECODE16    0x01
#define RES_MEM_WRITABLE   0x01

#define PKGLENGTH_MAX ((1u << 28) - 1)

enum frame_kind {
	FRAME_SCOPE,
	FRAME_DEVICE,
	FRAME_PACKAGE,
	FRAME_BUFFER,
	FRAME_RESTEMPLATE,
	FRAME_METHOD,
	FRAME_IF,
};

static void fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
}

long aml_finish(const struct aml *a)
{
	if (a->err)
		return a->err;
	if (a->depth)
		return -EINVAL;
	return (long)a->len;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Open n bytes at pos by moving [pos, len) up, and copy p there. */
static void insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, p, n);
	a->len += n;
}

/* Package elements are counted as they are emitted so NumElements cannot disagree. */
static void count_element(struct aml *a)
{
	if (a->depth && a->frames[a->depth - 1].kind == FRAME_PACKAGE)
		a->frames[a->depth - 1].count++;
}

unsigned aml_pkglength_encode(uint32_t value, uint8_t out[4])
{
	unsigned n;

	if (value < 64) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value < (1u << 12))
		n = 2;
	else if (value < (1u << 20))
		n = 3;
	else if (value <= PKGLENGTH_MAX)
		n = 4;
	else
		return 0;
	/* The lead byte holds the count of bytes that follow and the low nibble; bits 5:4 are
	 * zero in multi-byte encodings. */
	out[0] = (uint8_t)((n - 1) << 6 | (value & 0xf));
	for (unsigned i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (a->err)
		return;
	count_element(a);
	if (v == 0) {
		put8(a, AML_ZERO_OP);
	} else if (v == 1) {
		put8(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		put8(a, AML_BYTE_PREFIX);
		put_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		put8(a, AML_WORD_PREFIX);
		put_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		put8(a, AML_DWORD_PREFIX);
		put_le(a, v, 4);
	} else {
		put8(a, AML_QWORD_PREFIX);
		put_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	if (a->err)
		return;
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c > 0x7f) {
			fail(a, -EINVAL);
			return;
		}
	}
	count_element(a);
	put8(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int is_lead_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_lead_name_char(c) || (c >= '0' && c <= '9');
}

/* Check the segments of path (after any prefix): returns their count, or 0 if malformed. */
static unsigned count_segs(const char *p)
{
	unsigned n = 0;

	for (;;) {
		unsigned len = 0;
		if (!is_lead_name_char(*p))
			return 0;
		while (is_name_char(*p) && len < 4) {
			p++;
			len++;
		}
		n++;
		if (*p == '\0')
			return n;
		if (*p != '.')
			return 0;
		p++;
	}
}

static void emit_name(struct aml *a, const char *path)
{
	if (a->err)
		return;
	if (*path == '\0') {
		fail(a, -EINVAL); /* a bare NullName names nothing a caller here would want */
		return;
	}
	if (*path == AML_ROOT_CHAR) {
		put8(a, AML_ROOT_CHAR);
		path++;
	} else {
		while (*path == AML_PARENT_CHAR) {
			put8(a, AML_PARENT_CHAR);
			path++;
		}
	}
	if (*path == '\0') {
		put8(a, AML_NULL_NAME);
		return;
	}
	unsigned n = count_segs(path);
	if (n == 0 || n > UINT8_MAX) {
		fail(a, -EINVAL);
		return;
	}
	if (n == 2) {
		put8(a, AML_DUAL_NAME);
	} else if (n > 2) {
		put8(a, AML_MULTI_NAME);
		put8(a, (uint8_t)n);
	}
	for (unsigned i = 0; i < n; i++) {
		char seg[4] = {'_', '_', '_', '_'};
		for (unsigned j = 0; j < 4 && *path && *path != '.'; j++)
			seg[j] = *path++;
		if (*path == '.')
			path++;
		aml_bytes(a, seg, 4);
	}
}

void aml_name_string(struct aml *a, const char *path)
{
	if (a->err)
		return;
	count_element(a);
	emit_name(a, path);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int aml_eisaid_value(const char *id, uint32_t *out)
{
	uint32_t letters = 0, product = 0;

	if (strlen(id) != 7)
		return -EINVAL;
	for (unsigned i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		letters = letters << 5 | (uint32_t)(id[i] - 0x40);
	}
	for (unsigned i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			return -EINVAL;
		product = product << 4 | (uint32_t)d;
	}
	/* The id is stored as four big-endian bytes (compressed letters, then product number)
	 * and read back by the OS as a little-endian DWORD. */
	const uint8_t b[4] = {(uint8_t)(letters >> 8), (uint8_t)letters, (uint8_t)(product >> 8),
	                      (uint8_t)product};
	*out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (a->err)
		return;
	if (aml_eisaid_value(id, &v) < 0) {
		fail(a, -EINVAL);
		return;
	}
	count_element(a);
	/* Always a DWordConst, as the ASL EISAID() macro compiles: OSes recognise the id by its
	 * integer value, whatever the encoding, but disassemblers look for a DWord. */
	put8(a, AML_DWORD_PREFIX);
	put_le(a, v, 4);
}

void aml_name(struct aml *a, const char *name)
{
	put8(a, AML_NAME_OP);
	emit_name(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string_value(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

/* Emit the opcode, reserve one byte for the PkgLength and open a frame over what follows. */
static void open_frame(struct aml *a, const uint8_t *op, size_t oplen, enum frame_kind kind)
{
	if (a->err)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		fail(a, -EINVAL);
		return;
	}
	if (kind == FRAME_PACKAGE || kind == FRAME_BUFFER || kind == FRAME_RESTEMPLATE)
		count_element(a);
	aml_bytes(a, op, oplen);
	size_t start = a->len;
	put8(a, 0);
	if (a->err)
		return;
	a->frames[a->depth++] = (struct aml_frame){.start = start, .kind = kind, .count = 0};
}

/* Fill in the PkgLength of the innermost frame, which must be of kind, and close it. */
static void close_frame(struct aml *a, enum frame_kind kind)
{
	if (a->err)
		return;
	if (a->depth == 0 || a->frames[a->depth - 1].kind != (unsigned)kind) {
		fail(a, -EINVAL);
		return;
	}
	size_t start = a->frames[a->depth - 1].start;
	size_t body = a->len - start - 1;
	uint8_t enc[4];
	unsigned n = 0;

	/* The PkgLength counts its own bytes, so a body just under a boundary can need the
	 * longer encoding: try each size until the total fits in it. */
	for (unsigned want = 1; want <= 4; want++) {
		if (body > PKGLENGTH_MAX - want)
			break;
		if (aml_pkglength_encode((uint32_t)(body + want), enc) == want) {
			n = want;
			break;
		}
	}
	if (n == 0) {
		fail(a, -ENOSPC);
		return;
	}
	if (n > 1)
		insert(a, start + 1, enc + 1, n - 1);
	if (a->err)
		return;
	a->buf[start] = enc[0];
	a->depth--;
}

void aml_scope_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = {AML_SCOPE_OP};
	open_frame(a, op, sizeof(op), FRAME_SCOPE);
	emit_name(a, path);
}

void aml_scope_end(struct aml *a)
{
	close_frame(a, FRAME_SCOPE);
}

void aml_device_begin(struct aml *a, const char *path)
{
	static const uint8_t op[] = {AML_EXT_OP_PREFIX, AML_DEVICE_OP};
	open_frame(a, op, sizeof(op), FRAME_DEVICE);
	emit_name(a, path);
}

void aml_device_end(struct aml *a)
{
	close_frame(a, FRAME_DEVICE);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized)
{
	static const uint8_t op[] = {AML_METHOD_OP};
	if (a->err)
		return;
	if (nargs > AML_MAX_ARGS) {
		fail(a, -EINVAL);
		return;
	}
	open_frame(a, op, sizeof(op), FRAME_METHOD);
	emit_name(a, name);
	/* MethodFlags: ArgCount in bits 2:0, SerializeFlag in bit 3, SyncLevel 0. */
	put8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_method_end(struct aml *a)
{
	close_frame(a, FRAME_METHOD);
}

void aml_if_begin(struct aml *a)
{
	static const uint8_t op[] = {AML_IF_OP};
	open_frame(a, op, sizeof(op), FRAME_IF);
}

void aml_if_end(struct aml *a)
{
	close_frame(a, FRAME_IF);
}

void aml_arg(struct aml *a, unsigned n)
{
	if (a->err)
		return;
	if (n >= AML_MAX_ARGS) {
		fail(a, -EINVAL);
		return;
	}
	count_element(a);
	put8(a, (uint8_t)(AML_ARG0_OP + n));
}

void aml_lequal(struct aml *a)
{
	count_element(a);
	put8(a, AML_LEQUAL_OP);
}

void aml_notify(struct aml *a, const char *path, uint64_t value)
{
	put8(a, AML_NOTIFY_OP);
	emit_name(a, path);
	aml_integer(a, value);
}

void aml_return(struct aml *a)
{
	put8(a, AML_RETURN_OP);
}

void aml_package_begin(struct aml *a)
{
	static const uint8_t op[] = {AML_PACKAGE_OP};
	open_frame(a, op, sizeof(op), FRAME_PACKAGE);
	put8(a, 0); /* NumElements, set at the end */
}

void aml_package_end(struct aml *a)
{
	if (a->err)
		return;
	if (a->depth == 0 || a->frames[a->depth - 1].kind != FRAME_PACKAGE) {
		fail(a, -EINVAL);
		return;
	}
	const struct aml_frame *f = &a->frames[a->depth - 1];
	if (f->count > UINT8_MAX) {
		fail(a, -EINVAL);
		return;
	}
	a->buf[f->start + 1] = (uint8_t)f->count;
	close_frame(a, FRAME_PACKAGE);
}

void aml_buffer_begin(struct aml *a)
{
	static const uint8_t op[] = {AML_BUFFER_OP};
	open_frame(a, op, sizeof(op), FRAME_BUFFER);
}

/* Insert the BufferSize (an Integer) ahead of the bytes, then close as kind. */
static void close_buffer(struct aml *a, enum frame_kind kind)
{
	if (a->err)
		return;
	if (a->depth == 0 || a->frames[a->depth - 1].kind != (unsigned)kind) {
		fail(a, -EINVAL);
		return;
	}
	size_t start = a->frames[a->depth - 1].start;
	uint64_t size = a->len - start - 1;
	uint8_t enc[9];
	struct aml tmp;

	/* Encode the size on the side, then move it in front of the data. */
	aml_init(&tmp, enc, sizeof(enc));
	aml_integer(&tmp, size);
	insert(a, start + 1, enc, tmp.len);
	close_frame(a, kind);
}

void aml_buffer_end(struct aml *a)
{
	close_buffer(a, FRAME_BUFFER);
}

void aml_restemplate_begin(struct aml *a)
{
	static const uint8_t op[] = {AML_BUFFER_OP};
	open_frame(a, op, sizeof(op), FRAME_RESTEMPLATE);
}

void aml_restemplate_end(struct aml *a)
{
	static const uint8_t end[] = {RES_END_TAG, 0};

	if (a->err)
		return;
	if (a->depth == 0 || a->frames[a->depth - 1].kind != FRAME_RESTEMPLATE) {
		fail(a, -EINVAL);
		return;
	}
	aml_bytes(a, end, sizeof(end));
	close_buffer(a, FRAME_RESTEMPLATE);
}

/* Resource descriptors outside a template would be parsed as opcodes: refuse them. */
static int in_restemplate(struct aml *a)
{
	if (a->err)
		return 0;
	if (a->depth == 0 || a->frames[a->depth - 1].kind != FRAME_RESTEMPLATE) {
		fail(a, -EINVAL);
		return 0;
	}
	return 1;
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	if (!in_restemplate(a))
		return;
	if (len == 0) {
		fail(a, -EINVAL);
		return;
	}
	put8(a, RES_IO);
	put8(a, RES_IO_DECODE16);
	put_le(a, base, 2); /* minimum base */
	put_le(a, base, 2); /* maximum base: the same, so the range is fixed */
	put8(a, 1);         /* alignment */
	put8(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (!in_restemplate(a))
		return;
	if (irq > 15) {
		fail(a, -EINVAL);
		return;
	}
	uint16_t mask = (uint16_t)(1u << irq);
	const uint8_t d[] = {RES_IRQ_NOFLAGS, (uint8_t)mask, (uint8_t)(mask >> 8)};
	aml_bytes(a, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t size, int writable)
{
	if (!in_restemplate(a))
		return;
	put8(a, RES_MEMORY32_FIXED);
	put_le(a, 9, 2); /* length of what follows */
	put8(a, writable ? RES_MEM_WRITABLE : 0);
	put_le(a, base, 4);
	put_le(a, size, 4);
}

void aml_res_interrupt(struct aml *a, uint32_t gsi, unsigned flags)
{
	if (!in_restemplate(a))
		return;
	if (flags & ~(unsigned)(AML_IRQ_CONSUMER | AML_IRQ_EDGE | AML_IRQ_ACTIVE_LOW |
	                        AML_IRQ_SHARED | AML_IRQ_WAKE)) {
		fail(a, -EINVAL);
		return;
	}
	put8(a, RES_EXT_INTERRUPT);
	put_le(a, 6, 2); /* flags, count and one interrupt; no resource source */
	put8(a, (uint8_t)flags);
	put8(a, 1);
	put_le(a, gsi, 4);
}
