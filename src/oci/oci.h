/*
 * ember-oci: a runc-compatible OCI runtime that runs each container in its own Ember
 * microVM. A separate program, outside Ember's layers: it drives the `ember` binary by its
 * command line and talks to the guest agent (guest/agent.c) over vsock.
 */
#ifndef EMBER_OCI_H
#define EMBER_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define OCI_VERSION     "1.1.0"
#define OCI_MEM_DEFAULT 256 /* MiB of guest memory without linux.resources.memory.limit */
#define OCI_MEM_FLOOR   128 /* MiB: a smaller limit still gets this much (the kernel's own) */
#define OCI_VCPUS_MAX   32
#define OCI_ERR_MAX     512

/* A process's spec, flattened to guest/agent_proto.h's strings. */
struct oci_blob {
	char *buf;
	size_t len, cap;
};

/* The parts of config.json ember-oci acts on. Strings point into json. */
struct oci_spec {
	json_t *json;
	const char *version;
	const char *root_path; /* as written: relative to the bundle or absolute */
	bool root_readonly;
	bool terminal;
	unsigned mem_mib, vcpus;
	struct oci_blob agent; /* the process, hostname and mounts for the agent */
};

/*
 * spec.c. Parse config.json's text into spec (oci_spec_free releases it). On error returns
 * -1 with one sentence in err naming the field, e.g. "process.args must be a non-empty
 * array of strings". Unknown properties are ignored, as the runtime spec requires.
 */
int oci_spec_parse(const char *text, struct oci_spec *spec, char *err, size_t errlen);
void oci_spec_free(struct oci_spec *spec);
/* Flatten a "process" object (config.json's, or exec's --process file) onto blob. */
int oci_process_encode(json_t *process, struct oci_blob *blob, char *err, size_t errlen);
void oci_blob_free(struct oci_blob *blob);

/* state.c: one directory per container under the root, ROOT/ID. */
enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED };

struct oci_state {
	char id[256];
	char bundle[4096];
	char rootfs[4096];
	char created[64];
	enum oci_status status; /* as recorded; oci_state_status gives the live one */
	pid_t pid;
	unsigned long long start_time; /* the pid's start time, against pid reuse */
	json_t *annotations;           /* owned, may be NULL */
};

const char *oci_status_name(enum oci_status status);
/* An id runc accepts: [A-Za-z0-9_+.-], 1 to 255 characters, not "." or "..". */
bool oci_id_valid(const char *id);
/* The state as JSON (the runtime spec's fields plus runc's rootfs, created, owner). */
json_t *oci_state_json(const struct oci_state *st, enum oci_status live, bool internal);
/* Read from JSON text written by oci_state_json(..., true); -1 if malformed. */
int oci_state_from_json(const char *text, struct oci_state *st);
void oci_state_clear(struct oci_state *st);
/* Write DIR/state.json atomically; -errno. */
int oci_state_save(int dirfd, const struct oci_state *st);
int oci_state_load(int dirfd, struct oci_state *st);
/* The live status: stopped once the host process is gone or has recorded an exit. */
enum oci_status oci_state_status(int dirfd, const struct oci_state *st);
/* The start time of pid from /proc/PID/stat, 0 if it has none. */
unsigned long long oci_pid_start_time(pid_t pid);

/* shim.c: the host process of one container (the pid `create` reports). */
struct oci_shim_args {
	int dirfd;         /* the container's state directory */
	const char *ember; /* the ember binary */
	const char *image; /* the root disk image, in the state directory */
	struct oci_spec *spec;
	int ready_fd; /* gets "ok\n" or one line of error, then is closed */
};
/* Never returns: exits with the container process's status. */
void oci_shim_run(struct oci_shim_args *args) __attribute__((noreturn));
/*
 * Send one frame to ID's shim over DIR/ctl.sock and wait for its reply frame; -1 with err
 * set if the shim cannot be reached.
 */
int oci_ctl_call(int dirfd, uint32_t type, const void *data, size_t len, uint32_t *reply_type,
                 char *reply, size_t reply_cap, char *err, size_t errlen);
/* Connect to DIR/ctl.sock; -errno. */
int oci_ctl_connect(int dirfd);
int oci_frame_send(int fd, uint32_t type, uint32_t id, const void *data, size_t len);
/* Read one frame, payload NUL-terminated in data (AGENT_MAX_PAYLOAD + 1); -1 at EOF/error. */
int oci_frame_recv(int fd, uint32_t *type, uint32_t *id, char *data, uint32_t *len);

#endif
