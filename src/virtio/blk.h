/* virtio-blk (virtio 1.2, 5.2) over a raw image file or a block device. */
#ifndef EMBER_VIRTIO_BLK_H
#define EMBER_VIRTIO_BLK_H

#include "../base/config.h"
#include "virtio.h"

#include <stdbool.h>
#include <stdint.h>

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types, status values and flags (5.2.6). */
#define VIRTIO_BLK_T_IN                    0
#define VIRTIO_BLK_T_OUT                   1
#define VIRTIO_BLK_T_FLUSH                 4
#define VIRTIO_BLK_T_GET_ID                8
#define VIRTIO_BLK_T_DISCARD               11
#define VIRTIO_BLK_T_WRITE_ZEROES          13
#define VIRTIO_BLK_S_OK                    0
#define VIRTIO_BLK_S_IOERR                 1
#define VIRTIO_BLK_S_UNSUPP                2
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

#define BLK_ID_BYTES 20 /* the GET_ID answer */

/* The device configuration (5.2.4) up to write_zeroes_may_unmap and its padding; the
 * later fields belong to features Ember does not offer. Little-endian. */
struct virtio_blk_config {
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t geometry_cylinders;
	uint8_t geometry_heads;
	uint8_t geometry_sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

/* Host-side counters and phase timings for `--stats` (not guest-visible state). Times are
 * sums over requests, in ns, measured on the vmm thread: from the start of the kick's
 * handling to the request's submission to the host, to its completion seen by the vmm
 * thread, and from there to the used-ring notification (interrupt or not). */
struct blk_stats {
	uint64_t reqs, bytes; /* requests with host work, and bytes read or written */
	uint64_t batches;     /* notifies that started requests */
	uint64_t submits;     /* io_uring_submit calls that sent SQEs */
	uint64_t inline_cqes; /* completions already there when io_uring_submit returned */
	uint64_t events;      /* completion eventfd wakeups */
	uint64_t done;        /* requests completed with timings */
	uint64_t ns_submit, ns_done, ns_notify;
};

struct blk_req;
struct blk_engine;
struct blk_uring;

struct virtio_blk {
	struct virtio_dev vdev;
	/* private: owned by blk.c and its engines (blk_engine.h) */
	int fd;
	bool read_only;
	bool unsafe;       /* cache_type Unsafe: FLUSH not offered, writes never synced */
	uint64_t capacity; /* 512-byte sectors the guest can reach */
	struct virtio_blk_config config;
	char id[BLK_ID_BYTES]; /* zero-padded, not terminated when 20 long */
	const struct blk_engine *engine;
	struct blk_uring *uring; /* the io_uring engine's state; NULL otherwise */
	struct blk_req *reqs;    /* one slot per possible head (VQ_MAX_SIZE) */
	struct iovec *iov_pool;  /* every slot's iovec array, and the spare */
	struct iovec *spare_iov; /* the array the next vq_pop fills */
	unsigned inflight;       /* slots busy */
	bool pushed;             /* chains pushed since the last notify_used */
	bool writethrough;       /* FLUSH not negotiated: writes are stable at completion */
	bool no_punch_hole;      /* the file system refused FALLOC_FL_PUNCH_HOLE */
	bool no_zero_range;      /* ... and FALLOC_FL_ZERO_RANGE */
	bool io_error_logged;    /* host I/O errors are logged once per device */
	uint64_t t_kick;         /* virtio_clock_ns() when the current notify began */
	unsigned batch_done;     /* requests completed since the last notify_used */
	uint64_t batch_done_ns;  /* the sum of their completion times */
	struct blk_stats stats;
	struct virtio_limiter limiter; /* the drive's rate limiter (none: no limit) */
};

/*
 * Open cfg->path (read-write, or read-only when cfg->read_only) and make b a virtio-blk
 * device for it: vdev.ops, name, features and config_size set, ready for virtio_mmio_add.
 * b is overwritten. cfg->engine picks how requests reach the host: DRIVE_ENGINE_AUTO takes
 * synchronous I/O on the vmm thread for a file in memory (tmpfs, ramfs: no request ever
 * waits for a device there), else io_uring, falling back to synchronous I/O (one warning
 * per process) where io_uring cannot be set up; DRIVE_ENGINE_IO_URING fails instead.
 * Allocates every request slot now: serving requests allocates nothing.
 * Returns 0, or -errno with a message naming the file in err.
 */
int blk_create(struct virtio_blk *b, const struct drive_config *cfg, char *err, size_t errlen);

/* PATCH /drives/{id}'s rate_limiter at run time (vmm thread): the new buckets apply now
 * and a parked queue resumes. */
void blk_set_rate_limiter(struct virtio_blk *b, const struct rate_limiter_config *cfg);
/* Check that cfg->path opens as blk_create would open it (read-write unless read_only)
 * and has a size; nothing is kept open. Returns 0, or -errno with a message naming the
 * file in err. */
int blk_check(const struct drive_config *cfg, char *err, size_t errlen);

/*
 * Firecracker's PATCH /drives after boot: back b with path from now on (opened as the
 * first file was), its size the new capacity, and tell the driver (a configuration change
 * interrupt) so it reads the new size. vmm thread; takes the device lock. The guest should
 * not be using the disk meanwhile (Firecracker's rule): requests already in flight finish
 * on the old file. Returns 0, or -errno with a message in err and nothing changed.
 */
int blk_swap(struct virtio_blk *b, const char *path, char *err, size_t errlen);

/* Complete every request the device has taken from the avail ring (io_uring's in flight):
 * each answer in the used ring, the driver notified, so a snapshot taken now loses none.
 * vmm thread, VM paused; takes the device lock. */
void blk_drain(struct virtio_blk *b);

/* Close what blk_create opened (after virtio_mmio_remove). Safe after a failed create. */
void blk_destroy(struct virtio_blk *b);

#endif
