/*
 * A 16550A UART (the PC's COM1). Transmission is instant: bytes the guest writes go to
 * out_fd at once, so THR is always empty. Received bytes wait in a FIFO until the guest
 * reads them. Loopback mode and the modem-status bits behave as Linux's probe expects.
 */
#ifndef EMBER_SERIAL_H
#define EMBER_SERIAL_H

#include "../base/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_REGS      8
#define SERIAL_RX_SIZE   256

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	void (*set_irq)(void *ctx, int level);
	void *irq_ctx;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_ipending; /* a "transmitter empty" interrupt waits to be reported */
	bool rx_gated;     /* host input waits for the guest's RTS and OUT1 (serial_gate_rx) */
	bool irq_level;
	uint8_t rx[SERIAL_RX_SIZE];
	unsigned rx_head, rx_count;
};

extern const struct bus_ops serial_ops;

/* Reset the UART to its power-on state. Output goes to out_fd; set_irq(irq_ctx, level)
 * drives the interrupt line. Returns 0 or -errno. */
int serial_init(struct serial *s, int out_fd, void (*set_irq)(void *ctx, int level), void *irq_ctx);

void serial_destroy(struct serial *s);

/* A snapshot of the UART's registers and the bytes waiting for the guest. */
struct serial_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t thr_ipending, irq_level, pad[7];
	uint32_t rx_head, rx_count;
	uint8_t rx[SERIAL_RX_SIZE];
};

void serial_save(struct serial *s, struct serial_state *st);

/* Put st back (after serial_init): -EINVAL if its FIFO indexes are out of range. */
int serial_restore(struct serial *s, const struct serial_state *st);

/*
 * From now on accept host input only while the guest holds both RTS and OUT1 in the modem
 * control register: Ember's default init raises OUT1 (which Linux never sets by itself)
 * once its tty is set up, and with RTS/CTS flow control the tty drops RTS while its buffer
 * is full. So nothing is sent before anyone reads, and nothing overflows.
 */
void serial_gate_rx(struct serial *s);

/* How many bytes serial_receive() would accept now. */
unsigned serial_rx_space(struct serial *s);

/* Queue up to len bytes from the host for the guest to read; returns how many fit. */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len);

#endif
