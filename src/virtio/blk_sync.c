/*
 * virtio-blk's synchronous engine: each request runs to its end on the vmm thread, inside
 * the notify that popped it. The fallback where io_uring cannot be set up.
 */
#include "blk_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

/* Run r->op once: bytes transferred, 0, or -errno. */
static int64_t sync_run(struct virtio_blk *b, struct blk_req *r)
{
	ssize_t n;
	do {
		switch (r->op) {
		case BLK_OP_READ:
			n = preadv(b->fd, r->data, (int)r->ndata, (off_t)r->off);
			break;
		case BLK_OP_WRITE:
			n = pwritev(b->fd, r->data, (int)r->ndata, (off_t)r->off);
			break;
		case BLK_OP_SYNC:
			/* Every earlier request has completed already: nothing to drain. */
			n = fdatasync(b->fd);
			break;
		case BLK_OP_FALLOCATE:
			n = fallocate(b->fd, r->mode, (off_t)r->off, (off_t)r->len);
			break;
		case BLK_OP_ZERO:
			n = pwritev(b->fd, &r->zero, 1, (off_t)(r->off + r->done));
			break;
		default:
			n = -1;
			errno = EINVAL;
			break;
		}
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void sync_start(struct virtio_blk *b, struct blk_req *r)
{
	while (blk_req_advance(b, r, sync_run(b, r)))
		;
}

static void sync_submit(struct virtio_blk *b)
{
	(void)b; /* every request is done by the time notify ends */
}

static int sync_activate(struct virtio_blk *b)
{
	(void)b;
	return 0;
}

static void sync_reset(struct virtio_blk *b)
{
	(void)b; /* nothing is ever in flight between calls */
}

static void sync_drain(struct virtio_blk *b)
{
	(void)b; /* likewise */
}

static void sync_destroy(struct virtio_blk *b)
{
	(void)b;
}

const struct blk_engine blk_sync_engine = {
    .name = "sync",
    .start = sync_start,
    .submit = sync_submit,
    .activate = sync_activate,
    .reset = sync_reset,
    .drain = sync_drain,
    .destroy = sync_destroy,
};
