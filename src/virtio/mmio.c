/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2): one 4 KiB register window per
 * device. Register accesses arrive on vCPU threads, which only record state: activation
 * and reset go to the vmm thread (virtio_dev_request) and the vCPU waits for them. Kicks
 * bypass the registers through a KVM_IOEVENTFD on QueueNotify, interrupts leave through a
 * KVM_IRQFD.
 */
#include "virtio.h"
#include "../base/log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAGIC  0x74726976 /* "virt" */
#define VENDOR 0x524d4245 /* "EBMR" read as bytes: Ember's own vendor id */

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = VIRTIO_MMIO_QUEUE_NOTIFY,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_LEN_LOW = 0x0b0,
	REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8,
	REG_SHM_BASE_HIGH = 0x0bc,
	REG_CONFIG_GENERATION = 0x0fc,
};

static uint64_t offered_features(const struct virtio_dev *vdev)
{
	return vdev->features | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_EVENT_IDX |
	       1ULL << VIRTIO_RING_F_INDIRECT_DESC;
}

/* The selected queue, or NULL when QueueSel names none. */
static struct vq *selected_queue(struct virtio_dev *vdev)
{
	return vdev->queue_sel < vdev->ops->num_queues ? &vdev->vqs[vdev->queue_sel] : NULL;
}

static uint32_t read_register(struct virtio_dev *vdev, uint64_t off)
{
	struct vq *vq = selected_queue(vdev);
	uint64_t features = offered_features(vdev);

	switch (off) {
	case REG_MAGIC:
		return MAGIC;
	case REG_VERSION:
		return 2;
	case REG_DEVICE_ID:
		return vdev->ops->device_id;
	case REG_VENDOR_ID:
		return VENDOR;
	case REG_DEVICE_FEATURES:
		return vdev->device_features_sel == 0   ? (uint32_t)features
		       : vdev->device_features_sel == 1 ? (uint32_t)(features >> 32)
		                                        : 0;
	case REG_QUEUE_NUM_MAX:
		return vq ? vdev->ops->queue_max_size : 0;
	case REG_QUEUE_READY:
		return vq ? vq->ready : 0;
	case REG_INTERRUPT_STATUS:
		return atomic_load(&vdev->interrupt_status);
	case REG_STATUS:
		return vdev->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
	case REG_SHM_BASE_LOW:
	case REG_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return vdev->config_generation;
	default:
		return 0; /* write-only and reserved registers read as zero */
	}
}

static void set_half(uint64_t *v, bool high, uint32_t half)
{
	*v = high ? (*v & 0xffffffffULL) | (uint64_t)half << 32 : (*v & ~0xffffffffULL) | half;
}

/* Returns the ticket of the work handed to the vmm thread, or 0 when there is none. */
static uint64_t write_status(struct virtio_dev *vdev, uint32_t v)
{
	uint32_t old = vdev->status;
	/* The device is being reset: the writer waits for that, and nothing changes. */
	if (vdev->work == VIRTIO_WORK_RESET)
		return vdev->work_asked;
	if (v == 0) {
		/* Never activated, nothing pending: the reset only clears memory, so do it
		 * here (Linux resets every device as it probes it). */
		if (!vdev->activated && vdev->work == VIRTIO_WORK_NONE) {
			virtio_dev_reset(vdev);
			return 0;
		}
		/* Status reads stay non-zero until the vmm thread has reset the device, as
		 * virtio 1.2, 2.4 (device reset) allows; the writer does not run on until then. */
		return virtio_dev_request(vdev, VIRTIO_WORK_RESET);
	}
	/* Bits are only ever added, in the order of 3.1.1; the device's own NEEDS_RESET
	 * stays until reset. */
	v |= old;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t accepted = vdev->driver_features;
		if ((accepted & ~offered_features(vdev)) ||
		    !(accepted & 1ULL << VIRTIO_F_VERSION_1))
			v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK; /* the driver sees it refused */
	}
	vdev->status = v;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK))
			virtio_dev_fail(vdev, "DRIVER_OK without FEATURES_OK");
		else if (!vdev->failed)
			return virtio_dev_request(vdev, VIRTIO_WORK_ACTIVATE);
	}
	return 0;
}

/* Returns the ticket of work handed to the vmm thread (write_status), or 0. */
static uint64_t write_register(struct virtio_dev *vdev, uint64_t off, uint32_t v)
{
	struct vq *vq = selected_queue(vdev);
	/* A queue's layout may change only while it is not in use. */
	struct vq *idle = vq && !vq->ready ? vq : NULL;
	bool negotiating = !(vdev->status & VIRTIO_STATUS_FEATURES_OK);

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		vdev->device_features_sel = v;
		break;
	case REG_DRIVER_FEATURES:
		if (negotiating && vdev->driver_features_sel < 2)
			set_half(&vdev->driver_features, vdev->driver_features_sel == 1, v);
		break;
	case REG_DRIVER_FEATURES_SEL:
		vdev->driver_features_sel = v;
		break;
	case REG_QUEUE_SEL:
		vdev->queue_sel = v;
		break;
	case REG_QUEUE_NUM:
		if (idle)
			idle->size = v > 0xffff ? 0 : (uint16_t)v; /* checked when it goes live */
		break;
	case REG_QUEUE_READY:
		if (!vq || (v & 1) == vq->ready)
			break;
		if (!(v & 1)) {
			/* Without VIRTIO_F_RING_RESET a live queue cannot be taken back. */
			if (!vdev->activated)
				vq->ready = false;
			break;
		}
		vq->ready = true;
		if (vdev->activated && !vdev->failed) {
			const char *why;
			if (vq_activate(vq, vdev->mem, vdev->ops->queue_max_size,
			                virtio_dev_has(vdev, VIRTIO_RING_F_EVENT_IDX),
			                virtio_dev_has(vdev, VIRTIO_RING_F_INDIRECT_DESC),
			                &why) < 0)
				virtio_dev_fail(vdev, "queue %u: %s", vdev->queue_sel, why);
		}
		break;
	case REG_QUEUE_NOTIFY:
		/* Normally caught by the ioeventfd; a write that missed it lands here. */
		if (v < vdev->ops->num_queues)
			virtio_dev_requeue(vdev, v);
		break;
	case REG_INTERRUPT_ACK:
		atomic_fetch_and(&vdev->interrupt_status, ~v);
		break;
	case REG_STATUS:
		return write_status(vdev, v);
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		if (idle)
			set_half(&idle->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		if (idle)
			set_half(&idle->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (idle)
			set_half(&idle->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		break; /* read-only and reserved registers ignore writes */
	}
	return 0;
}

static bool config_range_ok(const struct virtio_dev *vdev, uint64_t off, unsigned len)
{
	return off >= VIRTIO_MMIO_CONFIG && off - VIRTIO_MMIO_CONFIG + len <= vdev->config_size;
}

static void mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned len)
{
	struct virtio_dev *vdev = dev;
	memset(data, 0, len);
	atomic_fetch_add(&vdev->stat_exits, 1);
	virtio_dev_lock(vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (config_range_ok(vdev, off, len))
			vdev->ops->config_read(vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data,
			                       len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = read_register(vdev, off);
		memcpy(data, &v, 4);
	}
	virtio_dev_unlock(vdev);
}

static void mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned len)
{
	struct virtio_dev *vdev = dev;
	uint64_t ticket = 0;
	atomic_fetch_add(&vdev->stat_exits, 1);
	virtio_dev_lock(vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (config_range_ok(vdev, off, len) && vdev->ops->config_write) {
			vdev->ops->config_write(vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data,
			                        len);
			vdev->config_generation++;
		}
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		memcpy(&v, data, 4);
		ticket = write_register(vdev, off, v);
	}
	virtio_dev_unlock(vdev);
	/* The guest must not run on until the device is what it wrote (Linux re-initialises
	 * right after writing 0, and ORs new bits into the Status it reads back). */
	if (ticket)
		virtio_dev_await(vdev, ticket);
}

const struct bus_ops virtio_mmio_bus_ops = {.read = mmio_read, .write = mmio_write};

static int assign_kvm_fds(int vm_fd, struct virtio_dev *vdev, bool deassign)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)vdev->irq_fd, .gsi = vdev->gsi};
	if (deassign)
		irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0 && !deassign)
		return -errno;
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		struct kvm_ioeventfd io = {
		    .datamatch = q,
		    .addr = vdev->base + REG_QUEUE_NOTIFY,
		    .len = 4,
		    .fd = vdev->kick_fds[q],
		    .flags =
		        KVM_IOEVENTFD_FLAG_DATAMATCH | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
		};
		if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0 && !deassign)
			return -errno;
	}
	return 0;
}

int virtio_mmio_add(const struct virtio_host *host, struct virtio_dev *vdev, uint64_t base,
                    unsigned gsi, char *err, size_t errlen)
{
	int r = virtio_dev_init(vdev);
	if (r) {
		snprintf(err, errlen, "%s: %s", vdev->name, strerror(-r));
		return r;
	}
	vdev->mem = host->mem;
	vdev->wait_ops = host->wait_ops;
	vdev->wait_ctx = host->wait_ctx;
	vdev->base = base;
	vdev->gsi = gsi;
	if ((r = virtio_dev_watch_kicks(vdev, host->loop)) < 0) {
		snprintf(err, errlen, "%s: cannot create its eventfds: %s", vdev->name,
		         strerror(-r));
		goto fail;
	}
	if ((r = assign_kvm_fds(host->vm_fd, vdev, false)) < 0) {
		snprintf(err, errlen, "%s: KVM_IRQFD/KVM_IOEVENTFD: %s", vdev->name, strerror(-r));
		assign_kvm_fds(host->vm_fd, vdev, true);
		goto fail;
	}
	if ((r = bus_add(host->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, vdev,
	                 vdev->name))) {
		snprintf(err, errlen, "cannot place %s at 0x%llx: %s", vdev->name,
		         (unsigned long long)base, strerror(-r));
		assign_kvm_fds(host->vm_fd, vdev, true);
		goto fail;
	}
	return 0;
fail:
	virtio_dev_release(vdev);
	return r;
}

void virtio_mmio_remove(const struct virtio_host *host, struct virtio_dev *vdev)
{
	if (host->vm_fd >= 0)
		assign_kvm_fds(host->vm_fd, vdev, true);
	virtio_dev_release(vdev);
}
