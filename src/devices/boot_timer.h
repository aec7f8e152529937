/*
 * Firecracker's boot timer (--boot-timer): a guest that writes the byte
 * BOOT_TIMER_MAGIC at offset 0 of a 4 KiB MMIO page (0xc0000000 on x86, as Firecracker
 * puts it) when it has booted makes Ember log the time since InstanceStart, wall clock
 * and the monitor's CPU time, in Firecracker's words:
 *   Guest-boot-time =   1234 us 1 ms,    567 CPU us 0 CPU ms
 * Reads return zeros; other writes are ignored. The mark is logged once: a guest writing
 * it again and again cannot flood the log.
 */
#ifndef EMBER_BOOT_TIMER_H
#define EMBER_BOOT_TIMER_H

#include "../base/bus.h"

#include <stdatomic.h>
#include <stdint.h>

#define BOOT_TIMER_MAGIC 123
#define BOOT_TIMER_SIZE  0x1000

struct boot_timer {
	uint64_t start_us, start_cpu_us; /* CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID */
	atomic_bool logged;
};

extern const struct bus_ops boot_timer_ops;

/* Start counting now. */
void boot_timer_init(struct boot_timer *t);

#endif
