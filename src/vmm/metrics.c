/*
 * The metrics line (metrics.h): Firecracker's group and field names for what Ember counts,
 * in one table per part, rendered as deltas since the last flush.
 */
#include "metrics.h"
#include "../virtio/net.h"
#include "../virtio/virtio.h"
#include "controller.h"
#include "vm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define OP(o) (1u << (o))
#define ACTIONS                                                                                    \
	(OP(CTL_ACTION_FLUSH_METRICS) | OP(CTL_ACTION_INSTANCE_START) |                            \
	 OP(CTL_ACTION_SEND_CTRL_ALT_DEL))
#define GET(f, o)                                                                                  \
	{                                                                                          \
		"get_api_requests", f "_count", false, MSRC_OPS, OP(o), true                       \
	}
#define REQ(g, f, ops)                                                                             \
	{g, f "_count", false, MSRC_OPS, ops, false},                                              \
	{                                                                                          \
		g, f "_fails", false, MSRC_OP_FAILS, ops, false                                    \
	}
#define PUT(f, ops)   REQ("put_api_requests", f, ops)
#define PATCH(f, ops) REQ("patch_api_requests", f, ops)
#define VAL(g, f, s)                                                                               \
	{                                                                                          \
		g, f, true, s, 0, false                                                            \
	}
#define CNT(g, f, s)                                                                               \
	{                                                                                          \
		g, f, false, s, 0, false                                                           \
	}

/* The global rows, in the line's order. Endpoints Firecracker has no counter for (GET
 * /vm/config, PUT /entropy, PATCH /vm, the snapshots) are not counted here. */
const struct metrics_row metrics_rows[] = {
    VAL("api_server", "process_startup_time_us", MSRC_STARTUP),
    VAL("api_server", "process_startup_time_cpu_us", MSRC_STARTUP_CPU),
    GET("instance_info", CTL_GET_INFO),
    GET("machine_cfg", CTL_GET_MACHINE_CONFIG),
    GET("vmm_version", CTL_GET_VERSION),
    PUT("actions", ACTIONS),
    PUT("boot_source", OP(CTL_PUT_BOOT_SOURCE)),
    PUT("drive", OP(CTL_PUT_DRIVE)),
    PUT("logger", OP(CTL_PUT_LOGGER)),
    PUT("machine_cfg", OP(CTL_PUT_MACHINE_CONFIG)),
    PUT("metrics", OP(CTL_PUT_METRICS)),
    PUT("network", OP(CTL_PUT_NET)),
    PUT("vsock", OP(CTL_PUT_VSOCK)),
    PATCH("drive", OP(CTL_PATCH_DRIVE)),
    PATCH("network", OP(CTL_PATCH_NET)),
    PATCH("machine_cfg", OP(CTL_PATCH_MACHINE_CONFIG)),
    VAL("latencies_us", "vmm_pause_vm", MSRC_LAT_PAUSE),
    VAL("latencies_us", "vmm_resume_vm", MSRC_LAT_RESUME),
    VAL("latencies_us", "vmm_full_create_snapshot", MSRC_LAT_FULL_SNAP),
    VAL("latencies_us", "vmm_diff_create_snapshot", MSRC_LAT_DIFF_SNAP),
    VAL("latencies_us", "vmm_load_snapshot", MSRC_LAT_LOAD_SNAP),
    CNT("logger", "missed_log_count", MSRC_MISSED_LOG),
    CNT("logger", "missed_metrics_count", MSRC_MISSED_METRICS),
    CNT("logger", "metrics_fails", MSRC_METRICS_FAILS),
    CNT("interrupts", "triggers", MSRC_INTERRUPTS),
    CNT("vcpu", "exit_io_in", MSRC_VCPU_IO_IN),
    CNT("vcpu", "exit_io_out", MSRC_VCPU_IO_OUT),
    CNT("vcpu", "exit_mmio_read", MSRC_VCPU_MMIO_READ),
    CNT("vcpu", "exit_mmio_write", MSRC_VCPU_MMIO_WRITE),
    CNT("vcpu", "failures", MSRC_VCPU_FAILURES),
};
const unsigned metrics_nrows = sizeof(metrics_rows) / sizeof(metrics_rows[0]);
_Static_assert(sizeof(metrics_rows) / sizeof(metrics_rows[0]) <= METRICS_ROWS_MAX,
               "METRICS_ROWS_MAX is too small");
_Static_assert(CTL_OP_COUNT <= 32, "the op masks are 32 bits");

/* ---- devices: one group per virtio kind, its fields and where they come from ---- */

static uint64_t kicks(const struct vm_device *d)
{
	return atomic_load(&d->vdev->stat_kicks);
}
/* Requests a rate limiter held back; an interface's per direction. */
static uint64_t throttled(const struct vm_device *d)
{
	return atomic_load(&d->vdev->stat_throttled);
}
static uint64_t net_rx_throttled(const struct vm_device *d)
{
	return atomic_load(&((struct virtio_net *)d->dev)->rx_limiter.refused);
}
static uint64_t net_tx_throttled(const struct vm_device *d)
{
	return atomic_load(&((struct virtio_net *)d->dev)->tx_limiter.refused);
}
static uint64_t q0(const struct vm_device *d)
{
	return atomic_load(&d->vdev->stat_queue_kicks[0]);
}
static uint64_t q1(const struct vm_device *d)
{
	return atomic_load(&d->vdev->stat_queue_kicks[1]);
}
/* The net counters change on the vmm thread, which is the one flushing. */
static uint64_t net_rx_bytes(const struct vm_device *d)
{
	return ((const struct virtio_net *)d->dev)->rx_bytes;
}
static uint64_t net_rx_frames(const struct vm_device *d)
{
	return ((const struct virtio_net *)d->dev)->rx_frames;
}
static uint64_t net_tx_bytes(const struct vm_device *d)
{
	return ((const struct virtio_net *)d->dev)->tx_bytes;
}
static uint64_t net_tx_frames(const struct vm_device *d)
{
	return ((const struct virtio_net *)d->dev)->tx_frames;
}

struct dev_field {
	const char *name;
	uint64_t (*get)(const struct vm_device *d);
};

static const struct dev_group {
	const char *kind;  /* the device table's name */
	const char *group; /* Firecracker's */
	bool per_device;   /* block_<id>, net_<id> besides the aggregate */
	const char *names[METRICS_DEV_FIELDS + 1];
	uint64_t (*get[METRICS_DEV_FIELDS])(const struct vm_device *d);
} dev_groups[] = {
    {"virtio-blk",
     "block",
     true,
     {"queue_event_count", "rate_limiter_throttled_events", NULL},
     {kicks, throttled}},
    {"virtio-net",
     "net",
     true,
     {"rx_queue_event_count", "tx_queue_event_count", "rx_bytes_count", "rx_packets_count",
      "tx_bytes_count", "tx_packets_count", "rx_rate_limiter_throttled",
      "tx_rate_limiter_throttled", NULL},
     {q0, q1, net_rx_bytes, net_rx_frames, net_tx_bytes, net_tx_frames, net_rx_throttled,
      net_tx_throttled}},
    {"virtio-vsock",
     "vsock",
     false,
     {"rx_queue_event_count", "tx_queue_event_count", NULL},
     {q0, q1}},
    {"virtio-rng",
     "entropy",
     false,
     {"entropy_event_count", "entropy_rate_limiter_throttled", NULL},
     {kicks, throttled}},
};
#define NGROUPS (sizeof(dev_groups) / sizeof(dev_groups[0]))

static const struct dev_group *group_named(const char *group)
{
	for (unsigned g = 0; g < NGROUPS; g++)
		if (!strcmp(dev_groups[g].group, group))
			return &dev_groups[g];
	return NULL;
}

const char *const *metrics_dev_fields(const char *group)
{
	const struct dev_group *g = group_named(group);
	return g ? g->names : NULL;
}

void metrics_sample_devices(const struct vm *vm, const struct vm_config *cfg,
                            struct metrics_sample *s)
{
	s->ndevs = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];
		s->src[MSRC_VCPU_IO_IN] += atomic_load(&v->exit_io_in);
		s->src[MSRC_VCPU_IO_OUT] += atomic_load(&v->exit_io_out);
		s->src[MSRC_VCPU_MMIO_READ] += atomic_load(&v->exit_mmio_read);
		s->src[MSRC_VCPU_MMIO_WRITE] += atomic_load(&v->exit_mmio_write);
		s->src[MSRC_VCPU_FAILURES] += atomic_load(&v->failures);
	}
	for (unsigned i = 0; i < vm->ndevs; i++) {
		if (vm->devs[i].vdev)
			s->src[MSRC_INTERRUPTS] += atomic_load(&vm->devs[i].vdev->stat_interrupts);
	}
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct vm_device *d = &vm->devs[i];
		for (unsigned g = 0; g < NGROUPS; g++) {
			const struct dev_group *dg = &dev_groups[g];
			if (strcmp(d->kind->name, dg->kind) || !d->vdev)
				continue;
			struct metrics_dev *m = &s->devs[s->ndevs++];
			memset(m, 0, sizeof(*m));
			m->group = dg->group;
			m->per_device = dg->per_device;
			const char *id = !strcmp(dg->group, "block") && d->index < cfg->ndrives
			                     ? cfg->drives[d->index].id
			                 : !strcmp(dg->group, "net") && d->index < cfg->nnets
			                     ? cfg->nets[d->index].id
			                     : "";
			snprintf(m->id, sizeof(m->id), "%s", id);
			for (unsigned f = 0; dg->names[f]; f++)
				m->v[f] = dg->get[f](d);
		}
	}
}

/* ---- rendering ---- */

static json_t *group_of(json_t *root, const char *name)
{
	json_t *g = json_object_get(root, name);
	if (!g) {
		g = json_object();
		json_object_set_new(root, name, g);
	}
	return g;
}

static uint64_t row_value(const struct metrics_row *r, const struct metrics_sample *s)
{
	uint64_t v = 0;
	if (r->src != MSRC_OPS && r->src != MSRC_OP_FAILS)
		return s->src[r->src];
	for (unsigned op = 0; op < CTL_OP_COUNT; op++)
		if (r->ops & OP(op))
			v += r->src == MSRC_OPS ? s->op_count[op] : s->op_fails[op];
	return v;
}

json_t *metrics_render(const struct metrics_sample *s, struct metrics_state *st, uint64_t utc_ms)
{
	json_t *root = json_object();
	if (!root)
		return NULL;
	json_object_set_new(root, "utc_timestamp_ms", json_integer((json_int_t)utc_ms));
	for (unsigned i = 0; i < metrics_nrows; i++) {
		const struct metrics_row *r = &metrics_rows[i];
		uint64_t now = row_value(r, s);
		uint64_t out = r->store ? now : now - st->rows[i];
		st->rows[i] = now;
		json_object_set_new(group_of(root, r->group), r->field,
		                    json_integer((json_int_t)out));
	}
	/* Each device kind's aggregate is there with or without devices, as Firecracker's. */
	for (unsigned g = 0; g < NGROUPS; g++) {
		json_t *agg = group_of(root, dev_groups[g].group);
		for (unsigned f = 0; dev_groups[g].names[f]; f++)
			json_object_set_new(agg, dev_groups[g].names[f], json_integer(0));
	}
	for (unsigned i = 0; i < s->ndevs && i < VM_MAX_DEVICES; i++) {
		const struct metrics_dev *m = &s->devs[i];
		const struct dev_group *dg = group_named(m->group);
		if (!dg)
			continue;
		json_t *agg = json_object_get(root, m->group), *own = NULL;
		if (m->per_device && m->id[0]) {
			char name[8 + CONFIG_ID_MAX + 1];
			snprintf(name, sizeof(name), "%s_%s", m->group, m->id);
			own = group_of(root, name);
		}
		for (unsigned f = 0; dg->names[f]; f++) {
			/* A device's counters only grow; a first line counts from zero. */
			uint64_t d = m->v[f] - (st->started ? st->devs[i][f] : 0);
			st->devs[i][f] = m->v[f];
			json_int_t sum = json_integer_value(json_object_get(agg, dg->names[f]));
			json_object_set_new(agg, dg->names[f], json_integer(sum + (json_int_t)d));
			if (own)
				json_object_set_new(own, dg->names[f], json_integer((json_int_t)d));
		}
	}
	if (s->ndevs)
		st->started = true;
	return root;
}
