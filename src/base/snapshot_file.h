/*
 * Ember's snapshot state file (docs/SNAPSHOT.md): a fixed header, typed sections, and a
 * CRC32C over everything before it. Generic: it knows nothing of x86 or of devices; the
 * CPU identity is an opaque blob the architecture fills and describes.
 *
 * Writing builds the whole file in memory (sf_writer), so a failure leaves no partial
 * file; reading takes the whole file in memory and checks it all (sf_open) before any
 * section is looked at: magic, length, checksum, format and Ember version, CPU identity,
 * every section's bounds. A section's payload is then read with sf_get (exact size) or
 * sf_find (variable size, the caller checks).
 */
#ifndef EMBER_SNAPSHOT_FILE_H
#define EMBER_SNAPSHOT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SF_MAGIC          "EMBERSNP"
#define SF_FORMAT_VERSION 2  /* 2: SF_MEMORY (Diff snapshots), the MMDS, limiters, balloon */
#define SF_VERSION_BYTES  16 /* the Ember version, NUL-padded */
#define SF_CPU_ID_BYTES   64 /* the architecture's CPU identity (arch_cpu_identity) */
#define SF_MAX_FILE       (64u << 20)
#define SF_MAX_SECTIONS   4096
#define SF_MAX_VCPUS      256

/* Section types: the one list, so no two users pick the same number. Instances number
 * the vCPU, the device (its place in the device table's order) or the chip. */
enum sf_type {
	SF_MACHINE = 1,         /* the machine's configuration (snapshot.c) */
	SF_VM_IRQCHIP = 2,      /* instance: KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
	SF_VM_PIT = 3,          /* struct kvm_pit_state2 */
	SF_VM_CLOCK = 4,        /* struct kvm_clock_data */
	SF_MEMORY = 5,          /* the memory file's kind (snapshot.c: struct snap_memory) */
	SF_LIMITS = 6,          /* every device's rate limiters (snapshot.c: struct snap_limits) */
	SF_MMDS = 7,            /* MMDS: struct snap_mmds, then its store's JSON (snapshot.c) */
	SF_BALLOON = 8,         /* the balloon's configuration (snapshot.c: struct snap_balloon) */
	SF_VCPU_CPUID = 16,     /* struct kvm_cpuid_entry2[] */
	SF_VCPU_MSRS = 17,      /* struct kvm_msr_entry[] */
	SF_VCPU_REGS = 18,      /* struct kvm_regs */
	SF_VCPU_SREGS = 19,     /* struct kvm_sregs */
	SF_VCPU_XSAVE = 20,     /* the XSAVE area, KVM's size */
	SF_VCPU_XCRS = 21,      /* struct kvm_xcrs */
	SF_VCPU_DEBUGREGS = 22, /* struct kvm_debugregs */
	SF_VCPU_LAPIC = 23,     /* struct kvm_lapic_state */
	SF_VCPU_MP_STATE = 24,  /* struct kvm_mp_state */
	SF_VCPU_EVENTS = 25,    /* struct kvm_vcpu_events */
	SF_VCPU_TSC_KHZ = 26,   /* uint64_t */
	SF_VIRTIO = 32,         /* a virtio device's transport and queues (virtio_state.c) */
	SF_DEVICE = 33,         /* a device's own state: struct sf_device_hdr, then the kind's */
};

/* What a file says about itself: the fixed header, little-endian (x86 is). */
struct sf_header {
	char magic[8];
	uint32_t format_version;
	uint32_t header_size; /* sizeof(struct sf_header) */
	uint64_t file_size;   /* the whole file, trailer included */
	char ember_version[SF_VERSION_BYTES];
	uint8_t cpu_id[SF_CPU_ID_BYTES];
	uint32_t nvcpus;
	uint32_t nsections;
	uint64_t reserved;
};

struct sf_section_hdr {
	uint32_t type;
	uint32_t instance;
	uint64_t len; /* payload bytes; the next section starts 8-byte aligned after it */
};

/* The last 8 bytes: CRC32C of every byte before them, then zero. */
struct sf_trailer {
	uint32_t crc;
	uint32_t zero;
};

/* ---- writing ---- */

struct sf_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t open; /* offset of the open section's header, or 0: none */
	uint32_t nsections;
	int error; /* the first failure (-ENOMEM, -E2BIG); every later call does nothing */
};

/* Start a file for nvcpus vCPUs, stamped with version and cpu_id. */
void sf_writer_init(struct sf_writer *w, const char *version, const uint8_t *cpu_id,
                    uint32_t nvcpus);

/* Open a section; sf_append adds to its payload; sf_end closes it. */
void sf_begin(struct sf_writer *w, uint32_t type, uint32_t instance);
void sf_append(struct sf_writer *w, const void *data, size_t len);
void sf_end(struct sf_writer *w);

/* One whole section. */
void sf_add(struct sf_writer *w, uint32_t type, uint32_t instance, const void *data, size_t len);

/* Close the file: header sizes and the checksum. Returns 0 with the bytes in *buf, *len
 * (owned by w until sf_writer_free), or the first error. */
int sf_finish(struct sf_writer *w, const uint8_t **buf, size_t *len);

void sf_writer_free(struct sf_writer *w);

/* ---- reading ---- */

/* What this Ember expects of a file. */
struct sf_expect {
	const char *version;
	const uint8_t *cpu_id;
	/* Describes a CPU identity for the refusal's message ("AuthenticAMD family 0x17
	 * model 0x31 stepping 0"); NULL: hex. */
	void (*cpu_describe)(const uint8_t *cpu_id, char *buf, size_t len);
};

struct sf_reader {
	const uint8_t *buf; /* the caller's, alive while the reader is used */
	size_t len;
	struct sf_header hdr;
};

/*
 * Check the whole file in buf[0, len): "not an Ember snapshot" (magic), "truncated" or
 * "longer than it says" (length), "damaged" (checksum), another format or Ember version,
 * another CPU model, a section that runs past the end or overlaps the trailer, a section
 * count that disagrees, more than SF_MAX_VCPUS vCPUs. Returns 0 and fills *r, or -EINVAL
 * (-EXDEV for another version or CPU) with one line in err.
 */
int sf_open(struct sf_reader *r, const uint8_t *buf, size_t len, const struct sf_expect *x,
            char *err, size_t errlen);

/* The payload of section (type, instance) and its length, or NULL if there is none. */
const void *sf_find(const struct sf_reader *r, uint32_t type, uint32_t instance, size_t *len);

/* Copy section (type, instance) into out, which must be exactly size bytes long. Returns
 * 0, or -EINVAL with "the snapshot has no <what>" / "<what> is N bytes, expected M". */
int sf_get(const struct sf_reader *r, uint32_t type, uint32_t instance, void *out, size_t size,
           const char *what, char *err, size_t errlen);

/* How many sections of type there are. */
unsigned sf_count(const struct sf_reader *r, uint32_t type);

/* The payload of the n-th section (0-based) in file order, with its type, instance and
 * length; NULL past the last. */
const void *sf_section(const struct sf_reader *r, unsigned n, uint32_t *type, uint32_t *instance,
                       size_t *len);

#endif
