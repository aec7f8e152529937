/* virtio-rng (virtio 1.2, 5.4): entropy from getrandom(2). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "virtio.h"

struct virtio_rng {
	struct virtio_dev vdev;
	struct iovec iov[VQ_MAX_SIZE];
	struct virtio_limiter limiter; /* one op and its bytes per request; none: no limit */
};

/* Make r a virtio-rng device limited by rl (NULL or all zero: no limit), ready for
 * virtio_mmio_add. Returns 0 or -errno (its timer could not be made). */
int rng_create(struct virtio_rng *r, const struct rate_limiter_config *rl);

/* Close the limiter's timer (after virtio_mmio_remove). */
void rng_destroy(struct virtio_rng *r);

#endif
