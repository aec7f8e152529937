/* i8042 keyboard controller and an MF2 keyboard (register and command model from the IBM
 * PS/2 keyboard controller and keyboard references); no aux device. */
#include "i8042.h"

#include <errno.h>
#include <string.h>

/* Status register (port 0x64, read). */
#define STS_OBF    0x01 /* a byte waits on port 0x60 */
#define STS_SYS    0x04 /* the command byte's system flag */
#define STS_A2     0x08 /* the last write went to port 0x64 */
#define STS_UNLOCK 0x10 /* keyboard not inhibited (Linux warns "Keylock active" if clear) */
/* Never set: IBF (0x02, we take every byte at once), AUX (0x20, no aux device), timeout
 * (0x40) and parity (0x80) errors. */

/* Command byte (RAM byte 0). */
#define CTR_KBDINT   0x01 /* IRQ 1 when a byte waits */
#define CTR_SYS      0x04
#define CTR_KBDDIS   0x10
#define CTR_XLATE    0x40 /* hand set-1 scan codes to the guest */
#define CTR_POWER_ON (CTR_KBDINT | CTR_SYS | CTR_XLATE)

#define OUT_RESET    0x01 /* the CPU reset line, active low */
#define OUT_A20      0x02
#define OUT_POWER_ON (OUT_RESET | OUT_A20)

/* Controller commands (port 0x64). */
#define CMD_READ_RAM      0x20 /* 0x20-0x3f: read RAM byte cmd & 0x1f */
#define CMD_WRITE_RAM     0x60 /* 0x60-0x7f: the next data byte to RAM byte cmd & 0x1f */
#define CMD_AUX_DISABLE   0xa7
#define CMD_AUX_ENABLE    0xa8
#define CMD_AUX_TEST      0xa9
#define CMD_SELF_TEST     0xaa
#define CMD_KBD_TEST      0xab
#define CMD_KBD_DISABLE   0xad
#define CMD_KBD_ENABLE    0xae
#define CMD_READ_OUTPORT  0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_BUF 0xd2 /* the next data byte reads back as if the keyboard sent it */
#define CMD_WRITE_AUX_BUF 0xd3
#define CMD_WRITE_AUX     0xd4
#define CMD_PULSE         0xf0 /* 0xf0-0xff: pulse the output lines whose bit is 0 */

#define SELF_TEST_OK 0x55
#define KBD_TEST_OK  0x00
/* "Clock line stuck high": no device. Linux's i8042_check_aux() then gives up on the
 * mouse without a message (anything but 0x00, 0xfa and 0xff). */
#define AUX_TEST_ABSENT 0x02

/* Keyboard commands (port 0x60) and replies. */
#define KBD_SET_LEDS  0xed
#define KBD_ECHO      0xee
#define KBD_SCAN_SET  0xf0
#define KBD_IDENTIFY  0xf2
#define KBD_TYPEMATIC 0xf3
#define KBD_ENABLE    0xf4
#define KBD_DISABLE   0xf5 /* defaults, and stop scanning */
#define KBD_DEFAULTS  0xf6
#define KBD_RESEND    0xfe
#define KBD_RESET     0xff
#define KBD_ACK       0xfa
#define KBD_BAT_OK    0xaa
#define KBD_NAK       0xfe /* "resend": the answer to a command the keyboard does not know */
#define KBD_ID_0      0xab
#define KBD_ID_1      0x83 /* MF2 keyboard */

/* Scan code set 2, what the keyboard itself sends. */
#define SC2_EXTENDED 0xe0
#define SC2_BREAK    0xf0
#define SC2_LCTRL    0x14
#define SC2_LALT     0x11
#define SC2_DELETE   0x71 /* after E0 */

static const uint8_t ctrl_alt_del[] = {
    SC2_LCTRL,    SC2_LALT,  SC2_EXTENDED, SC2_DELETE, /* press */
    SC2_EXTENDED, SC2_BREAK, SC2_DELETE,   SC2_BREAK,  SC2_LALT, SC2_BREAK, SC2_LCTRL,
};
#define CAD_BREAKS 3 /* F0 prefixes: translation folds each into the next byte */

/* Set 2 to set 1, as the controller translates, for the bytes this keyboard sends; the
 * others it sends (E0 and the replies FA, AA, AB, EE, FE) are the same in both sets. */
static uint8_t xlate(uint8_t b)
{
	switch (b) {
	case SC2_LCTRL:
		return 0x1d;
	case SC2_LALT:
		return 0x38;
	case SC2_DELETE:
		return 0x53;
	case KBD_ID_1:
		return 0x41; /* so a translated identify reads AB 41, as on PCs */
	default:
		return b;
	}
}

static void fifo_push(struct i8042 *k, uint8_t b)
{
	if (k->count == I8042_FIFO_SIZE)
		return; /* overrun: the byte is lost */
	k->fifo[(k->head + k->count) % I8042_FIFO_SIZE] = b;
	k->count++;
}

/* A byte from the keyboard, translated if the command byte asks for it. */
static void kbd_send(struct i8042 *k, uint8_t b)
{
	k->kbd_last = b;
	if (k->ram[0] & CTR_XLATE) {
		if (b == SC2_BREAK) {
			k->xlate_break = true;
			return;
		}
		b = xlate(b);
		if (k->xlate_break)
			b |= 0x80;
		k->xlate_break = false;
	}
	fifo_push(k, b);
}

/*
 * IRQ 1 follows "a byte waits" while the command byte enables it, as the 8042's
 * output-buffer-full pin drives the line. ISA IRQ 1 is edge-triggered in KVM's i8259
 * (ELCR cannot make it level) and, as Linux programs it from the MADT, in the IOAPIC: both
 * latch an interrupt only on a 0->1 change, and a raise while the line is already high
 * is dropped as coalesced. So the line stays high until the guest reads the byte (a guest
 * that enables the interrupt later still gets its edge) and drops on every read: the next
 * byte then raises it again, one edge per byte, and Linux takes one byte per interrupt.
 */
static void irq_update(struct i8042 *k)
{
	bool level = k->count && (k->ram[0] & CTR_KBDINT);
	if (level != k->irq_level) {
		k->irq_level = level;
		k->set_irq(k->ctx, level);
	}
}

static void kbd_defaults(struct i8042 *k)
{
	k->kbd_pending = 0;
	k->leds = 0;
	k->xlate_break = false;
}

static void kbd_write(struct i8042 *k, uint8_t v)
{
	if (k->kbd_pending) {
		/* The argument of ED, F0 or F3. There is one scan code set (2) and no
		 * typematic repeat to set, so only the LEDs are kept. */
		if (k->kbd_pending == KBD_SET_LEDS)
			k->leds = v & 0x07;
		k->kbd_pending = 0;
		kbd_send(k, KBD_ACK);
		return;
	}
	switch (v) {
	case KBD_SET_LEDS:
	case KBD_SCAN_SET:
	case KBD_TYPEMATIC:
		k->kbd_pending = v;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_ECHO:
		kbd_send(k, KBD_ECHO);
		break;
	case KBD_IDENTIFY:
		kbd_send(k, KBD_ACK);
		kbd_send(k, KBD_ID_0);
		kbd_send(k, KBD_ID_1);
		break;
	case KBD_ENABLE:
		k->scanning = true;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_DISABLE:
		kbd_defaults(k);
		k->scanning = false;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_DEFAULTS:
		kbd_defaults(k);
		kbd_send(k, KBD_ACK);
		break;
	case KBD_RESEND:
		kbd_send(k, k->kbd_last);
		break;
	case KBD_RESET:
		kbd_defaults(k);
		k->scanning = true;
		kbd_send(k, KBD_ACK);
		kbd_send(k, KBD_BAT_OK);
		break;
	default:
		kbd_send(k, KBD_NAK);
		break;
	}
}

/* A byte on port 0x60: a command's argument, else for the keyboard. */
static void data_write(struct i8042 *k, uint8_t v, bool *reset)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + I8042_RAM_SIZE) {
		k->ram[cmd - CMD_WRITE_RAM] = v;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		k->outport = v;
		if (!(v & OUT_RESET))
			*reset = true;
		return;
	case CMD_WRITE_KBD_BUF:
		fifo_push(k, v); /* straight into the buffer: not translated */
		return;
	case CMD_WRITE_AUX_BUF:
	case CMD_WRITE_AUX:
		/* No aux device: the byte goes nowhere and nothing answers. Linux without
		 * i8042.noaux waits 0.5 s for its aux loop test (D3) before it asks A9. */
		return;
	default:
		kbd_write(k, v);
	}
}

static void command_write(struct i8042 *k, uint8_t cmd, bool *reset)
{
	k->pending = 0;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + I8042_RAM_SIZE) {
		fifo_push(k, k->ram[cmd - CMD_READ_RAM]);
		return;
	}
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + I8042_RAM_SIZE) {
		k->pending = cmd;
		return;
	}
	if (cmd >= CMD_PULSE) {
		/* Bit 0 clear pulses the reset line: 0xFE is the one everybody uses; Linux's
		 * "null command" 0xFF pulses nothing. */
		if (!(cmd & OUT_RESET))
			*reset = true;
		return;
	}
	switch (cmd) {
	case CMD_AUX_TEST:
		fifo_push(k, AUX_TEST_ABSENT);
		break;
	case CMD_SELF_TEST:
		k->ram[0] |= CTR_SYS;
		fifo_push(k, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		fifo_push(k, KBD_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		k->ram[0] |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->ram[0] &= (uint8_t)~CTR_KBDDIS;
		break;
	case CMD_READ_OUTPORT:
		fifo_push(k, k->outport);
		break;
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_BUF:
	case CMD_WRITE_AUX_BUF:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
	case CMD_AUX_ENABLE:
	default:
		break; /* no aux port to switch; unknown commands do nothing */
	}
}

static uint8_t status(const struct i8042 *k)
{
	return (uint8_t)((k->count ? STS_OBF : 0) | (k->ram[0] & CTR_SYS ? STS_SYS : 0) |
	                 (k->last_was_cmd ? STS_A2 : 0) | STS_UNLOCK);
}

/* Both ports are one-byte ranges, so len is 1; anything wider would read as nothing. */
static void i8042_read_data(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	struct i8042 *k = dev;
	(void)offset;

	pthread_mutex_lock(&k->lock);
	if (k->count) {
		k->obuf = k->fifo[k->head];
		k->head = (k->head + 1) % I8042_FIFO_SIZE;
		k->count--;
		if (k->irq_level) {
			k->irq_level = false; /* the falling edge the next byte's interrupt needs */
			k->set_irq(k->ctx, 0);
		}
	}
	memset(data, 0xff, len);
	data[0] = k->obuf;
	irq_update(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_read_status(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	struct i8042 *k = dev;
	(void)offset;

	pthread_mutex_lock(&k->lock);
	memset(data, 0xff, len);
	data[0] = status(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_write(struct i8042 *k, const uint8_t *data, unsigned len, bool command)
{
	bool reset = false;

	if (len != 1)
		return;
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = command;
	if (command)
		command_write(k, data[0], &reset);
	else
		data_write(k, data[0], &reset);
	irq_update(k);
	pthread_mutex_unlock(&k->lock);
	/* Unlocked: stopping the VM is no business of this device's lock. */
	if (reset)
		k->on_reset(k->ctx);
}

static void i8042_write_data(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	(void)offset;
	i8042_write(dev, data, len, false);
}

static void i8042_write_command(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	(void)offset;
	i8042_write(dev, data, len, true);
}

const struct bus_ops i8042_data_ops = {.read = i8042_read_data, .write = i8042_write_data};
const struct bus_ops i8042_command_ops = {.read = i8042_read_status, .write = i8042_write_command};

int i8042_init(struct i8042 *kbd, void (*on_reset)(void *ctx),
               void (*set_irq)(void *ctx, int level), void *ctx)
{
	memset(kbd, 0, sizeof(*kbd));
	int r = pthread_mutex_init(&kbd->lock, NULL);
	if (r)
		return -r;
	kbd->on_reset = on_reset;
	kbd->set_irq = set_irq;
	kbd->ctx = ctx;
	kbd->ram[0] = CTR_POWER_ON;
	kbd->outport = OUT_POWER_ON;
	kbd->scanning = true;
	kbd->kbd_last = KBD_BAT_OK; /* what a keyboard sends once it has powered up */
	return 0;
}

void i8042_destroy(struct i8042 *kbd)
{
	pthread_mutex_destroy(&kbd->lock);
}

int i8042_send_ctrl_alt_del(struct i8042 *kbd)
{
	int r = 0;

	pthread_mutex_lock(&kbd->lock);
	unsigned need = sizeof(ctrl_alt_del) - (kbd->ram[0] & CTR_XLATE ? CAD_BREAKS : 0);
	if (!kbd->scanning || (kbd->ram[0] & CTR_KBDDIS)) {
		r = -EAGAIN;
	} else if (I8042_FIFO_SIZE - kbd->count < need) {
		r = -ENOSPC;
	} else {
		kbd->xlate_break = false; /* whole keys only: never half a break code */
		for (size_t i = 0; i < sizeof(ctrl_alt_del); i++)
			kbd_send(kbd, ctrl_alt_del[i]);
		irq_update(kbd);
	}
	pthread_mutex_unlock(&kbd->lock);
	return r;
}

void i8042_save(struct i8042 *k, struct i8042_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&k->lock);
	memcpy(st->ram, k->ram, sizeof(st->ram));
	memcpy(st->fifo, k->fifo, sizeof(st->fifo));
	st->head = k->head, st->count = k->count;
	st->outport = k->outport, st->pending = k->pending, st->last_was_cmd = k->last_was_cmd;
	st->xlate_break = k->xlate_break, st->irq_level = k->irq_level, st->obuf = k->obuf;
	st->scanning = k->scanning, st->kbd_pending = k->kbd_pending;
	st->kbd_last = k->kbd_last, st->leds = k->leds;
	pthread_mutex_unlock(&k->lock);
}

int i8042_restore(struct i8042 *k, const struct i8042_state *st)
{
	if (st->head >= I8042_FIFO_SIZE || st->count > I8042_FIFO_SIZE || st->last_was_cmd > 1 ||
	    st->xlate_break > 1 || st->irq_level > 1 || st->scanning > 1)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	memcpy(k->ram, st->ram, sizeof(k->ram));
	memcpy(k->fifo, st->fifo, sizeof(k->fifo));
	k->head = st->head, k->count = st->count;
	k->outport = st->outport, k->pending = st->pending, k->last_was_cmd = st->last_was_cmd;
	k->xlate_break = st->xlate_break, k->irq_level = st->irq_level, k->obuf = st->obuf;
	k->scanning = st->scanning, k->kbd_pending = st->kbd_pending;
	k->kbd_last = st->kbd_last, k->leds = st->leds;
	pthread_mutex_unlock(&k->lock);
	return 0;
}
