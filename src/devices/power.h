/*
 * Ember's ACPI power registers (docs/CONTRACTS.md, "Platform devices a Linux guest finds"):
 * the hardware-reduced sleep control and status registers the FADT points at, the reset
 * register, and an exit register: writing a status there ends the VM with it at once, so a
 * guest's init reports its command's status and the kernel's shutdown chatter never runs.
 */
#ifndef EMBER_POWER_H
#define EMBER_POWER_H

#include "../base/bus.h"

#include <stdint.h>

#define POWER_PORT_BASE 0x600
#define POWER_PORTS     4

/* Register offsets from POWER_PORT_BASE, each one byte wide. */
#define POWER_REG_SLEEP_CONTROL 0
#define POWER_REG_SLEEP_STATUS  1
#define POWER_REG_RESET         2
#define POWER_REG_EXIT          3

#define POWER_SLEEP_CONTROL_PORT (POWER_PORT_BASE + POWER_REG_SLEEP_CONTROL)
#define POWER_SLEEP_STATUS_PORT  (POWER_PORT_BASE + POWER_REG_SLEEP_STATUS)
#define POWER_RESET_PORT         (POWER_PORT_BASE + POWER_REG_RESET)
#define POWER_EXIT_PORT          (POWER_PORT_BASE + POWER_REG_EXIT)

/* Sleep control register fields (ACPI 4.8.3.7) and the one sleep type Ember implements: the
 * DSDT's \_S5 announces POWER_SLP_TYP_S5. */
#define POWER_SLP_EN        0x20
#define POWER_SLP_TYP_SHIFT 2
#define POWER_SLP_TYP_MASK  0x1c
#define POWER_SLP_TYP_S5    5

/* The FADT's RESET_VALUE. */
#define POWER_RESET_VALUE 0x06

struct power {
	void (*on_poweroff)(void *ctx, int status);
	void (*on_reset)(void *ctx);
	void *ctx;
};

/*
 * Register power_ops at POWER_PORT_BASE, POWER_PORTS bytes long. An access of 2, 4 or 8
 * bytes reaches consecutive registers, one byte each, in ascending order (as the 16550A
 * does); bytes past the last register read 0xff and are ignored on write. Every register
 * reads 0.
 */
extern const struct bus_ops power_ops;

/*
 * Set up the device. Both callbacks run on the vCPU thread that wrote the register:
 * on_poweroff(ctx, 0) on a sleep control write with POWER_SLP_EN and sleep type
 * POWER_SLP_TYP_S5; on_poweroff(ctx, v) on any write v (0-255) to the exit register;
 * on_reset(ctx) on a write of POWER_RESET_VALUE to the reset register. Other values are
 * ignored. The device keeps no state, so concurrent vCPUs need no locking.
 */
void power_init(struct power *pm, void (*on_poweroff)(void *ctx, int status),
                void (*on_reset)(void *ctx), void *ctx);

#endif
