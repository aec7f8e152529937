/* The fake guest driver behind the virtio device tests (virtio_harness.h). */
#include "unit.h"

#include "virtio_harness.h"
#include "arch/x86/layout.h"

#define RING_BASE   0x10000ULL /* queue q's rings at RING_BASE + q * RING_STRIDE */
#define RING_STRIDE 0x10000ULL
#define HEAP_BASE   (1u << 20)

/* The test is the vmm thread too: a waiting register write runs the loop (vh_wait). */
static void vh_wait(void *ctx, bool (*done)(void *arg), void *arg)
{
	struct vh *h = ctx;
	h->waits++;
	if (h->on_wait) {
		void (*fn)(struct vh *) = h->on_wait;
		h->on_wait = NULL;
		fn(h);
	}
	if (h->hold)
		return;
	/* The work eventfd is ready: one round of the loop serves it. */
	for (int i = 0; !done(arg); i++) {
		assert_true(i < 4);
		assert_true(event_loop_dispatch(&h->loop, 1000) > 0);
	}
}

static void vh_wake(void *ctx)
{
	struct vh *h = ctx;
	h->wakes++;
}

static const struct virtio_wait_ops vh_wait_ops = {.wait = vh_wait, .wake = vh_wake};

void vh_write_reg(struct vh *h, uint64_t off, uint32_t v)
{
	uint8_t data[4];
	memcpy(data, &v, 4);
	virtio_mmio_bus_ops.write(h->vdev, off, data, 4);
}

uint32_t vh_read_reg(struct vh *h, uint64_t off)
{
	uint8_t data[4];
	uint32_t v;
	virtio_mmio_bus_ops.read(h->vdev, off, data, 4);
	memcpy(&v, data, 4);
	return v;
}

static void write_reg64(struct vh *h, uint64_t low, uint64_t v)
{
	vh_write_reg(h, low, (uint32_t)v);
	vh_write_reg(h, low + 4, (uint32_t)(v >> 32));
}

/* As Linux's virtio_add_status: read Status, OR the bit in, write it back. */
static void add_status(struct vh *h, uint32_t bit)
{
	vh_write_reg(h, VH_REG_STATUS, vh_read_reg(h, VH_REG_STATUS) | bit);
}

void vh_driver_init(struct vh *h)
{
	struct virtio_dev *vdev = h->vdev;
	vh_write_reg(h, VH_REG_STATUS, 0);
	assert_int_equal(vh_read_reg(h, VH_REG_STATUS), 0);
	add_status(h, VIRTIO_STATUS_ACKNOWLEDGE);
	add_status(h, VIRTIO_STATUS_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		vh_write_reg(h, VH_REG_DRIVER_FEATURES_SEL, sel);
		vh_write_reg(h, VH_REG_DRIVER_FEATURES, (uint32_t)(h->features >> (32 * sel)));
	}
	add_status(h, VIRTIO_STATUS_FEATURES_OK);
	assert_true(vh_read_reg(h, VH_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		struct vh_queue *vq = &h->q[q];
		memset(vh_host(h, vq->desc, 16u * vq->size), 0, 16u * vq->size);
		memset(vh_host(h, vq->avail, 6 + 2u * vq->size), 0, 6 + 2u * vq->size);
		memset(vh_host(h, vq->used, 6 + 8u * vq->size), 0, 6 + 8u * vq->size);
		vq->next_desc = vq->avail_idx = vq->used_seen = 0;
		vh_write_reg(h, VH_REG_QUEUE_SEL, q);
		vh_write_reg(h, VH_REG_QUEUE_NUM, vq->size);
		write_reg64(h, VH_REG_QUEUE_DESC_LOW, vq->desc);
		write_reg64(h, VH_REG_QUEUE_DRIVER_LOW, vq->avail);
		write_reg64(h, VH_REG_QUEUE_DEVICE_LOW, vq->used);
		vh_write_reg(h, VH_REG_QUEUE_READY, 1);
	}
}

void vh_driver_up(struct vh *h)
{
	vh_driver_init(h);
	add_status(h, VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_live(h->vdev));
	assert_int_equal(vh_read_reg(h, VH_REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

void vh_driver_ok(struct vh *h)
{
	add_status(h, VIRTIO_STATUS_DRIVER_OK);
}

void vh_setup_features(struct vh *h, struct virtio_dev *vdev, uint16_t qsize,
                       uint64_t driver_features)
{
	memset(h, 0, sizeof(*h));
	h->vdev = vdev;
	h->features = driver_features;
	assert_int_equal(gm_create(&h->gm, VH_RAM, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(event_loop_init(&h->loop), 0);
	assert_int_equal(virtio_dev_init(vdev), 0);
	vdev->mem = &h->gm;
	vdev->wait_ops = &vh_wait_ops;
	vdev->wait_ctx = h;
	assert_int_equal(virtio_dev_watch_kicks(vdev, &h->loop), 0);
	h->heap = HEAP_BASE;
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		struct vh_queue *vq = &h->q[q];
		gpa_t base = RING_BASE + q * RING_STRIDE;
		vq->size = qsize;
		vq->desc = base;
		vq->avail = base + 16ULL * qsize;
		vq->used = (vq->avail + 6 + 2ULL * qsize + 4095) & ~4095ULL;
	}
	vh_driver_up(h);
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
