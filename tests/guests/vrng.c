/* Reads entropy from virtio-rng twice, 64 bytes each (the second time through an indirect
 * table split in two), and checks that neither read is all zero and that they differ.
 *   vrng: device 0x<base> irq <n>
 *   vrng: got <n> bytes		(twice; 1 <= n <= 64)
 *   vrng: ok
 * A failed check prints "vrng: FAIL <what>" and exits 3; no device: "vrng: no virtio-rng
 * device" and exit 4. */
#include "virtio.h"

#define LEN 64

static struct vio_dev dev;
static struct vio_queue vq;
static u8 a[LEN], b[LEN];

static u32 get(u8 *p, unsigned how)
{
	struct vio_buf bufs[2] = {VIO_BUF(p, LEN / 2, true), VIO_BUF(p + LEN / 2, LEN / 2, true)};
	struct vio_buf whole = VIO_BUF(p, LEN, true);
	u32 len = 0;
	int r = how == VIO_INDIRECT ? vio_request(&vq, bufs, 2, how, &len)
	                            : vio_request(&vq, &whole, 1, how, &len);
	bool zero = true;

	if (r)
		vio_die("vrng: FAIL read: %s", vio_strerror(r));
	if (len == 0 || len > LEN)
		vio_die("vrng: FAIL the device reports %u bytes for a %u-byte buffer", len, LEN);
	for (u32 i = 0; i < len; i++)
		zero &= !p[i];
	if (zero)
		vio_die("vrng: FAIL %u bytes, all zero", len);
	gprintf("vrng: got %u bytes\n", len);
	return len;
}

int main(void)
{
	u32 la, lb;

	if (!vio_find(VIO_ID_RNG, 0, &dev)) {
		gprintf("vrng: no virtio-rng device\n");
		vio_exit(VIO_EXIT_NODEV);
	}
	gprintf("vrng: device 0x%lx irq %u\n", dev.base, dev.irq);
	if (!vio_init(&dev, VIO_F_INDIRECT_DESC | VIO_F_EVENT_IDX, "vrng") ||
	    !vio_queue_setup(&dev, &vq, 0, 8, "vrng") || !vio_driver_ok(&dev, "vrng"))
		vio_exit(VIO_EXIT_FAIL);
	if (!(dev.features & VIO_F_INDIRECT_DESC))
		vio_die("vrng: FAIL INDIRECT_DESC not offered (0x%lx)", dev.offered);

	la = get(a, VIO_DIRECT);
	lb = get(b, VIO_INDIRECT);
	if (!memcmp(a, b, la < lb ? la : lb))
		vio_die("vrng: FAIL two reads returned the same bytes");
	gprintf("vrng: ok\n");
	return 0;
}
