/* Lists the virtio-mmio devices announced on the command line, in order, and checks what
 * every Ember device shares: version 2, VERSION_1, INDIRECT_DESC and EVENT_IDX offered,
 * queue 0 of QueueNumMax 256, a status of 0 before any driver touched it.
 *   vlist: 0x<base> irq <n> id <device id> version <v> qmax <n> features 0x<offered>
 *   vlist: <n> devices
 * A failed check prints "vlist: FAIL <what>" and exits 3. */
#include "virtio.h"

#define TRANSPORT_FEATURES (VIO_F_VERSION_1 | VIO_F_INDIRECT_DESC | VIO_F_EVENT_IDX)

static struct vio_dev devs[32];

int main(void)
{
	unsigned n = vio_scan(devs, 32);

	for (unsigned i = 0; i < n; i++) {
		struct vio_dev *d = &devs[i];
		u64 features;
		u32 qmax, st = vio_status(d);

		vio_write(d, VIO_DEVICE_FEAT_SEL, 0);
		features = vio_read(d, VIO_DEVICE_FEATURES);
		vio_write(d, VIO_DEVICE_FEAT_SEL, 1);
		features |= (u64)vio_read(d, VIO_DEVICE_FEATURES) << 32;
		vio_write(d, VIO_QUEUE_SEL, 0);
		qmax = vio_read(d, VIO_QUEUE_NUM_MAX);
		gprintf("vlist: 0x%lx irq %u id %u version %u qmax %u features 0x%lx\n", d->base,
		        d->irq, d->device_id, d->version, qmax, features);
		if (d->version != 2)
			vio_die("vlist: FAIL 0x%lx: version %u, not 2", d->base, d->version);
		if ((features & TRANSPORT_FEATURES) != TRANSPORT_FEATURES)
			vio_die("vlist: FAIL 0x%lx: VERSION_1, INDIRECT_DESC or EVENT_IDX missing",
			        d->base);
		if (qmax != VIO_QSIZE_MAX)
			vio_die("vlist: FAIL 0x%lx: QueueNumMax %u, not %u", d->base, qmax,
			        (unsigned)VIO_QSIZE_MAX);
		if (st != 0)
			vio_die("vlist: FAIL 0x%lx: status 0x%x before any driver", d->base, st);
	}
	gprintf("vlist: %u devices\n", n);
	return 0;
}
