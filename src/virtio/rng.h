/* virtio-rng (virtio 1.2, 5.4): entropy from getrandom(2). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "virtio.h"

struct virtio_rng {
	struct virtio_dev vdev;
	struct iovec iov[VQ_MAX_SIZE];
};

/* Make r a virtio-rng device, ready for virtio_mmio_add. */
void rng_create(struct virtio_rng *r);

#endif
