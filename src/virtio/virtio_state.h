/*
 * Snapshots of virtio devices: the virtio-mmio transport's registers, every queue's
 * layout and indexes, the features offered and the configuration space. Saved with the
 * VM paused (no vCPU touches the registers); restored into a device just placed on the
 * bus (virtio_mmio_add), before any vCPU runs.
 */
#ifndef EMBER_VIRTIO_STATE_H
#define EMBER_VIRTIO_STATE_H

#include "virtio.h"

#define VIRTIO_STATE_CONFIG_MAX 256

struct virtio_state_queue {
	uint64_t desc, avail, used;
	uint16_t size, next_avail, next_used, signalled_used;
	uint8_t ready, active, signalled_valid, pad[5];
};

struct virtio_state {
	uint32_t device_id, num_queues;
	uint64_t offered;         /* the device's own feature bits, as it offered them */
	uint64_t driver_features; /* what the driver accepted */
	uint32_t status, device_features_sel, driver_features_sel, queue_sel;
	uint32_t config_generation, interrupt_status;
	uint8_t activated, failed, pad[2];
	uint32_t config_size;
	uint8_t config[VIRTIO_STATE_CONFIG_MAX];
	struct virtio_state_queue q[VIRTIO_MAX_QUEUES];
};

/* Capture vdev (taking its lock). Returns 0, or -EINVAL if its configuration is larger
 * than VIRTIO_STATE_CONFIG_MAX. */
int virtio_state_save(struct virtio_dev *vdev, struct virtio_state *st);

/*
 * Put st into vdev: the same device (id, queue count, features offered and configuration
 * bytes, so a drive whose size changed is refused), then the registers and queues; a
 * device the driver had started is activated again with its queues' indexes where they
 * were, and every active queue is looked at once more (a kick in flight at the snapshot
 * is not lost). Returns 0, or -EINVAL / the device's activate error with a message.
 */
int virtio_state_restore(struct virtio_dev *vdev, const struct virtio_state *st, char *err,
                         size_t errlen);

#endif
