/*
 * A small AML encoder (ACPI 6.x, chapter 20 "AML Specification" and 6.4 "Resource Data
 * Types"): just enough to declare devices, names, packages and resource templates in a DSDT.
 * Bytes go into a caller-provided array; nothing is allocated.
 */
#ifndef EMBER_AML_H
#define EMBER_AML_H

#include <stddef.h>
#include <stdint.h>

/* How deeply Scope/Device/Method/If/Package/Buffer may nest. */
#define AML_MAX_DEPTH 8
/* A control method takes at most seven arguments, Arg0 to Arg6. */
#define AML_MAX_ARGS 7

/* Extended Interrupt descriptor flags (ACPI 6.4.3.6). Zero means producer, level-triggered,
 * active-high, exclusive, not wake-capable. */
#define AML_IRQ_CONSUMER   0x01
#define AML_IRQ_EDGE       0x02
#define AML_IRQ_ACTIVE_LOW 0x04
#define AML_IRQ_SHARED     0x08
#define AML_IRQ_WAKE       0x10

/* One open object whose PkgLength is patched when it ends. */
struct aml_frame {
	size_t start;   /* offset of the one byte reserved for its PkgLength */
	unsigned kind;  /* what aml_*_end() expects to close */
	unsigned count; /* Package: elements emitted so far */
};

/*
 * An append-only AML byte stream. The first error sticks in err (-ENOSPC when the next byte
 * would not fit, -EINVAL for a malformed name, value or nesting); after it every call does
 * nothing, so a caller may emit a whole table and check once with aml_finish().
 */
struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	unsigned depth;
	struct aml_frame frames[AML_MAX_DEPTH];
};

/* Start an empty stream over buf[0, cap). No byte outside it is ever written. */
void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* The stream's length in bytes, or its first error; -EINVAL if an object is still open. */
long aml_finish(const struct aml *a);

/*
 * Encode value as a PkgLength (20.2.4: the value counts the PkgLength bytes themselves) into
 * out. Returns how many bytes that takes (1 up to 63, 2 up to 4095, 3 up to 2^20 - 1, 4 up to
 * 2^28 - 1), or 0 if value is too large for any encoding.
 */
unsigned aml_pkglength_encode(uint32_t value, uint8_t out[4]);

/* Append n raw bytes. */
void aml_bytes(struct aml *a, const void *p, size_t n);

/* An Integer in its smallest encoding: ZeroOp, OneOp, then Byte/Word/DWord/QWordConst. OnesOp
 * is never used: its value depends on the table's revision. Counts as a Package element. */
void aml_integer(struct aml *a, uint64_t v);

/* A String: ASCII 0x01-0x7f, NUL-terminated in the stream. Counts as a Package element. */
void aml_string(struct aml *a, const char *s);

/*
 * A NameString: an optional leading '\' (root) or '^'s (parent), then NameSegs separated by
 * '.'. Each seg is 1-4 characters of A-Z, 0-9, '_' (not starting with a digit), padded with
 * '_' to four: "_SB" and "_SB_" encode alike. "\" alone names the root; "" is -EINVAL.
 * Counts as a Package element (a reference).
 */
void aml_name_string(struct aml *a, const char *path);

/*
 * The 32-bit EISA id for a 7-character id "AAA####" (three letters A-Z, four upper- or
 * lower-case hex digits), as the ASL EISAID() macro computes it, into *out. Returns 0, or
 * -EINVAL if id has another shape (ACPI ids such as "QEMU0001" must be Strings).
 */
int aml_eisaid_value(const char *id, uint32_t *out);

/* The EISA id of id as a DWordConst (-EINVAL sticks if id has the wrong shape). Counts as a
 * Package element. */
void aml_eisaid(struct aml *a, const char *id);

/* NameOp name: the caller emits the object (integer, string, package, buffer) next. */
void aml_name(struct aml *a, const char *name);

/* Name(name, v), Name(name, "s") and Name(name, EISAID(id)). */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string_value(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/*
 * Objects with a PkgLength. Each _begin reserves one PkgLength byte; the matching _end
 * computes the length and, when it needs 2-4 bytes, moves the body up to make room. Ending an
 * object that is not the innermost open one of that kind sets -EINVAL.
 */
void aml_scope_begin(struct aml *a, const char *path);
void aml_scope_end(struct aml *a);
void aml_device_begin(struct aml *a, const char *path);
void aml_device_end(struct aml *a);
/* Method(name, nargs, Serialized or NotSerialized): a control method of nargs (0-7)
 * arguments, SyncLevel 0; its body is the terms emitted until aml_method_end(). */
void aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized);
void aml_method_end(struct aml *a);
/* If (predicate) { terms }: the caller emits the predicate first (aml_lequal(...)), then the
 * terms, then aml_if_end(). */
void aml_if_begin(struct aml *a);
void aml_if_end(struct aml *a);
/* NumElements is counted from the integers, strings, EISA ids, packages and buffers emitted
 * directly inside; more than 255 sets -EINVAL. */
void aml_package_begin(struct aml *a);
void aml_package_end(struct aml *a);
/* A Buffer of the bytes emitted until aml_buffer_end(), which inserts the BufferSize. */
void aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a);

/*
 * ResourceTemplate(): a Buffer of resource descriptors, closed by an End Tag whose checksum is
 * 0 ("treat as valid", 6.4.2.9). The aml_res_* descriptors are only accepted directly inside
 * one (-EINVAL otherwise).
 */
void aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a);

/* IO(Decode16, base, base, 1, len): a fixed range of len (1-255) ports at base. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
/* IRQNoFlags(){irq}: one ISA IRQ (0-15), edge-triggered, active-high, exclusive. */
void aml_res_irq_noflags(struct aml *a, unsigned irq);
/* Memory32Fixed(ReadWrite or ReadOnly, base, size). */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t size, int writable);
/* Interrupt(...){gsi}: one Extended Interrupt with AML_IRQ_* flags. */
void aml_res_interrupt(struct aml *a, uint32_t gsi, unsigned flags);

/* Terms for method bodies, in AML's prefix order: aml_lequal() then its two operands;
 * aml_return() then the object returned. Arg0-Arg6 is aml_arg(0-6). */
void aml_arg(struct aml *a, unsigned n);
void aml_lequal(struct aml *a);
void aml_return(struct aml *a);
/* Notify(path, value): e.g. 0x80, a device-specific notification. */
void aml_notify(struct aml *a, const char *path, uint64_t value);

#endif
