/*
 * Virtio devices on the virtio-mmio transport (virtio 1.2, 4.2, version 2 registers).
 * The transport (mmio.c) owns the registers, feature negotiation, status and queues, and
 * calls a device through its one `static const struct virtio_dev_ops`. A device embeds a
 * struct virtio_dev and finds itself with container_of.
 *
 * Threads: register accesses arrive on vCPU threads; queue kicks (ioeventfds) and device
 * fds run on the vmm thread (event_loop.h). Both take vdev->lock, so every ops callback
 * runs with the lock held, and a device's own event handlers must take it too
 * (virtio_dev_lock). A vCPU thread only records state: a Status write that activates or
 * resets the device hands that work to the vmm thread (an eventfd), and the vCPU waits
 * for it outside the guest (virtio_wait_ops), so ops->activate and ops->reset always run
 * on the vmm thread and the vCPU threads' seccomp filter stays small.
 *
 * The guest is hostile: a malformed request makes the device call virtio_dev_fail(), which
 * sets DEVICE_NEEDS_RESET, interrupts the driver, logs once, and stops the device until the
 * driver resets it. Nothing a guest writes ends or harms the monitor.
 */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include "../base/config.h"
#include "../base/event_loop.h"
#include "../base/bus.h"
#include "../base/guest_mem.h"
#include "../base/rate_limiter.h"
#include "virtqueue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Device IDs (virtio 1.2, 5). */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_VSOCK   19

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

/* Transport feature bits (6). The transport offers VERSION_1, and INDIRECT_DESC and
 * EVENT_IDX to every device; a device offers its own bits in its features field. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

/* InterruptStatus bits (4.2.2). */
#define VIRTIO_INT_VRING  1
#define VIRTIO_INT_CONFIG 2

#define VIRTIO_MAX_QUEUES 4 /* vsock uses 3 */

/* The virtio-mmio window of each device, and its register offsets (4.2.2). */
#define VIRTIO_MMIO_SIZE         0x1000
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_CONFIG       0x100

struct virtio_dev;

/* Device work a Status write hands to the vmm thread. At most one is pending: a reset
 * replaces a pending activation, and nothing else is asked while a reset is pending. */
enum virtio_work { VIRTIO_WORK_NONE, VIRTIO_WORK_ACTIVATE, VIRTIO_WORK_RESET };

/* How a vCPU thread waits for device work it handed to the vmm thread; the host provides
 * these (vcpu.c), tests their own. */
struct virtio_wait_ops {
	/* On the vCPU thread, no device lock held: return once done(arg) is true, or earlier
	 * when the VM stops. Meanwhile the thread counts as outside the guest (a pause does
	 * not wait for it). Allocates nothing. */
	void (*wait)(void *ctx, bool (*done)(void *arg), void *arg);
	/* On the vmm thread, no device lock held: some device work is done; every waiter
	 * checks its done() again. */
	void (*wake)(void *ctx);
};

struct virtio_dev_ops {
	const char *kind;        /* "virtio-blk": the start of every log line */
	uint32_t device_id;      /* VIRTIO_ID_* */
	unsigned num_queues;     /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size; /* QueueNumMax, a power of two <= VQ_MAX_SIZE */
	/* Read len (1, 2, 4 or 8) bytes of device configuration at offset off; the
	 * transport has checked that [off, off + len) lies inside config_size. */
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len);
	/* Likewise for a write; NULL: the configuration is read-only and writes are ignored. */
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const uint8_t *data,
	                     unsigned len);
	/* The driver set DRIVER_OK and every ready queue is active (vq_activate). Start
	 * serving (e.g. watch a tap fd). vmm thread. Returns 0, or -errno and the device needs
	 * reset. */
	int (*activate)(struct virtio_dev *vdev);
	/* The driver wrote 0 to Status (or the VM is going away): drop every request and
	 * stop touching guest memory before returning (wait for in-flight I/O). Queues and
	 * transport state are reset by the transport afterwards. vmm thread (or teardown). */
	void (*reset)(struct virtio_dev *vdev);
	/* The driver kicked queue q (vmm thread). Called only while the device is live
	 * (virtio_dev_live) and the queue active. */
	void (*notify)(struct virtio_dev *vdev, unsigned q);
	/* Optional: the device's own counters as text for `--stats` ("reqs 12, ..."), into
	 * buf (NUL-terminated, truncated to len). After the VM stopped. */
	void (*stats)(struct virtio_dev *vdev, char *buf, size_t len);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	char name[16 + CONFIG_ID_MAX]; /* "virtio-blk rootfs": kind and the user's id, for logs */
	uint64_t features;    /* device-specific feature bits offered (set before adding) */
	uint32_t config_size; /* bytes of device configuration (set before adding) */

	/* Set by virtio_mmio_add. */
	const struct guest_mem *mem;
	struct event_loop *loop;
	uint64_t base; /* the window's guest physical address */
	unsigned gsi;  /* its interrupt */
	pthread_mutex_t lock;

	/* Transport state, under lock. */
	uint64_t driver_features;
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t config_generation;
	bool activated; /* ops->activate succeeded: ops->reset is due at reset */
	bool failed;    /* NEEDS_RESET is set: serve nothing until reset */
	bool fail_logged;
	enum virtio_work work;   /* asked by a Status write, not yet done by the vmm thread */
	uint64_t work_asked;     /* work requests made (each a ticket to wait for) */
	atomic_ullong work_done; /* work_asked when the vmm thread last finished the work */
	atomic_uint interrupt_status;
	struct vq vqs[VIRTIO_MAX_QUEUES];
	/* Counters for the metrics, read without the lock. */
	atomic_ullong stat_kicks;      /* notifications handled */
	atomic_ullong stat_interrupts; /* interrupts raised */
	atomic_ullong stat_failures;   /* times the device needed a reset */
	atomic_ullong stat_exits;      /* register accesses: each one an exit to Ember (--stats) */
	atomic_ullong stat_queue_kicks[VIRTIO_MAX_QUEUES]; /* stat_kicks per queue (--stats) */
	atomic_ullong stat_throttled;           /* requests a rate limiter refused (queue parked) */
	const struct virtio_wait_ops *wait_ops; /* set by virtio_mmio_add, with its ctx */
	void *wait_ctx;
	int work_fd; /* eventfd: wakes the vmm thread for the pending work */
	struct el_handler work_handler;
	int irq_fd;                      /* KVM_IRQFD eventfd */
	int kick_fds[VIRTIO_MAX_QUEUES]; /* KVM_IOEVENTFD eventfds on QueueNotify */
	struct el_handler kick_handlers[VIRTIO_MAX_QUEUES];
	struct virtio_kick_ctx {
		struct virtio_dev *vdev;
		unsigned q;
	} kick_ctx[VIRTIO_MAX_QUEUES];
};

/* Prepare vdev's transport state: lock, no fds, status 0. ops, name, features and
 * config_size are kept. Returns 0 or -errno. */
int virtio_dev_init(struct virtio_dev *vdev);

/* Create the irq eventfd, the work eventfd and one kick eventfd per queue, and watch the
 * work and the kicks on loop: pending work runs on the vmm thread (then wait_ops->wake),
 * and before a kick is served, so a kick the vmm thread sees first is not lost; a kick
 * runs ops->notify while the device is live. vdev->wait_ops must be set. Returns 0 or
 * -errno; virtio_dev_release undoes it. */
int virtio_dev_watch_kicks(struct virtio_dev *vdev, struct event_loop *loop);

/* Device reset, lock held, vmm thread (or teardown): ops->reset, every queue and the
 * transport state cleared, pending work dropped. */
void virtio_dev_reset(struct virtio_dev *vdev);

/* The driver set DRIVER_OK, lock held, vmm thread: activate every ready queue, then
 * ops->activate; on a bad queue or a failed activate the device fails (NEEDS_RESET). */
void virtio_dev_activate(struct virtio_dev *vdev);

/* A vCPU thread's Status write asks for work, lock held: record it, wake the vmm thread
 * (once per pending work: a flood of writes costs nothing more), and return the ticket
 * to pass to virtio_dev_await once the lock is dropped. */
uint64_t virtio_dev_request(struct virtio_dev *vdev, enum virtio_work work);

/* On the vCPU thread, lock not held: wait until the work of ticket is done (or the VM
 * stops), through wait_ops. */
void virtio_dev_await(struct virtio_dev *vdev, uint64_t ticket);

/* Reset (taking the lock), stop watching the kicks and close the eventfds. */
void virtio_dev_release(struct virtio_dev *vdev);

void virtio_dev_lock(struct virtio_dev *vdev);
void virtio_dev_unlock(struct virtio_dev *vdev);

/* True when the driver set DRIVER_OK, the vmm thread has activated the device and it
 * has not failed: it may serve. */
bool virtio_dev_live(const struct virtio_dev *vdev);

/* The negotiated value of feature bit `bit`. */
bool virtio_dev_has(const struct virtio_dev *vdev, unsigned bit);

/*
 * The guest sent something malformed: set DEVICE_NEEDS_RESET, raise a configuration
 * interrupt, stop serving until the driver resets the device, and log "ember: <name>:
 * <message>; the device stops until the guest resets it" (once per reset). Lock held.
 */
void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The device changed its configuration (a drive's new size): ConfigGeneration moves on and,
 * once the driver is running, a configuration change interrupt tells it (4.2.2). Lock held. */
void virtio_dev_config_changed(struct virtio_dev *vdev);

/* After pushing chains to queue q: interrupt the driver if it wants one (vq_needs_interrupt).
 * Lock held. */
void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned q);

/* Raise the interrupt again if InterruptStatus has bits the driver has not acknowledged
 * (after a restore: an interrupt raised just before the snapshot may have reached KVM's
 * irqchip only after its state was read; one more is harmless, the driver reads the
 * status). */
void virtio_dev_reraise(struct virtio_dev *vdev);

/* CLOCK_MONOTONIC in nanoseconds: the devices' `--stats` phase timings. */
uint64_t virtio_clock_ns(void);

/* Ask the vmm thread to run ops->notify(q) again soon, after other ready fds had their
 * turn: how a device that stopped after a batch (e.g. a guest flooding tx) resumes. */
void virtio_dev_requeue(struct virtio_dev *vdev, unsigned q);

/*
 * A device's rate limiter (rate_limiter.h) with its timer on the vmm loop: a device asks
 * virtio_limiter_consume before serving a request; when it is refused the device puts the
 * request back and stops serving that queue, and when the timer fires resume() runs (lock
 * held, device live) to serve it again. Refusals count in vdev->stat_throttled.
 */
struct virtio_limiter {
	struct rate_limiter rl;
	struct virtio_dev *vdev;
	void (*resume)(struct virtio_dev *vdev, struct virtio_limiter *l);
	struct el_handler handler;
	bool watched;          /* the timer is on vdev->loop */
	atomic_ullong refused; /* requests it refused (each also counts in stat_throttled) */
};

/* Set l up for vdev with cfg (possibly no limit: PATCH may add one later). Before
 * virtio_mmio_add is fine. Returns 0 or -errno. */
int virtio_limiter_init(struct virtio_limiter *l, struct virtio_dev *vdev,
                        const struct rate_limiter_config *cfg,
                        void (*resume)(struct virtio_dev *vdev, struct virtio_limiter *l));

/* Watch the timer on vdev->loop (once; ops->activate calls it). Returns 0 or -errno. */
int virtio_limiter_watch(struct virtio_limiter *l);

/* rl_consume, counting a refusal. Lock held. */
bool virtio_limiter_consume(struct virtio_limiter *l, uint64_t tokens, enum rl_kind kind);

/* Firecracker's rule for one request: an op, then its bytes (if any); refused bytes give
 * the op back. Lock held. */
bool virtio_limiter_admit(struct virtio_limiter *l, uint64_t bytes);

/* A new configuration (PATCH), lock held, vmm thread: rl_update, then resume() if the
 * device is live, since a parked queue may run now. */
void virtio_limiter_update(struct virtio_limiter *l, const struct rate_limiter_config *cfg);

/* Stop watching and close the timer. Safe on a zeroed or failed one. */
void virtio_limiter_destroy(struct virtio_limiter *l);

/* What a virtio device sees of the machine it sits in, and all it sees: the KVM VM (for
 * its irqfd and ioeventfds), guest memory, the vmm thread's event loop, the MMIO bus, and
 * how a vCPU thread waits for device work (with its context). */
struct virtio_host {
	int vm_fd;
	const struct guest_mem *mem;
	struct event_loop *loop;
	struct bus *mmio;
	const struct virtio_wait_ops *wait_ops;
	void *wait_ctx;
};

/* The register window's handlers: virtio_mmio_add puts them on the bus with the device as
 * their dev; tests call them as a vCPU would. */
extern const struct bus_ops virtio_mmio_bus_ops;

/*
 * Place vdev on host's MMIO bus at base with interrupt gsi: registers on the bus, one
 * KVM_IOEVENTFD per queue on QueueNotify (datamatch: the queue index) and a KVM_IRQFD, the
 * kicks watched on host->loop. vdev->ops, name, features and config_size must be set.
 * Returns 0, or -errno with a message in err.
 */
int virtio_mmio_add(const struct virtio_host *host, struct virtio_dev *vdev, uint64_t base,
                    unsigned gsi, char *err, size_t errlen);

/* Reset the device (ops->reset) and release what virtio_mmio_add acquired. host->vm_fd may
 * be -1 when the VM is already gone. */
void virtio_mmio_remove(const struct virtio_host *host, struct virtio_dev *vdev);

#endif
