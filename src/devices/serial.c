/* 16550A UART emulation (register model from the National Semiconductor PC16550D sheet). */
#include "serial.h"
#include "../base/start_trace.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum {
	REG_DATA = 0, /* RBR / THR, or DLL with DLAB */
	REG_IER = 1,  /* or DLM with DLAB */
	REG_IIR = 2,  /* FCR on write */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define LCR_DLAB      0x80
#define IER_RDI       0x01
#define IER_THRI      0x02
#define IER_MASK      0x0f
#define IIR_NO_INT    0x01
#define IIR_THRI      0x02
#define IIR_RDI       0x04
#define IIR_FIFO_BITS 0xc0
#define FCR_ENABLE    0x01
#define FCR_CLEAR_RX  0x02
#define MCR_DTR       0x01
#define MCR_RTS       0x02
#define MCR_OUT1      0x04
#define MCR_OUT2      0x08
#define MCR_LOOP      0x10
#define MCR_MASK      0x1f
#define LSR_DR        0x01
#define LSR_THRE      0x20
#define LSR_TEMT      0x40
#define MSR_CTS       0x10
#define MSR_DSR       0x20
#define MSR_RI        0x40
#define MSR_DCD       0x80

static void rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count == SERIAL_RX_SIZE)
		return; /* overrun: the byte is lost, as on hardware */
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_SIZE] = b;
	s->rx_count++;
}

static uint8_t iir_value(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0;
	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

static void update_irq(struct serial *s)
{
	bool level = !(iir_value(s) & IIR_NO_INT);
	if (level != s->irq_level) {
		s->irq_level = level;
		s->set_irq(s->irq_ctx, level);
	}
}

static uint8_t msr_value(const struct serial *s)
{
	if (s->mcr & MCR_LOOP) {
		/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
		return (
		    uint8_t)((s->mcr & MCR_DTR ? MSR_DSR : 0) | (s->mcr & MCR_RTS ? MSR_CTS : 0) |
		             (s->mcr & MCR_OUT1 ? MSR_RI : 0) | (s->mcr & MCR_OUT2 ? MSR_DCD : 0));
	}
	return MSR_DCD | MSR_DSR | MSR_CTS;
}

static void transmit(struct serial *s, uint8_t b)
{
	if (s->mcr & MCR_LOOP) {
		rx_push(s, b);
	} else {
		ssize_t r;
		start_trace_mark(START_FIRST_OUTPUT);
		do
			r = write(s->out_fd, &b, 1);
		while (r < 0 && errno == EINTR);
	}
	s->thr_ipending = true;
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	uint8_t v = 0;
	switch (reg) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_SIZE;
			s->rx_count--;
		}
		return v;
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR:
		v = iir_value(s);
		if ((v & ~IIR_FIFO_BITS) == IIR_THRI)
			s->thr_ipending = false; /* reading IIR acknowledges THRE */
		return v;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case REG_MSR:
		return msr_value(s);
	default:
		return s->scr;
	}
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			if (!(s->ier & IER_THRI) && (v & IER_THRI))
				s->thr_ipending =
				    true; /* THR is empty the moment THRI is enabled */
			s->ier = v & IER_MASK;
		}
		break;
	case REG_IIR:
		s->fcr = v & (FCR_ENABLE | 0xc0);
		if (v & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & MCR_MASK;
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
}

static void serial_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	struct serial *s = dev;
	pthread_mutex_lock(&s->lock);
	/* Wider accesses read consecutive byte registers, as on an 8-bit bus. */
	for (unsigned i = 0; i < len; i++)
		data[i] = offset + i < SERIAL_REGS ? reg_read(s, (unsigned)offset + i) : 0xff;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct serial *s = dev;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < len && offset + i < SERIAL_REGS; i++)
		reg_write(s, (unsigned)offset + i, data[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_ops = {.read = serial_read, .write = serial_write};

int serial_init(struct serial *s, int out_fd, void (*set_irq)(void *ctx, int level), void *irq_ctx)
{
	memset(s, 0, sizeof(*s));
	int r = pthread_mutex_init(&s->lock, NULL);
	if (r)
		return -r;
	s->out_fd = out_fd;
	s->set_irq = set_irq;
	s->irq_ctx = irq_ctx;
	s->lcr = 0x03; /* 8N1 */
	s->mcr = 0x08; /* OUT2 */
	s->dll = 0x0c; /* 9600 baud, as a BIOS leaves it */
	return 0;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

void serial_gate_rx(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	s->rx_gated = true;
	pthread_mutex_unlock(&s->lock);
}

static bool rx_open(const struct serial *s)
{
	return !s->rx_gated || (s->mcr & (MCR_RTS | MCR_OUT1)) == (MCR_RTS | MCR_OUT1);
}

unsigned serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned space = rx_open(s) ? SERIAL_RX_SIZE - s->rx_count : 0;
	pthread_mutex_unlock(&s->lock);
	return space;
}

unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = 0;
	while (n < len && s->rx_count < SERIAL_RX_SIZE && rx_open(s))
		rx_push(s, buf[n++]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_save(struct serial *s, struct serial_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&s->lock);
	st->ier = s->ier, st->lcr = s->lcr, st->mcr = s->mcr, st->scr = s->scr;
	st->dll = s->dll, st->dlm = s->dlm, st->fcr = s->fcr;
	st->thr_ipending = s->thr_ipending;
	st->irq_level = s->irq_level;
	st->rx_head = s->rx_head;
	st->rx_count = s->rx_count;
	memcpy(st->rx, s->rx, sizeof(st->rx));
	pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, const struct serial_state *st)
{
	if (st->rx_head >= SERIAL_RX_SIZE || st->rx_count > SERIAL_RX_SIZE ||
	    st->thr_ipending > 1 || st->irq_level > 1)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier, s->lcr = st->lcr, s->mcr = st->mcr, s->scr = st->scr;
	s->dll = st->dll, s->dlm = st->dlm, s->fcr = st->fcr;
	s->thr_ipending = st->thr_ipending;
	s->irq_level = st->irq_level; /* the line's level itself is in the restored irqchip */
	s->rx_head = st->rx_head;
	s->rx_count = st->rx_count;
	memcpy(s->rx, st->rx, sizeof(s->rx));
	pthread_mutex_unlock(&s->lock);
	return 0;
}
