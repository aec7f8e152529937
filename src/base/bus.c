/* A small table of claimed address ranges, searched linearly: there are only a handful. */
#include "bus.h"

#include <errno.h>
#include <stddef.h>

int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
            const char *name)
{
	uint64_t last;
	if (len == 0 || __builtin_add_overflow(base, len - 1, &last))
		return -EINVAL;
	for (unsigned i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (base <= r->base + (r->len - 1) && r->base <= last)
			return -EEXIST;
	}
	if (bus->n == BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->n++] = (struct bus_range){base, len, ops, dev, name};
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, unsigned len)
{
	uint64_t last;
	if (len == 0 || __builtin_add_overflow(addr, (uint64_t)len - 1, &last))
		return NULL;
	for (unsigned i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (addr >= r->base && last <= r->base + (r->len - 1))
			return r;
	}
	return NULL;
}
