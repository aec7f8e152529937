/* i8042 keyboard controller: only the reset command does anything. */
#include "i8042.h"

#include <string.h>

/* Both ports are registered as one-byte ranges, so reads of either return 0: an empty
 * output buffer and a controller ready for commands. */
static void i8042_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	(void)dev;
	(void)offset;
	memset(data, 0, len);
}

static void i8042_write_data(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	(void)dev;
	(void)offset;
	(void)data;
	(void)len;
}

static void i8042_write_command(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct i8042 *kbd = dev;
	(void)offset;
	(void)len;
	if (data[0] == I8042_CMD_RESET)
		kbd->on_reset(kbd->ctx);
}

const struct bus_ops i8042_data_ops = {.read = i8042_read, .write = i8042_write_data};
const struct bus_ops i8042_command_ops = {.read = i8042_read, .write = i8042_write_command};

void i8042_init(struct i8042 *kbd, void (*on_reset)(void *ctx), void *ctx)
{
	kbd->on_reset = on_reset;
	kbd->ctx = ctx;
}
