/*
 * A fake guest driver for unit-testing virtio devices without KVM: guest RAM from
 * gm_create, the device's queues laid out in it and set up through the virtio-mmio
 * registers as Linux's driver does, chains posted as a driver would, kicks and the
 * device's own fds run through an event loop. The test is both the vCPU and the vmm
 * thread: a register write that hands work to the vmm thread waits by running the event
 * loop until the work is done. Include unit.h first.
 */
#ifndef EMBER_VIRTIO_HARNESS_H
#define EMBER_VIRTIO_HARNESS_H

#include "virtio/virtio.h"
#include "base/event_loop.h"
#include "base/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>

#define VH_RAM (16u << 20)

/* The virtio-mmio registers the fake driver uses (virtio 1.2, 4.2.2). */
#define VH_REG_DRIVER_FEATURES     0x020
#define VH_REG_DRIVER_FEATURES_SEL 0x024
#define VH_REG_QUEUE_SEL           0x030
#define VH_REG_QUEUE_NUM           0x038
#define VH_REG_QUEUE_READY         0x044
#define VH_REG_STATUS              0x070
#define VH_REG_QUEUE_DESC_LOW      0x080
#define VH_REG_QUEUE_DRIVER_LOW    0x090
#define VH_REG_QUEUE_DEVICE_LOW    0x0a0

struct vh_queue {
	gpa_t desc, avail, used;
	uint16_t size;
	uint16_t next_desc; /* descriptors are handed out round-robin */
	uint16_t avail_idx; /* the driver's next avail index */
	uint16_t used_seen; /* used entries taken so far */
};

struct vh {
	struct guest_mem gm;
	struct event_loop loop;
	struct virtio_dev *vdev;
	struct vh_queue q[VIRTIO_MAX_QUEUES];
	gpa_t heap;        /* the next free guest byte for vh_alloc */
	uint64_t features; /* what vh_driver_up negotiates */
	unsigned waits;    /* register writes that waited for device work */
	unsigned wakes;    /* times the device said its work was done */
	/* A waiting register write returns at once, as when the VM stops: the work stays
	 * pending, for a test to look at or serve with vh_pump. */
	bool hold;
	/* Runs once when a register write starts to wait, before the loop serves anything:
	 * what another vCPU does meanwhile. Cleared as it runs. */
	void (*on_wait)(struct vh *h);
};

struct vh_seg {
	gpa_t addr;
	uint32_t len;
	bool write;
};

/* Guest RAM, queues of qsize, every feature the device offers plus VERSION_1,
 * INDIRECT_DESC and EVENT_IDX, status DRIVER_OK and the device activated. Asserts that
 * it went live. */
void vh_setup(struct vh *h, struct virtio_dev *vdev, uint16_t qsize);
/* The same with exactly driver_features negotiated. */
void vh_setup_features(struct vh *h, struct virtio_dev *vdev, uint16_t qsize,
                       uint64_t driver_features);
/* The driver (re)initialises the device through its registers as Linux does: Status 0,
 * ACKNOWLEDGE, DRIVER, h->features, FEATURES_OK, every queue laid out afresh (rings
 * zeroed), DRIVER_OK. Asserts that Status reads 0 after the reset and that the device
 * went live. */
void vh_driver_up(struct vh *h);
/* The same up to FEATURES_OK and the queues, without DRIVER_OK; then vh_driver_ok adds it
 * (asserting nothing). */
void vh_driver_init(struct vh *h);
void vh_driver_ok(struct vh *h);
/* Reset the device, release its eventfds, unmap guest RAM. */
void vh_teardown(struct vh *h);

/* A zeroed guest buffer of len bytes (16-byte aligned) and its host view. */
gpa_t vh_alloc(struct vh *h, uint32_t len);
void *vh_host(struct vh *h, gpa_t gpa, uint32_t len);

/* Post a chain of n buffers (fresh descriptors) and publish it; returns its head. */
uint16_t vh_post(struct vh *h, unsigned q, const struct vh_seg *segs, unsigned n);
/* The same as one indirect descriptor pointing at a table of n. */
uint16_t vh_post_indirect(struct vh *h, unsigned q, const struct vh_seg *segs, unsigned n);
/* Descriptor i of queue q, to corrupt on purpose. */
struct virtq_desc *vh_desc(struct vh *h, unsigned q, uint16_t i);
/* Publish head on the avail ring without building a chain (for hand-made chains). */
void vh_publish(struct vh *h, unsigned q, uint16_t head);

/* A 4-byte register access as a vCPU makes it (virtio_mmio_bus_ops). */
void vh_write_reg(struct vh *h, uint64_t off, uint32_t v);
uint32_t vh_read_reg(struct vh *h, uint64_t off);

/* Run ops->notify(q) with the lock held, as a kick does. */
void vh_kick(struct vh *h, unsigned q);
/* One round of the event loop (kicks, requeues, the device's fds). Returns handlers run. */
int vh_pump(struct vh *h, int timeout_ms);
/* Take the next used element of q, if any. */
bool vh_take_used(struct vh *h, unsigned q, uint16_t *head, uint32_t *len);
/* Status has NEEDS_RESET. */
bool vh_needs_reset(struct vh *h);

#endif
