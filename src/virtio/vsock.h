/*
 * virtio-vsock (virtio 1.2, 5.10) with Firecracker's host side: Unix sockets.
 *
 * Host-initiated: a host process connects to uds_path and writes "CONNECT <port>\n"; Ember
 * asks the guest for a connection to that port and, once the guest accepts, writes
 * "OK <host_port>\n" and relays bytes both ways (a refusal closes the Unix connection).
 * Guest-initiated: a connection to CID 2 port P becomes a connection to the Unix socket
 * "<uds_path>_<P>"; the guest gets RST if nothing listens there.
 *
 * Everything runs on the vmm thread under the device lock: the listening socket and every
 * connection's socket are non-blocking and watched on vdev.loop from activate to reset.
 * Up to VSOCK_MAX_CONNS connections at a time, each with a buffer for guest bytes the host
 * side cannot take yet; all of it is allocated by vsock_create.
 */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include "../base/config.h"
#include "virtio.h"

#define VSOCK_MAX_CONNS 256

struct vsock_state;

struct virtio_vsock {
	struct virtio_dev vdev;
	/* private: owned by vsock.c, vsock_conn.c and vsock_host.c (vsock_impl.h) */
	struct vsock_state *st; /* NULL until vsock_create succeeds */
};

/*
 * Make v a virtio-vsock device with guest CID cfg->guest_cid, listening on the Unix socket
 * cfg->uds_path for host-initiated connections, ready for virtio_mmio_add. Returns 0, or
 * -errno with a message in err (the path in use, too long, ...).
 */
int vsock_create(struct virtio_vsock *v, const struct vsock_config *cfg, char *err, size_t errlen);

/* Close every connection and the listening socket, and unlink it (after
 * virtio_mmio_remove). Safe after a failed create. */
void vsock_destroy(struct virtio_vsock *v);

/* After a restore (vsock_state.c): send the guest a TRANSPORT_RESET event, so it drops the
 * connections it had. Returns 0 (also when the driver is not started), -ENOSPC if it left
 * no event buffer. */
int vsock_transport_reset(struct virtio_vsock *v);

#endif
