/* The fake guest driver behind the virtio device tests (virtio_harness.h). */
#include "unit.h"

#include "virtio_harness.h"
#include "arch/x86/layout.h"

#define RING_BASE   0x10000ULL /* queue q's rings at RING_BASE + q * RING_STRIDE */
#define RING_STRIDE 0x10000ULL
#define HEAP_BASE   (1u << 20)

void vh_setup_features(struct vh *h, struct virtio_dev *vdev, uint16_t qsize,
                       uint64_t driver_features)
{
	memset(h, 0, sizeof(*h));
	h->vdev = vdev;
	assert_int_equal(gm_create(&h->gm, VH_RAM, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(event_loop_init(&h->loop), 0);
	assert_int_equal(virtio_dev_init(vdev), 0);
	vdev->mem = &h->gm;
	assert_int_equal(virtio_dev_watch_kicks(vdev, &h->loop), 0);
	h->heap = HEAP_BASE;
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		struct vh_queue *vq = &h->q[q];
		gpa_t base = RING_BASE + q * RING_STRIDE;
		vq->size = qsize;
		vq->desc = base;
		vq->avail = base + 16ULL * qsize;
		vq->used = (vq->avail + 6 + 2ULL * qsize + 4095) & ~4095ULL;
		vdev->vqs[q].size = qsize;
		vdev->vqs[q].desc_gpa = vq->desc;
		vdev->vqs[q].avail_gpa = vq->avail;
		vdev->vqs[q].used_gpa = vq->used;
		vdev->vqs[q].ready = true;
	}
	virtio_dev_lock(vdev);
	vdev->driver_features = driver_features;
	vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	               VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	virtio_dev_activate(vdev);
	virtio_dev_unlock(vdev);
	assert_true(virtio_dev_live(vdev));
}

void vh_setup(struct vh *h, struct virtio_dev *vdev, uint16_t qsize)
{
	vh_setup_features(h, vdev, qsize,
	                  vdev->features | 1ULL << VIRTIO_F_VERSION_1 |
	                      1ULL << VIRTIO_RING_F_INDIRECT_DESC |
	                      1ULL << VIRTIO_RING_F_EVENT_IDX);
}

void vh_teardown(struct vh *h)
{
	virtio_dev_release(h->vdev);
	event_loop_destroy(&h->loop);
	gm_destroy(&h->gm);
}

gpa_t vh_alloc(struct vh *h, uint32_t len)
{
	gpa_t g = h->heap;
	assert_true(g + len <= VH_RAM);
	h->heap = (g + len + 15) & ~15ULL;
	memset(vh_host(h, g, len ? len : 1), 0, len);
	return g;
}

void *vh_host(struct vh *h, gpa_t gpa, uint32_t len)
{
	void *p = gm_ptr(&h->gm, gpa, len);
	assert_non_null(p);
	return p;
}

struct virtq_desc *vh_desc(struct vh *h, unsigned q, uint16_t i)
{
	struct virtq_desc *d = vh_host(h, h->q[q].desc, 16u * h->q[q].size);
	return &d[i % h->q[q].size];
}

void vh_publish(struct vh *h, unsigned q, uint16_t head)
{
	struct vh_queue *vq = &h->q[q];
	struct virtq_avail *a = vh_host(h, vq->avail, 6 + 2u * vq->size);
	a->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
	__atomic_store_n(&a->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

static void fill_desc(struct virtq_desc *d, const struct vh_seg *s, uint16_t next, bool more)
{
	d->addr = s->addr;
	d->len = s->len;
	d->flags = (uint16_t)((s->write ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0));
	d->next = more ? next : 0;
}

uint16_t vh_post(struct vh *h, unsigned q, const struct vh_seg *segs, unsigned n)
{
	struct vh_queue *vq = &h->q[q];
	assert_true(n >= 1 && n <= vq->size);
	uint16_t head = vq->next_desc % vq->size;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		fill_desc(vh_desc(h, q, idx), &segs[i], (uint16_t)((idx + 1) % vq->size),
		          i + 1 < n);
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	vh_publish(h, q, head);
	return head;
}

uint16_t vh_post_indirect(struct vh *h, unsigned q, const struct vh_seg *segs, unsigned n)
{
	struct vh_queue *vq = &h->q[q];
	gpa_t table = vh_alloc(h, 16 * n);
	struct virtq_desc *t = vh_host(h, table, 16 * n);
	for (unsigned i = 0; i < n; i++)
		fill_desc(&t[i], &segs[i], (uint16_t)(i + 1), i + 1 < n);
	uint16_t head = vq->next_desc % vq->size;
	struct virtq_desc *d = vh_desc(h, q, head);
	d->addr = table;
	d->len = 16 * n;
	d->flags = VIRTQ_DESC_F_INDIRECT;
	d->next = 0;
	vq->next_desc = (uint16_t)((head + 1) % vq->size);
	vh_publish(h, q, head);
	return head;
}

void vh_kick(struct vh *h, unsigned q)
{
	virtio_dev_lock(h->vdev);
	if (virtio_dev_live(h->vdev) && h->vdev->vqs[q].active)
		h->vdev->ops->notify(h->vdev, q);
	virtio_dev_unlock(h->vdev);
}

int vh_pump(struct vh *h, int timeout_ms)
{
	return event_loop_dispatch(&h->loop, timeout_ms);
}

bool vh_take_used(struct vh *h, unsigned q, uint16_t *head, uint32_t *len)
{
	struct vh_queue *vq = &h->q[q];
	struct virtq_used *u = vh_host(h, vq->used, 6 + 8u * vq->size);
	uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	if (idx == vq->used_seen)
		return false;
	struct virtq_used_elem *e = &u->ring[vq->used_seen % vq->size];
	*head = (uint16_t)e->id;
	*len = e->len;
	vq->used_seen++;
	return true;
}

bool vh_needs_reset(struct vh *h)
{
	return h->vdev->status & VIRTIO_STATUS_NEEDS_RESET;
}
