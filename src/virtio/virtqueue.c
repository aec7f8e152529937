/*
 * Split virtqueues, device side. The guest owns the rings and may rewrite them at any
 * moment from another vCPU: every index is read once into a local, masked or
 * range-checked, and every buffer goes through gm_ptr() before the device sees it.
 */
#include "virtqueue.h"

#include <errno.h>
#include <string.h>

/* The guest writes the rings concurrently: read and write them as single accesses. */
#define READ_ONCE(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static void *ring_ptr(const struct guest_mem *mem, gpa_t gpa, uint64_t len, uint64_t align)
{
	if (gpa & (align - 1))
		return NULL;
	return gm_ptr(mem, gpa, len);
}

int vq_activate(struct vq *vq, const struct guest_mem *mem, uint16_t max_size, bool event_idx,
                bool indirect, const char **why)
{
	uint64_t n = vq->size;
	vq->active = false;
	if (!is_pow2(vq->size) || vq->size > max_size) {
		*why = "queue size is not a power of two within QueueNumMax";
		return -EINVAL;
	}
	/* The event fields follow the rings; map them whether or not EVENT_IDX is used. */
	vq->desc = ring_ptr(mem, vq->desc_gpa, 16 * n, 16);
	vq->avail = ring_ptr(mem, vq->avail_gpa, 6 + 2 * n, 2);
	vq->used = ring_ptr(mem, vq->used_gpa, 6 + 8 * n, 4);
	if (!vq->desc || !vq->avail || !vq->used) {
		*why = "a ring of the queue is misaligned or outside guest RAM";
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EINVAL;
	}
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->next_avail = 0;
	vq->next_used = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->active = true;
	return 0;
}

void vq_reset(struct vq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

static uint16_t *used_event(struct vq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(struct vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/* Append one descriptor's buffer to the chain. */
static int add_buffer(struct vq_chain *c, const struct vq *vq, uint64_t addr, uint32_t len,
                      uint16_t flags, const char **why)
{
	bool writable = flags & VIRTQ_DESC_F_WRITE;
	if (!writable && c->nin) {
		*why = "a readable buffer follows a writable one";
		return -EINVAL;
	}
	if (len == 0)
		return 0;
	uint32_t *total = writable ? &c->in_bytes : &c->out_bytes;
	if (__builtin_add_overflow(*total, len, total)) {
		*why = "the chain's length passes 4 GiB";
		return -EINVAL;
	}
	unsigned n = c->nout + c->nin;
	if (n >= c->iov_cap) {
		*why = "the chain has more buffers than the device accepts";
		return -EINVAL;
	}
	void *p = gm_ptr(vq->mem, addr, len);
	if (!p) {
		*why = "a buffer lies outside guest RAM";
		return -EINVAL;
	}
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = len;
	/* Marked when taken: a device that keeps a chain past a snapshot marks it again as
	 * it fills it (vq_mark_written). */
	if (writable)
		gm_mark_dirty(vq->mem, p, len);
	if (writable)
		c->nin++;
	else
		c->nout++;
	return 0;
}

/* Walk an indirect table: len/16 descriptors, chained by NEXT within the table. */
static int walk_indirect(struct vq_chain *c, const struct vq *vq, uint64_t addr, uint32_t len,
                         const char **why)
{
	if (len == 0 || len % sizeof(struct virtq_desc) || len / 16 > vq->size) {
		*why = "an indirect table's length is zero, not a multiple of 16 or longer than "
		       "the queue";
		return -EINVAL;
	}
	const struct virtq_desc *table = gm_ptr(vq->mem, addr, len);
	if (!table || (addr & 15)) {
		*why = "an indirect table is misaligned or outside guest RAM";
		return -EINVAL;
	}
	unsigned count = len / 16, i = 0;
	for (unsigned seen = 0;; seen++) {
		if (seen >= count) {
			*why = "an indirect chain loops";
			return -EINVAL;
		}
		struct virtq_desc d = {READ_ONCE(table[i].addr), READ_ONCE(table[i].len),
		                       READ_ONCE(table[i].flags), READ_ONCE(table[i].next)};
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			*why = "an indirect table holds an indirect descriptor";
			return -EINVAL;
		}
		int r = add_buffer(c, vq, d.addr, d.len, d.flags, why);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= count) {
			*why = "an indirect descriptor's next index is out of range";
			return -EINVAL;
		}
		i = d.next;
	}
}

static int walk_chain(struct vq *vq, struct vq_chain *c, uint16_t head, const char **why)
{
	uint16_t i = head;
	c->head = head;
	c->nout = c->nin = 0;
	c->out_bytes = c->in_bytes = 0;
	for (unsigned seen = 0;; seen++) {
		if (seen >= vq->size) {
			*why = "a descriptor chain is longer than the queue (a loop)";
			return -EINVAL;
		}
		if (i >= vq->size) {
			*why = "a descriptor index is out of range";
			return -EINVAL;
		}
		struct virtq_desc d = {READ_ONCE(vq->desc[i].addr), READ_ONCE(vq->desc[i].len),
		                       READ_ONCE(vq->desc[i].flags), READ_ONCE(vq->desc[i].next)};
		int r;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				*why = "an indirect descriptor without INDIRECT_DESC negotiated";
				return -EINVAL;
			}
			if (d.flags & VIRTQ_DESC_F_NEXT) {
				*why = "an indirect descriptor also has NEXT set";
				return -EINVAL;
			}
			return walk_indirect(c, vq, d.addr, d.len, why);
		}
		if ((r = add_buffer(c, vq, d.addr, d.len, d.flags, why)))
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int vq_pop(struct vq *vq, struct vq_chain *c, const char **why)
{
	if (!vq->active) {
		*why = "the queue is not active";
		return -EINVAL;
	}
	uint16_t avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	if (avail == vq->next_avail && vq->event_idx) {
		/* Ask for a kick at the next buffer, then look again: a buffer the driver added
		 * before it could see the new avail_event would otherwise wait forever. */
		WRITE_ONCE(*avail_event(vq), vq->next_avail);
		gm_mark_dirty(vq->mem, avail_event(vq), 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	}
	if (avail == vq->next_avail)
		return 0;
	if ((uint16_t)(avail - vq->next_avail) > vq->size) {
		*why = "the avail index ran more than the queue size ahead";
		return -EINVAL;
	}
	uint16_t head = READ_ONCE(vq->avail->ring[vq->next_avail & (vq->size - 1)]);
	int r = walk_chain(vq, c, head, why);
	if (r)
		return r;
	vq->next_avail++;
	if (vq->event_idx) {
		WRITE_ONCE(*avail_event(vq), vq->next_avail);
		gm_mark_dirty(vq->mem, avail_event(vq), 2);
	}
	return 1;
}

void vq_unpop(struct vq *vq, uint16_t n)
{
	/* avail_event stays where vq_pop left it, past the chains given back: moved back
	 * behind buffers the driver already published, it would ask for a kick that never
	 * comes. The driver still kicks for its next buffer. */
	vq->next_avail -= n;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e = &vq->used->ring[vq->next_used & (vq->size - 1)];
	WRITE_ONCE(e->id, head);
	WRITE_ONCE(e->len, len);
	vq->next_used++;
	__atomic_store_n(&vq->used->idx, vq->next_used, __ATOMIC_RELEASE);
	gm_mark_dirty(vq->mem, e, sizeof(*e));
	gm_mark_dirty(vq->mem, &vq->used->idx, 2);
}

void vq_mark_written(const struct vq *vq, const struct vq_chain *c)
{
	for (unsigned i = c->nout; i < (unsigned)c->nout + c->nin; i++)
		gm_mark_dirty(vq->mem, c->iov[i].iov_base, c->iov[i].iov_len);
}

bool vq_needs_interrupt(struct vq *vq)
{
	/* The driver must see the new used index before the device reads its flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		bool want = !(READ_ONCE(vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
		return want;
	}
	uint16_t old = vq->signalled_used, now = vq->next_used;
	bool valid = vq->signalled_valid;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	/* virtio 1.2, 2.7.10: interrupt if used_event lies in [old, now). */
	uint16_t event = READ_ONCE(*used_event(vq));
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
