/*
 * The controller: one microVM's configuration before boot and the VM after, changed only
 * here, on the vmm thread. Every front end drives it with the same typed commands (the
 * shapes of Firecracker's API): the API thread through ctl_call, the config file and
 * `ember run` directly; then InstanceStart; then ctl_run until the VM ends or a signal
 * comes. It knows nothing of HTTP or of parsing requests; its replies carry the status an
 * API would send (200 or 204 done, 400 refused, 500 failed) and a JSON body (ctl_json.c).
 */
#ifndef EMBER_CONTROLLER_H
#define EMBER_CONTROLLER_H

#include "../base/config.h"
#include "../mmds/mmds.h"
#include "../devices/boot_timer.h"
#include "metrics.h"
#include "vm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_REPLY_MAX 65536 /* a reply's body */

/* The typed commands: the endpoints of Firecracker's API, in the order of their rows in
 * api_endpoints[] (api/api_json.h). */
enum ctl_op {
	CTL_GET_INFO,           /* GET / */
	CTL_GET_VERSION,        /* GET /version */
	CTL_GET_VM_CONFIG,      /* GET /vm/config */
	CTL_GET_MACHINE_CONFIG, /* GET /machine-config */
	CTL_PUT_BOOT_SOURCE,
	CTL_PUT_MACHINE_CONFIG,
	CTL_PATCH_MACHINE_CONFIG,
	CTL_PUT_DRIVE,
	CTL_PATCH_DRIVE,
	CTL_PUT_NET,
	CTL_PATCH_NET,
	CTL_PUT_VSOCK,
	CTL_PUT_ENTROPY,
	CTL_PUT_LOGGER,
	CTL_PUT_METRICS,
	CTL_PUT_SERIAL,
	/* PUT /actions {"action_type": ...}, in the yaml's order of action types. */
	CTL_ACTION_FLUSH_METRICS,
	CTL_ACTION_INSTANCE_START,
	CTL_ACTION_SEND_CTRL_ALT_DEL,
	CTL_PATCH_VM,            /* PATCH /vm {"state": "Paused" | "Resumed"} */
	CTL_PUT_SNAPSHOT_CREATE, /* PUT /snapshot/create */
	CTL_PUT_SNAPSHOT_LOAD,   /* PUT /snapshot/load */
	CTL_GET_MMDS,            /* GET /mmds */
	CTL_PUT_MMDS,            /* PUT /mmds */
	CTL_PATCH_MMDS,          /* PATCH /mmds */
	CTL_PUT_MMDS_CONFIG,     /* PUT /mmds/config */
	CTL_GET_BALLOON,         /* GET /balloon */
	CTL_PUT_BALLOON,
	CTL_PATCH_BALLOON,       /* {"amount_mib"}: before or after boot */
	CTL_GET_BALLOON_STATS,   /* GET /balloon/statistics */
	CTL_PATCH_BALLOON_STATS, /* {"stats_polling_interval_s"} */
	CTL_OP_COUNT             /* sizes every per-endpoint array */
};

/* PUT /boot-source. */
struct ctl_boot_source {
	char kernel_image_path[CONFIG_PATH_MAX];
	char initrd_path[CONFIG_PATH_MAX];
	bool has_initrd_path;
	char boot_args[CONFIG_CMDLINE_MAX + 1];
	bool has_boot_args;
};

/* PUT (all required fields present) and PATCH (any subset) /machine-config. */
struct ctl_machine_config {
	bool has_vcpu_count, has_mem_size_mib, has_smt, has_track_dirty_pages, has_huge_pages;
	unsigned vcpu_count;   /* 1..CONFIG_MAX_VCPUS */
	uint64_t mem_size_mib; /* >= 1 */
	bool smt;              /* only false is supported */
	bool track_dirty_pages;
	enum huge_pages huge_pages; /* "None" or "Transparent"; "2M" is refused */
};

/* A RateLimiter object of a request: which buckets it names (a PATCH replaces those and
 * keeps the others; a PUT switches the unnamed ones off). A bucket of size 0 or refill_time 0
 * is no limit. */
struct ctl_rate_limiter {
	bool has; /* the object is there (not absent, not null) */
	bool has_bandwidth, has_ops;
	struct rate_limiter_config cfg;
};

/* PUT (whole) and PATCH (path_on_host only after boot; rate_limiter) /drives/{drive_id}. The
 * id in the path and in the body must match. */
struct ctl_drive {
	char drive_id[CONFIG_ID_MAX + 1];
	bool has_path_on_host, has_is_root_device, has_is_read_only, has_io_engine;
	bool has_cache_type;
	char path_on_host[CONFIG_PATH_MAX];
	bool is_root_device;
	bool is_read_only;
	enum drive_engine io_engine; /* "Sync" -> DRIVE_ENGINE_SYNC, "Async" -> IO_URING */
	struct ctl_rate_limiter rate_limiter;
	enum drive_cache cache_type; /* absent: Unsafe, Firecracker's default */
};

/* PUT (whole) and PATCH (after boot; rate limiters only) /network-interfaces/{iface_id}. */
struct ctl_net {
	char iface_id[CONFIG_ID_MAX + 1];
	char host_dev_name[CONFIG_TAP_MAX];
	bool has_guest_mac;
	uint8_t guest_mac[6];
	unsigned mtu; /* 0: absent */
	struct ctl_rate_limiter rx_rate_limiter, tx_rate_limiter;
};

/* PUT /entropy. */
struct ctl_entropy {
	struct ctl_rate_limiter rate_limiter;
};

/* PUT /vsock. */
struct ctl_vsock {
	char vsock_id[CONFIG_ID_MAX + 1]; /* "": absent (Firecracker deprecated it) */
	uint32_t guest_cid;
	char uds_path[CONFIG_UDS_PATH_MAX + 1];
};

/* PUT /balloon (amount_mib and deflate_on_oom; the interval optional), PATCH /balloon
 * (amount_mib) and PATCH /balloon/statistics (the interval). */
struct ctl_balloon {
	bool has_amount_mib, has_interval;
	uint32_t amount_mib;
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s;
	bool free_page_reporting;
};

/* PUT /logger. */
enum ctl_log_level {
	CTL_LOG_OFF,
	CTL_LOG_ERROR,
	CTL_LOG_WARNING,
	CTL_LOG_INFO,
	CTL_LOG_DEBUG,
	CTL_LOG_TRACE
};
struct ctl_logger {
	char log_path[CONFIG_PATH_MAX];
	bool has_log_path;
	bool has_level;
	enum ctl_log_level level;
	bool has_show_level, show_level, has_show_log_origin, show_log_origin;
	bool has_module;
	char module[32]; /* "" (every module) or one log_module_ok takes */
};

/* PUT /serial. */
struct ctl_serial {
	char serial_out_path[CONFIG_PATH_MAX]; /* "": stdout again */
};

/* PUT /metrics. */
struct ctl_metrics {
	char metrics_path[CONFIG_PATH_MAX];
};

/* PATCH /vm. */
struct ctl_vm_state {
	bool paused; /* "Paused" (true) or "Resumed" (false) */
};

/* PUT /snapshot/create. The front end opens (creates, truncates) the two files on its own
 * thread and passes them (the locked-down vmm thread may not open files); the paths are for
 * messages. */
struct ctl_snapshot_create {
	bool diff; /* "Diff": only the pages written since the last snapshot */
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_file_path[CONFIG_PATH_MAX];
};

/* PUT /snapshot/load (before anything but the logger and metrics is configured). */
struct ctl_snapshot_load {
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_file_path[CONFIG_PATH_MAX]; /* mem_backend's backend_path (File) */
	bool track_dirty_pages, resume_vm, clock_realtime;
	unsigned huge_pages; /* 0: the snapshot's ("Snapshot"); else 1 + enum huge_pages */
	struct {
		char iface_id[CONFIG_ID_MAX + 1];
		char host_dev_name[CONFIG_TAP_MAX];
	} nets[CONFIG_MAX_NETS];
	unsigned nnets;
	unsigned vcpus; /* 0: the snapshot's (ember restore --vcpus: must equal it) */
	bool has_vsock_uds;
	char vsock_uds[CONFIG_UDS_PATH_MAX + 1];
	/* `ember run --warm` only (no endpoint sets these): vm_restore_opts' fields. */
	bool console_piped;
	const uint8_t *handover;
	size_t handover_len;
};

/* PUT and PATCH /mmds: the body, a reference the front end holds until the command is
 * done (api_cmd_release). */
struct ctl_mmds {
	struct json_t *data;
};

struct ctl_cmd {
	enum ctl_op op;
	union {
		struct ctl_boot_source boot;
		struct ctl_machine_config machine;
		struct ctl_drive drive;
		struct ctl_net net;
		struct ctl_vsock vsock;
		struct ctl_entropy entropy;
		struct ctl_balloon balloon;
		struct ctl_logger logger;
		struct ctl_metrics metrics;
		struct ctl_serial serial;
		struct ctl_vm_state vm;
		struct ctl_snapshot_create snap;
		struct ctl_snapshot_load load;
		struct ctl_mmds mmds;
		struct mmds_config mmds_config; /* PUT /mmds/config */
	} u;
};

/* What goes back: an HTTP status and, unless it is 204, a JSON body. */
struct ctl_reply {
	int status;
	size_t len;
	char body[CTL_REPLY_MAX];
};

/* 204 with no body. */
void ctl_reply_no_content(struct ctl_reply *r);
/* 400 with {"fault_message": "<printf text, JSON-escaped>"}. */
void ctl_reply_fault(struct ctl_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The body of GET /vm/config for cfg (Firecracker's FullVmConfiguration, kebab-case
 * section keys, snake_case fields; absent devices as [] or null), into r (status 200). */
void ctl_render_vm_config(const struct vm_config *cfg, struct ctl_reply *r);

/* Per command type: how many came and how many failed (the metrics). */
struct ctl_stats {
	unsigned long long count[CTL_OP_COUNT];
	unsigned long long fails[CTL_OP_COUNT];
};

struct ctl;
/* A command's execution on the vmm thread: fills the reply, changes nothing on a 4xx. */
typedef void (*ctl_exec_fn)(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);

/* What a front end decides once, before any command: who this is, what the host has, and
 * what `ember run` asks that Firecracker's API has no endpoint for. */
struct ctl_settings {
	char id[CONFIG_ID_MAX + 1]; /* the instance id (--id) */
	uint64_t host_mem_mib;
	bool no_seccomp;            /* --no-seccomp */
	const char *seccomp_filter; /* --seccomp-filter FILE, or NULL: Ember's own filters */
	bool boot_timer;            /* --boot-timer */
	/* The metrics' name for each op (the endpoint table's); NULL: no per-op counts. */
	const char *(*op_name)(enum ctl_op op);
	/* ember run's own, applied to the configuration at InstanceStart. */
	enum boot_request boot;              /* --boot */
	char append[CONFIG_CMDLINE_MAX + 1]; /* --append */
	char *const *cmd_argv;               /* -- CMD ARGS: borrowed from argv */
	unsigned cmd_argc;
	bool cmd_tty;     /* stdin is a terminal: the guest init keeps its tty cooked */
	bool cmd_init;    /* the guest runs Ember's init (vm_config.cmd_init) */
	bool print_stats; /* --stats: at the end, peak RSS and guest RAM touched */
	/* --snapshot-to STATE,MEM: the two files, opened by the front end (-1: none); at
	 * SNAPSHOT_SIGNAL the VM is paused, snapshotted into them, and stopped. */
	int snap_state_fd, snap_mem_fd;
	const char *snap_state_path, *snap_mem_path; /* borrowed, for messages */
	bool snap_taken;        /* set by the controller once the snapshot is written */
	size_t mmds_size_limit; /* --mmds-size-limit; 0: MMDS_DEFAULT_LIMIT */
};

/* The latencies the metrics show, in metrics.h's MSRC_LAT_* order. */
enum ctl_latency {
	CTL_LAT_PAUSE,
	CTL_LAT_RESUME,
	CTL_LAT_FULL_SNAP,
	CTL_LAT_DIFF_SNAP,
	CTL_LAT_LOAD_SNAP,
	CTL_LAT_COUNT
};

struct ctl {
	struct ctl_settings set;
	struct vm_config cfg;
	bool have_boot_source;
	bool started;    /* InstanceStart or a snapshot load succeeded: vm is live */
	bool configured; /* a command other than logger or metrics changed the configuration */
	bool paused;
	struct vm vm;
	int metrics_fd; /* -1 until PUT /metrics or --metrics-path */
	struct ctl_stats stats;
	struct mmds_store mmds;       /* the metadata, served by the interfaces cfg.mmds names */
	struct metrics_state metrics; /* what the last metrics line said */
	unsigned long long metrics_missed, metrics_fails;
	/* api_server's process_startup_time_us and _cpu_us (set by the API mode once its
	 * socket is ready); latencies_us's vmm_* values, in microseconds. */
	uint64_t startup_us, startup_cpu_us;
	uint64_t latency_us[CTL_LAT_COUNT];
	struct boot_timer boot_timer; /* --boot-timer: on the VM's MMIO bus from InstanceStart */
	/* Commands from another thread (ctl_call): an eventfd the vmm thread watches, and a
	 * condition variable the caller waits on. */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t done;
		int fd;
		ctl_exec_fn fn;
		const struct ctl_cmd *cmd;
		struct ctl_reply *reply;
		bool pending, finished, closed;
	} chan;
};

/*
 * Set c up with Firecracker's defaults (1 vCPU, 128 MiB, no devices, no entropy device),
 * prepare the seccomp filters (sc_setup: Ember must still be one thread), block the stop
 * signals and make the command channel. Returns 0, or -errno with a message in err.
 */
int ctl_init(struct ctl *c, const struct ctl_settings *set, char *err, size_t errlen);

/* A rate limiter's configuration with a request's RateLimiter applied: the buckets it
 * names replaced, the others kept (PATCH), or switched off when put is set (PUT). */
void ctl_rate_limiter_apply(struct rate_limiter_config *cur, const struct ctl_rate_limiter *rl,
                            bool put);

/* Count one command of type op in the metrics. */
void ctl_count(struct ctl *c, enum ctl_op op, bool failed);

/* "Not started", "Running" or "Paused". */
const char *ctl_state_name(const struct ctl *c);

/*
 * InstanceStart, typed: the settings into the configuration, config_validate, vm_create,
 * the vCPUs started. Returns 0, or -errno with the message (config_validate's or
 * vm_create's words) in err and nothing started.
 */
int ctl_start(struct ctl *c, char *err, size_t errlen);

/*
 * Wait until the VM ends or a stop signal comes: before InstanceStart, serve commands
 * from ctl_call (and the metrics' period) until one starts the VM; then run the vmm loop
 * (vm_wait) with the channel and the metrics timer on it. Returns the exit status. The
 * channel is closed on return.
 */
int ctl_run(struct ctl *c);

/* The endpoints' execute functions (their rows in api_endpoints[], api/api_json.h): each
 * fills the reply and changes nothing when it refuses. The caller has checked that the
 * command may run now (before boot, after, or both). The GET ones are in ctl_json.c. */
void ctl_get_info(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_version(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_vm_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_boot_source(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_drive(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_drive(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_net(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_net(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_vsock(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_entropy(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_logger(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_metrics(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_serial(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_flush_metrics_action(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_instance_start(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_send_ctrl_alt_del(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_vm(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_snapshot_create(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_snapshot_load(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_mmds_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_put_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_get_balloon_stats(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);
void ctl_patch_balloon_stats(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);

/*
 * A snapshot load, typed (what PUT /snapshot/load executes, and `ember restore`): the VM
 * built from the snapshot's files (vm_restore) with the command's overrides, its vCPUs
 * started, paused unless resume_vm. Returns 0, or -errno with one line in err (-EXDEV:
 * another Ember version or CPU; -EINVAL: another refusal) and nothing started.
 */
int ctl_load(struct ctl *c, const struct ctl_snapshot_load *l, char *err, size_t errlen);

/* Write one metrics line now, if a metrics file is set (ctl_json.c). */
void ctl_flush_metrics(struct ctl *c);

/* A JSON string holding s, each byte that is not part of valid UTF-8 replaced by U+FFFD,
 * so that any host string (a path, a message quoting a request) can be shown. NULL only
 * when out of memory. (ctl_json.c; a json_t *, declared loosely to keep jansson out.) */
struct json_t *ctl_json_string(const char *s);

/*
 * Another thread's command: hand cmd over to the vmm thread, which runs fn(c, cmd, reply)
 * (ctl_run serves it), and wait for the reply. After ctl_close, replies 400 at once.
 */
void ctl_call(struct ctl *c, ctl_exec_fn fn, const struct ctl_cmd *cmd, struct ctl_reply *reply);

/* No more commands will be served: wake and refuse any waiting caller. Idempotent. */
void ctl_close(struct ctl *c);

/* Flush the metrics a last time, release the VM (if started), the metrics file and the
 * channel (ctl_close first, and stop whatever calls ctl_call). */
void ctl_destroy(struct ctl *c);

#endif
