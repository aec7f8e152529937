/* Split virtqueues against hostile rings, and virtio-rng end to end through the harness. */
#include "unit.h"

#include "virtio/rng.h"
#include "virtio_harness.h"

#include <sys/eventfd.h>

struct fx {
	struct virtio_rng rng;
	struct vh h;
};

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	rng_create(&f.rng);
	vh_setup(&f.h, &f.rng.vdev, 16);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vh_teardown(&f->h);
	return 0;
}

static void rng_fills_buffers(void **state)
{
	struct fx *f = *state;
	gpa_t a = vh_alloc(&f->h, 64), b = vh_alloc(&f->h, 64);
	struct vh_seg segs[] = {{a, 32, true}, {a + 32, 32, true}};
	uint16_t head = vh_post(&f->h, 0, segs, 2);
	struct vh_seg one = {b, 64, true};
	uint16_t head2 = vh_post_indirect(&f->h, 0, &one, 1);
	vh_kick(&f->h, 0);
	uint16_t got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, 0, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(len, 64);
	assert_true(vh_take_used(&f->h, 0, &got, &len));
	assert_int_equal(got, head2);
	assert_int_equal(len, 64);
	uint8_t zero[64] = {0};
	assert_memory_not_equal(vh_host(&f->h, a, 64), zero, 64);
	assert_memory_not_equal(vh_host(&f->h, a, 64), vh_host(&f->h, b, 64), 64);
	assert_false(vh_needs_reset(&f->h));
	/* EVENT_IDX: the first push interrupts; the driver asked for nothing more (used_event
	 * stayed 0), so the second does not. */
	uint64_t n;
	assert_int_equal(read(f->rng.vdev.irq_fd, &n, 8), 8);
}

/* Queue a request whose processing must fail; check NEEDS_RESET and the log-once flag. */
static void expect_reset(struct fx *f)
{
	vh_kick(&f->h, 0);
	assert_true(vh_needs_reset(&f->h));
	uint16_t got;
	uint32_t len;
	assert_false(vh_take_used(&f->h, 0, &got, &len));
	assert_true(atomic_load(&f->rng.vdev.interrupt_status) & VIRTIO_INT_CONFIG);
}

static void chain_loop(void **state)
{
	struct fx *f = *state;
	gpa_t a = vh_alloc(&f->h, 16);
	struct vh_seg s[] = {{a, 8, true}, {a + 8, 8, true}};
	uint16_t head = vh_post(&f->h, 0, s, 2);
	vh_desc(&f->h, 0, (uint16_t)(head + 1))->next = head; /* second points back at first */
	vh_desc(&f->h, 0, (uint16_t)(head + 1))->flags |= VIRTQ_DESC_F_NEXT;
	expect_reset(f);
}

static void buffer_outside_ram(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {VH_RAM - 8, 16, true};
	vh_post(&f->h, 0, &s, 1);
	expect_reset(f);
}

static void length_wraps(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {0x1000, 16, true};
	uint16_t head = vh_post(&f->h, 0, &s, 1);
	vh_desc(&f->h, 0, head)->addr = UINT64_MAX - 4;
	expect_reset(f);
}

static void indirect_self(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {vh_alloc(&f->h, 8), 8, true};
	uint16_t head = vh_post_indirect(&f->h, 0, &s, 1);
	struct virtq_desc *d = vh_desc(&f->h, 0, head);
	struct virtq_desc *t = vh_host(&f->h, d->addr, 16);
	t->addr = d->addr; /* the table's one entry is itself an indirect table */
	t->len = 16;
	t->flags = VIRTQ_DESC_F_INDIRECT;
	expect_reset(f);
}

static void indirect_bad_len(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {vh_alloc(&f->h, 8), 8, true};
	uint16_t head = vh_post_indirect(&f->h, 0, &s, 1);
	vh_desc(&f->h, 0, head)->len = 15;
	expect_reset(f);
}

static void indirect_next_loop(void **state)
{
	struct fx *f = *state;
	gpa_t a = vh_alloc(&f->h, 16);
	struct vh_seg s[] = {{a, 8, true}, {a + 8, 8, true}};
	uint16_t head = vh_post_indirect(&f->h, 0, s, 2);
	struct virtq_desc *t = vh_host(&f->h, vh_desc(&f->h, 0, head)->addr, 32);
	t[1].flags |= VIRTQ_DESC_F_NEXT;
	t[1].next = 0;
	expect_reset(f);
}

static void avail_index_jump(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {vh_alloc(&f->h, 8), 8, true};
	vh_post(&f->h, 0, &s, 1);
	struct virtq_avail *av = vh_host(&f->h, f->h.q[0].avail, 6 + 2 * 16);
	av->idx = 1000;
	expect_reset(f);
}

static void head_out_of_range(void **state)
{
	struct fx *f = *state;
	vh_publish(&f->h, 0, 16);
	expect_reset(f);
}

static void readable_after_writable(void **state)
{
	struct fx *f = *state;
	gpa_t a = vh_alloc(&f->h, 16);
	struct vh_seg s[] = {{a, 8, true}, {a + 8, 8, false}};
	vh_post(&f->h, 0, s, 2);
	expect_reset(f);
}

static void reset_recovers(void **state)
{
	struct fx *f = *state;
	vh_publish(&f->h, 0, 99);
	expect_reset(f);
	/* A second malformed request while failed is not served and not logged again. */
	struct virtio_dev *vdev = &f->rng.vdev;
	virtio_dev_lock(vdev);
	virtio_dev_reset(vdev);
	assert_int_equal(vdev->status, 0);
	for (unsigned q = 0; q < 1; q++) {
		vdev->vqs[q].size = 16;
		vdev->vqs[q].desc_gpa = f->h.q[q].desc;
		vdev->vqs[q].avail_gpa = f->h.q[q].avail;
		vdev->vqs[q].used_gpa = f->h.q[q].used;
		vdev->vqs[q].ready = true;
	}
	vdev->driver_features = 1ULL << VIRTIO_F_VERSION_1;
	vdev->status = 15;
	virtio_dev_activate(vdev);
	virtio_dev_unlock(vdev);
	assert_true(virtio_dev_live(vdev));
	/* The driver's rings start over too. */
	memset(vh_host(&f->h, f->h.q[0].avail, 6 + 32), 0, 6 + 32);
	f->h.q[0].avail_idx = 0;
	f->h.q[0].used_seen = 0;
	struct vh_seg s = {vh_alloc(&f->h, 8), 8, true};
	vh_post(&f->h, 0, &s, 1);
	vh_kick(&f->h, 0);
	uint16_t got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, 0, &got, &len));
	assert_int_equal(len, 8);
}

static void bad_queue_layout_fails_activation(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev = &f->rng.vdev;
	const char *why = NULL;
	struct vq vq = {.size = 100, .desc_gpa = 0x1000, .avail_gpa = 0x3000, .used_gpa = 0x4000};
	assert_int_equal(vq_activate(&vq, vdev->mem, 256, false, false, &why), -EINVAL);
	assert_non_null(why);
	vq.size = 512;
	assert_int_equal(vq_activate(&vq, vdev->mem, 256, false, false, &why), -EINVAL);
	vq.size = 16;
	vq.desc_gpa = 0x1008; /* misaligned */
	assert_int_equal(vq_activate(&vq, vdev->mem, 256, false, false, &why), -EINVAL);
	vq.desc_gpa = VH_RAM - 64; /* runs past RAM */
	assert_int_equal(vq_activate(&vq, vdev->mem, 256, false, false, &why), -EINVAL);
	vq.desc_gpa = 0x1000;
	assert_int_equal(vq_activate(&vq, vdev->mem, 256, false, false, &why), 0);
}

static void iov_cap_and_unpop(void **state)
{
	struct fx *f = *state;
	struct vq *vq = &f->rng.vdev.vqs[0];
	struct iovec iov[2];
	struct vq_chain c = {.iov = iov, .iov_cap = 2};
	const char *why;
	gpa_t a = vh_alloc(&f->h, 32);
	struct vh_seg two[] = {{a, 8, false}, {a + 8, 8, true}};
	struct vh_seg three[] = {{a, 8, true}, {a + 8, 8, true}, {a + 16, 8, true}};
	vh_post(&f->h, 0, two, 2);
	assert_int_equal(vq_pop(vq, &c, &why), 1);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 1);
	assert_int_equal(c.out_bytes, 8);
	assert_int_equal(c.in_bytes, 8);
	vq_unpop(vq, 1);
	assert_int_equal(vq_pop(vq, &c, &why), 1);
	assert_int_equal(vq_pop(vq, &c, &why), 0);
	vh_post(&f->h, 0, three, 3);
	assert_int_equal(vq_pop(vq, &c, &why), -EINVAL);
}

static void no_interrupt_flag_without_event_idx(void **state)
{
	(void)state;
	struct virtio_rng rng;
	struct vh h;
	rng_create(&rng);
	vh_setup_features(&h, &rng.vdev, 8, 1ULL << VIRTIO_F_VERSION_1);
	struct virtq_avail *av = vh_host(&h, h.q[0].avail, 6 + 16);
	av->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	struct vh_seg s = {vh_alloc(&h, 8), 8, true};
	vh_post(&h, 0, &s, 1);
	vh_kick(&h, 0);
	uint64_t n;
	assert_int_equal(read(rng.vdev.irq_fd, &n, 8), -1); /* nothing signalled */
	av->flags = 0;
	vh_post(&h, 0, &s, 1);
	vh_kick(&h, 0);
	assert_int_equal(read(rng.vdev.irq_fd, &n, 8), 8);
	/* Indirect descriptors are refused when not negotiated. */
	vh_post_indirect(&h, 0, &s, 1);
	vh_kick(&h, 0);
	assert_true(vh_needs_reset(&h));
	vh_teardown(&h);
}

static void kick_through_event_loop(void **state)
{
	struct fx *f = *state;
	struct vh_seg s = {vh_alloc(&f->h, 8), 8, true};
	vh_post(&f->h, 0, &s, 1);
	virtio_dev_requeue(&f->rng.vdev, 0);
	assert_int_equal(vh_pump(&f->h, 1000), 1);
	uint16_t got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, 0, &got, &len));
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(rng_fills_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(chain_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(buffer_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(length_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(indirect_self, setup, teardown),
	    cmocka_unit_test_setup_teardown(indirect_bad_len, setup, teardown),
	    cmocka_unit_test_setup_teardown(indirect_next_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(avail_index_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(head_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(readable_after_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(reset_recovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_queue_layout_fails_activation, setup, teardown),
	    cmocka_unit_test_setup_teardown(iov_cap_and_unpop, setup, teardown),
	    cmocka_unit_test(no_interrupt_flag_without_event_idx),
	    cmocka_unit_test_setup_teardown(kick_through_event_loop, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
