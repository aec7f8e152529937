/*
 * The REST API's requests as typed commands (Firecracker's API: ../shared/reference/
 * firecracker-api.yaml is the contract). The API thread turns an HTTP request into a
 * struct api_cmd, checking every field (api_parse); the vmm thread executes it against the
 * VM's configuration or the running VM (vmm_api.h) and fills a struct api_reply. The config
 * file (--config-file) goes through the same parsers, one section at a time.
 */
#ifndef EMBER_API_H
#define EMBER_API_H

#include "../base/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PATH_MAX  CONFIG_PATH_MAX /* a host path in a request */
#define API_REPLY_MAX 65536           /* a response body */

/* The endpoints, in the order of their rows in api_endpoints[] (api_json.h). */
enum api_op {
	API_GET_INFO,           /* GET / */
	API_GET_VERSION,        /* GET /version */
	API_GET_VM_CONFIG,      /* GET /vm/config */
	API_GET_MACHINE_CONFIG, /* GET /machine-config */
	API_PUT_BOOT_SOURCE,
	API_PUT_MACHINE_CONFIG,
	API_PATCH_MACHINE_CONFIG,
	API_PUT_DRIVE,
	API_PATCH_DRIVE,
	API_PUT_NET,
	API_PATCH_NET,
	API_PUT_VSOCK,
	API_PUT_ENTROPY,
	API_PUT_LOGGER,
	API_PUT_METRICS,
	/* PUT /actions {"action_type": ...}, in the yaml's order of action types. */
	API_ACTION_FLUSH_METRICS,
	API_ACTION_INSTANCE_START,
	API_ACTION_SEND_CTRL_ALT_DEL,
	API_PATCH_VM, /* PATCH /vm {"state": "Paused" | "Resumed"} */
	API_OP_COUNT  /* sizes every per-endpoint array */
};

/* PUT /boot-source. */
struct api_boot_source {
	char kernel_image_path[API_PATH_MAX];
	char initrd_path[API_PATH_MAX];
	bool has_initrd_path;
	char boot_args[CONFIG_CMDLINE_MAX + 1];
	bool has_boot_args;
};

/* PUT (all required fields present) and PATCH (any subset) /machine-config. */
struct api_machine_config {
	bool has_vcpu_count, has_mem_size_mib, has_smt, has_track_dirty_pages, has_huge_pages;
	unsigned vcpu_count;   /* 1..CONFIG_MAX_VCPUS */
	uint64_t mem_size_mib; /* >= 1 */
	bool smt;              /* only false is supported */
	bool track_dirty_pages;
	bool huge_pages_transparent; /* "None" or "Transparent"; "2M" is refused */
};

/* PUT (whole) and PATCH (path_on_host only) /drives/{drive_id}. The id in the path and in
 * the body must match. */
struct api_drive {
	char drive_id[CONFIG_ID_MAX + 1];
	bool has_path_on_host, has_is_root_device, has_is_read_only, has_io_engine;
	char path_on_host[API_PATH_MAX];
	bool is_root_device;
	bool is_read_only;
	enum drive_engine io_engine; /* "Sync" -> DRIVE_ENGINE_SYNC, "Async" -> IO_URING */
};

/* PUT (whole) and PATCH (rate limiters only: accepted, nothing to change)
 * /network-interfaces/{iface_id}. */
struct api_net {
	char iface_id[CONFIG_ID_MAX + 1];
	char host_dev_name[CONFIG_TAP_MAX];
	bool has_guest_mac;
	uint8_t guest_mac[6];
	unsigned mtu; /* 0: absent */
};

/* PUT /vsock. */
struct api_vsock {
	uint32_t guest_cid;
	char uds_path[CONFIG_UDS_PATH_MAX + 1];
};

/* PUT /logger. */
enum api_log_level {
	API_LOG_OFF,
	API_LOG_ERROR,
	API_LOG_WARNING,
	API_LOG_INFO,
	API_LOG_DEBUG,
	API_LOG_TRACE
};
struct api_logger {
	char log_path[API_PATH_MAX];
	bool has_log_path;
	bool has_level;
	enum api_log_level level;
	bool show_level, show_log_origin;
};

/* PUT /metrics. */
struct api_metrics {
	char metrics_path[API_PATH_MAX];
};

/* PATCH /vm. */
struct api_vm_state {
	bool paused; /* "Paused" (true) or "Resumed" (false) */
};

struct api_cmd {
	enum api_op op;
	union {
		struct api_boot_source boot;
		struct api_machine_config machine;
		struct api_drive drive;
		struct api_net net;
		struct api_vsock vsock;
		struct api_logger logger;
		struct api_metrics metrics;
		struct api_vm_state vm;
	} u;
};

/* What goes back: an HTTP status and, unless it is 204, a JSON body. */
struct api_reply {
	int status;
	size_t len;
	char body[API_REPLY_MAX];
};

/* 204 with no body. */
void api_reply_no_content(struct api_reply *r);
/* 400 with {"fault_message": "<printf text, JSON-escaped>"}. */
void api_reply_fault(struct api_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parse one request: method ("GET", "PUT", "PATCH"; anything else is refused), the path
 * (without a query string; one trailing '/' is not accepted, as in Firecracker) and the
 * body (len bytes, not NUL-terminated; may be empty). Checks every field: unknown fields,
 * wrong JSON types, out-of-range values, ids (1..CONFIG_ID_MAX of [A-Za-z0-9_-]),
 * id mismatch between path and body, a missing required field. Returns 0 with *cmd
 * filled, or -EINVAL with a 400 fault in *reply whose message says what to change.
 */
int api_parse(const char *method, const char *path, const char *body, size_t len,
              struct api_cmd *cmd, struct api_reply *reply);

/*
 * The sections of a config file (Firecracker's --config-file: the shape of GET
 * /vm/config, kebab-case keys: "boot-source", "machine-config", "drives",
 * "network-interfaces", "vsock", "entropy", "logger", "metrics"), as the commands PUT
 * would give, in this order: logger, metrics, machine-config, boot-source, drives (array
 * order), network-interfaces, vsock, entropy. Calls fn(cmd, ctx) for each; stops at the
 * first fn that returns non-zero and returns that. Returns 0, fn's value, or -EINVAL
 * with a message in err (the section and the field) for a malformed file or an unknown
 * section. "boot-source" and "machine-config" are required.
 */
int api_parse_config_file(const char *text, size_t len,
                          int (*fn)(const struct api_cmd *cmd, void *ctx), void *ctx, char *err,
                          size_t errlen);

/* The body of GET /vm/config for cfg (Firecracker's FullVmConfiguration, kebab-case
 * section keys, snake_case fields; absent devices as [] or null), into r (status 200). */
void api_render_vm_config(const struct vm_config *cfg, struct api_reply *r);

#endif
