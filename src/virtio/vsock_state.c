/* virtio-vsock after a restore: the guest is told its transport was reset, as Firecracker
 * does, since no host-side connection outlived the snapshot. */
#include "vsock_impl.h"

#include <errno.h>
#include <string.h>

#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0

int vsock_transport_reset(struct virtio_vsock *v)
{
	struct virtio_dev *vdev = &v->vdev;
	struct iovec iov[4];
	struct vq_chain c = {.iov = iov, .iov_cap = 4};
	const char *why;
	int r = 0;
	virtio_dev_lock(vdev);
	struct vq *evq = &vdev->vqs[VSOCK_EVQ];
	if (!virtio_dev_live(vdev) || !evq->active)
		goto out; /* no driver yet: it will start from a clean transport anyway */
	r = vq_pop(evq, &c, &why);
	if (r < 0) {
		virtio_dev_fail(vdev, "event queue: %s", why);
		goto out;
	}
	if (r == 0 || c.nin == 0 || iov[c.nout].iov_len < 4) {
		if (r == 1)
			vq_unpop(evq, 1);
		r = -ENOSPC; /* the driver left no event buffer */
		goto out;
	}
	uint32_t id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET;
	memcpy(iov[c.nout].iov_base, &id, sizeof(id));
	vq_push(evq, c.head, sizeof(id));
	virtio_dev_notify_used(vdev, VSOCK_EVQ);
	r = 0;
out:
	virtio_dev_unlock(vdev);
	return r;
}
