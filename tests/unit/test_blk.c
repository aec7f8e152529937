/* virtio-blk against a real temporary file, driven through the harness: every test runs
 * once with the synchronous engine and once with io_uring. */
#include "unit.h"

#include "virtio/blk.h"
#include "virtio/blk_engine.h"
#include "virtio_harness.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define DISK_SECTORS 8192u /* 4 MiB */
#define DISK_BYTES   (DISK_SECTORS * 512ull)
#define QSIZE        256
#define DRIVE_ID     "test-drive"

struct fx {
	struct virtio_blk blk;
	struct vh h;
	char path[64];
	int fd;         /* the test's own view of the disk */
	bool keep_file; /* path is not ours to unlink (a block device) */
	enum drive_engine engine;
	enum drive_cache cache;
	bool live; /* blk created and the harness set up */
};

static struct fx fx;
static enum drive_engine engine_sync = DRIVE_ENGINE_SYNC;
static enum drive_engine engine_uring = DRIVE_ENGINE_IO_URING;

/* ---- the disk and the device ---- */

static void disk_open(struct fx *f, const char *dir, uint64_t bytes)
{
	snprintf(f->path, sizeof(f->path), "%s/ember-blk-XXXXXX", dir);
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)bytes), 0);
}

static void disk_close(struct fx *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		if (!f->keep_file)
			unlink(f->path);
	}
	f->fd = -1;
}

static void dev_down(struct fx *f)
{
	if (!f->live)
		return;
	vh_teardown(&f->h);
	blk_destroy(&f->blk);
	f->live = false;
}

/* (Re)create the device over f->path; features 0: all the device offers. */
static void dev_up(struct fx *f, const char *id, bool read_only, uint64_t features)
{
	struct drive_config cfg = {.read_only = read_only, .engine = f->engine, .cache = f->cache};
	char err[256] = "";
	assert_int_equal(CONFIG_SET(cfg.id, id), 0);
	assert_int_equal(CONFIG_SET(cfg.path, f->path), 0);
	dev_down(f);
	int r = blk_create(&f->blk, &cfg, err, sizeof(err));
	if (r)
		print_error("blk_create: %s\n", err);
	assert_int_equal(r, 0);
	if (features)
		vh_setup_features(&f->h, &f->blk.vdev, QSIZE, features);
	else
		vh_setup(&f->h, &f->blk.vdev, QSIZE);
	f->live = true;
}

static int setup(void **state)
{
	enum drive_engine *e = *state;
	memset(&fx, 0, sizeof(fx));
	fx.fd = -1;
	fx.engine = *e;
	disk_open(&fx, "/tmp", DISK_BYTES);
	dev_up(&fx, DRIVE_ID, false, 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dev_down(f);
	disk_close(f);
	return 0;
}

/* ---- the guest's side ---- */

static gpa_t buf(struct fx *f, uint32_t len, int fill)
{
	gpa_t g = vh_alloc(&f->h, len);
	memset(vh_host(&f->h, g, len), fill, len);
	return g;
}

static uint8_t *host(struct fx *f, gpa_t g, uint32_t len)
{
	return vh_host(&f->h, g, len);
}

static gpa_t header(struct fx *f, uint32_t type, uint64_t sector)
{
	gpa_t g = vh_alloc(&f->h, 16);
	uint8_t *p = host(f, g, 16);
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(type >> (8 * i));
	for (unsigned i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(sector >> (8 * i));
	return g;
}

static gpa_t dwz_seg(struct fx *f, uint64_t sector, uint32_t count, uint32_t flags)
{
	gpa_t g = vh_alloc(&f->h, 16);
	uint8_t *p = host(f, g, 16);
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(sector >> (8 * i));
	for (unsigned i = 0; i < 4; i++) {
		p[8 + i] = (uint8_t)(count >> (8 * i));
		p[12 + i] = (uint8_t)(flags >> (8 * i));
	}
	return g;
}

/* Wait for the next used element; it must be head. Returns the status byte at st. */
static uint8_t wait_used(struct fx *f, uint16_t head, gpa_t st, uint32_t *len)
{
	uint16_t got;
	uint32_t l;
	for (int i = 0; !vh_take_used(&f->h, 0, &got, &l); i++) {
		assert_true(i < 100);
		vh_pump(&f->h, 100);
	}
	assert_int_equal(got, head);
	if (len)
		*len = l;
	return *host(f, st, 1);
}

/* Post header, data and a status byte as one chain; returns the head, *st the status. */
static uint16_t post(struct fx *f, uint32_t type, uint64_t sector, const struct vh_seg *data,
                     unsigned n, gpa_t *st)
{
	struct vh_seg segs[QSIZE];
	assert_true(n + 2 <= QSIZE);
	*st = buf(f, 1, 0xff);
	segs[0] = (struct vh_seg){header(f, type, sector), 16, false};
	for (unsigned i = 0; i < n; i++)
		segs[1 + i] = data[i];
	segs[n + 1] = (struct vh_seg){*st, 1, true};
	return vh_post(&f->h, 0, segs, n + 2);
}

/* One request, start to finish: returns its status, *len the used length. */
static uint8_t req(struct fx *f, uint32_t type, uint64_t sector, const struct vh_seg *data,
                   unsigned n, uint32_t *len)
{
	gpa_t st;
	uint16_t head = post(f, type, sector, data, n, &st);
	vh_kick(&f->h, 0);
	uint8_t s = wait_used(f, head, st, len);
	assert_false(vh_needs_reset(&f->h));
	return s;
}

static uint8_t req1(struct fx *f, uint32_t type, uint64_t sector, gpa_t data, uint32_t len,
                    bool write, uint32_t *used)
{
	struct vh_seg s = {data, len, write};
	return req(f, type, sector, &s, 1, used);
}

static void file_fill(struct fx *f, uint64_t off, uint64_t len, int byte)
{
	static uint8_t chunk[65536];
	memset(chunk, byte, sizeof(chunk));
	while (len) {
		size_t k = len < sizeof(chunk) ? len : sizeof(chunk);
		assert_int_equal(pwrite(f->fd, chunk, k, (off_t)off), (ssize_t)k);
		off += k;
		len -= k;
	}
}

/* Whether the file holds byte over [off, off + len). */
static bool file_is(struct fx *f, uint64_t off, uint64_t len, int byte)
{
	static uint8_t chunk[65536];
	while (len) {
		size_t k = len < sizeof(chunk) ? len : sizeof(chunk);
		assert_int_equal(pread(f->fd, chunk, k, (off_t)off), (ssize_t)k);
		for (size_t i = 0; i < k; i++)
			if (chunk[i] != byte)
				return false;
		off += k;
		len -= k;
	}
	return true;
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
}

/* ---- tests ---- */

static uint64_t cfg_read(struct fx *f, uint32_t off, unsigned len)
{
	uint8_t b[8] = {0};
	f->blk.vdev.ops->config_read(&f->blk.vdev, off, b, len);
	return unit_le(b, len);
}

static void config_space(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *v = &f->blk.vdev;

	assert_string_equal(v->name, "virtio-blk " DRIVE_ID);
	assert_int_equal(v->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(v->ops->num_queues, 1);
	assert_int_equal(v->ops->queue_max_size, 256);
	assert_int_equal(v->config_size, 60);
	uint64_t want = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
	                1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_DISCARD |
	                1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	assert_int_equal(v->features, want);

	assert_int_equal(cfg_read(f, 0, 8), DISK_SECTORS);
	assert_int_equal(cfg_read(f, 0, 4), DISK_SECTORS);
	assert_int_equal(cfg_read(f, 4, 4), 0);
	assert_int_equal(cfg_read(f, 1, 2), DISK_SECTORS >> 8);
	assert_int_equal(cfg_read(f, 12, 4), BLK_SEG_MAX);
	assert_int_equal(cfg_read(f, 20, 4), 512);
	assert_true(cfg_read(f, 36, 4) >= 8);    /* max_discard_sectors */
	assert_int_equal(cfg_read(f, 40, 4), 1); /* max_discard_seg */
	assert_true(cfg_read(f, 44, 4) >= 1);    /* discard_sector_alignment */
	assert_true(cfg_read(f, 48, 4) >= 8);    /* max_write_zeroes_sectors */
	assert_int_equal(cfg_read(f, 52, 4), 1); /* max_write_zeroes_seg */
	assert_int_equal(cfg_read(f, 56, 1), 1); /* write_zeroes_may_unmap */
	assert_int_equal(cfg_read(f, 57, 2), 0); /* unused1 */
	assert_int_equal(cfg_read(f, 59, 1), 0);
	assert_int_equal(cfg_read(f, 52, 8), 0x100000001ull); /* across fields */

	/* The engine asked for is the one running. */
	assert_ptr_equal(f->blk.engine,
	                 f->engine == DRIVE_ENGINE_SYNC ? &blk_sync_engine : &blk_uring_engine);
}

static void read_write_round_trip(void **state)
{
	struct fx *f = *state;
	uint8_t want[4096];
	uint32_t used;

	pattern(want, sizeof(want), 1);
	assert_int_equal(pwrite(f->fd, want, sizeof(want), 3 * 512), (ssize_t)sizeof(want));
	gpa_t in = buf(f, 4096, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 3, in, 4096, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 4097);
	assert_memory_equal(host(f, in, 4096), want, 4096);

	/* The first push interrupts the driver (EVENT_IDX, used_event 0). */
	uint64_t n;
	assert_int_equal(read(f->blk.vdev.irq_fd, &n, 8), 8);

	gpa_t out = buf(f, 1024, 0);
	pattern(host(f, out, 1024), 1024, 2);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 100, out, 1024, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	uint8_t got[1024];
	assert_int_equal(pread(f->fd, got, 1024, 100 * 512), 1024);
	assert_memory_equal(got, host(f, out, 1024), 1024);

	/* The last sector is reachable. */
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, out, 512, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_int_equal(pread(f->fd, got, 512, (off_t)DISK_BYTES - 512), 512);
	assert_memory_equal(got, host(f, out, 512), 512);
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
}

/* 64 KiB over 16 scattered segments, written then read back over differently cut ones. */
static void large_multi_segment(void **state)
{
	struct fx *f = *state;
	enum { SEGS = 16, SEG = 4096, TOTAL = SEGS * SEG };
	static uint8_t want[TOTAL], got[TOTAL];
	struct vh_seg segs[SEGS + 1];
	uint32_t used;

	pattern(want, TOTAL, 3);
	for (unsigned i = 0; i < SEGS; i++) {
		buf(f, 48, 0); /* keep the segments apart */
		segs[i] = (struct vh_seg){buf(f, SEG, 0), SEG, false};
		memcpy(host(f, segs[i].addr, SEG), want + i * SEG, SEG);
	}
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 777, segs, SEGS, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(pread(f->fd, got, TOTAL, 777 * 512), TOTAL);
	assert_memory_equal(got, want, TOTAL);

	/* Read it back in uneven pieces: 512, 3000, 100, then the rest. */
	uint32_t cuts[] = {512, 3000, 100, TOTAL - 3612};
	for (unsigned i = 0; i < 4; i++)
		segs[i] = (struct vh_seg){buf(f, cuts[i], 0x5a), cuts[i], true};
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 777, segs, 4, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, TOTAL + 1);
	uint32_t off = 0;
	for (unsigned i = 0; i < 4; i++) {
		assert_memory_equal(host(f, segs[i].addr, cuts[i]), want + off, cuts[i]);
		off += cuts[i];
	}
}

/* No framing may be assumed: a header split in two, data sharing a buffer with the header
 * or with the status byte, and an indirect chain. */
static void any_framing(void **state)
{
	struct fx *f = *state;
	uint8_t want[1024];
	pattern(want, sizeof(want), 4);
	assert_int_equal(pwrite(f->fd, want, sizeof(want), 40 * 512), (ssize_t)sizeof(want));

	/* Header in two pieces; the last writable buffer holds 512 data bytes and the status. */
	gpa_t hdr = header(f, VIRTIO_BLK_T_IN, 40);
	gpa_t d0 = buf(f, 512, 0), d1 = buf(f, 513, 0xff);
	struct vh_seg segs[] = {
	    {hdr, 5, false}, {hdr + 5, 11, false}, {d0, 512, true}, {d1, 513, true}};
	uint16_t head = vh_post(&f->h, 0, segs, 4);
	vh_kick(&f->h, 0);
	uint32_t used;
	assert_int_equal(wait_used(f, head, d1 + 512, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1025);
	assert_memory_equal(host(f, d0, 512), want, 512);
	assert_memory_equal(host(f, d1, 512), want + 512, 512);

	/* A write whose header and data share one buffer. */
	gpa_t hd = vh_alloc(&f->h, 16 + 512);
	memcpy(host(f, hd, 16), host(f, header(f, VIRTIO_BLK_T_OUT, 50), 16), 16);
	memset(host(f, hd + 16, 512), 0xc3, 512);
	gpa_t st = buf(f, 1, 0xff);
	struct vh_seg w[] = {{hd, 16 + 512, false}, {st, 1, true}};
	head = vh_post(&f->h, 0, w, 2);
	vh_kick(&f->h, 0);
	assert_int_equal(wait_used(f, head, st, NULL), VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 50 * 512, 512, 0xc3));

	/* Indirect. */
	gpa_t in = buf(f, 1024, 0);
	st = buf(f, 1, 0xff);
	struct vh_seg ind[] = {
	    {header(f, VIRTIO_BLK_T_IN, 40), 16, false}, {in, 1024, true}, {st, 1, true}};
	head = vh_post_indirect(&f->h, 0, ind, 3);
	vh_kick(&f->h, 0);
	assert_int_equal(wait_used(f, head, st, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1025);
	assert_memory_equal(host(f, in, 1024), want, 1024);
}

/* Many requests in flight at once, completing in any order. */
static void many_in_flight(void **state)
{
	struct fx *f = *state;
	enum { N = 64, LEN = 8192 };
	gpa_t data[N], st[N];
	uint16_t heads[N];
	bool seen[N] = {false};

	for (unsigned i = 0; i < N; i++)
		file_fill(f, (uint64_t)i * LEN, LEN, (int)i + 1);
	for (unsigned i = 0; i < N; i++) {
		data[i] = buf(f, LEN, 0);
		struct vh_seg s = {data[i], LEN, true};
		heads[i] = post(f, VIRTIO_BLK_T_IN, (uint64_t)i * (LEN / 512), &s, 1, &st[i]);
	}
	vh_kick(&f->h, 0);
	for (unsigned done = 0, spins = 0; done < N; spins++) {
		uint16_t head;
		uint32_t len;
		assert_true(spins < 1000);
		if (!vh_take_used(&f->h, 0, &head, &len)) {
			vh_pump(&f->h, 100);
			continue;
		}
		unsigned i = 0;
		while (i < N && heads[i] != head)
			i++;
		assert_true(i < N);
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(len, LEN + 1);
		assert_int_equal(*host(f, st[i], 1), VIRTIO_BLK_S_OK);
		uint8_t *p = host(f, data[i], LEN);
		for (unsigned k = 0; k < LEN; k++)
			assert_int_equal(p[k], i + 1);
		done++;
	}
	assert_int_equal(f->blk.inflight, 0);
}

static void flush(void **state)
{
	struct fx *f = *state;
	uint32_t used;
	gpa_t out = buf(f, 4096, 0x77);
	struct vh_seg s = {out, 4096, false};
	gpa_t st1, st2;

	/* A write and a flush in one batch: the flush waits for the write (drain). */
	uint16_t h1 = post(f, VIRTIO_BLK_T_OUT, 8, &s, 1, &st1);
	uint16_t h2 = post(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st2);
	vh_kick(&f->h, 0);
	uint16_t head;
	unsigned got = 0;
	for (int i = 0; got < 2; i++) {
		assert_true(i < 100);
		if (vh_take_used(&f->h, 0, &head, &used)) {
			assert_true(head == h1 || head == h2);
			assert_int_equal(used, 1);
			got++;
		} else {
			vh_pump(&f->h, 100);
		}
	}
	assert_int_equal(*host(f, st1, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(*host(f, st2, 1), VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 8 * 512, 4096, 0x77));

	/* Flush alone. */
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
}

/* Without FLUSH negotiated every write is stable at completion: it passes a sync first. */
static void writethrough(void **state)
{
	struct fx *f = *state;
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_SEG_MAX |
	                    1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	dev_up(f, DRIVE_ID, false, features);
	assert_true(f->blk.writethrough);
	gpa_t out = buf(f, 2048, 0x31);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 16, out, 2048, false, NULL), VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 16 * 512, 2048, 0x31));
	gpa_t seg = dwz_seg(f, 16, 2, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 16 * 512, 1024, 0));
	assert_true(file_is(f, 18 * 512, 1024, 0x31));
}

/* cache_type Unsafe: no FLUSH offered, and none of writethrough's syncs either; a FLUSH a
 * driver sends anyway still completes. */
static void cache_unsafe(void **state)
{
	struct fx *f = *state;
	f->cache = DRIVE_CACHE_UNSAFE;
	dev_up(f, DRIVE_ID, false, 0);
	f->cache = DRIVE_CACHE_WRITEBACK;
	assert_false(f->blk.vdev.features & 1ULL << VIRTIO_BLK_F_FLUSH);
	assert_false(virtio_dev_has(&f->blk.vdev, VIRTIO_BLK_F_FLUSH));
	assert_false(f->blk.writethrough);
	gpa_t out = buf(f, 2048, 0x42);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 8, out, 2048, false, NULL), VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 8 * 512, 2048, 0x42));
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	/* Writeback (the default here) offers it. */
	dev_up(f, DRIVE_ID, false, 0);
	assert_true(virtio_dev_has(&f->blk.vdev, VIRTIO_BLK_F_FLUSH));
}

/* PATCH /drives after boot: another file, of another size, with its own bytes; the driver
 * is told by a configuration interrupt and reads the new capacity. A file that cannot be
 * opened changes nothing. */
static void swap_backing_file(void **state)
{
	struct fx *f = *state;
	char err[256] = "", path2[64];
	snprintf(path2, sizeof(path2), "/tmp/ember-blk2-XXXXXX");
	int fd2 = mkstemp(path2);
	assert_true(fd2 >= 0);
	assert_int_equal(ftruncate(fd2, (off_t)DISK_BYTES * 2), 0);
	uint8_t mark[512];
	memset(mark, 0x5e, sizeof(mark));
	assert_int_equal(pwrite(fd2, mark, sizeof(mark), 0), (ssize_t)sizeof(mark));
	uint32_t gen = vh_read_reg(&f->h, 0x0fc);

	/* Requests in flight at the swap (io_uring: flushes always are) complete first, on
	 * the old file, and are answered. */
	enum { N = 8 };
	gpa_t st[N];
	for (unsigned i = 0; i < N; i++)
		post(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[i]);
	vh_kick(&f->h, 0);
	assert_int_equal(blk_swap(&f->blk, f->path, err, sizeof(err)), 0);
	assert_int_equal(f->blk.inflight, 0);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(*host(f, st[i], 1), VIRTIO_BLK_S_OK);
	uint16_t head;
	uint32_t used;
	for (unsigned i = 0; i < N; i++)
		assert_true(vh_take_used(&f->h, 0, &head, &used));
	atomic_store(&f->blk.vdev.interrupt_status, 0);
	gen = vh_read_reg(&f->h, 0x0fc);

	assert_int_equal(blk_swap(&f->blk, "/tmp/no-such-ember-disk", err, sizeof(err)), -ENOENT);
	assert_err_mentions(err, "no-such-ember-disk");
	assert_int_equal(cfg_read(f, 0, 8), DISK_SECTORS);
	assert_int_equal(vh_read_reg(&f->h, 0x0fc), gen);

	assert_int_equal(blk_swap(&f->blk, path2, err, sizeof(err)), 0);
	assert_int_equal(cfg_read(f, 0, 8), DISK_SECTORS * 2);
	assert_int_not_equal(vh_read_reg(&f->h, 0x0fc), gen);
	assert_true(atomic_load(&f->blk.vdev.interrupt_status) & VIRTIO_INT_CONFIG);
	gpa_t in = buf(f, 512, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, in, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, in, 512), mark, 512);
	/* The new end is reachable, and writes land in the new file. */
	gpa_t out = buf(f, 512, 0x77);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, DISK_SECTORS * 2 - 1, out, 512, false, NULL),
	                 VIRTIO_BLK_S_OK);
	uint8_t got[512];
	assert_int_equal(pread(fd2, got, 512, (off_t)DISK_BYTES * 2 - 512), 512);
	assert_memory_equal(got, host(f, out, 512), 512);
	close(fd2);
	unlink(path2);
}

/* Before a snapshot (blk_drain): every request taken from the ring completes, its status
 * and used entry written and marked dirty for a Diff (the interrupt is the driver's
 * choice, EVENT_IDX). */
static void drain_for_snapshot(void **state)
{
	struct fx *f = *state;
	enum { N = 8 };
	gpa_t st[N];
	assert_int_equal(gm_track_dirty(&f->h.gm, 0), 0);
	for (unsigned i = 0; i < N; i++)
		post(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[i]);
	vh_kick(&f->h, 0);
	/* io_uring hands fsyncs to a worker: usually some are still out here (not always:
	 * the harness's loop may have taken them already). */
	print_message("%u of %u in flight before the drain\n", f->blk.inflight, N);
	blk_drain(&f->blk);
	assert_int_equal(f->blk.inflight, 0);
	uint64_t *bits = calloc(gm_bitmap_words(&f->h.gm), 8);
	assert_non_null(bits);
	gm_take_dirty(&f->h.gm, bits);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(*host(f, st[i], 1), VIRTIO_BLK_S_OK);
		uint64_t page = st[i] / 4096;
		assert_true(bits[page / 64] >> (page % 64) & 1);
	}
	uint64_t used_page = f->h.q[0].used / 4096;
	assert_true(bits[used_page / 64] >> (used_page % 64) & 1);
	free(bits);
	uint16_t head;
	uint32_t used;
	for (unsigned i = 0; i < N; i++)
		assert_true(vh_take_used(&f->h, 0, &head, &used));
}

static void get_id(void **state)
{
	struct fx *f = *state;
	uint32_t used;
	uint8_t want[20] = DRIVE_ID; /* zero-padded */

	gpa_t id = buf(f, 20, 0xee);
	assert_int_equal(req1(f, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(host(f, id, 20), want, 20);

	/* A short buffer gets what fits; a long one the 20 bytes and no more. */
	gpa_t small = buf(f, 4, 0xee);
	assert_int_equal(req1(f, VIRTIO_BLK_T_GET_ID, 0, small, 4, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 5);
	assert_memory_equal(host(f, small, 4), "test", 4);
	gpa_t big = buf(f, 32, 0xee);
	assert_int_equal(req1(f, VIRTIO_BLK_T_GET_ID, 0, big, 32, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(host(f, big, 20), want, 20);
	assert_int_equal(host(f, big, 21)[20], 0xee);

	/* An id of 20 bytes or more fills all 20, unterminated. */
	dev_up(f, "abcdefghijklmnopqrstuvwxyz", false, 0);
	id = buf(f, 20, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, id, 20), "abcdefghijklmnopqrst", 20);
	/* The name, for logs, keeps the whole id. */
	assert_string_equal(f->blk.vdev.name, "virtio-blk abcdefghijklmnopqrstuvwxyz");
}

static blkcnt_t blocks(struct fx *f)
{
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	return st.st_blocks;
}

static void discard(void **state)
{
	struct fx *f = *state;
	const uint64_t off = 1 << 20, len = 1 << 20;

	file_fill(f, off, len, 0xab);
	assert_int_equal(fsync(f->fd), 0);
	blkcnt_t before = blocks(f);
	assert_true(before >= (blkcnt_t)(len / 512));

	gpa_t seg = dwz_seg(f, off / 512, len / 512, 0);
	uint32_t used;
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_true(blocks(f) <= before - (blkcnt_t)(len / 512) + 16);
	assert_true(file_is(f, off, len, 0)); /* a punched hole reads as zeroes */

	/* The unmap flag is for write zeroes only; unknown flags are unsupported. */
	seg = dwz_seg(f, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_UNSUPP);
	seg = dwz_seg(f, 0, 8, 4);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_UNSUPP);
	/* Past the end, and straddling it. */
	seg = dwz_seg(f, DISK_SECTORS, 1, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	seg = dwz_seg(f, UINT64_MAX, 2, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	/* Two segments are more than max_discard_seg; a partial one is no segment. */
	gpa_t two = vh_alloc(&f->h, 32);
	memcpy(host(f, two, 16), host(f, dwz_seg(f, 0, 8, 0), 16), 16);
	memcpy(host(f, two + 16, 16), host(f, dwz_seg(f, 64, 8, 0), 16), 16);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, two, 32, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, two, 8, false, NULL), VIRTIO_BLK_S_IOERR);
	/* Zero sectors: nothing to do. */
	seg = dwz_seg(f, 5, 0, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
}

static void write_zeroes(void **state)
{
	struct fx *f = *state;

	file_fill(f, 0, 1 << 20, 0x5c);
	/* Plain (ZERO_RANGE), then with unmap (a hole). */
	gpa_t seg = dwz_seg(f, 10, 20, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 0, 10 * 512, 0x5c));
	assert_true(file_is(f, 10 * 512, 20 * 512, 0));
	assert_true(file_is(f, 30 * 512, 512, 0x5c));

	seg = dwz_seg(f, 256, 256, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 255 * 512, 512, 0x5c));
	assert_true(file_is(f, 256 * 512, 256 * 512, 0));
	assert_true(file_is(f, 512 * 512, 512, 0x5c));

	seg = dwz_seg(f, 0, 8, 2);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_UNSUPP);
	seg = dwz_seg(f, DISK_SECTORS - 1, 2, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_true(file_is(f, 0, 10 * 512, 0x5c));
}

/* Where the file system refuses both fallocate modes, zeroes are written, in chunks. */
static void write_zeroes_by_writing(void **state)
{
	struct fx *f = *state;
	const uint64_t first = 100, count = 6000; /* about 3 MiB: several chunks */

	file_fill(f, 0, DISK_BYTES, 0x6d);
	f->blk.no_punch_hole = f->blk.no_zero_range = true;
	gpa_t seg = dwz_seg(f, first, count, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 0, first * 512, 0x6d));
	assert_true(file_is(f, first * 512, count * 512, 0));
	assert_true(file_is(f, (first + count) * 512, 512, 0x6d));

	/* A discard that cannot punch is a hint not taken: OK, the data stays. */
	seg = dwz_seg(f, 0, 8, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 0, 8 * 512, 0x6d));
}

/* On tmpfs, which punches holes but has no FALLOC_FL_ZERO_RANGE, write zeroes falls back. */
static void write_zeroes_on_tmpfs(void **state)
{
	struct fx *f = *state;
	struct statfs sfs;
	if (statfs("/dev/shm", &sfs) != 0 || sfs.f_type != 0x01021994 /* TMPFS_MAGIC */) {
		print_message("no tmpfs at /dev/shm: skipped\n");
		skip();
	}
	dev_down(f);
	disk_close(f);
	disk_open(f, "/dev/shm", DISK_BYTES);
	dev_up(f, DRIVE_ID, false, 0);

	file_fill(f, 0, 64 * 512, 0x42);
	gpa_t seg = dwz_seg(f, 8, 16, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(f->blk.no_zero_range);
	assert_false(f->blk.no_punch_hole);
	assert_true(file_is(f, 0, 8 * 512, 0x42));
	assert_true(file_is(f, 8 * 512, 16 * 512, 0));
	assert_true(file_is(f, 24 * 512, 40 * 512, 0x42));
}

static void read_only(void **state)
{
	struct fx *f = *state;
	uint32_t used;

	file_fill(f, 0, 8192, 0x21);
	dev_up(f, DRIVE_ID, true, 0);
	assert_true(f->blk.vdev.features & 1ULL << VIRTIO_BLK_F_RO);

	gpa_t out = buf(f, 4096, 0x99);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 0, out, 4096, false, &used), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	gpa_t seg = dwz_seg(f, 0, 8, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_true(file_is(f, 0, 8192, 0x21));

	gpa_t in = buf(f, 4096, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, in, 4096, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 4097);
	assert_int_equal(host(f, in, 4096)[4095], 0x21);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
}

static void past_the_end(void **state)
{
	struct fx *f = *state;
	gpa_t d = buf(f, 1024, 0x11);
	uint32_t used;

	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, d, 1024, true, &used),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, DISK_SECTORS, d, 512, true, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, d, 1024, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, UINT64_MAX, d, 512, true, NULL),
	                 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, UINT64_MAX / 512, d, 1024, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
	/* Not a whole number of sectors. */
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, d, 1000, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 0, d, 513, false, NULL), VIRTIO_BLK_S_IOERR);
	struct stat st;
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
	assert_true(file_is(f, 0, 1024, 0));
	/* No data at the very end is fine. */
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS, NULL, 0, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
}

/* A partial last sector is out of reach. */
static void partial_last_sector(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ftruncate(f->fd, 10 * 512 + 100), 0);
	dev_up(f, DRIVE_ID, false, 0);
	assert_int_equal(cfg_read(f, 0, 8), 10);
	gpa_t d = buf(f, 512, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 9, d, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 10, d, 512, true, NULL), VIRTIO_BLK_S_IOERR);
}

static void unsupported_type(void **state)
{
	struct fx *f = *state;
	uint32_t used;
	gpa_t d = buf(f, 512, 0);
	const uint32_t types[] = {2, 5, 10, 14, 16, 99, 0x80000000u};
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_int_equal(req1(f, types[i], 0, d, 512, true, &used), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(used, 1);
	}
	assert_int_equal(req(f, 99, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
}

/* Post segs as one chain; the device must fail (NEEDS_RESET) and push nothing. Then it is
 * made afresh for the next case. */
static void expect_fail(struct fx *f, const struct vh_seg *segs, unsigned n)
{
	uint16_t head;
	uint32_t len;
	vh_post(&f->h, 0, segs, n);
	vh_kick(&f->h, 0);
	vh_pump(&f->h, 10);
	assert_true(vh_needs_reset(&f->h));
	assert_false(vh_take_used(&f->h, 0, &head, &len));
	dev_up(f, DRIVE_ID, false, 0);
}

static void malformed_chains(void **state)
{
	struct fx *f = *state;
	gpa_t st = buf(f, 1, 0xff), d = buf(f, 512, 0);
	gpa_t seg = dwz_seg(f, 0, 1, 0);

	/* A short header. */
	struct vh_seg a[] = {{header(f, VIRTIO_BLK_T_IN, 0), 8, false}, {st, 1, true}};
	expect_fail(f, a, 2);
	/* No status byte. */
	struct vh_seg b[] = {{header(f, VIRTIO_BLK_T_OUT, 0), 16, false}, {d, 512, false}};
	expect_fail(f, b, 2);
	struct vh_seg c[] = {{header(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}};
	expect_fail(f, c, 1);
	/* Data the wrong way. */
	struct vh_seg e[] = {
	    {header(f, VIRTIO_BLK_T_IN, 0), 16, false}, {d, 512, false}, {st, 1, true}};
	expect_fail(f, e, 3);
	struct vh_seg g[] = {
	    {header(f, VIRTIO_BLK_T_OUT, 0), 16, false}, {d, 512, true}, {st, 1, true}};
	expect_fail(f, g, 3);
	struct vh_seg h[] = {
	    {header(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {d, 512, true}, {st, 1, true}};
	expect_fail(f, h, 3);
	struct vh_seg i[] = {
	    {header(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {d, 512, false}, {st, 1, true}};
	expect_fail(f, i, 3);
	struct vh_seg j[] = {
	    {header(f, VIRTIO_BLK_T_GET_ID, 0), 16, false}, {d, 20, false}, {st, 1, true}};
	expect_fail(f, j, 3);
	struct vh_seg k[] = {{header(f, VIRTIO_BLK_T_DISCARD, 0), 16, false},
	                     {seg, 16, false},
	                     {d, 16, true},
	                     {st, 1, true}};
	expect_fail(f, k, 4);
	/* seg_max data segments with the header and the status: a chain as long as the queue,
	 * the longest there can be (a longer one fails in vq_pop: test_virtqueue). */
	_Static_assert(BLK_IOV_MAX == QSIZE, "seg_max fills the queue");
	static struct vh_seg many[BLK_SEG_MAX];
	for (unsigned n = 0; n < BLK_SEG_MAX; n++)
		many[n] = (struct vh_seg){buf(f, 512, 0), 512, true};
	uint32_t len;
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, many, BLK_SEG_MAX, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, BLK_SEG_MAX * 512 + 1);

	/* Still serving after all that. */
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, d, 512, true, NULL), VIRTIO_BLK_S_OK);
}

/* The same head twice in flight (io_uring: both are popped before either completes). */
static void head_reused_in_flight(void **state)
{
	struct fx *f = *state;
	if (f->engine == DRIVE_ENGINE_SYNC) {
		print_message("the sync engine completes each request before the next pop\n");
		skip();
	}
	gpa_t st;
	gpa_t d = buf(f, 4096, 0);
	struct vh_seg s = {d, 4096, true};
	uint16_t head = post(f, VIRTIO_BLK_T_IN, 0, &s, 1, &st);
	vh_publish(&f->h, 0, head);
	vh_kick(&f->h, 0);
	assert_true(vh_needs_reset(&f->h));
	vh_pump(&f->h, 10);
	uint16_t got;
	uint32_t len;
	assert_false(vh_take_used(&f->h, 0, &got, &len)); /* the first is dropped too */
	assert_int_equal(*host(f, st, 1), 0xff);
}

/* A reset waits for what is in flight and then leaves guest memory alone. */
static void reset_in_flight(void **state)
{
	struct fx *f = *state;
	enum { N = 32, LEN = 65536 };
	gpa_t st[N];

	/* Reads of cached data may complete within the kick (io_uring does them at submit and
	 * the engine takes those completions at once); flushes never do: io_uring hands every
	 * fsync to a worker. So every other request is a flush. */
	for (unsigned i = 0; i < N; i++) {
		struct vh_seg s = {buf(f, LEN, 0), LEN, true};
		if (i % 2)
			post(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[i]);
		else
			post(f, VIRTIO_BLK_T_IN, (uint64_t)i * (LEN / 512), &s, 1, &st[i]);
	}
	vh_kick(&f->h, 0);
	if (f->engine != DRIVE_ENGINE_SYNC)
		assert_true(f->blk.inflight > 0);
	/* The driver resets it; the vmm thread (the harness's loop) runs the reset while the
	 * writer waits. */
	vh_write_reg(&f->h, VH_REG_STATUS, 0);
	assert_int_equal(vh_read_reg(&f->h, VH_REG_STATUS), 0);
	assert_int_equal(f->blk.inflight, 0);
	vh_pump(&f->h, 10);
	for (unsigned i = 1; i < N && f->engine != DRIVE_ENGINE_SYNC; i += 2)
		assert_int_equal(*host(f, st[i], 1), 0xff);

	/* The driver brings it back up and it serves again. */
	dev_up(f, DRIVE_ID, false, 0);
	gpa_t d = buf(f, 512, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, d, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void create_errors(void **state)
{
	struct fx *f = *state;
	struct virtio_blk b;
	char err[256];
	struct drive_config cfg = {
	    .id = "x", .path = "/nonexistent/ember.img", .engine = f->engine};

	err[0] = 0;
	assert_int_equal(blk_create(&b, &cfg, err, sizeof(err)), -ENOENT);
	assert_err_mentions(err, "/nonexistent/ember.img");
	blk_destroy(&b);

	strcpy(cfg.path, "/dev/null");
	err[0] = 0;
	assert_int_equal(blk_create(&b, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "block device");

	strcpy(cfg.path, "/tmp");
	cfg.read_only = true;
	err[0] = 0;
	assert_int_equal(blk_create(&b, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "/tmp");

	/* Read-only opens read-only: a file without write permission is fine. */
	assert_int_equal(fchmod(f->fd, 0444), 0);
	strcpy(cfg.path, f->path);
	if (geteuid() != 0) {
		cfg.read_only = false;
		assert_int_equal(blk_create(&b, &cfg, err, sizeof(err)), -EACCES);
	}
	cfg.read_only = true;
	assert_int_equal(blk_create(&b, &cfg, err, sizeof(err)), 0);
	blk_destroy(&b);
	blk_destroy(&b); /* twice is harmless */
}

/* The host fails a read (here: the file shrank under the guest): IOERR, logged once. */
static void host_error(void **state)
{
	struct fx *f = *state;
	gpa_t d = buf(f, 4096, 0);
	uint32_t used;

	assert_int_equal(ftruncate(f->fd, 1 << 20), 0);
	assert_false(f->blk.io_error_logged);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 4000, d, 4096, true, &used), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	assert_true(f->blk.io_error_logged);
	/* A read straddling the new end is short: IOERR as well. */
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 2046, d, 4096, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, d, 4096, true, NULL), VIRTIO_BLK_S_OK);
}

/* Where io_uring is forbidden (a seccomp filter here), AUTO falls back to the sync engine
 * with one warning for all drives, and IO_URING refuses to create. Runs in a child, which
 * keeps the filter; it reports through its exit status. */
static void engine_fallback(void **state)
{
	struct fx *f = *state;
	if (f->engine != DRIVE_ENGINE_SYNC)
		skip(); /* the same with either engine: once is enough */
	struct statfs sf;
	assert_int_equal(statfs(f->path, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
		skip(); /* AUTO does not try io_uring there: memory_backed_auto_is_sync */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter code[] = {
		    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(2);
		int log = memfd_create("stderr", 0);
		if (log < 0 || dup2(log, STDERR_FILENO) < 0)
			_exit(3);
		struct drive_config cfg = {.id = "a", .engine = DRIVE_ENGINE_AUTO};
		strcpy(cfg.path, f->path);
		struct virtio_blk b1, b2, b3;
		char err[256] = "";
		if (blk_create(&b1, &cfg, err, sizeof(err)) || b1.engine != &blk_sync_engine)
			_exit(4);
		if (blk_create(&b2, &cfg, err, sizeof(err)) || b2.engine != &blk_sync_engine)
			_exit(5);
		cfg.engine = DRIVE_ENGINE_IO_URING;
		if (blk_create(&b3, &cfg, err, sizeof(err)) != -ENOSYS || !strstr(err, "io_uring"))
			_exit(6);
		blk_destroy(&b1);
		blk_destroy(&b2);
		char text[4096] = "";
		if (pread(log, text, sizeof(text) - 1, 0) < 0)
			_exit(7);
		const char *warning = "warning: io_uring is not available";
		const char *w = strstr(text, warning);
		if (!w || strstr(w + strlen(warning), warning))
			_exit(8);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* AUTO runs a file in memory (tmpfs) on the synchronous engine, without a warning; a file
 * elsewhere gets io_uring. Where /dev/shm is not a tmpfs there is nothing to check. */
static void memory_backed_auto_is_sync(void **state)
{
	struct fx *f = *state;
	struct statfs sf;
	if (f->engine != DRIVE_ENGINE_SYNC)
		skip(); /* once is enough */
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC)
		skip();
	struct drive_config cfg = {.id = "m", .engine = DRIVE_ENGINE_AUTO};
	snprintf(cfg.path, sizeof(cfg.path), "/dev/shm/ember-blk-XXXXXX");
	int fd = mkstemp(cfg.path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	struct virtio_blk b;
	char err[256] = "";
	int r = blk_create(&b, &cfg, err, sizeof(err));
	unlink(cfg.path);
	close(fd);
	assert_int_equal(r, 0);
	assert_ptr_equal(b.engine, &blk_sync_engine);
	blk_destroy(&b);
}

/* A block device, sized with BLKGETSIZE64. Opt-in, as it overwrites the device:
 * EMBER_TEST_BLKDEV=/dev/loopN (a scratch loop device) runs it. */
static void block_device(void **state)
{
	struct fx *f = *state;
	const char *dev = getenv("EMBER_TEST_BLKDEV");
	if (!dev || !*dev) {
		print_message("EMBER_TEST_BLKDEV is not set: skipped\n");
		skip();
	}
	dev_down(f);
	disk_close(f);
	f->keep_file = true;
	snprintf(f->path, sizeof(f->path), "%s", dev);
	f->fd = open(dev, O_RDWR | O_CLOEXEC);
	assert_true(f->fd >= 0);
	uint64_t bytes;
	assert_int_equal(ioctl(f->fd, BLKGETSIZE64, &bytes), 0);
	assert_true(bytes >= 1 << 20);
	dev_up(f, DRIVE_ID, false, 0);
	assert_int_equal(cfg_read(f, 0, 8), bytes / 512);

	gpa_t out = buf(f, 8192, 0x3c), in = buf(f, 8192, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_OUT, 64, out, 8192, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 64, in, 8192, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, in, 8192), host(f, out, 8192), 8192);
	assert_true(file_is(f, 64 * 512, 8192, 0x3c));

	gpa_t seg = dwz_seg(f, 64, 8, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	seg = dwz_seg(f, 72, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(req1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_OK);
	assert_true(file_is(f, 64 * 512, 8192, 0));
	seg = dwz_seg(f, 64, 16, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
	seg = dwz_seg(f, bytes / 512, 1, 0);
	assert_int_equal(req1(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL),
	                 VIRTIO_BLK_S_IOERR);
}

static uint64_t now_ms(void)
{
	return rl_now_ns() / 1000000;
}

/* Take every used element there is now; returns how many. */
static unsigned drain_used(struct fx *f)
{
	uint16_t head;
	uint32_t len;
	unsigned n = 0;
	while (vh_take_used(&f->h, 0, &head, &len))
		n++;
	return n;
}

/* An ops limit (PATCH'd onto the running device): the bucket's worth at once, the rest
 * parked on the limiter's timer (the kick does not spin: one refusal, then the timer), at
 * the bucket's rate; lifting the limit serves the rest at once. */
static void rate_limited_ops(void **state)
{
	struct fx *f = *state;
	struct rate_limiter_config rl = {.ops = {.size = 4, .refill_time_ms = 100}}; /* 40/s */
	gpa_t st, data = buf(f, 512, 0);
	struct vh_seg seg = {data, 512, true};

	blk_set_rate_limiter(&f->blk, &rl);
	for (int i = 0; i < 12; i++)
		post(f, VIRTIO_BLK_T_IN, (uint64_t)i, &seg, 1, &st);
	uint64_t t0 = now_ms();
	vh_kick(&f->h, 0);
	unsigned done = 0;
	for (int i = 0; i < 20 && done < 4; i++) {
		vh_pump(&f->h, 10);
		done += drain_used(f);
	}
	assert_int_equal(done, 4);
	assert_true(f->blk.limiter.rl.blocked);
	assert_int_equal(atomic_load(&f->blk.vdev.stat_throttled), 1);
	/* Kicks while parked are not served. */
	vh_kick(&f->h, 0);
	assert_int_equal(drain_used(f), 0);
	/* 4 more at 100 ms, 4 more at 200 ms... wait for 8 in all. */
	while (done < 8 && now_ms() - t0 < 3000) {
		vh_pump(&f->h, 50);
		done += drain_used(f);
	}
	assert_int_equal(done, 8);
	uint64_t dt = now_ms() - t0;
	assert_true(dt >= 90);
	/* Lift it: the rest go now. */
	struct rate_limiter_config off = {0};
	blk_set_rate_limiter(&f->blk, &off);
	for (int i = 0; i < 20 && done < 12; i++) {
		vh_pump(&f->h, 10);
		done += drain_used(f);
	}
	assert_int_equal(done, 12);
	assert_false(vh_needs_reset(&f->h));
}

/* A bandwidth limit counts data bytes of reads and writes, not other requests; a request
 * larger than the bucket goes through and blocks for its excess. */
static void rate_limited_bytes(void **state)
{
	struct fx *f = *state;
	struct rate_limiter_config rl = {.bandwidth = {.size = 8192, .refill_time_ms = 100}};
	gpa_t data = buf(f, 16384, 0);
	gpa_t st;

	blk_set_rate_limiter(&f->blk, &rl);
	uint64_t t0 = now_ms();
	/* 16 KiB: twice the bucket. */
	assert_int_equal(req1(f, VIRTIO_BLK_T_IN, 0, data, 16384, true, NULL), VIRTIO_BLK_S_OK);
	assert_true(f->blk.limiter.rl.blocked);
	/* The next one waits for the 8 KiB owed and its own 4 KiB: 150 ms. */
	struct vh_seg seg = {data, 4096, true};
	uint16_t head = post(f, VIRTIO_BLK_T_IN, 0, &seg, 1, &st);
	vh_kick(&f->h, 0);
	assert_int_equal(drain_used(f), 0);
	uint16_t got;
	uint32_t len;
	/* (A pump may end early: epoll_wait interrupted by a signal counts as 0.) */
	while (!vh_take_used(&f->h, 0, &got, &len)) {
		assert_true(now_ms() - t0 < 3000);
		vh_pump(&f->h, 100);
	}
	assert_int_equal(got, head);
	uint64_t dt = now_ms() - t0;
	assert_true(dt >= 140 && dt < 2000);
	/* A flush takes an op but no bytes: with only a bytes bucket it is not held. */
	f->blk.limiter.rl.tb[RL_BYTES].budget = 0;
	f->blk.limiter.rl.tb[RL_BYTES].last_ns = rl_now_ns() + 1000000000ull;
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
}

#define BLK_TESTS(engine)                                                                          \
	cmocka_unit_test_prestate_setup_teardown(config_space, setup, teardown, &engine),          \
	    cmocka_unit_test_prestate_setup_teardown(read_write_round_trip, setup, teardown,       \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(large_multi_segment, setup, teardown,         \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(any_framing, setup, teardown, &engine),       \
	    cmocka_unit_test_prestate_setup_teardown(many_in_flight, setup, teardown, &engine),    \
	    cmocka_unit_test_prestate_setup_teardown(flush, setup, teardown, &engine),             \
	    cmocka_unit_test_prestate_setup_teardown(writethrough, setup, teardown, &engine),      \
	    cmocka_unit_test_prestate_setup_teardown(get_id, setup, teardown, &engine),            \
	    cmocka_unit_test_prestate_setup_teardown(cache_unsafe, setup, teardown, &engine),      \
	    cmocka_unit_test_prestate_setup_teardown(swap_backing_file, setup, teardown, &engine), \
	    cmocka_unit_test_prestate_setup_teardown(drain_for_snapshot, setup, teardown,          \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(discard, setup, teardown, &engine),           \
	    cmocka_unit_test_prestate_setup_teardown(write_zeroes, setup, teardown, &engine),      \
	    cmocka_unit_test_prestate_setup_teardown(write_zeroes_by_writing, setup, teardown,     \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(write_zeroes_on_tmpfs, setup, teardown,       \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(read_only, setup, teardown, &engine),         \
	    cmocka_unit_test_prestate_setup_teardown(past_the_end, setup, teardown, &engine),      \
	    cmocka_unit_test_prestate_setup_teardown(partial_last_sector, setup, teardown,         \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(unsupported_type, setup, teardown, &engine),  \
	    cmocka_unit_test_prestate_setup_teardown(malformed_chains, setup, teardown, &engine),  \
	    cmocka_unit_test_prestate_setup_teardown(head_reused_in_flight, setup, teardown,       \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(reset_in_flight, setup, teardown, &engine),   \
	    cmocka_unit_test_prestate_setup_teardown(create_errors, setup, teardown, &engine),     \
	    cmocka_unit_test_prestate_setup_teardown(host_error, setup, teardown, &engine),        \
	    cmocka_unit_test_prestate_setup_teardown(engine_fallback, setup, teardown, &engine),   \
	    cmocka_unit_test_prestate_setup_teardown(memory_backed_auto_is_sync, setup, teardown,  \
	                                             &engine),                                     \
	    cmocka_unit_test_prestate_setup_teardown(block_device, setup, teardown, &engine),      \
	    cmocka_unit_test_prestate_setup_teardown(rate_limited_ops, setup, teardown, &engine),  \
	    cmocka_unit_test_prestate_setup_teardown(rate_limited_bytes, setup, teardown, &engine)
int main(void)
{
	unit_init();
	const struct CMUnitTest sync_tests[] = {BLK_TESTS(engine_sync)};
	const struct CMUnitTest uring_tests[] = {BLK_TESTS(engine_uring)};
	int failed = cmocka_run_group_tests_name("virtio-blk, sync engine", sync_tests, NULL, NULL);
	/* Where the host forbids io_uring (a container's seccomp profile), that group cannot run.
	 */
	struct io_uring probe;
	int r = io_uring_queue_init(4, &probe, 0);
	if (r < 0) {
		print_message("io_uring is not available here (%s): its group is skipped\n",
		              strerror(-r));
		return failed ? 1 : 0;
	}
	io_uring_queue_exit(&probe);
	failed +=
	    cmocka_run_group_tests_name("virtio-blk, io_uring engine", uring_tests, NULL, NULL);
	return failed ? 1 : 0;
}
