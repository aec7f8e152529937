/* virtio-vsock (virtio 1.2, 5.10) with Firecracker's host side: Unix sockets. */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include "../config.h"
#include "virtio.h"

struct virtio_vsock {
	struct virtio_dev vdev;
	/* private: owned by vsock.c */
};

/*
 * Make v a virtio-vsock device with guest CID cfg->guest_cid, listening on the Unix socket
 * cfg->uds_path for host-initiated connections, ready for virtio_mmio_add. Returns 0, or
 * -errno with a message in err (the path in use, too long, ...).
 */
int vsock_create(struct virtio_vsock *v, const struct vsock_config *cfg, char *err,
                 size_t errlen);

/* Close every connection and the listening socket, and unlink it (after
 * virtio_mmio_remove). Safe after a failed create. */
void vsock_destroy(struct virtio_vsock *v);

#endif
