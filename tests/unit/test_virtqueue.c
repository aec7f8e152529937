/* Split virtqueues against hostile rings, and virtio-rng end to end through the harness. */
#include "unit.h"

#include "virtio/rng.h"
#include "virtio_harness.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

struct fx {
	struct virtio_rng rng;
	struct vh h;
};

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(rng_create(&f.rng, NULL), 0);
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

/* Take one 8-byte buffer through queue 0 and back: the device serves. */
static void expect_served(struct vh *h)
{
	struct vh_seg s = {vh_alloc(h, 8), 8, true};
	uint16_t head = vh_post(h, 0, &s, 1), got;
	uint32_t len;
	vh_kick(h, 0);
	assert_true(vh_take_used(h, 0, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(len, 8);
}

static void reset_recovers(void **state)
{
	struct fx *f = *state;
	vh_publish(&f->h, 0, 99);
	expect_reset(f);
	/* The driver resets the failed device through Status and brings it up again (its
	 * rings start over too): it serves. */
	vh_driver_up(&f->h);
	assert_false(vh_needs_reset(&f->h));
	expect_served(&f->h);
}

/* Linux writes 0 to Status and re-initialises at once, without polling for 0 (vm_reset is
 * a bare writel), ORing its bits into what it reads back. The reset of a live device and
 * its activation run on the vmm thread (here: the harness's loop) while the writer waits,
 * so each read after a write already shows the work done. */
static void reset_then_reinit_at_once(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_dev *vdev = &f->rng.vdev;
	expect_served(h);
	unsigned waits = h->waits, wakes = h->wakes;
	vh_write_reg(h, VH_REG_STATUS, 0);
	assert_int_equal(h->waits, waits + 1); /* handed to the vmm thread, and waited for */
	assert_int_equal(h->wakes, wakes + 1);
	assert_int_equal(vh_read_reg(h, VH_REG_STATUS), 0);
	assert_false(vdev->activated);
	assert_false(vdev->vqs[0].active);
	assert_int_equal(vdev->work, VIRTIO_WORK_NONE);
	vh_driver_up(h); /* a second reset: never activated since, so no wait */
	assert_int_equal(h->waits, waits + 2);
	assert_true(vdev->activated);
	expect_served(h);
}

/* Activation waits too; a failed one still ends in NEEDS_RESET, which the writer reads
 * back at once. */
static void failed_activation_needs_reset(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	vh_driver_init(h);
	vh_write_reg(h, VH_REG_QUEUE_SEL, 0);
	vh_write_reg(h, VH_REG_QUEUE_READY, 0);
	vh_write_reg(h, VH_REG_QUEUE_NUM, 100); /* not a power of two */
	vh_write_reg(h, VH_REG_QUEUE_READY, 1);
	vh_driver_ok(h);
	assert_true(vh_read_reg(h, VH_REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_dev_live(&f->rng.vdev));
	assert_false(f->rng.vdev.activated);
	vh_driver_up(h);
	expect_served(h);
}

/* Another vCPU kicks (the ioeventfd) while the DRIVER_OK write waits: the vmm thread may
 * see the kick first. */
static void kick_before_activation_runs(struct vh *h)
{
	uint64_t one = 1;
	assert_int_equal(write(h->vdev->kick_fds[0], &one, 8), 8);
	h->vdev->kick_handlers[0].fn(h->vdev->kick_handlers[0].ctx, EPOLLIN);
}

static void kick_before_activation_not_lost(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint16_t head, got;
	uint32_t len;
	vh_driver_init(h);
	struct vh_seg s = {vh_alloc(h, 8), 8, true};
	head = vh_post(h, 0, &s, 1);
	h->on_wait = kick_before_activation_runs;
	vh_driver_ok(h);
	assert_true(virtio_dev_live(&f->rng.vdev));
	assert_true(vh_take_used(h, 0, &got, &len));
	assert_int_equal(got, head);

	/* Again with the writer stopped (hold) and the loop left to order the two fds. */
	vh_driver_init(h);
	head = vh_post(h, 0, &s, 1);
	h->hold = true;
	vh_driver_ok(h);
	h->hold = false;
	assert_false(virtio_dev_live(&f->rng.vdev)); /* not activated yet */
	uint64_t one = 1;
	assert_int_equal(write(f->rng.vdev.kick_fds[0], &one, 8), 8);
	while (vh_pump(h, 0) > 0)
		;
	assert_true(vh_take_used(h, 0, &got, &len));
	assert_int_equal(got, head);
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* A guest flooding Status with every value: no fd, no allocation, no hang. Writes made
 * while work is pending (other vCPUs, or a writer that stopped waiting) share one eventfd
 * count and one piece of work. */
static void status_write_storm(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_dev *vdev = &f->rng.vdev;
	unsigned fds = open_fds();
	/* Each reset re-arms the device's one failure line: keep thousands out of the log. */
	int err = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	assert_true(err >= 0 && null >= 0);
	dup2(null, STDERR_FILENO);
	close(null);
	for (uint32_t i = 0; i < 20000; i++)
		vh_write_reg(h, VH_REG_STATUS, i % 3 ? i * 2654435761u : 0);
	assert_int_equal(vdev->work, VIRTIO_WORK_NONE);
	h->hold = true;
	for (uint32_t i = 0; i < 20000; i++)
		vh_write_reg(h, VH_REG_STATUS, i % 3 ? i * 2654435761u : 0);
	h->hold = false;
	dup2(err, STDERR_FILENO);
	close(err);
	uint64_t count = 0;
	if (vdev->work != VIRTIO_WORK_NONE) {
		assert_int_equal(read(vdev->work_fd, &count, 8), 8);
		assert_int_equal(count, 1);
		uint64_t one = 1;
		assert_int_equal(write(vdev->work_fd, &one, 8), 8);
	}
	while (vh_pump(h, 0) > 0)
		;
	assert_int_equal(vdev->work, VIRTIO_WORK_NONE);
	assert_int_equal(open_fds(), fds);
	vh_driver_up(h);
	expect_served(h);
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
	assert_int_equal(rng_create(&rng, NULL), 0);
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
	    cmocka_unit_test_setup_teardown(reset_then_reinit_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_activation_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(kick_before_activation_not_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(status_write_storm, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
