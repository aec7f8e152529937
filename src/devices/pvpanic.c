/* pvpanic: one port that turns a guest kernel panic into a stop with status 1. */
#include "pvpanic.h"

#include <string.h>

static void pvpanic_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	(void)dev;
	memset(data, 0, len);
	if (offset == 0)
		data[0] = PVPANIC_PANICKED;
}

static void pvpanic_write(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct pvpanic *pv = dev;
	(void)len;
	/* Only bit 0: CRASH_LOADED (bit 1) is not advertised, so a guest that sets it anyway
	 * after kdump loaded must not be stopped for it. */
	if (offset == 0 && (data[0] & PVPANIC_PANICKED))
		pv->on_panic(pv->ctx);
}

const struct bus_ops pvpanic_ops = {.read = pvpanic_read, .write = pvpanic_write};

void pvpanic_init(struct pvpanic *pv, void (*on_panic)(void *ctx), void *ctx)
{
	pv->on_panic = on_panic;
	pv->ctx = ctx;
}
