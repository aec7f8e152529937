/* A hostile virtio driver: vhostile.mode=MODE does one malformed thing to the first block
 * device (or the rng, with vhostile.dev=rng) on its queue 0 of 16 entries.
 *
 * Malformed requests (built by hand on the rings, then notified): desc_loop,
 * next_out_of_range, chain_too_long (an indirect chain longer than the queue),
 * addr_outside_ram, len_wraps (addr + len past 2^64), indirect_self, indirect_bad_len,
 * indirect_zero_len, indirect_next (INDIRECT with NEXT), indirect_unnegotiated,
 * indirect_outside_ram, write_then_read, write_only_header (blk only), head_out_of_range,
 * avail_idx_jump. Malformed setup: qsize_not_pow2, qsize_too_big, ring_outside_ram,
 * driver_ok_early (DRIVER_OK without FEATURES_OK). For all of these the device must set
 * DEVICE_NEEDS_RESET (seen within a bounded wait), raise a configuration interrupt, use
 * nothing and serve nothing more; the guest then resets it, sets it up again and proves
 * it serves with one good request (a read of sector 0; for the rng, 64 bytes).
 *
 * Harmless oddities, after which the device must simply go on serving:
 * notify_unconfigured, queue_sel_out_of_range, features_refused (FEATURES_OK must not
 * stick), live_queue_rewrite, config_out_of_range.
 *   vhostile: mode <mode>
 *   vhostile: <mode>: QueueReady reads <n>, status 0x<s> after DRIVER_OK	(queue modes)
 *   vhostile: <mode>: needs reset
 *   vhostile: <mode>: served after reset	or	vhostile: <mode>: still serving
 *   vhostile: <mode> ok
 * A failed check prints "vhostile: FAIL <what>" and exits 3; an unknown mode exits 3
 * too, no device exits 4. */
#include "virtio.h"

#define QSIZE   16
#define SECTOR  VIO_BLK_SECTOR
#define OUTSIDE 0xe0000000ULL /* in the 32-bit hole above Ember's devices: not RAM */

static struct vio_dev dev;
static struct vio_queue vq;
static struct vio_blk_hdr hdr;
static u8 data[SECTOR];
static volatile u8 status;
static struct virtq_desc table[2 * QSIZE] __attribute__((aligned(16)));
static const char *mode;
static bool rng;                       /* vhostile.dev=rng: requests are writable buffers only */
static u64 want = VIO_F_INDIRECT_DESC; /* the features setup() negotiates */

static void setup(void)
{
	if (!vio_init(&dev, want, "vhostile") ||
	    !vio_queue_setup(&dev, &vq, 0, QSIZE, "vhostile") || !vio_driver_ok(&dev, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
}

static void set_desc(struct virtq_desc *d, u64 addr, u32 len, u16 flags, u16 next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* The three parts of a good read of sector 0, at descriptors i, i + 1, i + 2 of t. For
 * the rng, three buffers it fills. */
static void good_read(struct virtq_desc *t, u16 i)
{
	hdr = (struct vio_blk_hdr){.type = VIO_BLK_T_IN, .sector = 0};
	status = 0xff;
	set_desc(&t[i], (u64)(uintptr_t)&hdr, sizeof(hdr),
	         VIRTQ_DESC_F_NEXT | (rng ? VIRTQ_DESC_F_WRITE : 0), (u16)(i + 1));
	set_desc(&t[i + 1], (u64)(uintptr_t)data, SECTOR, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
	         (u16)(i + 2));
	set_desc(&t[i + 2], (u64)(uintptr_t)&status, 1, VIRTQ_DESC_F_WRITE, 0);
}

/* Descriptor 0 as an indirect descriptor for t, with len and flags as given. */
static void indirect_at_0(u32 len, u16 flags)
{
	set_desc(&vq.desc[0], (u64)(uintptr_t)table, len, VIRTQ_DESC_F_INDIRECT | flags, 0);
}

static bool is(const char *m)
{
	return cmdline_has(boot.cmdline, "vhostile.mode", m);
}

/* Builds the malformed request of a request mode on the avail ring. False: no such mode. */
static bool build(void)
{
	good_read(vq.desc, 0);
	if (is("desc_loop")) {
		vq.desc[0].next = 0; /* the header's NEXT is itself */
	} else if (is("next_out_of_range")) {
		vq.desc[1].next = 200;
	} else if (is("chain_too_long")) {
		/* An indirect chain of 2 * QSIZE descriptors, more than the queue holds,
		 * every link in range and none repeated. */
		good_read(table, 0);
		for (u16 i = 1; i < 2 * QSIZE - 1; i++)
			set_desc(&table[i], (u64)(uintptr_t)data, 16,
			         VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (u16)(i + 1));
		set_desc(&table[2 * QSIZE - 1], (u64)(uintptr_t)&status, 1, VIRTQ_DESC_F_WRITE, 0);
		indirect_at_0(sizeof(table), 0);
	} else if (is("addr_outside_ram")) {
		vq.desc[1].addr = OUTSIDE;
	} else if (is("len_wraps")) {
		vq.desc[1].addr = ~0ULL - 0xfff; /* + 0x2000 passes 2^64 */
		vq.desc[1].len = 0x2000;
	} else if (is("indirect_self")) {
		/* The table's first entry is an indirect descriptor for the table itself. */
		set_desc(&table[0], (u64)(uintptr_t)table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
		indirect_at_0(3 * 16, 0);
	} else if (is("indirect_bad_len")) {
		good_read(table, 0);
		indirect_at_0(3 * 16 - 8, 0);
	} else if (is("indirect_zero_len")) {
		good_read(table, 0);
		indirect_at_0(0, 0);
	} else if (is("indirect_next")) {
		good_read(table, 0);
		indirect_at_0(3 * 16, VIRTQ_DESC_F_NEXT);
		vq.desc[0].next = 1;
	} else if (is("indirect_unnegotiated")) {
		good_read(table, 0); /* a good table, but INDIRECT_DESC was not negotiated */
		indirect_at_0(3 * 16, 0);
	} else if (is("indirect_outside_ram")) {
		indirect_at_0(3 * 16, 0);
		vq.desc[0].addr = OUTSIDE;
	} else if (is("write_then_read")) {
		/* header, status (device-written), then data the device should read: 0, 2, 1 */
		vq.desc[1].flags = 0;
		vq.desc[0].next = 2;
		vq.desc[2].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
		vq.desc[2].next = 1;
	} else if (is("write_only_header") && !rng) {
		vq.desc[0].flags |= VIRTQ_DESC_F_WRITE;
	} else if (is("head_out_of_range")) {
		vq.avail.ring[0] = 200;
		vq.avail_idx = 1;
		__atomic_store_n(&vq.avail.idx, 1, __ATOMIC_RELEASE);
		return true;
	} else if (is("avail_idx_jump")) {
		vq.avail_idx = 1000;
		__atomic_store_n(&vq.avail.idx, 1000, __ATOMIC_RELEASE);
		return true;
	} else {
		return false;
	}
	vio_publish(&vq, 0);
	return true;
}

static u16 used_idx(void)
{
	return __atomic_load_n(&vq.used.idx, __ATOMIC_ACQUIRE);
}

/* The device must set NEEDS_RESET, interrupt for it, and leave the used ring alone. */
static void expect_needs_reset(void)
{
	u64 t0 = rdtsc();
	u32 isr;

	while (!(vio_status(&dev) & VIO_S_NEEDS_RESET)) {
		if (used_idx())
			vio_die("vhostile: FAIL %s: the device used the malformed chain (len %u)",
			        mode, vq.used.ring[0].len);
		if (rdtsc() - t0 > VIO_WAIT_CYCLES)
			vio_die("vhostile: FAIL %s: no NEEDS_RESET (status 0x%x)", mode,
			        vio_status(&dev));
		tsc_delay(100000);
	}
	gprintf("vhostile: %s: needs reset\n", mode);
	if (used_idx())
		vio_die("vhostile: FAIL %s: used idx %u after NEEDS_RESET", mode, used_idx());
	isr = vio_read(&dev, VIO_INTERRUPT_STATUS);
	if (!(isr & VIO_INT_CONFIG))
		vio_die("vhostile: FAIL %s: InterruptStatus 0x%x lacks the configuration bit", mode,
		        isr);
	vio_write(&dev, VIO_INTERRUPT_ACK, isr);
}

/* A failed device serves nothing until reset: a good request now must stay unused. */
static void expect_stopped(void)
{
	good_read(vq.desc, 4);
	vio_publish(&vq, 4);
	vio_notify(&vq);
	tsc_delay(VIO_WAIT_CYCLES / 20);
	if (used_idx())
		vio_die("vhostile: FAIL %s: served a request while it needs a reset", mode);
}

/* One good request on a fresh queue: a read of sector 0, or 64 bytes of entropy. */
static void expect_serves(const char *what)
{
	u32 used;
	int st;

	if (rng) {
		struct vio_buf b = VIO_BUF(data, 64, true);

		st = vio_request(&vq, &b, 1, VIO_DIRECT, &used);
		if (st)
			vio_die("vhostile: FAIL %s: a good request %s: %s", mode, what,
			        vio_strerror(st));
		if (!used || used > 64)
			vio_die("vhostile: FAIL %s: a good request %s: used length %u", mode, what,
			        used);
		return;
	}
	st = vio_blk(&vq, VIO_BLK_T_IN, 0, data, SECTOR, 1, VIO_DIRECT, &used);
	if (st != VIO_BLK_S_OK)
		vio_die("vhostile: FAIL %s: a good read %s: %s %d", mode, what,
		        st < 0 ? vio_strerror(st) : "status", st);
	if (used != SECTOR + 1)
		vio_die("vhostile: FAIL %s: a good read %s: used length %u", mode, what, used);
	if (vio_status(&dev) & VIO_S_NEEDS_RESET)
		vio_die("vhostile: FAIL %s: NEEDS_RESET after a good read %s", mode, what);
}

static void reset_and_serve(void)
{
	if (!vio_reset(&dev))
		vio_die("vhostile: FAIL %s: Status did not read 0 after the reset", mode);
	setup();
	expect_serves("after the reset");
	gprintf("vhostile: %s: served after reset\n", mode);
}

/* Notifies for queues that do not exist or are not set up: nothing must happen. */
static void notify_unconfigured(void)
{
	static const u32 queues[] = {0, 1, 7, 0xffff, 0xffffffff};

	if (!vio_init(&dev, VIO_F_INDIRECT_DESC, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
	for (unsigned i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
		vio_write(&dev, VIO_QUEUE_NOTIFY, queues[i]); /* before any queue is ready */
	if (!vio_queue_setup(&dev, &vq, 0, QSIZE, "vhostile") || !vio_driver_ok(&dev, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
	for (unsigned i = 1; i < sizeof(queues) / sizeof(queues[0]); i++)
		vio_write(&dev, VIO_QUEUE_NOTIFY, queues[i]);
	vio_write(&dev, VIO_QUEUE_NOTIFY, 0); /* queue 0 is empty */
}

/* Queue registers of queues that do not exist: QueueNumMax reads 0, QueueReady stays 0,
 * and nothing written there reaches queue 0. */
static void queue_sel_out_of_range(void)
{
	static const u32 sels[] = {1, 99, 0xffff, 0xffffffff};

	if (!vio_init(&dev, VIO_F_INDIRECT_DESC, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		u32 max, ready;

		vio_write(&dev, VIO_QUEUE_SEL, sels[i]);
		max = vio_read(&dev, VIO_QUEUE_NUM_MAX);
		vio_write(&dev, VIO_QUEUE_NUM, 8);
		vio_write(&dev, VIO_QUEUE_DESC_LOW, (u32)OUTSIDE);
		vio_write(&dev, VIO_QUEUE_DRIVER_LOW, (u32)OUTSIDE);
		vio_write(&dev, VIO_QUEUE_DEVICE_LOW, (u32)OUTSIDE);
		vio_write(&dev, VIO_QUEUE_READY, 1);
		ready = vio_read(&dev, VIO_QUEUE_READY);
		if (max || ready)
			vio_die("vhostile: FAIL QueueSel 0x%x: QueueNumMax %u, QueueReady %u",
			        sels[i], max, ready);
	}
	if (!vio_queue_setup(&dev, &vq, 0, QSIZE, "vhostile") || !vio_driver_ok(&dev, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
}

/* Queue 0 set up with a size that is not a power of two (or above QueueNumMax), or
 * its rings outside RAM. Ember takes QueueReady and checks the layout when the queue goes
 * live, at DRIVER_OK: the device must then need a reset. */
static void bad_queue(u32 num, u64 desc)
{
	u32 ready, st;

	if (!vio_init(&dev, VIO_F_INDIRECT_DESC, "vhostile"))
		vio_exit(VIO_EXIT_FAIL);
	memset(&vq, 0, sizeof(vq));
	vio_write(&dev, VIO_QUEUE_SEL, 0);
	vio_write(&dev, VIO_QUEUE_NUM, num);
	vio_write(&dev, VIO_QUEUE_DESC_LOW, (u32)desc);
	vio_write(&dev, VIO_QUEUE_DESC_HIGH, (u32)(desc >> 32));
	vio_write(&dev, VIO_QUEUE_DRIVER_LOW, (u32)(uintptr_t)&vq.avail);
	vio_write(&dev, VIO_QUEUE_DRIVER_HIGH, 0);
	vio_write(&dev, VIO_QUEUE_DEVICE_LOW, (u32)(uintptr_t)&vq.used);
	vio_write(&dev, VIO_QUEUE_DEVICE_HIGH, 0);
	vio_write(&dev, VIO_QUEUE_READY, 1);
	ready = vio_read(&dev, VIO_QUEUE_READY);
	vio_write(&dev, VIO_STATUS, vio_status(&dev) | VIO_S_DRIVER_OK);
	st = vio_status(&dev);
	gprintf("vhostile: %s: QueueReady reads %u, status 0x%x after DRIVER_OK\n", mode, ready,
	        st);
	if (!(st & VIO_S_NEEDS_RESET))
		vio_die("vhostile: FAIL %s: the device took the queue", mode);
	expect_needs_reset();
}

static void qsize_not_pow2(void)
{
	bad_queue(100, (u64)(uintptr_t)vq.desc);
}

static void qsize_too_big(void)
{
	bad_queue(2 * VIO_QSIZE_MAX, (u64)(uintptr_t)vq.desc);
}

static void ring_outside_ram(void)
{
	bad_queue(QSIZE, OUTSIDE);
}

/* DRIVER_OK straight after DRIVER, features never negotiated: the device must refuse. */
static void driver_ok_early(void)
{
	memset(&vq, 0, sizeof(vq));
	if (!vio_reset(&dev))
		vio_die("vhostile: FAIL %s: Status did not read 0 after a reset", mode);
	vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE);
	vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER);
	vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER | VIO_S_DRIVER_OK);
	if (!(vio_status(&dev) & VIO_S_NEEDS_RESET))
		vio_die("vhostile: FAIL %s: DRIVER_OK without FEATURES_OK taken (status 0x%x)",
		        mode, vio_status(&dev));
	expect_needs_reset();
}

/* Features the device did not offer, or none without VERSION_1: FEATURES_OK must not
 * stick (3.1.1), and that is the driver's answer, not a device failure. */
static void features_refused(void)
{
	static const u64 bad[] = {VIO_F_VERSION_1 | 1ULL << 50, VIO_F_INDIRECT_DESC, 0};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		u32 st;

		if (!vio_reset(&dev))
			vio_die("vhostile: FAIL %s: Status did not read 0 after a reset", mode);
		vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE);
		vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER);
		vio_write(&dev, VIO_DRIVER_FEAT_SEL, 0);
		vio_write(&dev, VIO_DRIVER_FEATURES, (u32)bad[i]);
		vio_write(&dev, VIO_DRIVER_FEAT_SEL, 1);
		vio_write(&dev, VIO_DRIVER_FEATURES, (u32)(bad[i] >> 32));
		vio_write(&dev, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER | VIO_S_FEATURES_OK);
		st = vio_status(&dev);
		if (st & (VIO_S_FEATURES_OK | VIO_S_NEEDS_RESET))
			vio_die("vhostile: FAIL %s: features 0x%lx: status 0x%x", mode, bad[i], st);
	}
	setup();
}

/* A live queue's layout cannot change (no VIRTIO_F_RING_RESET): rewriting its registers
 * and clearing QueueReady must change nothing. */
static void live_queue_rewrite(void)
{
	setup();
	vio_write(&dev, VIO_QUEUE_SEL, 0);
	vio_write(&dev, VIO_QUEUE_NUM, 3);
	vio_write(&dev, VIO_QUEUE_DESC_LOW, (u32)OUTSIDE);
	vio_write(&dev, VIO_QUEUE_DRIVER_LOW, (u32)OUTSIDE);
	vio_write(&dev, VIO_QUEUE_DEVICE_LOW, (u32)OUTSIDE);
	vio_write(&dev, VIO_QUEUE_READY, 0);
	if (vio_read(&dev, VIO_QUEUE_READY) != 1)
		vio_die("vhostile: FAIL %s: a live queue's QueueReady reads %u", mode,
		        vio_read(&dev, VIO_QUEUE_READY));
}

/* Configuration space: past its end reads 0 and takes no writes; the disk's capacity
 * is read-only. The window's last config word is 0xefc (0x100 + 0xefc = 0xffc). */
static void config_out_of_range(void)
{
	u64 cap;

	setup();
	cap = vio_config64(&dev, 0);
	vio_write(&dev, VIO_CONFIG + 0xefc, 0xffffffff);
	mmio_write64(dev.base + VIO_CONFIG + 0x100, ~0ULL); /* an 8-byte access */
	if (vio_config32(&dev, 0xefc) || vio_config8(&dev, 0xeff))
		vio_die("vhostile: FAIL %s: config 0xefc reads 0x%x", mode,
		        vio_config32(&dev, 0xefc));
	vio_write(&dev, VIO_CONFIG, 0x12345678);
	vio_write(&dev, VIO_CONFIG + 4, 0x9abcdef0);
	if (vio_config64(&dev, 0) != cap)
		vio_die("vhostile: FAIL %s: config 0 changed from 0x%lx to 0x%lx", mode, cap,
		        vio_config64(&dev, 0));
}

/* Modes on the transport rather than a request: run, then either expect the device to
 * work on (harmless) or to need a reset (the run function checked that). */
static const struct {
	const char *name;
	void (*run)(void);
	bool harmless;
} transport_modes[] = {
    {"notify_unconfigured", notify_unconfigured, true},
    {"queue_sel_out_of_range", queue_sel_out_of_range, true},
    {"features_refused", features_refused, true},
    {"live_queue_rewrite", live_queue_rewrite, true},
    {"config_out_of_range", config_out_of_range, true},
    {"qsize_not_pow2", qsize_not_pow2, false},
    {"qsize_too_big", qsize_too_big, false},
    {"ring_outside_ram", ring_outside_ram, false},
    {"driver_ok_early", driver_ok_early, false},
};

int main(void)
{
	const char *val;
	size_t len;
	static char name[32];

	if (!cmdline_get(boot.cmdline, "vhostile.mode", &val, &len) || len >= sizeof(name))
		vio_die("vhostile: FAIL no vhostile.mode=MODE on the command line");
	memcpy(name, val, len);
	mode = name;
	gprintf("vhostile: mode %s\n", mode);
	rng = cmdline_has(boot.cmdline, "vhostile.dev", "rng");
	if (!vio_find(rng ? VIO_ID_RNG : VIO_ID_BLOCK, 0, &dev)) {
		gprintf("vhostile: no virtio-%s device\n", rng ? "rng" : "blk");
		vio_exit(VIO_EXIT_NODEV);
	}

	for (unsigned i = 0; i < sizeof(transport_modes) / sizeof(transport_modes[0]); i++) {
		if (!is(transport_modes[i].name))
			continue;
		transport_modes[i].run();
		if (!transport_modes[i].harmless) {
			reset_and_serve();
		} else {
			if (vio_status(&dev) & VIO_S_NEEDS_RESET)
				vio_die("vhostile: FAIL %s: NEEDS_RESET (status 0x%x)", mode,
				        vio_status(&dev));
			expect_serves("afterwards");
			gprintf("vhostile: %s: still serving\n", mode);
		}
		gprintf("vhostile: %s ok\n", mode);
		return 0;
	}

	/* A malformed request. The device serves a good one first, so what follows is its
	 * answer to the malformed one alone. */
	if (is("indirect_unnegotiated"))
		want = 0;
	setup();
	expect_serves("before");
	vio_reset(&dev);
	setup();
	if (!build())
		vio_die("vhostile: FAIL unknown mode '%s'", mode);
	vio_notify(&vq);
	expect_needs_reset();
	expect_stopped();
	reset_and_serve();
	gprintf("vhostile: %s ok\n", mode);
	return 0;
}
