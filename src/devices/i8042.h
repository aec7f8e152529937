/*
 * The PC keyboard controller (an i8042) with a PS/2 keyboard on its first port and nothing
 * on its aux (mouse) port. Enough of both for Linux's i8042 and atkbd drivers, and for the
 * host to press Ctrl-Alt-Del; 0xFE on port 0x64 still pulses the CPU reset line.
 */
#ifndef EMBER_I8042_H
#define EMBER_I8042_H

#include "../base/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ      1
#define I8042_CMD_RESET    0xfe
#define I8042_RAM_SIZE     32 /* controller RAM; byte 0 is the command byte */
/* Bytes waiting for the guest. 16 because Linux's i8042_flush() reads at most 16 before it
 * decides the controller is broken ("No controller found"): a fuller buffer at boot would
 * cost the guest its keyboard. Two Ctrl-Alt-Dels (8 bytes each, translated) fit. */
#define I8042_FIFO_SIZE 16

struct i8042 {
	pthread_mutex_t lock; /* vCPU threads (ports) against the vmm thread (keys) */
	void (*on_reset)(void *ctx);
	void (*set_irq)(void *ctx, int level);
	void *ctx;

	/* The controller. */
	uint8_t ram[I8042_RAM_SIZE];
	uint8_t outport;   /* output port: bit 0 is the reset line (active low), bit 1 A20 */
	uint8_t pending;   /* the command waiting for its byte on port 0x60, or 0 */
	bool last_was_cmd; /* status A2: the last write went to port 0x64 */
	bool xlate_break;  /* translating: a set-2 break prefix (F0) sets the next bit 7 */
	bool irq_level;    /* what set_irq was last told */
	uint8_t obuf;      /* the last byte the guest read: port 0x60 when nothing waits */
	uint8_t fifo[I8042_FIFO_SIZE];
	unsigned head, count;

	/* The keyboard. */
	bool scanning;       /* reports keys (F4 on, F5 off) */
	uint8_t kbd_pending; /* a command waiting for its argument byte (ED, F0, F3), or 0 */
	uint8_t kbd_last;    /* what "resend" (FE) repeats */
	uint8_t leds;
};

/* Register i8042_data_ops at I8042_DATA_PORT and i8042_command_ops at
 * I8042_COMMAND_PORT, each one byte wide, with the same struct i8042. */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_command_ops;

/*
 * Power-on state, as firmware leaves the controller after POST: keyboard port enabled
 * with its interrupt, scan-code translation on, system flag set; the keyboard scanning.
 * on_reset(ctx) runs on the vCPU thread that pulsed the reset line, without the device
 * lock held. set_irq(ctx, level) drives ISA IRQ 1, under the device lock, from the vCPU
 * thread or from i8042_send_ctrl_alt_del()'s thread. Returns 0 or -errno.
 */
int i8042_init(struct i8042 *kbd, void (*on_reset)(void *ctx),
               void (*set_irq)(void *ctx, int level), void *ctx);

void i8042_destroy(struct i8042 *kbd);

/* A snapshot of the controller and the keyboard. */
struct i8042_state {
	uint8_t ram[I8042_RAM_SIZE];
	uint8_t fifo[I8042_FIFO_SIZE];
	uint32_t head, count;
	uint8_t outport, pending, last_was_cmd, xlate_break, irq_level, obuf;
	uint8_t scanning, kbd_pending, kbd_last, leds, pad[6];
};

void i8042_save(struct i8042 *kbd, struct i8042_state *st);

/* Put st back (after i8042_init): -EINVAL if its FIFO indexes are out of range. */
int i8042_restore(struct i8042 *kbd, const struct i8042_state *st);

/*
 * Press and release Ctrl, Alt and Delete, in the scan codes the guest reads (set 1 while
 * the controller translates, set 2 otherwise), and raise IRQ 1 if the guest enabled it.
 * Thread-safe. All or nothing: returns 0 when the eight (translated) or eleven key bytes
 * are queued, -EAGAIN if the guest has switched the keyboard off (port disabled, or
 * scanning stopped; a real keyboard loses the keys too), -ENOSPC if the guest has not
 * read enough of what is already waiting.
 */
int i8042_send_ctrl_alt_del(struct i8042 *kbd);

#endif
