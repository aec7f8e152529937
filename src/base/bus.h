/*
 * Port-I/O and MMIO dispatch. Devices claim address ranges before the vCPUs start; the
 * exit path looks ranges up without locking (the tables do not change while vCPUs run).
 */
#ifndef EMBER_BUS_H
#define EMBER_BUS_H

#include <stdint.h>

#define BUS_MAX_RANGES 32

/* A device's register handlers. offset is relative to the range base; len is 1, 2, 4 or 8;
 * the access lies wholly inside the range. Handlers do their own locking. */
struct bus_ops {
	void (*read)(void *dev, uint64_t offset, uint8_t *data, unsigned len);
	void (*write)(void *dev, uint64_t offset, const uint8_t *data, unsigned len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *name;
};

struct bus {
	unsigned n;
	struct bus_range ranges[BUS_MAX_RANGES];
};

/* Claim [base, base + len) for dev. Returns 0, -EINVAL for an empty or wrapping range,
 * -EEXIST if it overlaps a claimed range, -ENOSPC if the table is full. */
int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
            const char *name);

/* The range that wholly contains [addr, addr + len), or NULL (also when an access
 * straddles a range's edge, which no well-behaved guest does). */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, unsigned len);

#endif
