#include "start_trace.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static atomic_bool enabled;
static _Atomic uint64_t at_ns[START_PHASES]; /* 0: not reached */

static const char *const names[START_PHASES] = {
    [START_MAIN] = "main",
    [START_PARSED] = "parsed",
    [START_DEVICES] = "devices-made",
    [START_KVM_OPEN] = "kvm-open",
    [START_VM_CREATED] = "vm-created",
    [START_MEM_MAPPED] = "mem-mapped",
    [START_KERNEL_LOADED] = "kernel-loaded",
    [START_BOOT_TABLES] = "boot-tables",
    [START_VCPUS_BUILT] = "vcpus-built",
    [START_VCPU_RUN] = "vcpu-run",
    [START_FIRST_OUTPUT] = "first-output",
    [START_GUEST_EXIT] = "guest-exit",
    [START_TORN_DOWN] = "torn-down",
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void start_trace_enable(void)
{
	atomic_store(&enabled, true);
}

void start_trace_mark(enum start_phase p)
{
	if (p >= START_PHASES || atomic_load_explicit(&at_ns[p], memory_order_relaxed))
		return;
	uint64_t none = 0;
	atomic_compare_exchange_strong(&at_ns[p], &none, now_ns());
}

void start_trace_print(void)
{
	if (!atomic_load(&enabled))
		return;
	uint64_t t0 = atomic_load(&at_ns[START_MAIN]), prev = t0;
	for (unsigned p = 0; p < START_PHASES; p++) {
		uint64_t t = atomic_load(&at_ns[p]);
		if (!t)
			continue;
		fprintf(stderr, "start: %-13s %9.3f ms  (+%.3f)\n", names[p], (t - t0) / 1e6,
		        (t - prev) / 1e6);
		prev = t;
	}
}
