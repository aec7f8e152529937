/* virtio-rng: each writable buffer the driver posts is filled from getrandom(2). */
#include "rng.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

/* Enough for any request Linux makes (it asks for at most a page at a time); a larger
 * buffer is filled only this far, which the used length tells the driver. */
#define RNG_MAX_FILL 65536

static void rng_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len)
{
	(void)vdev, (void)off, (void)data, (void)len; /* no configuration */
}

static int rng_activate(struct virtio_dev *vdev)
{
	return virtio_limiter_watch(&container_of(vdev, struct virtio_rng, vdev)->limiter);
}

static void rng_reset(struct virtio_dev *vdev)
{
	/* Nothing in flight: every request completes inside notify. */
	rl_unblock(&container_of(vdev, struct virtio_rng, vdev)->limiter.rl);
}

/* Fill the chain's writable buffers; returns the bytes written. */
static uint32_t fill(const struct vq_chain *c)
{
	uint32_t done = 0;
	for (unsigned i = c->nout; i < c->nout + c->nin && done < RNG_MAX_FILL; i++) {
		size_t want = c->iov[i].iov_len;
		if (want > RNG_MAX_FILL - done)
			want = RNG_MAX_FILL - done;
		ssize_t n;
		do
			n = getrandom(c->iov[i].iov_base, want, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			break;
		done += (uint32_t)n;
		if ((size_t)n < want)
			break;
	}
	return done;
}

static void rng_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *r = container_of(vdev, struct virtio_rng, vdev);
	struct vq *vq = &vdev->vqs[q];
	struct vq_chain c = {.iov = r->iov, .iov_cap = VQ_MAX_SIZE};
	const char *why;
	int got;
	bool pushed = false;

	if (r->limiter.rl.blocked)
		return; /* parked: the limiter's timer resumes the queue */

	while ((got = vq_pop(vq, &c, &why)) > 0) {
		if (c.nout) {
			virtio_dev_fail(vdev, "a request has a readable buffer");
			return;
		}
		if (!virtio_limiter_admit(&r->limiter,
		                          c.in_bytes < RNG_MAX_FILL ? c.in_bytes : RNG_MAX_FILL)) {
			vq_unpop(vq, 1); /* parked: the limiter's timer resumes */
			break;
		}
		vq_push(vq, c.head, fill(&c));
		pushed = true;
	}
	if (got < 0)
		virtio_dev_fail(vdev, "%s", why);
	if (pushed)
		virtio_dev_notify_used(vdev, q);
}

static const struct virtio_dev_ops rng_ops = {
    .kind = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max_size = VQ_MAX_SIZE,
    .config_read = rng_config_read,
    .activate = rng_activate,
    .reset = rng_reset,
    .notify = rng_notify,
};

static void rng_resume(struct virtio_dev *vdev, struct virtio_limiter *l)
{
	(void)l;
	if (vdev->vqs[0].active)
		rng_notify(vdev, 0);
}

int rng_create(struct virtio_rng *r, const struct rate_limiter_config *rl)
{
	static const struct rate_limiter_config none;
	r->vdev.ops = &rng_ops;
	r->vdev.features = 0;
	r->vdev.config_size = 0;
	snprintf(r->vdev.name, sizeof(r->vdev.name), "virtio-rng");
	return virtio_limiter_init(&r->limiter, &r->vdev, rl ? rl : &none, rng_resume);
}

void rng_destroy(struct virtio_rng *r)
{
	virtio_limiter_destroy(&r->limiter);
}
