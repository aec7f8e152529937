/*
 * virtio-blk: each request chain is checked, parsed into the slot of its head and handed to
 * an engine (blk_engine.h) as host operations; data moves between the file and guest RAM
 * with no copy in between.
 */
#include "blk.h"
#include "iov.h"
#include "blk_engine.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define SECTOR        512u
#define BLK_HDR_BYTES 16 /* type, reserved, sector */
#define BLK_DWZ_BYTES 16 /* one virtio_blk_discard_write_zeroes segment */

/* The largest discard or write zeroes we take in one request: 1 GiB. Punching a hole that
 * size is quick; the slow path, writing zeroes where the file system cannot, runs in
 * chunks of sizeof(blk_zeroes). */
#define BLK_MAX_DWZ_SECTORS (1u << 21)

/* What blk_req.tried records. */
#define BLK_TRIED_PUNCH      1
#define BLK_TRIED_ZERO_RANGE 2

/* Never written: the source of BLK_OP_ZERO, so it stays on the shared zero page. */
static uint8_t blk_zeroes[1u << 20];

_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config layout");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "blk_size offset");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "discard offset");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "wz offset");
_Static_assert(VQ_MAX_SIZE <= 256, "a head fits the slot array");

static const struct virtio_dev_ops blk_ops;

static struct virtio_blk *to_blk(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

/* ---- completing requests ---- */

static void blk_finish(struct virtio_blk *b, struct blk_req *r, uint8_t status)
{
	if (r->busy) {
		uint64_t now = virtio_clock_ns();
		r->busy = false;
		b->inflight--;
		b->stats.done++;
		b->stats.ns_done += now - r->t_kick;
		b->batch_done++;
		b->batch_done_ns += now;
	}
	/* A device that failed while this ran serves nothing more, not even the answer. */
	if (!virtio_dev_live(&b->vdev))
		return;
	*r->status = status;
	vq_push(&b->vdev.vqs[0], r->head, status == VIRTIO_BLK_S_OK ? r->used_len : 1);
	b->pushed = true;
}

void blk_stats_notified(struct virtio_blk *b)
{
	if (b->batch_done)
		b->stats.ns_notify += b->batch_done * virtio_clock_ns() - b->batch_done_ns;
	b->batch_done = 0;
	b->batch_done_ns = 0;
}

void blk_req_drop(struct virtio_blk *b, struct blk_req *r)
{
	if (r->busy) {
		r->busy = false;
		b->inflight--;
	}
}

static const char *blk_op_name(const struct blk_req *r)
{
	switch (r->op) {
	case BLK_OP_READ:
		return "read";
	case BLK_OP_WRITE:
		return "write";
	case BLK_OP_SYNC:
		return "flush";
	case BLK_OP_FALLOCATE:
		return r->type == VIRTIO_BLK_T_DISCARD ? "discard" : "write zeroes";
	case BLK_OP_ZERO:
		return "write of zeroes";
	}
	return "request";
}

/* The host failed r's operation (res < 0) or did part of it: the guest gets IOERR. The
 * first such error of a drive is logged; a failing disk would otherwise flood the log. */
static bool blk_io_error(struct virtio_blk *b, struct blk_req *r, int64_t res, uint64_t want)
{
	if (!b->io_error_logged) {
		b->io_error_logged = true;
		if (res < 0)
			log_warn("%s: %s at byte %llu failed: %s; the guest sees an I/O error "
			         "(further errors are not logged)",
			         b->vdev.name, blk_op_name(r), (unsigned long long)r->off,
			         strerror((int)-res));
		else
			log_warn("%s: short %s at byte %llu: %lld of %llu bytes; the guest sees an "
			         "I/O error (further errors are not logged)",
			         b->vdev.name, blk_op_name(r), (unsigned long long)r->off,
			         (long long)res, (unsigned long long)want);
	}
	blk_finish(b, r, VIRTIO_BLK_S_IOERR);
	return false;
}

/* ---- planning host operations ---- */

static bool blk_set_fallocate(struct blk_req *r, int mode)
{
	r->op = BLK_OP_FALLOCATE;
	r->mode = mode;
	return true;
}

static void blk_set_zero_chunk(struct blk_req *r)
{
	uint64_t left = r->len - r->done;
	r->op = BLK_OP_ZERO;
	r->zero.iov_base = blk_zeroes;
	r->zero.iov_len = left < sizeof(blk_zeroes) ? left : sizeof(blk_zeroes);
}

/* The data of r reached the file. Without FLUSH negotiated the driver counts on it being
 * stable at completion (5.2.6.2), so a sync comes first. */
static bool blk_written(struct virtio_blk *b, struct blk_req *r)
{
	if (b->writethrough) {
		r->op = BLK_OP_SYNC;
		r->drain = false;
		return true;
	}
	blk_finish(b, r, VIRTIO_BLK_S_OK);
	return false;
}

/*
 * The next way to zero (or, for a discard, deallocate) r's range, skipping what this file
 * system refused: a discard or an unmapping write zeroes punches a hole; a plain write
 * zeroes prefers FALLOC_FL_ZERO_RANGE (keeps the blocks allocated), then a hole, then
 * writes zeroes. A discard is only a hint, so one that cannot punch completes as is.
 */
static bool blk_zero_plan(struct virtio_blk *b, struct blk_req *r)
{
	bool punch = !b->no_punch_hole && !(r->tried & BLK_TRIED_PUNCH);
	bool zero_range = !b->no_zero_range && !(r->tried & BLK_TRIED_ZERO_RANGE);

	if (punch && (r->type == VIRTIO_BLK_T_DISCARD || r->unmap || !zero_range))
		return blk_set_fallocate(r, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	if (r->type == VIRTIO_BLK_T_DISCARD) {
		blk_finish(b, r, VIRTIO_BLK_S_OK);
		return false;
	}
	if (zero_range)
		return blk_set_fallocate(r, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	r->done = 0;
	blk_set_zero_chunk(r);
	return true;
}

bool blk_req_advance(struct virtio_blk *b, struct blk_req *r, int64_t res)
{
	switch (r->op) {
	case BLK_OP_READ:
		if (res != (int64_t)r->len)
			return blk_io_error(b, r, res, r->len);
		r->used_len += (uint32_t)r->len;
		break;
	case BLK_OP_WRITE:
		if (res != (int64_t)r->len)
			return blk_io_error(b, r, res, r->len);
		return blk_written(b, r);
	case BLK_OP_SYNC:
		if (res != 0)
			return blk_io_error(b, r, res, 0);
		break;
	case BLK_OP_FALLOCATE:
		if (res == -EOPNOTSUPP) {
			/* The file system does not do this mode; it will not start to. */
			if (r->mode & FALLOC_FL_PUNCH_HOLE) {
				b->no_punch_hole = true;
				r->tried |= BLK_TRIED_PUNCH;
			} else {
				b->no_zero_range = true;
				r->tried |= BLK_TRIED_ZERO_RANGE;
			}
			return blk_zero_plan(b, r);
		}
		if (res != 0)
			return blk_io_error(b, r, res, 0);
		return blk_written(b, r);
	case BLK_OP_ZERO:
		if (res != (int64_t)r->zero.iov_len)
			return blk_io_error(b, r, res, r->zero.iov_len);
		r->done += r->zero.iov_len;
		if (r->done < r->len) {
			blk_set_zero_chunk(r);
			return true;
		}
		return blk_written(b, r);
	}
	blk_finish(b, r, VIRTIO_BLK_S_OK);
	return false;
}

/* ---- parsing a chain ---- */

/* Move the first len bytes of iov[0, n) into buf and trim them off. Returns the index of
 * the first iovec with bytes left (n when none). The caller knows iov holds len bytes. */
static unsigned iov_take(struct iovec *iov, unsigned n, uint8_t *buf, size_t len)
{
	unsigned i = 0;
	while (len && i < n) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;
		memcpy(buf, iov[i].iov_base, k);
		buf += k;
		len -= k;
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
		iov[i].iov_len -= k;
		if (!iov[i].iov_len)
			i++;
	}
	return i;
}

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* Whether sectors [sector, sector + count) lie on the disk (no overflow for any input). */
static bool blk_in_range(const struct virtio_blk *b, uint64_t sector, uint64_t count)
{
	return sector <= b->capacity && count <= b->capacity - sector;
}

/* Mark r in flight and run its first operation. */
static void blk_begin(struct virtio_blk *b, struct blk_req *r)
{
	r->busy = true;
	r->t_kick = b->t_kick;
	b->inflight++;
	b->stats.reqs++;
	if (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE)
		b->stats.bytes += r->len;
	b->engine->start(b, r);
}

/* A read or write of len bytes at sector. */
static void blk_rw(struct virtio_blk *b, struct blk_req *r, enum blk_op op, uint64_t sector,
                   uint64_t len)
{
	if (len % SECTOR || !blk_in_range(b, sector, len / SECTOR)) {
		blk_finish(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (!len) {
		blk_finish(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	r->op = op;
	r->off = sector * SECTOR;
	r->len = len;
	blk_begin(b, r);
}

/* DISCARD or WRITE_ZEROES: one segment in the readable data (max_*_seg is 1). */
static void blk_dwz(struct virtio_blk *b, struct blk_req *r, uint32_t type, uint32_t data_len)
{
	uint8_t seg[BLK_DWZ_BYTES];

	if (b->read_only || data_len != BLK_DWZ_BYTES) {
		blk_finish(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	iov_take(r->data, r->ndata, seg, sizeof(seg));
	uint64_t sector = le64_at(seg);
	uint32_t count = le32_at(seg + 8);
	uint32_t flags = le32_at(seg + 12);

	/* 5.2.6.2: unknown flags, and unmap on a discard, are unsupported. */
	if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
	    (type == VIRTIO_BLK_T_DISCARD && flags)) {
		blk_finish(b, r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
	if (count > BLK_MAX_DWZ_SECTORS || !blk_in_range(b, sector, count)) {
		blk_finish(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (!count) {
		blk_finish(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	r->type = (uint8_t)type;
	r->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	r->tried = 0;
	r->off = sector * SECTOR;
	r->len = (uint64_t)count * SECTOR;
	if (blk_zero_plan(b, r))
		blk_begin(b, r);
}

/*
 * Serve the chain c, popped into r->iov. Layout (5.2.6): a 16-byte readable header, the
 * data, one writable status byte at the very end; the device may not assume any framing,
 * so the header and the status may share or split buffers with the data.
 */
static void blk_handle(struct virtio_blk *b, struct blk_req *r, const struct vq_chain *c)
{
	struct virtio_dev *vdev = &b->vdev;
	uint8_t hdr[BLK_HDR_BYTES];

	if (c->out_bytes < BLK_HDR_BYTES) {
		virtio_dev_fail(vdev,
		                "request with head %u: %u readable bytes, not a 16-byte header",
		                c->head, c->out_bytes);
		return;
	}
	if (!c->in_bytes) {
		virtio_dev_fail(vdev, "request with head %u: no writable status byte", c->head);
		return;
	}

	unsigned first = iov_take(r->iov, c->nout, hdr, sizeof(hdr));
	struct iovec *last = &r->iov[c->nout + c->nin - 1];
	uint32_t out_data = c->out_bytes - BLK_HDR_BYTES;
	uint32_t in_data = c->in_bytes - 1;
	unsigned nin = c->nin;

	r->head = c->head;
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (!--last->iov_len)
		nin--;
	r->used_len = 1;

	uint32_t type = le32_at(hdr);
	uint64_t sector = le64_at(hdr + 8);
	bool reads = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	bool writes = type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
	              type == VIRTIO_BLK_T_WRITE_ZEROES;

	/* Data the wrong way for a type we know is a broken driver, not a failed request. */
	if ((reads || writes || type == VIRTIO_BLK_T_FLUSH) &&
	    ((out_data && !writes) || (in_data && !reads))) {
		virtio_dev_fail(
		    vdev, "request with head %u (type %u): %u readable and %u writable data bytes",
		    c->head, type, out_data, in_data);
		return;
	}
	if (reads) {
		r->data = &r->iov[c->nout];
		r->ndata = nin;
	} else {
		r->data = &r->iov[first];
		r->ndata = c->nout - first;
	}

	switch (type) {
	case VIRTIO_BLK_T_IN:
		blk_rw(b, r, BLK_OP_READ, sector, in_data);
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->read_only)
			blk_finish(b, r, VIRTIO_BLK_S_IOERR);
		else
			blk_rw(b, r, BLK_OP_WRITE, sector, out_data);
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* Drained: it covers every write started before it, done or not. */
		r->op = BLK_OP_SYNC;
		r->drain = true;
		blk_begin(b, r);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = in_data < BLK_ID_BYTES ? in_data : BLK_ID_BYTES;
		iov_write(r->data, r->ndata, 0, b->id, n);
		r->used_len += (uint32_t)n;
		blk_finish(b, r, VIRTIO_BLK_S_OK);
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		blk_dwz(b, r, type, out_data);
		break;
	default:
		blk_finish(b, r, VIRTIO_BLK_S_UNSUPP);
		break;
	}
}

/* ---- the device ---- */

/* Chains taken per notify before the vmm thread gives other fds a turn. */
#define BLK_BATCH VQ_MAX_SIZE

/* Whether the rate limiter lets chain c through (Firecracker's rule: one op for every
 * request, and its data bytes for reads and writes; a refused byte count gives the op
 * back). A malformed header is let through for blk_handle to refuse. */
static bool blk_admit(struct virtio_blk *b, const struct vq_chain *c)
{
	struct virtio_limiter *l = &b->limiter;
	uint8_t hdr[4];
	uint64_t bytes = 0;

	if (!rl_config_on(&l->rl.cfg))
		return true;
	if (c->out_bytes >= BLK_HDR_BYTES && iov_read(c->iov, c->nout, 0, hdr, 4) == 4) {
		uint32_t type = le32_at(hdr);
		if (type == VIRTIO_BLK_T_IN && c->in_bytes)
			bytes = c->in_bytes - 1u;
		else if (type == VIRTIO_BLK_T_OUT)
			bytes = c->out_bytes - BLK_HDR_BYTES;
	}
	return virtio_limiter_admit(l, bytes);
}

static void blk_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_blk *b = to_blk(vdev);
	struct vq *vq = &vdev->vqs[q];
	uint64_t reqs = b->stats.reqs;
	unsigned n;

	if (b->limiter.rl.blocked)
		return; /* parked: the limiter's timer resumes the queue */
	b->t_kick = virtio_clock_ns();
	for (n = 0; n < BLK_BATCH && virtio_dev_live(vdev); n++) {
		struct vq_chain c = {.iov = b->spare_iov, .iov_cap = BLK_IOV_MAX};
		const char *why;
		int got = vq_pop(vq, &c, &why);
		if (got < 0) {
			virtio_dev_fail(vdev, "%s", why);
			break;
		}
		if (!got)
			break;
		if (!blk_admit(b, &c)) {
			vq_unpop(vq, 1);
			break;
		}
		struct blk_req *r = &b->reqs[c.head];
		if (r->busy) {
			virtio_dev_fail(vdev,
			                "descriptor %u heads a second request while the "
			                "first is in flight",
			                c.head);
			break;
		}
		/* The slot takes the array just filled; its idle one is the next spare. */
		b->spare_iov = r->iov;
		r->iov = c.iov;
		blk_handle(b, r, &c);
	}
	b->engine->submit(b);
	if (b->stats.reqs != reqs) {
		b->stats.batches++;
		b->stats.ns_submit += (b->stats.reqs - reqs) * (virtio_clock_ns() - b->t_kick);
	}
	if (b->pushed) {
		b->pushed = false;
		virtio_dev_notify_used(vdev, q);
		blk_stats_notified(b);
	}
	if (n == BLK_BATCH)
		virtio_dev_requeue(vdev, q);
}

static void blk_resume(struct virtio_dev *vdev, struct virtio_limiter *l)
{
	(void)l;
	if (vdev->vqs[0].active)
		blk_notify(vdev, 0);
}

void blk_set_rate_limiter(struct virtio_blk *b, const struct rate_limiter_config *cfg)
{
	virtio_dev_lock(&b->vdev);
	virtio_limiter_update(&b->limiter, cfg);
	virtio_dev_unlock(&b->vdev);
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len)
{
	const uint8_t *cfg = (const uint8_t *)&to_blk(vdev)->config;
	if (off > sizeof(struct virtio_blk_config) ||
	    len > sizeof(struct virtio_blk_config) - off) {
		memset(data, 0, len); /* the transport checked; this only keeps it so */
		return;
	}
	memcpy(data, cfg + off, len);
}

static int blk_activate(struct virtio_dev *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	/* Unsafe offers no FLUSH and promises nothing about the host's disk: no syncs. */
	b->writethrough = !b->unsafe && !virtio_dev_has(vdev, VIRTIO_BLK_F_FLUSH);
	b->pushed = false;
	b->batch_done = 0;
	b->batch_done_ns = 0;
	int r = virtio_limiter_watch(&b->limiter);
	return r < 0 ? r : b->engine->activate(b);
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *b = to_blk(vdev);
	b->engine->reset(b);
	b->pushed = false;
	rl_unblock(&b->limiter.rl);
}

static void blk_stats(struct virtio_dev *vdev, char *buf, size_t len)
{
	const struct blk_stats *s = &to_blk(vdev)->stats;
	uint64_t n = s->done ? s->done : 1, r = s->reqs ? s->reqs : 1;
	int k = snprintf(buf, len, "throttled %llu, ",
	                 (unsigned long long)atomic_load(&vdev->stat_throttled));
	if (k < 0 || (size_t)k >= len)
		return;
	buf += k;
	len -= (size_t)k;
	snprintf(buf, len,
	         "engine %s, requests %llu, bytes %llu, batches %llu, submits %llu (completions "
	         "ready at once %llu), completion wakeups %llu; mean us per request: kick to "
	         "submitted %.1f, kick to completed %.1f, completed to used-ring notify %.1f",
	         to_blk(vdev)->engine->name, (unsigned long long)s->reqs,
	         (unsigned long long)s->bytes, (unsigned long long)s->batches,
	         (unsigned long long)s->submits, (unsigned long long)s->inline_cqes,
	         (unsigned long long)s->events, s->ns_submit / 1e3 / r, s->ns_done / 1e3 / n,
	         s->ns_notify / 1e3 / n);
}

static const struct virtio_dev_ops blk_ops = {
    .kind = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max_size = VQ_MAX_SIZE,
    .config_read = blk_config_read,
    .activate = blk_activate,
    .reset = blk_reset,
    .notify = blk_notify,
    .stats = blk_stats,
};

/* The disk's size in bytes: a regular file's length or a block device's. */
static int blk_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}

static void blk_fill_config(struct virtio_blk *b, const struct stat *st)
{
	struct virtio_blk_config *c = &b->config;
	/* Holes are punched in whole file-system blocks; a guest that discards in them frees
	 * the most. */
	uint32_t align = 8;
	if (st->st_blksize >= (blksize_t)SECTOR && st->st_blksize <= (1 << 20) &&
	    !(st->st_blksize & (st->st_blksize - 1)))
		align = (uint32_t)st->st_blksize / SECTOR;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->capacity);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(SECTOR);
	c->max_discard_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(align);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;
}

/*
 * Whether the file lives in memory (tmpfs, ramfs): its reads and writes only copy memory
 * and never wait for a device, so io_uring buys nothing there, and costs: in the nested
 * rig on Linux 6.1, io_uring did tmpfs reads within the submit but handed every write to
 * a worker thread (4592 of 4597 in a random-write run), and each request then paid for a
 * completion eventfd wakeup. Measured there (README, "Where a request's time goes"), the
 * synchronous engine was ahead on 4 KiB reads at iodepth 1 (p99 181 us against 423 us) and
 * random reads and writes; io_uring on sequential reads. On such a file AUTO runs the
 * requests on the vmm thread.
 */
static bool blk_memory_backed(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

static int blk_pick_engine(struct virtio_blk *b, const struct drive_config *cfg, char *err,
                           size_t errlen)
{
	static bool warned; /* the fallback is said once, not per drive */
	const char *what = "io_uring";
	int r;

	if (cfg->engine == DRIVE_ENGINE_SYNC ||
	    (cfg->engine == DRIVE_ENGINE_AUTO && blk_memory_backed(b->fd))) {
		b->engine = &blk_sync_engine;
		return 0;
	}
	r = blk_uring_init(b, &what);
	if (!r) {
		b->engine = &blk_uring_engine;
		return 0;
	}
	if (cfg->engine == DRIVE_ENGINE_IO_URING) {
		snprintf(err, errlen, "drive '%s': cannot set up io_uring (%s: %s)", cfg->path,
		         what, strerror(-r));
		return r;
	}
	if (!warned) {
		warned = true;
		log_warn("io_uring is not available (%s: %s); drives use synchronous I/O on the "
		         "vmm thread",
		         what, strerror(-r));
	}
	b->engine = &blk_sync_engine;
	return 0;
}

/*
 * Open path as a drive (read-write, or read-only) with the flags the locked-down vmm
 * thread's filter allows, so a swap after boot opens as the first open did. Its size in
 * *size, its stat in *st. Returns the fd, or -errno with a message naming the file.
 */
static int blk_open(const char *path, bool read_only, struct stat *st, uint64_t *size, char *err,
                    size_t errlen)
{
	int r, fd = open(path, read_only ? SC_DRIVE_OPEN_RO : SC_DRIVE_OPEN_RW);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open drive '%s' %s: %s", path,
		         read_only ? "read-only" : "read-write", strerror(-r));
		return r;
	}
	if (fstat(fd, st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat drive '%s': %s", path, strerror(-r));
		goto fail;
	}
	r = blk_size(fd, st, size);
	if (r == -EINVAL) {
		snprintf(err, errlen, "drive '%s' is neither a regular file nor a block device",
		         path);
		goto fail;
	}
	if (r) {
		snprintf(err, errlen, "cannot size drive '%s': %s", path, strerror(-r));
		goto fail;
	}
	if (*size % SECTOR)
		log_warn("drive '%s' is %llu bytes, not a whole number of 512-byte sectors; the "
		         "guest cannot reach its last %llu",
		         path, (unsigned long long)*size, (unsigned long long)(*size % SECTOR));
	return fd;
fail:
	close(fd);
	return r;
}

int blk_check(const struct drive_config *cfg, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	int fd = blk_open(cfg->path, cfg->read_only, &st, &size, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int blk_create(struct virtio_blk *b, const struct drive_config *cfg, char *err, size_t errlen)
{
	const char *id = cfg->id;
	struct stat st;
	uint64_t size;
	int r;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->vdev.ops = &blk_ops;
	snprintf(b->vdev.name, sizeof(b->vdev.name), "virtio-blk %s", id);
	b->read_only = cfg->read_only;
	b->unsafe = cfg->cache == DRIVE_CACHE_UNSAFE;
	memcpy(b->id, id, strnlen(id, BLK_ID_BYTES));

	b->fd = blk_open(cfg->path, cfg->read_only, &st, &size, err, errlen);
	if (b->fd < 0) {
		r = b->fd;
		goto fail;
	}
	b->capacity = size / SECTOR;

	b->reqs = calloc(VQ_MAX_SIZE, sizeof(*b->reqs));
	b->iov_pool = calloc((size_t)(VQ_MAX_SIZE + 1) * BLK_IOV_MAX, sizeof(*b->iov_pool));
	if (!b->reqs || !b->iov_pool) {
		r = -ENOMEM;
		snprintf(err, errlen, "drive '%s': out of memory", cfg->path);
		goto fail;
	}
	for (unsigned i = 0; i < VQ_MAX_SIZE; i++)
		b->reqs[i].iov = b->iov_pool + (size_t)i * BLK_IOV_MAX;
	b->spare_iov = b->iov_pool + (size_t)VQ_MAX_SIZE * BLK_IOV_MAX;

	r = blk_pick_engine(b, cfg, err, errlen);
	if (r)
		goto fail;
	r = virtio_limiter_init(&b->limiter, &b->vdev, &cfg->rate_limiter, blk_resume);
	if (r) {
		snprintf(err, errlen, "drive '%s': cannot make its rate limiter's timer: %s",
		         cfg->path, strerror(-r));
		goto fail;
	}

	blk_fill_config(b, &st);
	b->vdev.config_size = sizeof(b->config);
	b->vdev.features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
	                   1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	/* Firecracker's cache_type: Writeback offers FLUSH, Unsafe does not. */
	if (!b->unsafe)
		b->vdev.features |= 1ULL << VIRTIO_BLK_F_FLUSH;
	if (cfg->read_only)
		b->vdev.features |= 1ULL << VIRTIO_BLK_F_RO;
	return 0;

fail:
	blk_destroy(b);
	return r;
}

/* A batch's used entries are published at once; tell the driver about those the drain
 * completed. */
static void blk_notify_pushed(struct virtio_blk *b)
{
	if (b->pushed) {
		b->pushed = false;
		virtio_dev_notify_used(&b->vdev, 0);
		blk_stats_notified(b);
	}
}

void blk_drain(struct virtio_blk *b)
{
	virtio_dev_lock(&b->vdev);
	unsigned n = b->inflight;
	b->engine->drain(b);
	blk_notify_pushed(b);
	virtio_dev_unlock(&b->vdev);
	if (n)
		log_info("%s: completed %u requests in flight for the snapshot", b->vdev.name, n);
}

int blk_swap(struct virtio_blk *b, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	int fd = blk_open(path, b->read_only, &st, &size, err, errlen);
	if (fd < 0)
		return fd;
	virtio_dev_lock(&b->vdev);
	/* Every request in flight finishes on the old file first: io_uring looks a deferred
	 * operation's descriptor up only when it runs (a drained flush), which must not find
	 * the old number closed or, worse, reused. */
	b->engine->drain(b);
	blk_notify_pushed(b);
	close(b->fd);
	b->fd = fd;
	b->capacity = size / SECTOR;
	blk_fill_config(b, &st);
	virtio_dev_config_changed(&b->vdev);
	virtio_dev_unlock(&b->vdev);
	return 0;
}

void blk_destroy(struct virtio_blk *b)
{
	if (b->vdev.ops != &blk_ops)
		return; /* never created, or destroyed already */
	virtio_limiter_destroy(&b->limiter);
	if (b->uring)
		blk_uring_engine.destroy(b);
	free(b->reqs);
	free(b->iov_pool);
	b->reqs = NULL;
	b->iov_pool = b->spare_iov = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->engine = NULL;
	b->vdev.ops = NULL;
}
