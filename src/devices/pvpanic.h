/*
 * The ISA pvpanic device (QEMU's docs/specs/pvpanic): a guest kernel that panics writes
 * PVPANIC_PANICKED to one I/O port. The DSDT announces it as QEMU0001.
 */
#ifndef EMBER_PVPANIC_H
#define EMBER_PVPANIC_H

#include "../base/bus.h"

#define PVPANIC_PORT     0x505
#define PVPANIC_PANICKED 0x01 /* "a guest panic has happened and should be processed" */

struct pvpanic {
	void (*on_panic)(void *ctx);
	void *ctx;
};

/*
 * Register pvpanic_ops at PVPANIC_PORT, one byte wide. Reads return the events Ember
 * handles, PVPANIC_PANICKED (bytes beyond the first of a wider access read 0). A write with
 * PVPANIC_PANICKED set in its first byte calls on_panic(ctx) on the writing vCPU's thread;
 * other bits are ignored, as the spec asks of a device that does not know them.
 */
extern const struct bus_ops pvpanic_ops;

void pvpanic_init(struct pvpanic *pv, void (*on_panic)(void *ctx), void *ctx);

#endif
