/*
 * The vmm thread's side of the API: one microVM's configuration before boot and the VM
 * after, changed only here. Commands come from the API thread through a channel (one at
 * a time: the API thread waits for each reply) or from a config file.
 */
#ifndef EMBER_VMM_API_H
#define EMBER_VMM_API_H

#include "../vmm/vm.h"
#include "api.h"

#include <pthread.h>
#include <stdbool.h>

/* Per request type: how many came and how many failed (the metrics). */
struct vmm_api_stats {
	unsigned long long count[API_OP_COUNT];
	unsigned long long fails[API_OP_COUNT];
};

struct vmm {
	char id[CONFIG_ID_MAX + 1]; /* the instance id (--id) */
	struct vm_config cfg;
	bool have_boot_source;
	bool started; /* InstanceStart succeeded: vm is live */
	bool paused;
	struct vm vm;
	bool logger_set;
	int metrics_fd; /* -1 until PUT /metrics */
	struct vmm_api_stats stats;
	uint64_t host_mem_mib;
};

/* Defaults as Firecracker's: 1 vCPU, 128 MiB, no devices, no entropy device. */
void vmm_init(struct vmm *v, const char *id, uint64_t host_mem_mib);

/* Execute cmd on the vmm thread; fills reply (204, 200 with JSON, or 400 with a fault
 * message; the state is unchanged on 400). InstanceStart builds the VM and starts its
 * vCPUs; the caller then runs the vmm loop (vm_wait). */
void vmm_execute(struct vmm *v, const struct api_cmd *cmd, struct api_reply *reply);

/* The endpoints' execute functions (their rows in api_endpoints[], api_json.h): each
 * fills the reply and changes nothing when it refuses. vmm_execute has checked that the
 * endpoint may run now. */
void vmm_get_info(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_get_version(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_get_vm_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_get_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_boot_source(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_patch_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_drive(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_patch_drive(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_net(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_patch_net(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_vsock(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_entropy(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_logger(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_put_metrics(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_flush_metrics_action(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_instance_start(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_send_ctrl_alt_del(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);
void vmm_patch_vm(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r);

/* Write one metrics line now, if a metrics file is set. */
void vmm_flush_metrics(struct vmm *v);

/* Release the VM (if started) and the metrics file. */
void vmm_destroy(struct vmm *v);

/*
 * The channel from the API thread to the vmm thread: the API thread calls
 * api_channel_call (blocking until the vmm thread has executed the command); the vmm
 * thread watches fd and calls api_channel_serve when it is readable.
 */
struct api_channel {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int fd; /* eventfd */
	const struct api_cmd *cmd;
	struct api_reply *reply;
	bool pending, finished, closed;
};

int api_channel_init(struct api_channel *ch);
void api_channel_destroy(struct api_channel *ch);
/* API thread: hand cmd over and wait; after api_channel_close, replies 400 at once. */
void api_channel_call(struct api_channel *ch, const struct api_cmd *cmd, struct api_reply *reply);
/* vmm thread: run the pending command, if any, through vmm_execute. */
void api_channel_serve(struct api_channel *ch, struct vmm *v);
/* No more commands will be served: wake and refuse any waiting caller. */
void api_channel_close(struct api_channel *ch);

#endif
