/*
 * The metrics line in Firecracker's layout: one JSON object per flush with
 * utc_timestamp_ms and per-group objects (api_server, get_api_requests, put_api_requests,
 * patch_api_requests, latencies_us, logger, interrupts, block, net, vsock, entropy, and
 * block_<drive_id>, net_<iface_id> per device). Counters are what happened since the last
 * flush (deltas); "store" values (startup times, latencies) are the latest value. Only
 * what Ember really counts is emitted: the subset is written down in docs/METRICS.md, and
 * every name is one of Firecracker's (tests/unit/test_metrics.c checks both).
 */
#ifndef EMBER_METRICS_H
#define EMBER_METRICS_H

#include "devices.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_ROWS_MAX   64 /* global rows (metrics_rows) */
#define METRICS_DEV_FIELDS 8  /* fields of one device group */

/* Where a global row's value comes from. */
enum metrics_src {
	MSRC_OPS,         /* the commands counted for the ops in the row's mask */
	MSRC_OP_FAILS,    /* ... and of those, the refused ones */
	MSRC_STARTUP,     /* api_server: start to API ready, us (--start-time-us) */
	MSRC_STARTUP_CPU, /* ... CPU time, us (--start-time-cpu-us, --parent-cpu-time-us) */
	MSRC_LAT_PAUSE,
	MSRC_LAT_RESUME,
	MSRC_LAT_FULL_SNAP,
	MSRC_LAT_DIFF_SNAP,
	MSRC_LAT_LOAD_SNAP,
	MSRC_MISSED_LOG,     /* log lines a full pipe or a failed write lost */
	MSRC_MISSED_METRICS, /* metrics lines lost the same way */
	MSRC_METRICS_FAILS,  /* metrics lines that could not be rendered */
	MSRC_INTERRUPTS,     /* virtio interrupts raised, all devices */
	MSRC_VCPU_IO_IN,     /* exits of every vCPU: port reads */
	MSRC_VCPU_IO_OUT,
	MSRC_VCPU_MMIO_READ,
	MSRC_VCPU_MMIO_WRITE,
	MSRC_VCPU_FAILURES, /* exits that stopped the VM as a fault */
	MSRC_COUNT
};

struct metrics_row {
	const char *group, *field;
	bool store;    /* a value, not a counter: emitted as is */
	int src;       /* enum metrics_src */
	uint32_t ops;  /* MSRC_OPS, MSRC_OP_FAILS: a mask of 1 << enum ctl_op */
	bool no_fails; /* GET rows: Firecracker counts no failures for them */
};
extern const struct metrics_row metrics_rows[];
extern const unsigned metrics_nrows;

/* One device's counters now, in its group's field order (metrics_dev_group). */
struct metrics_dev {
	const char *group; /* "block", "net", "vsock", "entropy" */
	char id[CONFIG_ID_MAX + 1];
	bool per_device; /* also emitted as <group>_<id> */
	uint64_t v[METRICS_DEV_FIELDS];
};

/* Everything one line needs, read from the controller at flush time. */
struct metrics_sample {
	uint64_t op_count[32], op_fails[32]; /* by enum ctl_op */
	uint64_t src[MSRC_COUNT];            /* the other sources */
	struct metrics_dev devs[VM_MAX_DEVICES];
	unsigned ndevs;
};

/* What the last line said, for the next one's deltas. */
struct metrics_state {
	bool started;
	uint64_t rows[METRICS_ROWS_MAX];
	uint64_t devs[VM_MAX_DEVICES][METRICS_DEV_FIELDS];
};

/* A device group's field names (NULL-terminated), or NULL for a group Ember has none of. */
const char *const *metrics_dev_fields(const char *group);

/* Fill s's device part from the VM's devices (drive and interface ids from cfg), and its
 * vCPUs' and devices' totals (interrupts, exits). */
void metrics_sample_devices(const struct vm *vm, const struct vm_config *cfg,
                            struct metrics_sample *s);

/* The line for s at utc_ms, its counters as deltas from st (which then holds s). NULL only
 * when out of memory. Pure: the unit test drives it without a VM. */
json_t *metrics_render(const struct metrics_sample *s, struct metrics_state *st, uint64_t utc_ms);

#endif
