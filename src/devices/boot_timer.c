/* The boot timer (boot_timer.h): the guest's "booted" mark, logged with the time taken. */
#include "boot_timer.h"
#include "../base/log.h"

#include <string.h>
#include <time.h>

static uint64_t clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void boot_timer_init(struct boot_timer *t)
{
	t->start_us = clock_us(CLOCK_MONOTONIC);
	t->start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	atomic_init(&t->logged, false);
}

static void bt_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	(void)dev, (void)offset;
	memset(data, 0, len);
}

static void bt_write(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct boot_timer *t = dev;
	/* Only a byte at offset 0, as Firecracker's. */
	if (len != 1 || offset != 0 || data[0] != BOOT_TIMER_MAGIC ||
	    atomic_exchange(&t->logged, true))
		return;
	uint64_t us = clock_us(CLOCK_MONOTONIC) - t->start_us;
	uint64_t cpu = clock_us(CLOCK_PROCESS_CPUTIME_ID) - t->start_cpu_us;
	log_info("Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms",
	         (unsigned long long)us, (unsigned long long)us / 1000, (unsigned long long)cpu,
	         (unsigned long long)cpu / 1000);
}

const struct bus_ops boot_timer_ops = {bt_read, bt_write};
