/*
 * The part of the PC keyboard controller (i8042) a guest uses to reset the machine:
 * command 0xFE on port 0x64 pulses the CPU reset line. Everything else reads as an idle
 * controller with nothing to say.
 */
#ifndef EMBER_I8042_H
#define EMBER_I8042_H

#include "../vmm/bus.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xfe

struct i8042 {
	void (*on_reset)(void *ctx);
	void *ctx;
};

/* Register i8042_data_ops at I8042_DATA_PORT and i8042_command_ops at
 * I8042_COMMAND_PORT, each one byte wide, with the same struct i8042. */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_command_ops;

/* on_reset(ctx) runs on the vCPU thread that wrote the reset command. */
void i8042_init(struct i8042 *kbd, void (*on_reset)(void *ctx), void *ctx);

#endif
