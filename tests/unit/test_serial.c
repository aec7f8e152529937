/* The 16550A: what Linux's 8250 driver and our guests see through the register interface. */
#include "unit.h"

#include "devices/serial.h"

#include <fcntl.h>
#include <stdlib.h>

enum {
	THR = 0,
	RBR = 0,
	DLL = 0,
	IER = 1,
	DLM = 1,
	IIR = 2,
	FCR = 2,
	LCR = 3,
	MCR = 4,
	LSR = 5,
	MSR = 6,
	SCR = 7
};

#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

struct irq_log {
	int level;
	unsigned calls;
};

struct fixture {
	struct serial s;
	int pipe[2]; /* out_fd is pipe[1]; the test reads pipe[0] */
	struct irq_log irq;
};

static void record_irq(void *ctx, int level)
{
	struct irq_log *log = ctx;
	log->level = level;
	log->calls++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(f);
		return -1;
	}
	if (serial_init(&f->s, f->pipe[1], record_irq, &f->irq) < 0) {
		close(f->pipe[0]);
		close(f->pipe[1]);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	serial_destroy(&f->s);
	close(f->pipe[0]);
	close(f->pipe[1]);
	free(f);
	return 0;
}

static void wr(struct fixture *f, unsigned reg, uint8_t v)
{
	serial_ops.write(&f->s, reg, &v, 1);
}

static uint8_t rd(struct fixture *f, unsigned reg)
{
	uint8_t v = 0x5a;
	serial_ops.read(&f->s, reg, &v, 1);
	return v;
}

/* What the UART wrote to out_fd so far (at most max bytes); 0 if nothing. */
static size_t drain(struct fixture *f, char *buf, size_t max)
{
	ssize_t n = read(f->pipe[0], buf, max);
	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return (size_t)n;
}

static void thr_reaches_out_fd(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, THR, 'h');
	wr(f, THR, 'i');
	wr(f, THR, '\n');
	assert_int_equal(drain(f, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "hi\n", 3);
	assert_int_equal(drain(f, buf, sizeof(buf)), 0);
	/* Every byte value goes through unchanged. */
	wr(f, THR, 0x00);
	wr(f, THR, 0xff);
	assert_int_equal(drain(f, buf, sizeof(buf)), 2);
	assert_int_equal((uint8_t)buf[0], 0x00);
	assert_int_equal((uint8_t)buf[1], 0xff);
}

static void lsr_always_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, LSR), LSR_THRE | LSR_TEMT);
	wr(f, THR, 'x');
	assert_int_equal(rd(f, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	assert_false(rd(f, LSR) & LSR_DR);
}

static void ier_probe(void **state)
{
	struct fixture *f = *state;

	/* Linux's autoconfig: IER must hold 0 and then 0x0f, or there is no UART. */
	wr(f, IER, 0x00);
	assert_int_equal(rd(f, IER), 0x00);
	wr(f, IER, 0x0f);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, IER, 0x00);
	assert_int_equal(rd(f, IER), 0x00);
	/* The upper nibble is not implemented on a 16550A. */
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
}

static void scratch_register(void **state)
{
	struct fixture *f = *state;

	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	wr(f, SCR, 0x5a);
	assert_int_equal(rd(f, SCR), 0x5a);
}

static void loopback_msr(void **state)
{
	struct fixture *f = *state;

	/* Linux's probe: loopback with RTS and OUT2 must read back CTS and DCD (0x90). */
	wr(f, MCR, 0x1a);
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90);
}

static void loopback_msr_each_line(void **state)
{
	struct fixture *f = *state;

	/* The 16550's loopback wiring: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	wr(f, MCR, 0x10);
	assert_int_equal(rd(f, MSR) & 0xf0, 0x00);
	wr(f, MCR, 0x11); /* DTR */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x20);
	wr(f, MCR, 0x12); /* RTS */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x10);
	wr(f, MCR, 0x14); /* OUT1 */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x40);
	wr(f, MCR, 0x18); /* OUT2 */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x80);
	wr(f, MCR, 0x1f);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xf0);
}

static void loopback_data(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, MCR, 0x1a);
	wr(f, THR, 'A');
	wr(f, THR, 'B');
	assert_true(rd(f, LSR) & LSR_DR);
	assert_int_equal(rd(f, RBR), 'A');
	assert_int_equal(rd(f, RBR), 'B');
	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(drain(f, buf, sizeof(buf)), 0);

	/* Out of loopback, the modem lines read as a connected terminal and THR transmits. */
	wr(f, MCR, 0x0b);
	wr(f, THR, 'C');
	assert_int_equal(drain(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'C');
	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(rd(f, MSR) & 0xb0, 0xb0); /* DCD, DSR, CTS */
}

static void dlab(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, IER, 0x05);
	wr(f, LCR, 0x83); /* DLAB, 8N1 */
	wr(f, DLL, 0x01); /* 115200 baud */
	wr(f, DLM, 0x00);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x00);
	wr(f, DLL, 0x0c);
	wr(f, DLM, 0x34);
	assert_int_equal(rd(f, DLL), 0x0c);
	assert_int_equal(rd(f, DLM), 0x34);
	assert_int_equal(rd(f, LCR), 0x83);
	/* Writes to the divisor did not transmit. */
	assert_int_equal(drain(f, buf, sizeof(buf)), 0);

	/* DLAB off: the data and IER registers are back, untouched by the divisor writes. */
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, IER), 0x05);
	wr(f, THR, 'z');
	assert_int_equal(drain(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'z');
	/* And the divisor survives. */
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x0c);
	assert_int_equal(rd(f, DLM), 0x34);
}

static void dlab_hides_rx(void **state)
{
	struct fixture *f = *state;

	wr(f, LCR, 0x83);
	wr(f, DLL, 0x42);
	wr(f, LCR, 0x03);
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"q", 1), 1);
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x42); /* the divisor, and the byte stays queued */
	assert_true(rd(f, LSR) & LSR_DR);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, RBR), 'q');
}

static void receive_in_order(void **state)
{
	struct fixture *f = *state;

	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"abc", 3), 3);
	assert_true(rd(f, LSR) & LSR_DR);
	assert_int_equal(rd(f, RBR), 'a');
	assert_true(rd(f, LSR) & LSR_DR);
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"d", 1), 1);
	assert_int_equal(rd(f, RBR), 'c');
	assert_int_equal(rd(f, RBR), 'd');
	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(rd(f, LSR), LSR_THRE | LSR_TEMT);
}

static void rx_space(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[SERIAL_RX_SIZE + 44];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 3 + 1);
	assert_int_equal(serial_rx_space(&f->s), SERIAL_RX_SIZE);
	assert_int_equal(serial_receive(&f->s, buf, 10), 10);
	assert_int_equal(serial_rx_space(&f->s), SERIAL_RX_SIZE - 10);
	/* More than fits: takes what fits and says so. */
	assert_int_equal(serial_receive(&f->s, buf + 10, sizeof(buf) - 10), SERIAL_RX_SIZE - 10);
	assert_int_equal(serial_rx_space(&f->s), 0);
	assert_int_equal(serial_receive(&f->s, buf, 1), 0);
	assert_int_equal(serial_receive(&f->s, buf, 0), 0);

	/* Reading frees space; everything accepted comes out in order, nothing else. */
	assert_int_equal(rd(f, RBR), buf[0]);
	assert_int_equal(serial_rx_space(&f->s), 1);
	assert_int_equal(serial_receive(&f->s, buf + SERIAL_RX_SIZE, 1), 1); /* wraps round */
	for (size_t i = 1; i <= SERIAL_RX_SIZE; i++)
		assert_int_equal(rd(f, RBR), buf[i]);
	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(serial_rx_space(&f->s), SERIAL_RX_SIZE);
}

static void irq_rx(void **state)
{
	struct fixture *f = *state;

	/* Data but no RDI: no interrupt. */
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"x", 1), 1);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
	assert_int_equal(rd(f, RBR), 'x');

	/* RDI on, no data: still none. */
	wr(f, IER, 0x01);
	assert_int_equal(f->irq.level, 0);

	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"yz", 2), 2);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(f, RBR), 'y');
	assert_int_equal(f->irq.level, 1); /* one byte left */
	assert_int_equal(rd(f, RBR), 'z');
	assert_int_equal(f->irq.level, 0); /* drained */
	assert_int_equal(rd(f, IIR) & 0x0f, 0x01);

	/* Data waiting when RDI is enabled raises the line at once; disabling drops it. */
	wr(f, IER, 0x00);
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"w", 1), 1);
	assert_int_equal(f->irq.level, 0);
	wr(f, IER, 0x01);
	assert_int_equal(f->irq.level, 1);
	wr(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
}

static void irq_thri(void **state)
{
	struct fixture *f = *state;

	/* Enabling THRI with THR empty interrupts at once. */
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	/* Reading IIR reports THRE and acknowledges it. */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0x01);

	/* Each transmitted byte empties THR again. */
	wr(f, THR, 'a');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);

	/* Disabling and re-enabling THRI raises it again (Linux's THRE test). */
	wr(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	wr(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
}

static void irq_priority(void **state)
{
	struct fixture *f = *state;

	/* Received data outranks THRE in IIR. */
	wr(f, IER, 0x03);
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"k", 1), 1);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'k');
	assert_int_equal(f->irq.level, 1); /* THRE still pending */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
}

static void fcr_fifo_bits(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IIR) & 0xc0, 0x00);
	/* Linux writes 0xe7 (enable and clear, trigger bits) to find a 16550A. */
	wr(f, FCR, 0xe7);
	assert_int_equal(rd(f, IIR) & 0xc0, 0xc0);
	assert_int_equal(rd(f, IIR), 0xc1);
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR) & 0xc0, 0xc0);
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, IIR) & 0xc0, 0x00);

	/* FCR bit 1 clears the receive FIFO. */
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"abc", 3), 3);
	wr(f, FCR, 0x03);
	assert_false(rd(f, LSR) & LSR_DR);
	assert_int_equal(serial_rx_space(&f->s), SERIAL_RX_SIZE);
}

/* A gated receiver takes host bytes only while the guest holds RTS and OUT1. */
static void rx_gate(void **state)
{
	struct fixture *f = *state;
	const uint8_t b[2] = {'a', 'b'};

	serial_gate_rx(&f->s);
	wr(f, MCR, 0x0b); /* DTR, RTS, OUT2: what Linux sets on open */
	assert_int_equal(serial_rx_space(&f->s), 0);
	assert_int_equal(serial_receive(&f->s, b, 2), 0);
	wr(f, MCR, 0x0f); /* + OUT1: the init's "ready" */
	assert_int_equal(serial_rx_space(&f->s), SERIAL_RX_SIZE);
	assert_int_equal(serial_receive(&f->s, b, 1), 1);
	wr(f, MCR, 0x0d); /* RTS down: the tty's buffer is full */
	assert_int_equal(serial_receive(&f->s, b + 1, 1), 0);
	wr(f, MCR, 0x0f);
	assert_int_equal(serial_receive(&f->s, b + 1, 1), 1);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(rd(f, RBR), 'b');
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(thr_reaches_out_fd), T(lsr_always_empty),       T(ier_probe),     T(scratch_register),
	    T(loopback_msr),       T(loopback_msr_each_line), T(loopback_data), T(dlab),
	    T(dlab_hides_rx),      T(receive_in_order),       T(rx_space),      T(irq_rx),
	    T(irq_thri),           T(irq_priority),           T(fcr_fifo_bits), T(rx_gate),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
