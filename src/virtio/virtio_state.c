/* Saving and restoring a virtio-mmio device's transport and queues (virtio_state.h). */
#include "virtio_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void read_config(struct virtio_dev *vdev, uint8_t *out)
{
	for (uint32_t off = 0; off < vdev->config_size; off++)
		vdev->ops->config_read(vdev, off, out + off, 1);
}

int virtio_state_save(struct virtio_dev *vdev, struct virtio_state *st)
{
	memset(st, 0, sizeof(*st));
	if (vdev->config_size > VIRTIO_STATE_CONFIG_MAX)
		return -EINVAL;
	virtio_dev_lock(vdev);
	st->device_id = vdev->ops->device_id;
	st->num_queues = vdev->ops->num_queues;
	st->offered = vdev->features;
	st->driver_features = vdev->driver_features;
	st->status = vdev->status;
	st->device_features_sel = vdev->device_features_sel;
	st->driver_features_sel = vdev->driver_features_sel;
	st->queue_sel = vdev->queue_sel;
	st->config_generation = vdev->config_generation;
	st->interrupt_status = atomic_load(&vdev->interrupt_status);
	st->activated = vdev->activated;
	st->failed = vdev->failed;
	st->config_size = vdev->config_size;
	read_config(vdev, st->config);
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		const struct vq *vq = &vdev->vqs[q];
		st->q[q] = (struct virtio_state_queue){
		    .desc = vq->desc_gpa,
		    .avail = vq->avail_gpa,
		    .used = vq->used_gpa,
		    .size = vq->size,
		    .next_avail = vq->next_avail,
		    .next_used = vq->next_used,
		    .signalled_used = vq->signalled_used,
		    .ready = vq->ready,
		    .active = vq->active,
		    .signalled_valid = vq->signalled_valid,
		};
	}
	virtio_dev_unlock(vdev);
	return 0;
}

#define REFUSE(...)                                                                                \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		r = -EINVAL;                                                                       \
		goto out;                                                                          \
	} while (0)

static int check(struct virtio_dev *vdev, const struct virtio_state *st, char *err, size_t errlen)
{
	int r = 0;
	uint8_t config[VIRTIO_STATE_CONFIG_MAX];
	if (st->device_id != vdev->ops->device_id || st->num_queues != vdev->ops->num_queues)
		REFUSE("%s: the snapshot holds another kind of device there", vdev->name);
	if (st->offered != vdev->features)
		REFUSE("%s offers other features than in the snapshot (0x%llx, was 0x%llx)",
		       vdev->name, (unsigned long long)vdev->features,
		       (unsigned long long)st->offered);
	if (st->config_size != vdev->config_size || st->config_size > VIRTIO_STATE_CONFIG_MAX)
		REFUSE("%s: its configuration is %u bytes, the snapshot's %u", vdev->name,
		       vdev->config_size, st->config_size);
	read_config(vdev, config);
	if (memcmp(config, st->config, st->config_size))
		REFUSE("%s's configuration differs from the snapshot's (a drive's size, a MAC "
		       "address?)",
		       vdev->name);
	if (st->activated > 1 || st->failed > 1 || (st->activated && st->failed))
		REFUSE("%s: the snapshot's device state is inconsistent", vdev->name);
	for (unsigned q = 0; q < st->num_queues; q++)
		if (st->q[q].ready > 1 || st->q[q].active > 1 || st->q[q].signalled_valid > 1 ||
		    (st->q[q].active && !st->q[q].ready))
			REFUSE("%s: the snapshot's queue %u is inconsistent", vdev->name, q);
out:
	return r;
}

int virtio_state_restore(struct virtio_dev *vdev, const struct virtio_state *st, char *err,
                         size_t errlen)
{
	int r;
	virtio_dev_lock(vdev);
	if ((r = check(vdev, st, err, errlen)) < 0)
		goto out;
	vdev->driver_features = st->driver_features;
	vdev->status = st->status;
	vdev->device_features_sel = st->device_features_sel;
	vdev->driver_features_sel = st->driver_features_sel;
	vdev->queue_sel = st->queue_sel;
	vdev->config_generation = st->config_generation;
	atomic_store(&vdev->interrupt_status, st->interrupt_status);
	vdev->failed = st->failed;
	vdev->fail_logged = st->failed;
	bool event_idx = virtio_dev_has(vdev, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_dev_has(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	for (unsigned q = 0; q < st->num_queues; q++) {
		const struct virtio_state_queue *s = &st->q[q];
		struct vq *vq = &vdev->vqs[q];
		vq->desc_gpa = s->desc;
		vq->avail_gpa = s->avail;
		vq->used_gpa = s->used;
		vq->size = s->size;
		vq->ready = s->ready;
		if (!s->active)
			continue;
		const char *why;
		if (vq_activate(vq, vdev->mem, vdev->ops->queue_max_size, event_idx, indirect,
		                &why) < 0)
			REFUSE("%s: the snapshot's queue %u is unusable: %s", vdev->name, q, why);
		vq->next_avail = s->next_avail;
		vq->next_used = s->next_used;
		vq->signalled_used = s->signalled_used;
		vq->signalled_valid = s->signalled_valid;
	}
	if (st->activated) {
		if ((r = vdev->ops->activate(vdev)) < 0) {
			snprintf(err, errlen, "%s: cannot start it again: %s", vdev->name,
			         strerror(-r));
			goto out;
		}
		vdev->activated = true;
		for (unsigned q = 0; q < st->num_queues; q++)
			if (vdev->vqs[q].active)
				virtio_dev_requeue(vdev, q);
		virtio_dev_reraise(vdev);
	}
out:
	virtio_dev_unlock(vdev);
	return r;
}
