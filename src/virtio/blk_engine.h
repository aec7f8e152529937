/*
 * Inside virtio-blk: how a parsed request reaches the host. blk.c turns each chain into a
 * slot holding one host operation at a time; an engine runs it (blk_sync.c on the vmm
 * thread, blk_uring.c through io_uring) and hands the result to blk_req_advance(), which
 * either prepares the request's next operation or completes it. Everything here runs with
 * the device's lock held.
 */
#ifndef EMBER_VIRTIO_BLK_ENGINE_H
#define EMBER_VIRTIO_BLK_ENGINE_H

#include "blk.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* Data segments per request (seg_max): a chain may be as long as the queue (virtio 1.2,
 * 2.7.5.3.1), and the header and the status take two. Linux then sends a 1 MiB request of
 * scattered 4 KiB pages as two requests (254 + 2 pages) rather than three (126 + 126 + 4). */
#define BLK_SEG_MAX (VQ_MAX_SIZE - 2)
#define BLK_IOV_MAX (BLK_SEG_MAX + 2) /* and the header and status around them */

/* One host operation. */
enum blk_op {
	BLK_OP_READ,      /* preadv(iov, off): len bytes expected */
	BLK_OP_WRITE,     /* pwritev(iov, off): len bytes expected */
	BLK_OP_SYNC,      /* fdatasync; with drain, after every operation started before it */
	BLK_OP_FALLOCATE, /* fallocate(mode, off, len): 0 expected */
	BLK_OP_ZERO,      /* pwritev of the zero iovec: zero.iov_len bytes at off + done */
};

/* A request in flight: the slot of its head. */
struct blk_req {
	bool busy;
	bool unmap;     /* WRITE_ZEROES with VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
	uint8_t type;   /* VIRTIO_BLK_T_* (the ones with host work) */
	uint8_t tried;  /* BLK_TRIED_*: fallocate modes this request saw refused */
	uint8_t result; /* VIRTIO_BLK_S_* once done */
	uint16_t head;
	uint8_t *status;    /* the status byte in guest RAM */
	uint32_t used_len;  /* bytes written into the guest on success, status included */
	struct iovec *iov;  /* the chain's iovecs (BLK_IOV_MAX), trimmed to the data */
	struct iovec *data; /* the data part of iov */
	unsigned ndata;
	uint64_t off, len; /* bytes on the disk */
	uint64_t done;     /* BLK_OP_ZERO: bytes zeroed so far */
	struct iovec zero; /* BLK_OP_ZERO: this chunk */
	enum blk_op op;    /* the operation to run now */
	int mode;          /* BLK_OP_FALLOCATE */
	bool drain;        /* BLK_OP_SYNC of a FLUSH request */
	uint64_t t_kick;   /* --stats: when the notify that popped it began */
};

struct blk_engine {
	const char *name;
	/* Run r->op: the result (bytes, 0, or -errno) goes to blk_req_advance(), and the
	 * operation it prepares next is run too, until the request completes. The sync engine
	 * does all of it before returning; io_uring queues the operation. */
	void (*start)(struct virtio_blk *b, struct blk_req *r);
	/* The end of a batch of starts (one queue notify): hand them to the host. */
	void (*submit)(struct virtio_blk *b);
	/* The device went live / was reset: reset waits for every operation in flight and
	 * drops its request (blk_req_drop) without writing to guest memory. */
	int (*activate)(struct virtio_blk *b);
	void (*reset)(struct virtio_blk *b);
	/* Wait until every request in flight has completed as usual (the backing file is
	 * about to change: blk_swap). */
	void (*drain)(struct virtio_blk *b);
	/* Release what the engine's init acquired. */
	void (*destroy)(struct virtio_blk *b);
};

extern const struct blk_engine blk_sync_engine;
extern const struct blk_engine blk_uring_engine;

/* Set up io_uring for b (ring, eventfd); b->engine is not changed. Returns 0 or -errno
 * with *what naming the step that failed. */
int blk_uring_init(struct virtio_blk *b, const char **what);

/*
 * r's operation finished with res (bytes transferred, 0, or -errno). Returns true when
 * r->op now holds the request's next operation (a fallback, the next chunk, a sync) for
 * the engine to run; false when the request is complete: its status written and its chain
 * pushed (or dropped, if the device stopped meanwhile) and the slot free again.
 */
bool blk_req_advance(struct virtio_blk *b, struct blk_req *r, int64_t res);

/* The chains completed since the last call were announced (virtio_dev_notify_used now):
 * account their completion-to-notification time. */
void blk_stats_notified(struct virtio_blk *b);

/* Free r's slot without touching guest memory (device reset). */
void blk_req_drop(struct virtio_blk *b, struct blk_req *r);

#endif
