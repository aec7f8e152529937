/* A small polling virtio-mmio driver for the test guests (virtio 1.2: 4.2 for the
 * version 2 registers, 3.1.1 for initialisation, 2.7 for split virtqueues).
 *
 * Devices are found only through the `virtio_mmio.device=<size>@<base>:<irq>` words on
 * the command line; nothing outside an announced window is ever touched (Ember stops the
 * VM on an access there). The guest runs with interrupts off, so completions are found by
 * polling the used ring. Rings and buffers live in the image (.bss): the identity map
 * makes their address their guest physical address. One request at a time is the common
 * case; the free list still allows several in flight (virtio-net's receive buffers). */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

/* Exit statuses of the virtio guests (port 0x603). 1 and 2 are Ember's own. */
#define VIO_EXIT_FAIL  3 /* a check failed; the line before says which */
#define VIO_EXIT_NODEV 4 /* no device of the kind the guest drives */

/* virtio-mmio registers (4.2.2), all 32-bit. */
#define VIO_MAGIC_VALUE       0x000 /* "virt" */
#define VIO_VERSION           0x004
#define VIO_DEVICE_ID         0x008
#define VIO_VENDOR_ID         0x00c
#define VIO_DEVICE_FEATURES   0x010
#define VIO_DEVICE_FEAT_SEL   0x014
#define VIO_DRIVER_FEATURES   0x020
#define VIO_DRIVER_FEAT_SEL   0x024
#define VIO_QUEUE_SEL         0x030
#define VIO_QUEUE_NUM_MAX     0x034
#define VIO_QUEUE_NUM         0x038
#define VIO_QUEUE_READY       0x044
#define VIO_QUEUE_NOTIFY      0x050
#define VIO_INTERRUPT_STATUS  0x060
#define VIO_INTERRUPT_ACK     0x064
#define VIO_STATUS            0x070
#define VIO_QUEUE_DESC_LOW    0x080
#define VIO_QUEUE_DESC_HIGH   0x084
#define VIO_QUEUE_DRIVER_LOW  0x090
#define VIO_QUEUE_DRIVER_HIGH 0x094
#define VIO_QUEUE_DEVICE_LOW  0x0a0
#define VIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIO_CONFIG_GENERATION 0x0fc
#define VIO_CONFIG            0x100

#define VIO_MAGIC 0x74726976

/* Device status bits (2.1). */
#define VIO_S_ACKNOWLEDGE 1
#define VIO_S_DRIVER      2
#define VIO_S_DRIVER_OK   4
#define VIO_S_FEATURES_OK 8
#define VIO_S_NEEDS_RESET 64
#define VIO_S_FAILED      128

/* InterruptStatus bits. */
#define VIO_INT_VRING  1
#define VIO_INT_CONFIG 2

/* Device IDs (5). */
#define VIO_ID_NET   1
#define VIO_ID_BLOCK 2
#define VIO_ID_RNG   4
#define VIO_ID_VSOCK 19

/* Feature bits, as masks. */
#define VIO_F_INDIRECT_DESC (1ULL << 28)
#define VIO_F_EVENT_IDX     (1ULL << 29)
#define VIO_F_VERSION_1     (1ULL << 32)

/* Split virtqueue layout (2.7.5-2.7.8). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct virtq_used_elem {
	u32 id;
	u32 len;
};

#define VIO_QSIZE_MAX    256 /* Ember's QueueNumMax */
#define VIO_INDIRECT_MAX 16  /* descriptors in one indirect table */

/* One announced device. */
struct vio_dev {
	u64 base; /* the window's guest physical address */
	u64 size; /* its length, as announced */
	unsigned irq;
	u32 version;   /* the Version register: 2 */
	u32 device_id; /* VIO_ID_*; 0 for a placeholder */
	u64 offered;   /* DeviceFeatures, read by vio_init */
	u64 features;  /* what was negotiated */
};

/* A split virtqueue and its memory. The ring arrays are sized for VIO_QSIZE_MAX; a queue
 * of size n uses their first n entries and the event fields right after them, as the
 * device computes them from n. Fields are public: hostile guests write them raw. */
struct vio_queue {
	struct virtq_desc desc[VIO_QSIZE_MAX] __attribute__((aligned(16)));
	struct {
		u16 flags;
		u16 idx;
		u16 ring[VIO_QSIZE_MAX + 1]; /* + used_event */
	} avail __attribute__((aligned(2)));
	struct {
		u16 flags;
		u16 idx;
		struct virtq_used_elem ring[VIO_QSIZE_MAX];
		u16 avail_event; /* at ring[n] for a queue of size n */
	} used __attribute__((aligned(4)));
	/* The indirect table of the chain whose head is i. */
	struct virtq_desc indirect[VIO_QSIZE_MAX][VIO_INDIRECT_MAX] __attribute__((aligned(16)));

	struct vio_dev *dev;
	u16 index; /* the queue's number on its device */
	u16 size;
	u16 free_head; /* free descriptors, chained through desc[].next */
	u16 num_free;
	u16 avail_idx; /* the avail index published last */
	u16 last_used; /* the used index consumed so far */
};

/* One buffer of a chain: the device reads it, or writes it when `write`. */
struct vio_buf {
	u64 addr;
	u32 len;
	bool write;
};

#define VIO_BUF(p, n, w) ((struct vio_buf){(u64)(uintptr_t)(p), (u32)(n), (w)})

/* Results of vio_wait. */
#define VIO_OK          0
#define VIO_TIMEOUT     (-1) /* nothing used within the wait */
#define VIO_NEEDS_RESET (-2) /* the device set DEVICE_NEEDS_RESET instead */
#define VIO_BAD_USED    (-3) /* the device returned an id that is no chain's head */

/* About 7 s at 3 GHz: long enough for the nested, emulated test rig. */
#define VIO_WAIT_CYCLES 20000000000ULL

/* --- discovery --- */

/* Parses every virtio_mmio.device word of the command line, in order, into out[max] and
 * reads each window's Version and DeviceID. A word that does not parse is reported on
 * COM1 and skipped; so is a window whose magic is wrong. Returns the number found. */
unsigned vio_scan(struct vio_dev *out, unsigned max);
/* The nth (0-based) device with this ID, in command-line order. */
bool vio_find(u32 device_id, unsigned nth, struct vio_dev *out);

/* --- registers and configuration space --- */

static inline u32 vio_read(const struct vio_dev *d, u32 reg)
{
	return mmio_read32(d->base + reg);
}

static inline void vio_write(const struct vio_dev *d, u32 reg, u32 v)
{
	mmio_write32(d->base + reg, v);
}

static inline u32 vio_status(const struct vio_dev *d)
{
	return vio_read(d, VIO_STATUS);
}

/* Device configuration, at the width of the field (4.2.2.2); 64-bit fields as two 32-bit
 * reads under an unchanged ConfigGeneration. */
u8 vio_config8(const struct vio_dev *d, u32 off);
u16 vio_config16(const struct vio_dev *d, u32 off);
u32 vio_config32(const struct vio_dev *d, u32 off);
u64 vio_config64(const struct vio_dev *d, u32 off);

/* --- initialisation (3.1.1) --- */

/* Writes 0 to Status and waits (bounded) until it reads 0. */
bool vio_reset(struct vio_dev *d);
/* Reset, ACKNOWLEDGE, DRIVER, negotiate VERSION_1 plus the offered bits of `want`, then
 * FEATURES_OK, checked. Returns false after printing why (prefix `tag`). */
bool vio_init(struct vio_dev *d, u64 want, const char *tag);
/* Sets up queue `index` of d with `size` entries (a power of two, at most QueueNumMax)
 * in q and marks it ready. Returns false after printing why. */
bool vio_queue_setup(struct vio_dev *d, struct vio_queue *q, unsigned index, u16 size,
                     const char *tag);
/* DRIVER_OK; false if the device set NEEDS_RESET or FAILED instead. */
bool vio_driver_ok(struct vio_dev *d, const char *tag);

/* --- requests --- */

#define VIO_DIRECT   0
#define VIO_INDIRECT 1

/* Puts a chain of n buffers on the avail ring (not notified): n descriptors, or with
 * VIO_INDIRECT one descriptor pointing at an indirect table. Returns the head, or -1 if
 * the queue has too few free descriptors (or n does not fit a table). */
int vio_submit(struct vio_queue *q, const struct vio_buf *b, unsigned n, unsigned how);
/* Publishes `head` on the avail ring, for chains written by hand into q->desc. */
void vio_publish(struct vio_queue *q, u16 head);
/* QueueNotify with the queue's index, after making the rings visible. */
void vio_notify(struct vio_queue *q);
/* Takes one used element, if any; the chain's descriptors return to the free list.
 * Returns 1, 0 if none, or VIO_BAD_USED. */
int vio_take_used(struct vio_queue *q, u16 *head, u32 *len);
/* Polls for a used element for up to `cycles` TSC ticks. VIO_OK, VIO_TIMEOUT,
 * VIO_NEEDS_RESET or VIO_BAD_USED. */
int vio_wait(struct vio_queue *q, u16 *head, u32 *len, u64 cycles);
/* Submit, notify and wait for this chain; the device's used length in *len. */
int vio_request(struct vio_queue *q, const struct vio_buf *b, unsigned n, unsigned how, u32 *len);
const char *vio_strerror(int r);

/* --- virtio-blk (5.2) --- */

#define VIO_BLK_F_RO    (1ULL << 5)
#define VIO_BLK_F_FLUSH (1ULL << 9)

#define VIO_BLK_T_IN     0
#define VIO_BLK_T_OUT    1
#define VIO_BLK_T_FLUSH  4
#define VIO_BLK_T_GET_ID 8

#define VIO_BLK_S_OK     0
#define VIO_BLK_S_IOERR  1
#define VIO_BLK_S_UNSUPP 2

#define VIO_BLK_SECTOR 512
#define VIO_BLK_ID_LEN 20

struct vio_blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};

/* One blk request on q: header, then `data` (device-written for IN and GET_ID, read
 * otherwise; none if len is 0), then the status byte. Returns the status (0-255) or a
 * VIO_* error; the used length in *used if not NULL. The data buffer is split into
 * `segs` descriptors (1 if 0) and sent indirect when `how` says so. */
int vio_blk(struct vio_queue *q, u32 type, u64 sector, void *data, u32 len, unsigned segs,
            unsigned how, u32 *used);

/* --- ending the guest --- */

/* Writes status to Ember's exit register (port 0x603): the VM ends at once. */
__attribute__((noreturn)) void vio_exit(u8 status);
/* Prints the formatted line and exits VIO_EXIT_FAIL. */
__attribute__((noreturn, format(printf, 1, 2))) void vio_die(const char *fmt, ...);

#endif
