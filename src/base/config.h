/*
 * The configuration of one microVM. The command line, the API and the config file fill
 * the same struct, so every flag is a field here. It owns its strings (fixed arrays, ""
 * when unset): a copy of the struct is a whole copy. Only the guest command (cmd_argv)
 * is borrowed, from the process's argv, which lives as long as the process.
 */
#ifndef EMBER_CONFIG_H
#define EMBER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rate_limiter.h"

#define CONFIG_DEFAULT_MEM_MIB 128
#define CONFIG_MAX_VCPUS       32
#define CONFIG_CMDLINE_MAX     4095       /* bytes, without the NUL; the kernel may allow less */
#define CONFIG_CMD_MAX_ARGS    4096       /* arguments of the guest command */
#define CONFIG_CMD_MAX_BYTES   (1u << 20) /* their total size, NULs included */

/* Close to Firecracker's default: serial console, reboot and panic end the VM, no PCI
 * (there is none), no mouse port. The i8042 driver finds the keyboard controller through
 * ACPI (PNP0303), which is how SendCtrlAltDel reaches the guest. loglevel=3 keeps boot chatter off
 * the console, among it x86's "PCI: Fatal: No config space access function found", which pci=off
 * itself causes; panics and oopses still print (they raise the level). */
#define CONFIG_DEFAULT_CMDLINE                                                                     \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux loglevel=3"

#define CONFIG_MAX_DRIVES   8
#define CONFIG_MAX_NETS     4
#define CONFIG_ID_MAX       64   /* bytes of a device id, as Firecracker's drive_id */
#define CONFIG_UDS_PATH_MAX 96   /* sun_path's 107 bytes less "_<port>" for guest connections */
#define CONFIG_PATH_MAX     4096 /* a host path, NUL included */
#define CONFIG_TAP_MAX      16   /* a tap's name, NUL included (IFNAMSIZ) */

/* How a drive's requests reach the host: io_uring unless it cannot be set up here. */
enum drive_engine {
	DRIVE_ENGINE_AUTO,     /* io_uring, but synchronous for tmpfs/ramfs or without it */
	DRIVE_ENGINE_IO_URING, /* io_uring or fail */
	DRIVE_ENGINE_SYNC,     /* synchronous, on the vmm thread */
};

/* What a guest's flush means (Firecracker's cache_type). */
enum drive_cache {
	/* VIRTIO_BLK_F_FLUSH offered and a flush is fdatasync(2) ("Writeback"; a driver
	 * that does not take FLUSH gets every write synced before it completes) */
	DRIVE_CACHE_WRITEBACK,
	/* FLUSH not offered and writes never synced: the data reaches the host's page cache
	 * only ("Unsafe", Firecracker's default) */
	DRIVE_CACHE_UNSAFE,
};

/* A virtio-blk disk: a raw image file or a block device. */
struct drive_config {
	char id[CONFIG_ID_MAX + 1]; /* the user's name for it ("rootfs"); also the GET_ID serial */
	char path[CONFIG_PATH_MAX];
	bool read_only; /* the guest sees VIRTIO_BLK_F_RO and writes fail with IOERR */
	bool is_root;   /* the guest's root: it becomes /dev/vda and root=/dev/vda is added */
	enum drive_engine engine;
	struct rate_limiter_config rate_limiter; /* all zero: no limit */
	enum drive_cache cache;
};

/* A virtio-net interface over an existing host tap device. */
struct net_config {
	char id[CONFIG_ID_MAX + 1];
	char tap[CONFIG_TAP_MAX]; /* the host tap's name */
	uint8_t mac[6];
	bool has_mac; /* else the guest picks a random one */
	unsigned mtu; /* 0: not announced (the guest uses 1500) */
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter; /* all zero: no limit */
};

/* virtio-vsock, with Firecracker's host side: a Unix socket path. */
struct vsock_config {
	bool enabled;
	char id[CONFIG_ID_MAX + 1]; /* Firecracker's (deprecated) vsock_id: "" when unset */
	uint32_t guest_cid;         /* >= 3 */
	/* host connects here; guest connections go to <uds_path>_<port> */
	char uds_path[CONFIG_UDS_PATH_MAX + 1];
};

/* MMDS, the metadata service (PUT /mmds/config): which interfaces carry it and how. */
struct mmds_config {
	bool enabled;     /* configured: the listed interfaces divert frames for ipv4 */
	bool v2;          /* "V2": guests need a session token; else "V1" */
	bool imds_compat; /* always the IMDS format, whatever the guest accepts */
	uint32_t ipv4;    /* host order; link-local (169.254.0.0/16) */
	char ifaces[CONFIG_MAX_NETS][CONFIG_ID_MAX + 1];
	unsigned nifaces; /* >= 1 when enabled */
};

struct mmds_store; /* src/mmds/mmds.h */

/* virtio-balloon, Firecracker's way: the host sets a target, the guest gives that many
 * pages back and they leave the host's RSS. */
struct balloon_config {
	bool enabled;
	uint32_t amount_mib;               /* the target: MiB the guest should give back */
	bool deflate_on_oom;               /* VIRTIO_BALLOON_F_DEFLATE_ON_OOM offered */
	uint32_t stats_polling_interval_s; /* 0: no statistics queue */
	bool free_page_reporting;          /* VIRTIO_BALLOON_F_REPORTING offered */
};

/* How guest RAM is backed (Firecracker's huge_pages; its "2M", hugetlbfs, is not offered). */
enum huge_pages {
	HUGE_PAGES_NONE,        /* no advice: the host's THP policy decides ("None") */
	HUGE_PAGES_TRANSPARENT, /* madvise(MADV_HUGEPAGE) ("Transparent") */
};

/* How to enter the kernel: as its format suggests, or a named entry. */
enum boot_request {
	BOOT_REQUEST_AUTO,    /* ELF: 64-bit entry, or PVH if the ELF has no usable one */
	BOOT_REQUEST_LINUX64, /* the Linux 64-bit boot protocol */
	BOOT_REQUEST_PVH,     /* the Xen PVH entry (32-bit, hvm_start_info) */
};

struct vm_config {
	char kernel_path[CONFIG_PATH_MAX]; /* "": none yet */
	char initrd_path[CONFIG_PATH_MAX]; /* "": none */
	/* The whole command line: CONFIG_DEFAULT_CMDLINE unless set. */
	char cmdline[CONFIG_CMDLINE_MAX + 1];
	char append[CONFIG_CMDLINE_MAX + 1]; /* "", or words added after cmdline with one space */
	enum boot_request boot;
	uint64_t mem_mib;
	unsigned vcpus;
	struct drive_config drives[CONFIG_MAX_DRIVES];
	unsigned ndrives;
	struct net_config nets[CONFIG_MAX_NETS];
	unsigned nnets;
	struct vsock_config vsock;
	bool entropy; /* a virtio-rng device fed by getrandom(2) */
	struct mmds_config mmds;
	/* The store MMDS serves (borrowed: the controller's); NULL: no MMDS in this VM. */
	struct mmds_store *mmds_store;
	struct rate_limiter_config entropy_rate_limiter; /* all zero: no limit */
	struct balloon_config balloon;
	bool track_dirty_pages; /* KVM logs the guest's writes to RAM (for Diff snapshots) */
	enum huge_pages huge_pages;
	/* PUT /serial: the console's output goes to this file (created, appended to), not
	 * stdout; "": stdout. */
	char serial_out_path[CONFIG_PATH_MAX];
	bool print_stats; /* at exit, report memory use on stderr */
	bool no_seccomp;  /* --no-seccomp: threads run without their filters (debugging) */
	/* The command the default guest's init runs (docs/CONTRACTS.md); cmd_argc 0: none. */
	char *const *cmd_argv;
	unsigned cmd_argc;
	bool cmd_tty; /* Ember's stdin is a terminal: the init keeps the guest tty cooked */
	/* --snapshot-to STATE,MEM (the front end's, not the machine's): "" when not asked. */
	char snapshot_state[CONFIG_PATH_MAX];
	char snapshot_mem[CONFIG_PATH_MAX];
	bool warm; /* --warm (the front end's): restore the default guest from its cache */
	/* The guest runs Ember's init (the default guest, or a command was given): the
	 * command archive goes even without a command, and a stdin that is not a terminal
	 * follows the init's console contract (docs/CONTRACTS.md). */
	bool cmd_init;
};

/* Copy src into the string field dst (size bytes with the NUL). Returns 0, or -ENAMETOOLONG
 * (dst unchanged) when it does not fit. */
int config_set_str(char *dst, size_t size, const char *src);
#define CONFIG_SET(field, src) config_set_str((field), sizeof(field), (src))

/* Fill *cfg with the defaults (128 MiB, 1 vCPU, the default command line, no kernel,
 * guest RAM advised for transparent huge pages: `ember run`'s; the API starts from
 * Firecracker's, without the advice). */
void config_defaults(struct vm_config *cfg);

/*
 * Check *cfg against the limits that do not depend on the kernel image: a kernel is
 * named, 1 <= vcpus <= CONFIG_MAX_VCPUS, 1 <= mem_mib <= host_mem_mib, the command line
 * with its append fits in CONFIG_CMDLINE_MAX, the guest command fits its limits and has an
 * initrd to ride on. On error returns -EINVAL and writes a message a person can act on
 * into err.
 */
int config_validate(const struct vm_config *cfg, uint64_t host_mem_mib, char *err, size_t errlen);

/* A device id (drive, network interface, vsock): 1..CONFIG_ID_MAX bytes of [A-Za-z0-9_],
 * Firecracker's rule. */
bool config_id_ok(const char *id);

/* An instance id (--id): 1..CONFIG_ID_MAX bytes of [A-Za-z0-9_-] (the jailer's ids have
 * hyphens, and the default is "anonymous-instance"). */
bool config_instance_id_ok(const char *id);

/* The words of config_id_ok's rule, for messages. */
#define CONFIG_ID_RULE "letters, digits or '_'"

/* The device part of config_validate: drive and interface ids (config_id_ok, unique), paths and tap
 * names present, at most one root drive, the vsock CID and path. Returns 0 or -EINVAL with a
 * message in err. */
int config_validate_devices(const struct vm_config *cfg, char *err, size_t errlen);

/*
 * The full kernel command line, cmdline then " " then append (when set), into buf.
 * Returns its length, or -ENOSPC if it does not fit in len bytes with the NUL.
 */
int config_full_cmdline(const struct vm_config *cfg, char *buf, size_t len);

#endif
