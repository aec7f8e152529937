/*
 * Split virtqueues (virtio 1.2, 2.7), device side. Everything the guest wrote to a ring
 * is hostile: ring indexes are masked, chains are capped at the queue size and at the
 * caller's iovec array, indirect tables are bounded and may not nest, and every buffer is
 * turned into a host pointer only through gm_ptr(), whole range at once. Nothing here
 * allocates. Not thread-safe: the owning device serialises calls (its virtio_dev lock).
 */
#ifndef EMBER_VIRTQUEUE_H
#define EMBER_VIRTQUEUE_H

#include "../base/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VQ_MAX_SIZE 256 /* the largest queue Ember offers (QueueNumMax) */

/* Ring layouts (virtio 1.2, 2.7.5-2.7.8), little-endian as x86 is. */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* then used_event (EVENT_IDX) */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* then avail_event (EVENT_IDX) */
};

/* Guest-set parameters come first (the transport writes them while the queue is not
 * ready); the rest is set by vq_activate and used by vq_pop/vq_push. */
struct vq {
	uint16_t size;   /* QueueNum */
	bool ready;      /* QueueReady as the driver wrote it */
	gpa_t desc_gpa;  /* QueueDesc */
	gpa_t avail_gpa; /* QueueDriver */
	gpa_t used_gpa;  /* QueueDevice */

	const struct guest_mem *mem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool active;             /* vq_activate succeeded */
	uint16_t next_avail;     /* the next avail ring slot the device will take */
	uint16_t next_used;      /* the used idx the device publishes next */
	uint16_t signalled_used; /* next_used when the guest was last interrupted */
	bool signalled_valid;    /* signalled_used means something */
};

/*
 * A popped descriptor chain: iov[0, nout) are the buffers the device reads (the driver's
 * "out"), iov[nout, nout + nin) those it writes; out_bytes and in_bytes are their totals.
 * The device sets iov and iov_cap once, before the first vq_pop. A chain with more
 * buffers than iov_cap is malformed. Zero-length descriptors add no iovec.
 */
struct vq_chain {
	uint16_t head;
	uint16_t nout, nin;
	uint32_t out_bytes, in_bytes;
	struct iovec *iov;
	unsigned iov_cap;
};

/*
 * Check the queue's guest-written layout and map its rings: size a power of two in
 * 1..max_size, desc 16-byte, avail 2-byte and used 4-byte aligned, each ring (with its
 * event field) wholly inside guest RAM. On success the queue is active, its indexes
 * zero. Returns 0, or -EINVAL with a reason in *why (a static string).
 */
int vq_activate(struct vq *vq, const struct guest_mem *mem, uint16_t max_size, bool event_idx,
                bool indirect, const char **why);

/* Forget everything: the queue is inactive and its guest-set fields are cleared, as after
 * a device reset. */
void vq_reset(struct vq *vq);

/*
 * Take the next available chain into *c. Returns 1 with *c filled, 0 if the ring is empty
 * (with EVENT_IDX, it then asks for a kick at the next buffer and looks once more, so a
 * buffer added meanwhile is not missed), or -EINVAL with *why set if the guest's ring or
 * chain is malformed: the avail index ran more than size ahead, a head or next index is
 * out of range, the chain is longer than the queue or than c->iov_cap (a loop), an
 * indirect table is misaligned, empty, longer than the queue, nested or combined with
 * NEXT, a writable buffer precedes a readable one, a buffer lies outside RAM or the total
 * length passes 4 GiB. After -EINVAL the device must stop using the queue until reset.
 */
int vq_pop(struct vq *vq, struct vq_chain *c, const char **why);

/* Give back the last n chains vq_pop returned and that were not pushed, in reverse order
 * (they will be popped again). n must not exceed what was popped since. With EVENT_IDX
 * the driver's next kick comes when it adds a buffer after those already published. */
void vq_unpop(struct vq *vq, uint16_t n);

/* Return the chain with head id to the driver, len bytes written into its writable
 * buffers. Publishes the used index (release order). */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);

/* Mark c's writable buffers dirty again (guest_mem's device-dirty pages, for Diff
 * snapshots): for a device that keeps a popped chain and fills it later. vq_pop marks
 * them once; vq_push marks the used ring. */
void vq_mark_written(const struct vq *vq, const struct vq_chain *c);

/* Whether the driver wants an interrupt for what was pushed since the last call that
 * returned true: VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX. */
bool vq_needs_interrupt(struct vq *vq);

#endif
