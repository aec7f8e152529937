/* virtio-balloon through the fake driver: inflated pages leave host memory, PFNs outside
 * guest RAM are skipped (never followed), statistics are held and asked for again. */
#include "unit.h"

#include "virtio/balloon.h"
#include "virtio_harness.h"

#include <endian.h>

#define QSIZE 64

struct fx {
	struct virtio_balloon b;
	struct vh h;
};
static struct fx fx;

static void fx_up(struct fx *f, uint32_t amount_mib, uint32_t interval_s, bool reporting)
{
	struct balloon_config cfg = {.enabled = true,
	                             .amount_mib = amount_mib,
	                             .deflate_on_oom = true,
	                             .stats_polling_interval_s = interval_s,
	                             .free_page_reporting = reporting};
	char err[256] = "";
	memset(f, 0, sizeof(*f));
	assert_int_equal(balloon_create(&f->b, &cfg, err, sizeof(err)), 0);
	vh_setup(&f->h, &f->b.vdev, QSIZE);
}

static int setup(void **state)
{
	fx_up(&fx, 4, 1, true);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vh_teardown(&f->h);
	balloon_destroy(&f->b);
	return 0;
}

static uint32_t cfg32(struct fx *f, unsigned off)
{
	return vh_read_reg(&f->h, VIRTIO_MMIO_CONFIG + off);
}

/* Post one readable buffer of PFNs on q and kick. */
static uint16_t post_pfns(struct fx *f, unsigned q, const uint32_t *pfns, unsigned n)
{
	gpa_t g = vh_alloc(&f->h, n * 4);
	uint32_t *p = vh_host(&f->h, g, n * 4);
	for (unsigned i = 0; i < n; i++)
		p[i] = htole32(pfns[i]);
	struct vh_seg seg = {g, n * 4, false};
	uint16_t head = vh_post(&f->h, q, &seg, 1);
	vh_kick(&f->h, q);
	return head;
}

static void features_and_config(void **state)
{
	struct fx *f = *state;
	assert_true(f->b.vdev.features & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(f->b.vdev.features & (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_int_equal(cfg32(f, 0), 4 * 256); /* num_pages: 4 MiB of 4 KiB pages */
	assert_int_equal(cfg32(f, 4), 0);
	/* The driver writes actual; num_pages is the device's. */
	vh_write_reg(&f->h, VIRTIO_MMIO_CONFIG + 4, 77);
	vh_write_reg(&f->h, VIRTIO_MMIO_CONFIG + 0, 5);
	assert_int_equal(cfg32(f, 4), 77);
	assert_int_equal(cfg32(f, 0), 4 * 256);
	/* A new target moves ConfigGeneration and interrupts the driver. */
	uint32_t gen = vh_read_reg(&f->h, 0x0fc);
	balloon_set_target_mib(&f->b, 8);
	assert_int_equal(cfg32(f, 0), 8 * 256);
	assert_int_not_equal(vh_read_reg(&f->h, 0x0fc), gen);
	assert_true(vh_read_reg(&f->h, 0x060) & VIRTIO_INT_CONFIG);
}

/* Inflated pages read as zero afterwards (their host memory was dropped); a PFN beyond
 * RAM, or one that wraps the address space, is skipped and counted, and the device goes on. */
static void inflate_gives_pages_back(void **state)
{
	struct fx *f = *state;
	gpa_t a = vh_alloc(&f->h, 3 * 4096 + 4096);
	a = (a + 4095) & ~4095ull;
	uint8_t *p = vh_host(&f->h, a, 3 * 4096);
	memset(p, 0xab, 3 * 4096);
	uint32_t pfns[] = {(uint32_t)(a >> 12), (uint32_t)(VH_RAM >> 12), 0xffffffffu,
	                   (uint32_t)(a >> 12) + 1, (uint32_t)(a >> 12) + 2};
	uint16_t head = post_pfns(f, BALLOON_INFLATEQ, pfns, 5), got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, BALLOON_INFLATEQ, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(len, 0);
	assert_false(vh_needs_reset(&f->h));
	assert_int_equal(f->b.inflated, 3);
	assert_int_equal(f->b.bad_pfns, 2);
	for (unsigned i = 0; i < 3 * 4096; i++)
		if (p[i]) {
			print_error("byte %u of the inflated pages is %#x\n", i, p[i]);
			fail();
		}
	/* Deflate: returned, counted, nothing else to do. */
	head = post_pfns(f, BALLOON_DEFLATEQ, pfns, 1);
	assert_true(vh_take_used(&f->h, BALLOON_DEFLATEQ, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(f->b.deflated, 1);
}

/* A buffer of more PFNs than a driver sends is taken only up to the cap (16 KiB of PFNs),
 * so one chain cannot hold the vmm thread; the chain completes all the same. */
static void huge_buffer_is_capped(void **state)
{
	struct fx *f = *state;
	static uint32_t pfns[16384];
	for (unsigned i = 0; i < 16384; i++)
		pfns[i] = 0x400 + (i % 256); /* pages 4-5 MiB over and over */
	uint16_t head = post_pfns(f, BALLOON_INFLATEQ, pfns, 16384), got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, BALLOON_INFLATEQ, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(f->b.inflated, 4096);
	assert_false(vh_needs_reset(&f->h));
}

/* A writable buffer on the inflate queue is a broken driver: the device needs a reset. */
static void writable_inflate_buffer_fails(void **state)
{
	struct fx *f = *state;
	gpa_t g = vh_alloc(&f->h, 8);
	struct vh_seg seg = {g, 8, true};
	vh_post(&f->h, BALLOON_INFLATEQ, &seg, 1);
	vh_kick(&f->h, BALLOON_INFLATEQ);
	assert_true(vh_needs_reset(&f->h));
	/* And after the driver's reset it serves again. */
	vh_driver_up(&f->h);
	uint32_t pfn = 0x200; /* 2 MiB: inside RAM */
	post_pfns(f, BALLOON_INFLATEQ, &pfn, 1);
	uint16_t got;
	uint32_t len;
	assert_true(vh_take_used(&f->h, BALLOON_INFLATEQ, &got, &len));
	assert_false(vh_needs_reset(&f->h));
}

/* The driver's statistics buffer is read and held; each interval it goes back to the
 * driver (used, length 0) to be refilled. */
static void statistics_held_and_asked_again(void **state)
{
	struct fx *f = *state;
	uint8_t buf[3 * 10];
	const uint16_t tags[3] = {4 /* free */, 5 /* total */, 99 /* unknown: ignored */};
	for (unsigned i = 0; i < 3; i++) {
		uint16_t t = htole16(tags[i]);
		uint64_t v = htole64(1000ull * (i + 1));
		memcpy(buf + i * 10, &t, 2);
		memcpy(buf + i * 10 + 2, &v, 8);
	}
	gpa_t g = vh_alloc(&f->h, sizeof(buf));
	memcpy(vh_host(&f->h, g, sizeof(buf)), buf, sizeof(buf));
	struct vh_seg seg = {g, sizeof(buf), false};
	uint16_t head = vh_post(&f->h, BALLOON_STATSQ, &seg, 1), got;
	vh_kick(&f->h, BALLOON_STATSQ);
	uint32_t len;
	assert_false(vh_take_used(&f->h, BALLOON_STATSQ, &got, &len));
	struct balloon_report rep;
	balloon_report(&f->b, &rep);
	assert_true(rep.stats.have[4] && rep.stats.have[5]);
	assert_int_equal(rep.stats.val[4], 1000);
	assert_int_equal(rep.stats.val[5], 2000);
	assert_string_equal(balloon_stat_name(4), "free_memory");
	/* Within about the 1 s interval the buffer goes back. */
	uint64_t t0 = rl_now_ns();
	while (!vh_take_used(&f->h, BALLOON_STATSQ, &got, &len)) {
		assert_true(rl_now_ns() - t0 < 3000000000ull);
		vh_pump(&f->h, 100);
	}
	assert_int_equal(got, head);
	assert_int_equal(len, 0);
	assert_true(rl_now_ns() - t0 >= 500000000ull);
	/* PATCH /balloon/statistics asks at once. */
	head = vh_post(&f->h, BALLOON_STATSQ, &seg, 1);
	vh_kick(&f->h, BALLOON_STATSQ);
	balloon_set_interval(&f->b, 60);
	t0 = rl_now_ns();
	while (!vh_take_used(&f->h, BALLOON_STATSQ, &got, &len)) {
		assert_true(rl_now_ns() - t0 < 2000000000ull);
		vh_pump(&f->h, 100);
	}
	assert_int_equal(got, head);
}

/* A snapshot's balloon state: the live target, the driver's actual, the statistics buffer
 * the device holds (given back again after a restore); a state that does not fit the
 * device (a head outside the queue, statistics off) is refused. */
static void state_saved_and_restored(void **state)
{
	struct fx *f = *state;
	char err[256];
	balloon_set_target_mib(&f->b, 12);
	vh_write_reg(&f->h, VIRTIO_MMIO_CONFIG + 4, 77);
	gpa_t g = vh_alloc(&f->h, 10);
	struct vh_seg seg = {g, 10, false};
	uint16_t head = vh_post(&f->h, BALLOON_STATSQ, &seg, 1), got;
	uint32_t len;
	vh_kick(&f->h, BALLOON_STATSQ);
	struct balloon_state st;
	balloon_save(&f->b, &st);
	assert_int_equal(st.num_pages, 12 * 256);
	assert_int_equal(st.actual, 77);
	assert_int_equal(st.stats_held, 1);
	assert_int_equal(st.stats_head, head);
	assert_int_equal(st.interval_s, 1);

	struct balloon_state bad = st;
	bad.stats_head = QSIZE;
	assert_int_equal(balloon_restore(&f->b, &bad, err, sizeof(err)), -EINVAL);
	bad = st;
	bad.interval_s = 0;
	assert_int_equal(balloon_restore(&f->b, &bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "statistics"));

	/* The buffer goes back (interval), the target moves: then the saved state returns. */
	uint64_t t0 = rl_now_ns();
	while (!vh_take_used(&f->h, BALLOON_STATSQ, &got, &len)) {
		assert_true(rl_now_ns() - t0 < 3000000000ull);
		vh_pump(&f->h, 100);
	}
	balloon_set_target_mib(&f->b, 1);
	assert_int_equal(balloon_restore(&f->b, &st, err, sizeof(err)), 0);
	assert_int_equal(cfg32(f, 0), 12 * 256);
	assert_int_equal(cfg32(f, 4), 77);
	t0 = rl_now_ns();
	while (!vh_take_used(&f->h, BALLOON_STATSQ, &got, &len)) {
		assert_true(rl_now_ns() - t0 < 3000000000ull);
		vh_pump(&f->h, 100);
	}
	assert_int_equal(got, head);
}

/* Free page reporting: the driver's writable buffers are the free pages; their whole pages
 * go back to the host (read as zero afterwards), the buffer returns. With statistics the
 * reporting queue is 3; without, 2 (Linux numbers only the queues it uses). */
static void report_free_pages(struct fx *f, unsigned q)
{
	gpa_t a = (vh_alloc(&f->h, 5 * 4096) + 4095) & ~4095ull;
	uint8_t *p = vh_host(&f->h, a, 4 * 4096);
	memset(p, 0x5a, 4 * 4096);
	/* 2.5 pages from a page boundary: the whole two go, the half page stays. */
	struct vh_seg seg = {a, 2 * 4096 + 2048, true};
	uint16_t head = vh_post(&f->h, q, &seg, 1), got;
	vh_kick(&f->h, q);
	uint32_t len;
	assert_true(vh_take_used(&f->h, q, &got, &len));
	assert_int_equal(got, head);
	assert_false(vh_needs_reset(&f->h));
	assert_int_equal(f->b.reported, 2 * 4096);
	for (unsigned i = 0; i < 2 * 4096; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(p[2 * 4096], 0x5a);
	/* A readable buffer there is a broken driver. */
	seg.write = false;
	vh_post(&f->h, q, &seg, 1);
	vh_kick(&f->h, q);
	assert_true(vh_needs_reset(&f->h));
}

static void free_page_reporting(void **state)
{
	struct fx *f = *state;
	assert_true(f->b.vdev.features & (1ull << VIRTIO_BALLOON_F_REPORTING));
	assert_int_equal(f->b.vdev.ops->num_queues, 4);
	report_free_pages(f, 3);
	vh_teardown(&f->h);
	balloon_destroy(&f->b);
	fx_up(f, 0, 0, true);
	assert_int_equal(f->b.vdev.ops->num_queues, 3);
	report_free_pages(f, 2);
}

/* Without an interval there is no statistics queue and no timer. */
static void no_statistics_no_queue(void **state)
{
	(void)state;
	struct fx *f = &fx;
	vh_teardown(&f->h);
	balloon_destroy(&f->b);
	fx_up(f, 0, 0, false);
	assert_int_equal(f->b.vdev.ops->num_queues, 2);
	assert_false(f->b.vdev.features & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
	assert_int_equal(f->b.stats_timer_fd, -1);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(features_and_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(inflate_gives_pages_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(writable_inflate_buffer_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(huge_buffer_is_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(statistics_held_and_asked_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_statistics_no_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(free_page_reporting, setup, teardown),
	    cmocka_unit_test_setup_teardown(state_saved_and_restored, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
