/* virtio-balloon: inflated pages go back to the host, statistics at an interval. */
#include "balloon.h"
#include "iov.h"
#include "../base/log.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define BALLOON_PAGE    (1u << BALLOON_PAGE_SHIFT)
#define BALLOON_CFG_LEN 8  /* num_pages, actual */
#define STAT_BYTES      10 /* struct virtio_balloon_stat: le16 tag, le64 val, packed */

/* What one notify takes, so a guest cannot hold the vmm thread: Linux sends at most 256
 * PFNs a buffer and 16 statistics; a chain's bytes past these caps are ignored (its chain
 * completes all the same), and after BALLOON_BATCH chains the queue waits its turn. */
#define BALLOON_MAX_PFN_BYTES  (16u * 1024)
#define BALLOON_MAX_STAT_BYTES (64u * STAT_BYTES)
#define BALLOON_BATCH          64

static struct virtio_balloon *to_balloon(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_balloon, vdev);
}

const char *balloon_stat_name(unsigned tag)
{
	/* virtio 1.2, 5.5.6.3, and Linux's later tags; in Firecracker's words. */
	static const char *const names[BALLOON_STATS_NR] = {
	    "swap_in",          "swap_out",    "major_faults",
	    "minor_faults",     "free_memory", "total_memory",
	    "available_memory", "disk_caches", "hugetlb_allocations",
	    "hugetlb_failures", "oom_kill",    "alloc_stall",
	    "async_scan",       "direct_scan", "async_reclaim",
	    "direct_reclaim",
	};
	return tag < BALLOON_STATS_NR ? names[tag] : NULL;
}

/* ---- the queues ---- */

/* A PFN the guest named outside its RAM: skipped, counted, said once. */
static void balloon_bad_pfn(struct virtio_balloon *b, uint32_t pfn)
{
	b->bad_pfns++;
	if (b->bad_pfn_logged)
		return;
	b->bad_pfn_logged = true;
	log_warn("%s: the guest inflated page frame %#x, outside its RAM; skipped (said once)",
	         b->vdev.name, pfn);
}

/* Give the host back the pages of the PFNs in chain c, merging neighbours into one
 * madvise. */
static void balloon_inflate(struct virtio_balloon *b, const struct vq_chain *c)
{
	uint32_t pfns[256];
	uint8_t *run = NULL;
	size_t run_len = 0;

	size_t bytes = c->out_bytes < BALLOON_MAX_PFN_BYTES ? c->out_bytes : BALLOON_MAX_PFN_BYTES;
	for (size_t off = 0; off + 4 <= bytes;) {
		size_t want = (bytes - off) / 4;
		if (want > sizeof(pfns) / 4)
			want = sizeof(pfns) / 4;
		size_t got = iov_read(c->iov, c->nout, off, pfns, want * 4) / 4;
		if (!got)
			break;
		off += got * 4;
		for (size_t i = 0; i < got; i++) {
			uint32_t pfn = le32toh(pfns[i]);
			uint8_t *p =
			    gm_ptr(b->vdev.mem, (gpa_t)pfn << BALLOON_PAGE_SHIFT, BALLOON_PAGE);
			if (!p) {
				balloon_bad_pfn(b, pfn);
				continue;
			}
			b->inflated++;
			/* Its contents go (zero, or the snapshot file's again): changed. */
			gm_mark_dirty(b->vdev.mem, p, BALLOON_PAGE);
			if (run && p == run + run_len) {
				run_len += BALLOON_PAGE;
				continue;
			}
			if (run)
				madvise(run, run_len, MADV_DONTNEED);
			run = p;
			run_len = BALLOON_PAGE;
		}
	}
	if (run)
		madvise(run, run_len, MADV_DONTNEED);
}

/* The driver's statistics: tag/value pairs; unknown tags are ignored (5.5.6.3). */
static void balloon_read_stats(struct virtio_balloon *b, const struct vq_chain *c)
{
	uint8_t s[STAT_BYTES];
	size_t bytes =
	    c->out_bytes < BALLOON_MAX_STAT_BYTES ? c->out_bytes : BALLOON_MAX_STAT_BYTES;
	for (size_t off = 0; off + STAT_BYTES <= bytes; off += STAT_BYTES) {
		if (iov_read(c->iov, c->nout, off, s, sizeof(s)) != sizeof(s))
			break;
		uint16_t tag;
		uint64_t val;
		memcpy(&tag, s, 2);
		memcpy(&val, s + 2, 8);
		tag = le16toh(tag);
		if (tag < BALLOON_STATS_NR) {
			b->stats.have[tag] = true;
			b->stats.val[tag] = le64toh(val);
		}
	}
	b->stats.updates++;
}

/* Hand the held statistics buffer back: the driver refills it and posts it again. */
static void balloon_ask_stats(struct virtio_balloon *b)
{
	if (!b->stats_held || !b->vdev.vqs[BALLOON_STATSQ].active)
		return;
	b->stats_held = false;
	vq_push(&b->vdev.vqs[BALLOON_STATSQ], b->stats_head, 0);
	virtio_dev_notify_used(&b->vdev, BALLOON_STATSQ);
}

/* The driver's free pages: device-writable buffers that are the pages themselves (checked
 * by vq_pop against guest RAM); their whole pages go back to the host. */
static void balloon_reported(struct virtio_balloon *b, const struct vq_chain *c)
{
	for (unsigned i = c->nout; i < c->nout + c->nin; i++) {
		uintptr_t p = (uintptr_t)c->iov[i].iov_base;
		uintptr_t start = (p + BALLOON_PAGE - 1) & ~(uintptr_t)(BALLOON_PAGE - 1);
		uintptr_t end = (p + c->iov[i].iov_len) & ~(uintptr_t)(BALLOON_PAGE - 1);
		if (end > start) {
			madvise((void *)start, end - start, MADV_DONTNEED);
			b->reported += end - start;
		}
	}
}

/* Which queue q is: Linux numbers only the queues it sets up, so the reporting queue is
 * 2 without statistics and 3 with them. */
static bool balloon_is_reporting(const struct virtio_dev *vdev, unsigned q)
{
	if (!virtio_dev_has(vdev, VIRTIO_BALLOON_F_REPORTING))
		return false;
	return q == (virtio_dev_has(vdev, VIRTIO_BALLOON_F_STATS_VQ) ? 3u : 2u);
}

static void balloon_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct vq *vq = &vdev->vqs[q];
	struct vq_chain c = {.iov = b->iov, .iov_cap = VQ_MAX_SIZE};
	const char *why;
	bool pushed = false;
	unsigned n = 0;
	int got = 0;

	while (n++ < BALLOON_BATCH && (got = vq_pop(vq, &c, &why)) > 0) {
		if (balloon_is_reporting(vdev, q)) {
			if (c.nout) {
				virtio_dev_fail(vdev,
				                "reporting queue: a buffer is device-readable");
				return;
			}
			balloon_reported(b, &c);
			vq_push(vq, c.head, 0);
			pushed = true;
			continue;
		}
		if (c.nin) {
			virtio_dev_fail(vdev, "queue %u: a buffer is device-writable", q);
			return;
		}
		if (q == BALLOON_STATSQ && virtio_dev_has(vdev, VIRTIO_BALLOON_F_STATS_VQ)) {
			balloon_read_stats(b, &c);
			/* One buffer is the protocol; a second one sends the first back. */
			balloon_ask_stats(b);
			b->stats_held = true;
			b->stats_head = c.head;
			continue;
		}
		if (q == BALLOON_INFLATEQ)
			balloon_inflate(b, &c);
		else
			b->deflated += c.out_bytes / 4;
		vq_push(vq, c.head, 0);
		pushed = true;
	}
	if (got < 0) {
		virtio_dev_fail(vdev, "queue %u: %s", q, why);
		return;
	}
	if (pushed)
		virtio_dev_notify_used(vdev, q);
	if (n > BALLOON_BATCH)
		virtio_dev_requeue(vdev, q);
}

static void balloon_stats_event(void *ctx, uint32_t events)
{
	struct virtio_balloon *b = ctx;
	uint64_t n;
	(void)events;
	if (read(b->stats_timer_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	virtio_dev_lock(&b->vdev);
	if (virtio_dev_live(&b->vdev))
		balloon_ask_stats(b);
	virtio_dev_unlock(&b->vdev);
}

/* ---- the device ---- */

static void balloon_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	uint32_t cfg[2] = {htole32(b->num_pages), htole32(b->actual)};
	if (off > sizeof(cfg) || len > sizeof(cfg) - off) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (uint8_t *)cfg + off, len);
}

/* Only `actual` is the driver's to write (5.5.6); anything else is ignored. */
static void balloon_config_write(struct virtio_dev *vdev, uint32_t off, const uint8_t *data,
                                 unsigned len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	uint32_t v;
	if (off != 4 || len != 4)
		return;
	memcpy(&v, data, 4);
	b->actual = le32toh(v);
}

static void balloon_arm(struct virtio_balloon *b, bool now)
{
	struct itimerspec t = {.it_interval = {.tv_sec = b->interval_s},
	                       .it_value = {.tv_sec = now ? 0 : b->interval_s, .tv_nsec = now}};
	if (b->stats_timer_fd >= 0)
		timerfd_settime(b->stats_timer_fd, 0, &t, NULL);
}

static int balloon_activate(struct virtio_dev *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);
	b->stats_held = false;
	if (b->stats_timer_fd < 0)
		return 0;
	if (!b->stats_watched) {
		int r = event_loop_add(vdev->loop, b->stats_timer_fd, EPOLLIN, &b->stats_handler);
		if (r < 0)
			return r;
		b->stats_watched = true;
	}
	balloon_arm(b, false);
	/* Linux primes the statistics queue and kicks it before it sets DRIVER_OK (the kick
	 * found the device not live and was dropped): take that buffer now. */
	if (vdev->vqs[BALLOON_STATSQ].active && virtio_dev_has(vdev, VIRTIO_BALLOON_F_STATS_VQ))
		balloon_notify(vdev, BALLOON_STATSQ);
	return 0;
}

static void balloon_reset(struct virtio_dev *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct itimerspec off = {0};
	/* The driver that held pages is gone; the next one starts with an empty balloon. */
	b->stats_held = false;
	b->actual = 0;
	if (b->stats_timer_fd >= 0)
		timerfd_settime(b->stats_timer_fd, 0, &off, NULL);
}

static void balloon_stats_text(struct virtio_dev *vdev, char *buf, size_t len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	snprintf(buf, len,
	         "target %u pages, actual %u, inflated %llu, deflated %llu, PFNs outside RAM "
	         "%llu, statistics %llu, free bytes reported %llu",
	         b->num_pages, b->actual, (unsigned long long)b->inflated,
	         (unsigned long long)b->deflated, (unsigned long long)b->bad_pfns,
	         (unsigned long long)b->stats.updates, (unsigned long long)b->reported);
}

#define BALLOON_OPS(queues)                                                                        \
	{                                                                                          \
		.kind = "virtio-balloon", .device_id = VIRTIO_ID_BALLOON, .num_queues = (queues),  \
		.queue_max_size = VQ_MAX_SIZE, .config_read = balloon_config_read,                 \
		.config_write = balloon_config_write, .activate = balloon_activate,                \
		.reset = balloon_reset, .notify = balloon_notify, .stats = balloon_stats_text,     \
	}
/* The statistics and reporting queues exist only when offered. */
static const struct virtio_dev_ops balloon_ops[3] = {BALLOON_OPS(2), BALLOON_OPS(3),
                                                     BALLOON_OPS(4)};

int balloon_create(struct virtio_balloon *b, const struct balloon_config *cfg, char *err,
                   size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->stats_timer_fd = -1;
	b->interval_s = cfg->stats_polling_interval_s;
	b->vdev.ops = &balloon_ops[(b->interval_s ? 1 : 0) + (cfg->free_page_reporting ? 1 : 0)];
	snprintf(b->vdev.name, sizeof(b->vdev.name), "virtio-balloon");
	b->vdev.features = 0;
	if (b->interval_s)
		b->vdev.features |= 1ull << VIRTIO_BALLOON_F_STATS_VQ;
	if (cfg->deflate_on_oom)
		b->vdev.features |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (cfg->free_page_reporting)
		b->vdev.features |= 1ull << VIRTIO_BALLOON_F_REPORTING;
	b->vdev.config_size = BALLOON_CFG_LEN;
	b->created = true;
	b->num_pages = cfg->amount_mib << (20 - BALLOON_PAGE_SHIFT);
	if (b->interval_s) {
		b->stats_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->stats_timer_fd < 0) {
			int r = -errno;
			snprintf(err, errlen,
			         "virtio-balloon: cannot make its statistics timer: %s",
			         strerror(-r));
			return r;
		}
		b->stats_handler = (struct el_handler){.fn = balloon_stats_event, .ctx = b};
	}
	return 0;
}

void balloon_destroy(struct virtio_balloon *b)
{
	if (!b->created)
		return;
	b->created = false;
	if (b->stats_watched && b->vdev.loop)
		event_loop_del(b->vdev.loop, b->stats_timer_fd);
	b->stats_watched = false;
	if (b->stats_timer_fd >= 0)
		close(b->stats_timer_fd);
	b->stats_timer_fd = -1;
	b->vdev.ops = NULL;
}

void balloon_set_target_mib(struct virtio_balloon *b, uint32_t mib)
{
	virtio_dev_lock(&b->vdev);
	b->num_pages = mib << (20 - BALLOON_PAGE_SHIFT);
	if (virtio_dev_live(&b->vdev))
		virtio_dev_config_changed(&b->vdev);
	virtio_dev_unlock(&b->vdev);
}

void balloon_set_interval(struct virtio_balloon *b, uint32_t seconds)
{
	virtio_dev_lock(&b->vdev);
	b->interval_s = seconds;
	if (virtio_dev_live(&b->vdev))
		balloon_arm(b, true);
	virtio_dev_unlock(&b->vdev);
}

void balloon_report(struct virtio_balloon *b, struct balloon_report *out)
{
	virtio_dev_lock(&b->vdev);
	out->target_pages = b->num_pages;
	out->actual_pages = b->actual;
	out->stats = b->stats;
	virtio_dev_unlock(&b->vdev);
}

void balloon_save(struct virtio_balloon *b, struct balloon_state *st)
{
	virtio_dev_lock(&b->vdev);
	*st = (struct balloon_state){
	    .num_pages = b->num_pages,
	    .actual = b->actual,
	    .interval_s = b->interval_s,
	    .stats_head = b->stats_head,
	    .stats_held = b->stats_held,
	    .inflated = b->inflated,
	    .deflated = b->deflated,
	    .reported = b->reported,
	    .bad_pfns = b->bad_pfns,
	    .stats = b->stats,
	};
	virtio_dev_unlock(&b->vdev);
}

void balloon_restore_target(struct virtio_balloon *b, const struct balloon_state *st)
{
	virtio_dev_lock(&b->vdev);
	b->num_pages = st->num_pages;
	b->actual = st->actual;
	virtio_dev_unlock(&b->vdev);
}

int balloon_restore(struct virtio_balloon *b, const struct balloon_state *st, char *err,
                    size_t errlen)
{
	const struct vq *sq = b->vdev.ops->num_queues > BALLOON_STATSQ && b->interval_s
	                          ? &b->vdev.vqs[BALLOON_STATSQ]
	                          : NULL;
	if (st->stats_held > 1 ||
	    (st->stats_held && (!sq || !sq->active || st->stats_head >= sq->size)) ||
	    (st->interval_s && b->stats_timer_fd < 0) ||
	    (!st->interval_s && b->stats_timer_fd >= 0)) {
		snprintf(err, errlen,
		         "virtio-balloon: the snapshot's statistics state does not fit "
		         "its configuration");
		return -EINVAL;
	}
	for (unsigned i = 0; i < BALLOON_STATS_NR; i++)
		if (*(const uint8_t *)&st->stats.have[i] > 1) {
			snprintf(err, errlen,
			         "virtio-balloon: the snapshot's statistics are damaged");
			return -EINVAL;
		}
	virtio_dev_lock(&b->vdev);
	b->num_pages = st->num_pages;
	b->actual = st->actual;
	b->interval_s = st->interval_s;
	b->stats_head = st->stats_head;
	b->stats_held = st->stats_held;
	b->inflated = st->inflated;
	b->deflated = st->deflated;
	b->reported = st->reported;
	b->bad_pfns = st->bad_pfns;
	b->stats = st->stats;
	if (virtio_dev_live(&b->vdev) && b->interval_s)
		balloon_arm(b, false);
	virtio_dev_unlock(&b->vdev);
	return 0;
}
