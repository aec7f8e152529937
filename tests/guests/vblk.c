/* Drives a virtio-blk disk through guests/virtio.c. The test fills the image so that each
 * 512-byte sector s reads "ember sector %06u" (s) then 'Z' up to 512 bytes.
 * Options: vblk.index=N (the Nth block device, default 0), vblk.mode=rw|ro (default rw),
 * vblk.write=S (the sector written, default 5), vblk.hold=1 (rw: once the write is flushed
 * and read back, print "vblk: holding" and spin forever, for the test to kill the monitor).
 * Markers, in order:
 *   vblk: device 0x<base> irq <n>
 *   vblk: capacity <sectors> sectors
 *   vblk: sector 0 ok / vblk: sector <last> ok
 *   vblk: 16 sectors in 8 segments ok / vblk: 4 sectors indirect ok
 *   vblk: id <GET_ID string>
 *   vblk: past the end ioerr ok / vblk: unknown type unsupp ok
 *   rw: vblk: wrote sector S / vblk: flush ok / vblk: read back sector S ok
 *       (sector S then reads "vblk wrote %06u" (S) then 'W' up to 512 bytes)
 *   ro: vblk: read-only / vblk: write refused ioerr / vblk: sector S unchanged
 *   vblk: ok
 * A failed check prints "vblk: FAIL <what>" and exits 3; no disk exits 4. */
#include "virtio.h"

#define SECTOR VIO_BLK_SECTOR

static struct vio_dev dev;
static struct vio_queue vq;
static u8 buf[16 * SECTOR] __attribute__((aligned(SECTOR)));
static char id[VIO_BLK_ID_LEN + 1];

/* What the test wrote into sector s ('Z'), or what this guest writes there ('W'). */
static void fill(u8 *p, u64 s, bool ours)
{
	int n =
	    fmt_snprintf((char *)p, SECTOR, ours ? "vblk wrote %06lu" : "ember sector %06lu", s);

	memset(p + n, ours ? 'W' : 'Z', SECTOR - (size_t)n);
}

static void expect_sectors(const u8 *p, u64 first, unsigned count, bool ours, const char *what)
{
	static u8 want[SECTOR];

	for (unsigned i = 0; i < count; i++) {
		fill(want, first + i, ours);
		if (memcmp(p + i * SECTOR, want, SECTOR))
			vio_die("vblk: FAIL %s: sector %lu reads '%c%c%c%c...', not the pattern",
			        what, first + i, p[i * SECTOR], p[i * SECTOR + 1],
			        p[i * SECTOR + 2], p[i * SECTOR + 3]);
	}
}

/* A request that must succeed; data bytes plus the status byte must be reported used. */
static void ok_request(u32 type, u64 sector, u32 len, unsigned segs, unsigned how, const char *what)
{
	u32 used;
	int st = vio_blk(&vq, type, sector, buf, len, segs, how, &used);

	if (st < 0)
		vio_die("vblk: FAIL %s: %s", what, vio_strerror(st));
	if (st != VIO_BLK_S_OK)
		vio_die("vblk: FAIL %s: status %d", what, st);
	if (type == VIO_BLK_T_IN && used != len + 1)
		vio_die("vblk: FAIL %s: used length %u, expected %u", what, used, len + 1);
}

static void expect_status(int want, u32 type, u64 sector, u32 len, const char *what)
{
	int st = vio_blk(&vq, type, sector, buf, len, 1, VIO_DIRECT, NULL);

	if (st < 0)
		vio_die("vblk: FAIL %s: %s", what, vio_strerror(st));
	if (st != want)
		vio_die("vblk: FAIL %s: status %d, expected %d", what, st, want);
}

int main(void)
{
	u64 index = 0, wsector = 5, cap;
	bool ro = cmdline_has(boot.cmdline, "vblk.mode", "ro");

	cmdline_get_u64(boot.cmdline, "vblk.index", &index);
	cmdline_get_u64(boot.cmdline, "vblk.write", &wsector);
	if (!vio_find(VIO_ID_BLOCK, (unsigned)index, &dev)) {
		gprintf("vblk: no virtio-blk device %lu\n", index);
		vio_exit(VIO_EXIT_NODEV);
	}
	gprintf("vblk: device 0x%lx irq %u\n", dev.base, dev.irq);
	if (!vio_init(&dev, VIO_BLK_F_RO | VIO_BLK_F_FLUSH | VIO_F_INDIRECT_DESC | VIO_F_EVENT_IDX,
	              "vblk") ||
	    !vio_queue_setup(&dev, &vq, 0, 64, "vblk") || !vio_driver_ok(&dev, "vblk"))
		vio_exit(VIO_EXIT_FAIL);
	if (!(dev.features & VIO_F_INDIRECT_DESC) || !(dev.features & VIO_F_EVENT_IDX))
		vio_die("vblk: FAIL INDIRECT_DESC and EVENT_IDX not offered (0x%lx)", dev.offered);

	cap = vio_config64(&dev, 0);
	gprintf("vblk: capacity %lu sectors\n", cap);
	if (cap < 16 || wsector >= cap)
		vio_die("vblk: FAIL the disk needs 16 sectors and sector %lu", wsector);

	ok_request(VIO_BLK_T_IN, 0, SECTOR, 1, VIO_DIRECT, "read sector 0");
	expect_sectors(buf, 0, 1, false, "read sector 0");
	gprintf("vblk: sector 0 ok\n");
	ok_request(VIO_BLK_T_IN, cap - 1, SECTOR, 1, VIO_DIRECT, "read the last sector");
	expect_sectors(buf, cap - 1, 1, false, "read the last sector");
	gprintf("vblk: sector %lu ok\n", cap - 1);
	/* One request, its data spread over several descriptors: the device must gather. */
	ok_request(VIO_BLK_T_IN, 0, 16 * SECTOR, 8, VIO_DIRECT, "read 16 sectors");
	expect_sectors(buf, 0, 16, false, "read 16 sectors");
	gprintf("vblk: 16 sectors in 8 segments ok\n");
	memset(buf, 0, sizeof(buf));
	ok_request(VIO_BLK_T_IN, 4, 4 * SECTOR, 4, VIO_INDIRECT, "read 4 sectors indirect");
	expect_sectors(buf, 4, 4, false, "read 4 sectors indirect");
	gprintf("vblk: 4 sectors indirect ok\n");

	memset(buf, 0, VIO_BLK_ID_LEN);
	ok_request(VIO_BLK_T_GET_ID, 0, VIO_BLK_ID_LEN, 1, VIO_DIRECT, "GET_ID");
	memcpy(id, buf, VIO_BLK_ID_LEN);
	gprintf("vblk: id %s\n", id);

	/* Errors the device answers without stopping. */
	expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_IN, cap, SECTOR, "read at the capacity");
	expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_IN, cap - 1, 2 * SECTOR, "read across the end");
	/* Sectors whose byte offset, or offset plus length, wraps past 2^64. */
	expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_IN, ~0ULL >> 9, SECTOR, "read at 2^55 - 1");
	expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_IN, 1ULL << 55, SECTOR, "read at 2^55");
	expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_IN, ~0ULL, SECTOR, "read at 2^64 - 1");
	gprintf("vblk: past the end ioerr ok\n");
	expect_status(VIO_BLK_S_UNSUPP, 0x7f, 0, 0, "request type 0x7f");
	gprintf("vblk: unknown type unsupp ok\n");

	if (ro) {
		if (!(dev.features & VIO_BLK_F_RO))
			vio_die("vblk: FAIL mode ro, but the device does not offer RO");
		gprintf("vblk: read-only\n");
		fill(buf, wsector, true);
		expect_status(VIO_BLK_S_IOERR, VIO_BLK_T_OUT, wsector, SECTOR, "write read-only");
		gprintf("vblk: write refused ioerr\n");
		ok_request(VIO_BLK_T_IN, wsector, SECTOR, 1, VIO_DIRECT, "read sector again");
		expect_sectors(buf, wsector, 1, false, "read sector again");
		gprintf("vblk: sector %lu unchanged\n", wsector);
	} else {
		if (dev.features & VIO_BLK_F_RO)
			vio_die("vblk: FAIL mode rw, but the device offers RO");
		fill(buf, wsector, true);
		ok_request(VIO_BLK_T_OUT, wsector, SECTOR, 1, VIO_DIRECT, "write");
		gprintf("vblk: wrote sector %lu\n", wsector);
		if (!(dev.features & VIO_BLK_F_FLUSH))
			vio_die("vblk: FAIL the device does not offer FLUSH");
		ok_request(VIO_BLK_T_FLUSH, 0, 0, 1, VIO_DIRECT, "flush");
		gprintf("vblk: flush ok\n");
		memset(buf, 0, SECTOR);
		ok_request(VIO_BLK_T_IN, wsector, SECTOR, 1, VIO_DIRECT, "read back");
		expect_sectors(buf, wsector, 1, true, "read back");
		gprintf("vblk: read back sector %lu ok\n", wsector);
		if (cmdline_has(boot.cmdline, "vblk.hold", "1")) {
			gprintf("vblk: holding\n");
			for (;;)
				cpu_relax();
		}
	}

	if (vio_status(&dev) !=
	    (VIO_S_ACKNOWLEDGE | VIO_S_DRIVER | VIO_S_FEATURES_OK | VIO_S_DRIVER_OK))
		vio_die("vblk: FAIL status 0x%x at the end", vio_status(&dev));
	gprintf("vblk: ok\n");
	return 0;
}
