/* virtio-blk (virtio 1.2, 5.2) over a raw image file or a block device. */
#ifndef EMBER_VIRTIO_BLK_H
#define EMBER_VIRTIO_BLK_H

#include "../config.h"
#include "virtio.h"

#include <stdbool.h>
#include <stdint.h>

#define BLK_CONFIG_SIZE 60 /* virtio_blk_config up to write_zeroes_may_unmap and its padding */
#define BLK_ID_BYTES    20 /* the GET_ID answer */

struct blk_req;
struct blk_engine;
struct blk_uring;

struct virtio_blk {
	struct virtio_dev vdev;
	/* private: owned by blk.c and its engines (blk_engine.h) */
	int fd;
	bool read_only;
	uint64_t capacity;             /* 512-byte sectors the guest can reach */
	uint8_t config[BLK_CONFIG_SIZE]; /* struct virtio_blk_config, little-endian */
	char id[BLK_ID_BYTES];         /* zero-padded, not terminated when 20 long */
	const struct blk_engine *engine;
	struct blk_uring *uring;       /* the io_uring engine's state; NULL otherwise */
	struct blk_req *reqs;          /* one slot per possible head (VQ_MAX_SIZE) */
	struct iovec *iov_pool;        /* every slot's iovec array, and the spare */
	struct iovec *spare_iov;       /* the array the next vq_pop fills */
	unsigned inflight;             /* slots busy */
	bool pushed;                   /* chains pushed since the last notify_used */
	bool writethrough;             /* FLUSH not negotiated: writes are stable at completion */
	bool no_punch_hole;            /* the file system refused FALLOC_FL_PUNCH_HOLE */
	bool no_zero_range;            /* ... and FALLOC_FL_ZERO_RANGE */
	bool io_error_logged;          /* host I/O errors are logged once per device */
};

/*
 * Open cfg->path (read-write, or read-only when cfg->read_only) and make b a virtio-blk
 * device for it: vdev.ops, name, features and config_size set, ready for virtio_mmio_add.
 * Returns 0, or -errno with a message naming the file in err.
 */
int blk_create(struct virtio_blk *b, const struct drive_config *cfg, char *err, size_t errlen);

/* Close what blk_create opened (after virtio_mmio_remove). Safe after a failed create. */
void blk_destroy(struct virtio_blk *b);

#endif
