/*
 * virtio-blk's io_uring engine: each host operation is one SQE, submitted once per queue
 * notify; completions raise an eventfd the vmm thread watches, and are reaped there under
 * the device lock. Buffered I/O: the guest sees the host's page cache, and FLUSH syncs it.
 */
#include "blk_engine.h"
#include "../base/log.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One SQE per request in flight at most, and a request per head. The completion queue is
 * twice this, so it cannot overflow. */
#define BLK_RING_ENTRIES VQ_MAX_SIZE

struct blk_uring {
	struct io_uring ring;
	int efd;      /* registered with the ring: written on every completion */
	bool watched; /* efd is on the device's event loop */
	bool submit_error_logged;
	struct el_handler handler;
};

/* Hand what is queued to the kernel. A refused submit leaves the SQEs queued; the next
 * notify, completion or reset submits them again. */
static void uring_send(struct virtio_blk *b)
{
	struct blk_uring *u = b->uring;
	int r;

	if (!io_uring_sq_ready(&u->ring))
		return;
	b->stats.submits++;
	do
		r = io_uring_submit(&u->ring);
	while (r == -EINTR);
	b->stats.inline_cqes += io_uring_cq_ready(&u->ring);
	if (r < 0 && !u->submit_error_logged) {
		u->submit_error_logged = true;
		log_warn("%s: io_uring submit failed: %s; requests wait for the next one",
		         b->vdev.name, strerror(-r));
	}
}

static void uring_reap(struct virtio_blk *b);

/* Send the batch, then take what the kernel completed while submitting it (data in the
 * page cache of a file system io_uring reads without blocking): those requests go back
 * to the guest in this same pass, under one interrupt, with no trip through the eventfd
 * and the loop. Bounded: a request has a few operations at most. */
static void uring_submit(struct virtio_blk *b)
{
	uring_send(b);
	for (unsigned i = 0; i < 4 && io_uring_cq_ready(&b->uring->ring); i++) {
		uring_reap(b);
		uring_send(b);
	}
}

static void uring_start(struct virtio_blk *b, struct blk_req *r)
{
	struct io_uring *ring = &b->uring->ring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		uring_send(b); /* the queue is full: send the batch so far */
		sqe = io_uring_get_sqe(ring);
	}
	if (!sqe) {
		/* Cannot happen with one SQE per head; fail the request rather than lose it
		 * (an error always completes it). */
		(void)blk_req_advance(b, r, -EBUSY);
		return;
	}
	switch (r->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, b->fd, r->data, r->ndata, r->off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, b->fd, r->data, r->ndata, r->off);
		break;
	case BLK_OP_SYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		/* A FLUSH starts only when every SQE submitted before it has completed. */
		if (r->drain)
			io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
		break;
	case BLK_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, b->fd, r->mode, (off_t)r->off, (off_t)r->len);
		break;
	case BLK_OP_ZERO:
		io_uring_prep_writev(sqe, b->fd, &r->zero, 1, r->off + r->done);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
}

/* Take every completion: finish its request, or start the request's next operation. */
static void uring_reap(struct virtio_blk *b)
{
	struct io_uring *ring = &b->uring->ring;
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int64_t res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		if (blk_req_advance(b, r, res))
			uring_start(b, r);
	}
}

static void uring_event(void *ctx, uint32_t events)
{
	struct virtio_blk *b = ctx;
	uint64_t count;
	(void)events;

	/* Read first: a completion after this raises the eventfd again. */
	if (read(b->uring->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	virtio_dev_lock(&b->vdev);
	b->stats.events++;
	uring_reap(b);
	uring_submit(b);
	if (b->pushed) {
		b->pushed = false;
		virtio_dev_notify_used(&b->vdev, 0);
		blk_stats_notified(b);
	}
	virtio_dev_unlock(&b->vdev);
}

static int uring_activate(struct virtio_blk *b)
{
	struct blk_uring *u = b->uring;
	uint64_t count;

	if (read(u->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return -errno; /* a count left from before the last reset is stale */
	int r = event_loop_add(b->vdev.loop, u->efd, EPOLLIN, &u->handler);
	if (r)
		return r;
	u->watched = true;
	return 0;
}

/* Wait until no request is in flight: each completes as usual (complete: its answer goes to
 * the guest, and a next operation starts), or is dropped (a reset). */
static void uring_wait_all(struct virtio_blk *b, bool complete)
{
	struct blk_uring *u = b->uring;
	/* A queued SQE never completes unless submitted. */
	uring_send(b);
	while (b->inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			/* Only a broken ring gets here; the requests cannot be waited for. */
			log_err("%s: cannot wait for %u requests in flight: %s", b->vdev.name,
			        b->inflight, strerror(-r));
			break;
		}
		if (complete) {
			uring_reap(b);
			uring_send(b);
			continue;
		}
		blk_req_drop(b, io_uring_cqe_get_data(cqe));
		io_uring_cqe_seen(&u->ring, cqe);
	}
}

static void uring_drain(struct virtio_blk *b)
{
	uring_wait_all(b, true);
}

static void uring_reset(struct virtio_blk *b)
{
	struct blk_uring *u = b->uring;

	if (u->watched) {
		event_loop_del(b->vdev.loop, u->efd);
		u->watched = false;
	}
	uring_wait_all(b, false);
}

static void uring_destroy(struct virtio_blk *b)
{
	struct blk_uring *u = b->uring;
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
	b->uring = NULL;
}

/* The ring may only read, write, flush and allocate (what uring_start submits): io_uring's
 * requests bypass seccomp, so a ring that could open, connect or send would undo it. The
 * system call itself: Debian's shared liburing 2.3 does not export its wrappers. */
static int uring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[] = {
	    {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV},
	    {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV},
	    {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC},
	    {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FALLOCATE},
	    {.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_IO_DRAIN},
	};
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
	            sizeof(res) / sizeof(res[0])) < 0 ||
	    syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) <
	        0)
		return -errno;
	return 0;
}

int blk_uring_init(struct virtio_blk *b, const char **what)
{
	struct blk_uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u) {
		*what = "allocation";
		return -ENOMEM;
	}
	r = io_uring_queue_init(BLK_RING_ENTRIES, &u->ring, IORING_SETUP_R_DISABLED);
	if (r < 0) {
		*what = "io_uring_queue_init";
		free(u);
		return r;
	}
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0) {
		r = -errno;
		*what = "eventfd";
		goto fail;
	}
	r = io_uring_register_eventfd(&u->ring, u->efd);
	if (r < 0) {
		*what = "io_uring_register_eventfd";
		goto fail;
	}
	r = uring_restrict(&u->ring);
	if (r < 0) {
		*what = "IORING_REGISTER_RESTRICTIONS";
		goto fail;
	}
	u->handler = (struct el_handler){uring_event, b};
	b->uring = u;
	return 0;

fail:
	if (u->efd >= 0)
		close(u->efd);
	io_uring_queue_exit(&u->ring);
	free(u);
	return r;
}

const struct blk_engine blk_uring_engine = {
    .name = "io_uring",
    .start = uring_start,
    .submit = uring_submit,
    .activate = uring_activate,
    .reset = uring_reset,
    .drain = uring_drain,
    .destroy = uring_destroy,
};
