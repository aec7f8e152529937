/*
 * A fake guest driver for unit-testing virtio devices without KVM: guest RAM from
 * gm_create, the device's queues laid out in it, chains posted as a driver would, kicks
 * and the device's own fds run through an event loop. Include unit.h first.
 */
#ifndef EMBER_VIRTIO_HARNESS_H
#define EMBER_VIRTIO_HARNESS_H

#include "virtio/virtio.h"
#include "base/event_loop.h"
#include "base/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>

#define VH_RAM (16u << 20)

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
	gpa_t heap; /* the next free guest byte for vh_alloc */
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

/* Run ops->notify(q) with the lock held, as a kick does. */
void vh_kick(struct vh *h, unsigned q);
/* One round of the event loop (kicks, requeues, the device's fds). Returns handlers run. */
int vh_pump(struct vh *h, int timeout_ms);
/* Take the next used element of q, if any. */
bool vh_take_used(struct vh *h, unsigned q, uint16_t *head, uint32_t *len);
/* Status has NEEDS_RESET. */
bool vh_needs_reset(struct vh *h);

#endif
