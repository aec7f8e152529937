/* What every virtio device shares beyond its transport: state, reset, kicks, interrupts
 * and the one way a device reports a hostile guest. */
#include "virtio.h"
#include "../base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int virtio_dev_init(struct virtio_dev *vdev)
{
	vdev->irq_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->kick_fds[q] = -1;
	vdev->status = 0;
	vdev->failed = false;
	vdev->fail_logged = false;
	atomic_init(&vdev->interrupt_status, 0);
	atomic_init(&vdev->stat_kicks, 0);
	atomic_init(&vdev->stat_interrupts, 0);
	atomic_init(&vdev->stat_failures, 0);
	return -pthread_mutex_init(&vdev->lock, NULL);
}

void virtio_dev_lock(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
}

void virtio_dev_unlock(struct virtio_dev *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
}

bool virtio_dev_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->failed;
}

bool virtio_dev_has(const struct virtio_dev *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features >> bit) & 1;
}

static void raise_irq(struct virtio_dev *vdev, unsigned why)
{
	atomic_fetch_add(&vdev->stat_interrupts, 1);
	atomic_fetch_or(&vdev->interrupt_status, why);
	uint64_t one = 1;
	/* Fails only if the counter would overflow, i.e. the interrupt is pending anyway. */
	if (vdev->irq_fd >= 0)
		(void)!write(vdev->irq_fd, &one, sizeof(one));
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
{
	if (vdev->failed)
		return;
	vdev->failed = true;
	atomic_fetch_add(&vdev->stat_failures, 1);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (!vdev->fail_logged) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		log_err("%s: %s; the device stops until the guest resets it", vdev->name, msg);
		vdev->fail_logged = true;
	}
	raise_irq(vdev, VIRTIO_INT_CONFIG);
}

void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned q)
{
	if (q < vdev->ops->num_queues && vdev->vqs[q].active && vq_needs_interrupt(&vdev->vqs[q]))
		raise_irq(vdev, VIRTIO_INT_VRING);
}

void virtio_dev_requeue(struct virtio_dev *vdev, unsigned q)
{
	uint64_t one = 1;
	if (q < VIRTIO_MAX_QUEUES && vdev->kick_fds[q] >= 0)
		(void)!write(vdev->kick_fds[q], &one, sizeof(one));
}

static void on_kick(void *ctx, uint32_t events)
{
	struct virtio_kick_ctx *k = ctx;
	struct virtio_dev *vdev = k->vdev;
	uint64_t count;
	(void)events;
	if (read(vdev->kick_fds[k->q], &count, sizeof(count)) < 0)
		return; /* EAGAIN: another reader got it */
	atomic_fetch_add(&vdev->stat_kicks, 1);
	virtio_dev_lock(vdev);
	if (virtio_dev_live(vdev) && vdev->vqs[k->q].active)
		vdev->ops->notify(vdev, k->q);
	virtio_dev_unlock(vdev);
}

int virtio_dev_watch_kicks(struct virtio_dev *vdev, struct event_loop *loop)
{
	vdev->loop = loop;
	vdev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vdev->irq_fd < 0)
		return -errno;
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		vdev->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->kick_fds[q] < 0)
			return -errno;
		vdev->kick_ctx[q] = (struct virtio_kick_ctx){vdev, q};
		vdev->kick_handlers[q] = (struct el_handler){on_kick, &vdev->kick_ctx[q]};
		int r = event_loop_add(loop, vdev->kick_fds[q], EPOLLIN, &vdev->kick_handlers[q]);
		if (r)
			return r;
	}
	return 0;
}

void virtio_dev_reset(struct virtio_dev *vdev)
{
	if (vdev->activated)
		vdev->ops->reset(vdev);
	vdev->activated = false;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vq_reset(&vdev->vqs[q]);
	vdev->status = 0;
	vdev->failed = false;
	vdev->fail_logged = false;
	vdev->driver_features = 0;
	vdev->device_features_sel = vdev->driver_features_sel = vdev->queue_sel = 0;
	atomic_store(&vdev->interrupt_status, 0);
}

void virtio_dev_activate(struct virtio_dev *vdev)
{
	bool event_idx = virtio_dev_has(vdev, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_dev_has(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		const char *why;
		struct vq *vq = &vdev->vqs[q];
		if (!vq->ready)
			continue;
		if (vq_activate(vq, vdev->mem, vdev->ops->queue_max_size, event_idx, indirect,
		                &why) < 0) {
			virtio_dev_fail(vdev, "queue %u: %s", q, why);
			return;
		}
	}
	int r = vdev->ops->activate(vdev);
	if (r < 0)
		virtio_dev_fail(vdev, "cannot start: %s", strerror(-r));
	else
		vdev->activated = true;
}

void virtio_dev_release(struct virtio_dev *vdev)
{
	virtio_dev_lock(vdev);
	virtio_dev_reset(vdev);
	virtio_dev_unlock(vdev);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vdev->kick_fds[q] < 0)
			continue;
		if (vdev->loop)
			event_loop_del(vdev->loop, vdev->kick_fds[q]);
		close(vdev->kick_fds[q]);
		vdev->kick_fds[q] = -1;
	}
	if (vdev->irq_fd >= 0)
		close(vdev->irq_fd);
	vdev->irq_fd = -1;
	pthread_mutex_destroy(&vdev->lock);
}
