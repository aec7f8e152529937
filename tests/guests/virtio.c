/* The test guests' virtio-mmio driver: discovery from the command line, initialisation,
 * split virtqueues driven by polling, and virtio-blk requests. Written from the virtio
 * 1.2 specification; x86 keeps stores in order, so the fences below only stop the
 * compiler from reordering ring writes around the index and notify writes. */
#include "virtio.h"

#define CMDLINE_KEY "virtio_mmio.device="
#define EXIT_PORT   0x603

static u8 mmio_read8(u64 addr)
{
	return *(volatile u8 *)(uintptr_t)addr;
}

static u16 mmio_read16(u64 addr)
{
	return *(volatile u16 *)(uintptr_t)addr;
}

/* --- discovery --- */

/* A number as Linux's memparse takes it: decimal or 0x hex, with an optional K, M or G. */
static bool parse_size(const char *s, size_t len, u64 *out)
{
	unsigned shift = 0;

	if (len) {
		switch (s[len - 1]) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		}
	}
	if (shift)
		len--;
	if (!parse_u64(s, len, out) || *out > (~0ULL >> shift))
		return false;
	*out <<= shift;
	return true;
}

static size_t find_char(const char *s, size_t len, char c)
{
	size_t i = 0;

	while (i < len && s[i] != c)
		i++;
	return i;
}

/* <size>@<base>:<irq>[:<id>] (Linux's virtio_mmio.device syntax). */
static bool parse_word(const char *s, size_t len, struct vio_dev *d)
{
	size_t at = find_char(s, len, '@'), colon, end;
	u64 irq;

	if (at == len || !parse_size(s, at, &d->size))
		return false;
	s += at + 1;
	len -= at + 1;
	colon = find_char(s, len, ':');
	if (colon == len || !parse_size(s, colon, &d->base))
		return false;
	s += colon + 1;
	len -= colon + 1;
	end = find_char(s, len, ':');
	if (!parse_u64(s, end, &irq) || irq > 0xffff)
		return false;
	d->irq = (unsigned)irq;
	return true;
}

/* The window must hold the registers and lie under the identity map's 4 GiB. */
static bool window_ok(const struct vio_dev *d)
{
	return d->size >= VIO_CONFIG && !(d->base & 3) && d->base < (1ULL << 32) &&
	       d->size <= (1ULL << 32) - d->base;
}

unsigned vio_scan(struct vio_dev *out, unsigned max)
{
	size_t klen = fmt_strlen(CMDLINE_KEY);
	unsigned n = 0;

	for (const char *p = boot.cmdline; *p;) {
		size_t len = 0, i;
		struct vio_dev d = {0};

		while (*p == ' ')
			p++;
		while (p[len] && p[len] != ' ')
			len++;
		for (i = 0; i < klen && i < len && p[i] == CMDLINE_KEY[i]; i++)
			;
		if (i == klen) {
			if (!parse_word(p + klen, len - klen, &d) || !window_ok(&d)) {
				serial_puts("virtio: cannot use '");
				for (size_t k = 0; k < len; k++)
					serial_putc(p[k]);
				serial_puts("'\n");
			} else if (mmio_read32(d.base + VIO_MAGIC_VALUE) != VIO_MAGIC) {
				gprintf("virtio: no magic value at 0x%lx\n", d.base);
			} else if (n < max) {
				d.version = mmio_read32(d.base + VIO_VERSION);
				d.device_id = mmio_read32(d.base + VIO_DEVICE_ID);
				out[n++] = d;
			}
		}
		p += len;
	}
	return n;
}

bool vio_find(u32 device_id, unsigned nth, struct vio_dev *out)
{
	static struct vio_dev devs[32];
	unsigned n = vio_scan(devs, 32);

	for (unsigned i = 0; i < n; i++) {
		if (devs[i].device_id != device_id)
			continue;
		if (!nth--) {
			*out = devs[i];
			return true;
		}
	}
	return false;
}

/* --- configuration space --- */

u8 vio_config8(const struct vio_dev *d, u32 off)
{
	return mmio_read8(d->base + VIO_CONFIG + off);
}

u16 vio_config16(const struct vio_dev *d, u32 off)
{
	return mmio_read16(d->base + VIO_CONFIG + off);
}

u32 vio_config32(const struct vio_dev *d, u32 off)
{
	return mmio_read32(d->base + VIO_CONFIG + off);
}

u64 vio_config64(const struct vio_dev *d, u32 off)
{
	u32 gen, lo, hi;

	do {
		gen = vio_read(d, VIO_CONFIG_GENERATION);
		lo = vio_config32(d, off);
		hi = vio_config32(d, off + 4);
	} while (gen != vio_read(d, VIO_CONFIG_GENERATION));
	return (u64)hi << 32 | lo;
}

/* --- initialisation --- */

bool vio_reset(struct vio_dev *d)
{
	u64 t0 = rdtsc();

	vio_write(d, VIO_STATUS, 0);
	while (vio_status(d) != 0) {
		if (rdtsc() - t0 > VIO_WAIT_CYCLES)
			return false;
		cpu_relax();
	}
	return true;
}

bool vio_init(struct vio_dev *d, u64 want, const char *tag)
{
	u32 st;

	if (!vio_reset(d)) {
		gprintf("%s: FAIL Status did not read 0 after a reset\n", tag);
		return false;
	}
	vio_write(d, VIO_STATUS, VIO_S_ACKNOWLEDGE);
	vio_write(d, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER);

	vio_write(d, VIO_DEVICE_FEAT_SEL, 0);
	d->offered = vio_read(d, VIO_DEVICE_FEATURES);
	vio_write(d, VIO_DEVICE_FEAT_SEL, 1);
	d->offered |= (u64)vio_read(d, VIO_DEVICE_FEATURES) << 32;
	if (!(d->offered & VIO_F_VERSION_1)) {
		gprintf("%s: FAIL the device does not offer VERSION_1 (features 0x%lx)\n", tag,
		        d->offered);
		return false;
	}
	d->features = d->offered & (want | VIO_F_VERSION_1);
	vio_write(d, VIO_DRIVER_FEAT_SEL, 0);
	vio_write(d, VIO_DRIVER_FEATURES, (u32)d->features);
	vio_write(d, VIO_DRIVER_FEAT_SEL, 1);
	vio_write(d, VIO_DRIVER_FEATURES, (u32)(d->features >> 32));

	vio_write(d, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	st = vio_status(d);
	if (!(st & VIO_S_FEATURES_OK)) {
		gprintf("%s: FAIL FEATURES_OK did not stick (features 0x%lx, status 0x%x)\n", tag,
		        d->features, st);
		return false;
	}
	return true;
}

bool vio_queue_setup(struct vio_dev *d, struct vio_queue *q, unsigned index, u16 size,
                     const char *tag)
{
	u32 max;

	vio_write(d, VIO_QUEUE_SEL, index);
	if (vio_read(d, VIO_QUEUE_READY)) {
		gprintf("%s: FAIL queue %u is ready before setup\n", tag, index);
		return false;
	}
	max = vio_read(d, VIO_QUEUE_NUM_MAX);
	if (!size || size > max || size > VIO_QSIZE_MAX) {
		gprintf("%s: FAIL queue %u: size %u, QueueNumMax %u\n", tag, index, size, max);
		return false;
	}

	memset(q, 0, sizeof(*q));
	q->dev = d;
	q->index = (u16)index;
	q->size = size;
	for (u16 i = 0; i < size; i++)
		q->desc[i].next = (u16)(i + 1);
	q->num_free = size;

	vio_write(d, VIO_QUEUE_NUM, size);
	vio_write(d, VIO_QUEUE_DESC_LOW, (u32)(uintptr_t)q->desc);
	vio_write(d, VIO_QUEUE_DESC_HIGH, (u32)((u64)(uintptr_t)q->desc >> 32));
	vio_write(d, VIO_QUEUE_DRIVER_LOW, (u32)(uintptr_t)&q->avail);
	vio_write(d, VIO_QUEUE_DRIVER_HIGH, (u32)((u64)(uintptr_t)&q->avail >> 32));
	vio_write(d, VIO_QUEUE_DEVICE_LOW, (u32)(uintptr_t)&q->used);
	vio_write(d, VIO_QUEUE_DEVICE_HIGH, (u32)((u64)(uintptr_t)&q->used >> 32));
	vio_write(d, VIO_QUEUE_READY, 1);
	if (vio_read(d, VIO_QUEUE_READY) != 1) {
		gprintf("%s: FAIL queue %u: QueueReady did not read back 1\n", tag, index);
		return false;
	}
	return true;
}

bool vio_driver_ok(struct vio_dev *d, const char *tag)
{
	u32 st = vio_status(d);

	vio_write(d, VIO_STATUS, st | VIO_S_DRIVER_OK);
	st = vio_status(d);
	if (st & (VIO_S_NEEDS_RESET | VIO_S_FAILED) || !(st & VIO_S_DRIVER_OK)) {
		gprintf("%s: FAIL status 0x%x after DRIVER_OK\n", tag, st);
		return false;
	}
	return true;
}

/* --- requests --- */

void vio_publish(struct vio_queue *q, u16 head)
{
	q->avail.ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
	/* The ring entry and the descriptors before the index that makes them visible. */
	__atomic_store_n(&q->avail.idx, q->avail_idx, __ATOMIC_RELEASE);
}

int vio_submit(struct vio_queue *q, const struct vio_buf *b, unsigned n, unsigned how)
{
	u16 head = q->free_head, i = head;

	if (!n || q->num_free < (how == VIO_INDIRECT ? 1 : n))
		return -1;
	if (how == VIO_INDIRECT) {
		struct virtq_desc *t = q->indirect[head];

		if (n > VIO_INDIRECT_MAX)
			return -1;
		for (unsigned k = 0; k < n; k++) {
			t[k].addr = b[k].addr;
			t[k].len = b[k].len;
			t[k].flags = (u16)((b[k].write ? VIRTQ_DESC_F_WRITE : 0) |
			                   (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			t[k].next = (u16)(k + 1 < n ? k + 1 : 0);
		}
		q->desc[head].addr = (u64)(uintptr_t)t;
		q->desc[head].len = n * (u32)sizeof(*t);
		q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
		q->free_head = q->desc[head].next;
		q->num_free--;
	} else {
		/* Free descriptors are chained through next already: keep those links and
		 * cut the chain after the nth. */
		for (unsigned k = 0; k < n; k++) {
			q->desc[i].addr = b[k].addr;
			q->desc[i].len = b[k].len;
			q->desc[i].flags = (u16)((b[k].write ? VIRTQ_DESC_F_WRITE : 0) |
			                         (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			if (k + 1 < n)
				i = q->desc[i].next;
		}
		q->free_head = q->desc[i].next;
		q->num_free = (u16)(q->num_free - n);
	}
	vio_publish(q, head);
	return head;
}

void vio_notify(struct vio_queue *q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(q->dev, VIO_QUEUE_NOTIFY, q->index);
}

int vio_take_used(struct vio_queue *q, u16 *head, u32 *len)
{
	u16 idx = __atomic_load_n(&q->used.idx, __ATOMIC_ACQUIRE), last, n = 1;
	volatile struct virtq_used_elem *e;
	u32 id;

	if (idx == q->last_used)
		return 0;
	e = &q->used.ring[q->last_used & (q->size - 1)];
	id = e->id;
	*len = e->len;
	q->last_used++;
	q->avail.ring[q->size] = q->last_used; /* used_event, for EVENT_IDX */
	if (id >= q->size)
		return VIO_BAD_USED;
	*head = (u16)id;

	/* Return the chain to the free list; an indirect chain is one descriptor. */
	last = *head;
	while ((q->desc[last].flags & VIRTQ_DESC_F_NEXT) && n < q->size) {
		last = q->desc[last].next;
		n++;
	}
	q->desc[last].next = q->free_head;
	q->free_head = *head;
	q->num_free = (u16)(q->num_free + n);
	return 1;
}

int vio_wait(struct vio_queue *q, u16 *head, u32 *len, u64 cycles)
{
	u64 t0 = rdtsc();

	for (unsigned spin = 0;; spin++) {
		int r = vio_take_used(q, head, len);

		if (r)
			return r == 1 ? VIO_OK : r;
		/* Status is a register (an exit to Ember): look at it now and then only. */
		if (!(spin & 1023) && (vio_status(q->dev) & VIO_S_NEEDS_RESET))
			return VIO_NEEDS_RESET;
		if (rdtsc() - t0 > cycles)
			return VIO_TIMEOUT;
		cpu_relax();
	}
}

int vio_request(struct vio_queue *q, const struct vio_buf *b, unsigned n, unsigned how, u32 *len)
{
	int head = vio_submit(q, b, n, how), r;
	u16 used_head;

	if (head < 0)
		return VIO_BAD_USED;
	vio_notify(q);
	r = vio_wait(q, &used_head, len, VIO_WAIT_CYCLES);
	if (r == VIO_OK && used_head != head)
		return VIO_BAD_USED;
	return r;
}

const char *vio_strerror(int r)
{
	switch (r) {
	case VIO_OK:
		return "ok";
	case VIO_TIMEOUT:
		return "no answer (timeout)";
	case VIO_NEEDS_RESET:
		return "the device set NEEDS_RESET";
	case VIO_BAD_USED:
		return "a used element that is not the request";
	}
	return "?";
}

/* --- virtio-blk --- */

static struct vio_blk_hdr blk_hdr;
static volatile u8 blk_status;

int vio_blk(struct vio_queue *q, u32 type, u64 sector, void *data, u32 len, unsigned segs,
            unsigned how, u32 *used)
{
	struct vio_buf b[VIO_INDIRECT_MAX];
	bool dev_writes = type == VIO_BLK_T_IN || type == VIO_BLK_T_GET_ID;
	unsigned n = 0;
	u32 used_len = 0;
	int r;

	if (!segs)
		segs = 1;
	if (segs > VIO_INDIRECT_MAX - 2)
		return VIO_BAD_USED;
	blk_hdr = (struct vio_blk_hdr){.type = type, .sector = sector};
	blk_status = 0xff; /* no status is 0xff: shows a status never written */
	b[n++] = VIO_BUF(&blk_hdr, sizeof(blk_hdr), false);
	for (unsigned k = 0; len && k < segs; k++) {
		u32 part = len / segs + (k + 1 == segs ? len % segs : 0);

		b[n++] = VIO_BUF((u8 *)data + k * (len / segs), part, dev_writes);
	}
	b[n++] = VIO_BUF(&blk_status, 1, true);
	r = vio_request(q, b, n, how, &used_len);
	if (used)
		*used = used_len;
	return r == VIO_OK ? blk_status : r;
}

/* --- ending --- */

void vio_exit(u8 status)
{
	outb(EXIT_PORT, status);
	tsc_delay(200000000);
	serial_puts("guest: the exit register did not stop the machine\n");
	guest_triple_fault();
}

static void die_sink(struct fmt_sink *s, char c)
{
	(void)s;
	serial_putc(c);
}

void vio_die(const char *fmt, ...)
{
	struct fmt_sink s = {.put = die_sink};
	va_list ap;

	va_start(ap, fmt);
	fmt_vformat(&s, fmt, ap);
	va_end(ap);
	serial_putc('\n');
	vio_exit(VIO_EXIT_FAIL);
}
