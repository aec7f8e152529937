/* Ember's ACPI power registers: poweroff, reset, and the exit register that ends the VM
 * with the guest's own status. */
#include "power.h"

static uint8_t reg_read(struct power *pm, unsigned reg)
{
	/* Every register reads 0. Sleep status included: WAK_STS stays clear, because the
	 * write that enters S5 stops the VM before any guest could wait for a wake. */
	(void)pm;
	(void)reg;
	return 0;
}

static void reg_write(struct power *pm, unsigned reg, uint8_t v)
{
	switch (reg) {
	case POWER_REG_SLEEP_CONTROL:
		if ((v & POWER_SLP_EN) &&
		    (v & POWER_SLP_TYP_MASK) >> POWER_SLP_TYP_SHIFT == POWER_SLP_TYP_S5)
			pm->on_poweroff(pm->ctx, 0);
		break;
	case POWER_REG_RESET:
		if (v == POWER_RESET_VALUE)
			pm->on_reset(pm->ctx);
		break;
	case POWER_REG_EXIT:
		pm->on_poweroff(pm->ctx, v);
		break;
	default:
		/* Sleep status: Linux writes WAK_STS to clear it before sleeping; nothing to do. */
		break;
	}
}

static void power_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	struct power *pm = dev;
	for (unsigned i = 0; i < len; i++)
		data[i] = offset + i < POWER_PORTS ? reg_read(pm, (unsigned)offset + i) : 0xff;
}

static void power_write(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct power *pm = dev;
	for (unsigned i = 0; i < len && offset + i < POWER_PORTS; i++)
		reg_write(pm, (unsigned)offset + i, data[i]);
}

const struct bus_ops power_ops = {.read = power_read, .write = power_write};

void power_init(struct power *pm, void (*on_poweroff)(void *ctx, int status),
                void (*on_reset)(void *ctx), void *ctx)
{
	pm->on_poweroff = on_poweroff;
	pm->on_reset = on_reset;
	pm->ctx = ctx;
}
