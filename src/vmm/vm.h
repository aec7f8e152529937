/*
 * One microVM: its KVM handles, memory, devices and vCPU threads, and how it stops.
 * Threads: the caller of vm_run() becomes the vmm thread (signals, console input);
 * each vCPU runs KVM_RUN on its own thread.
 */
#ifndef EMBER_VM_H
#define EMBER_VM_H

#include "../devices/handover.h"
#include "../base/bus.h"
#include "../base/config.h"
#include "../base/event_loop.h"
#include "../base/guest_mem.h"
#include "../base/kvm.h"
#include "../base/signals.h"
#include "devices.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	atomic_bool started; /* set by the vmm thread, read by any thread in vm_stop */
	/* The metrics' vcpu group: exits by kind, and faults; written by this vCPU's thread,
	 * read by the vmm thread's flush. */
	atomic_ullong exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write, failures;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	enum kvm_flavour flavour;
	bool linux_guest; /* the kernel is Linux: on PVM, only a PVM-aware one boots */
	/* Stdin is not a terminal and the guest runs Ember's init: the console holds input
	 * until the init asks for it and ends it with ^D (docs/CONTRACTS.md). */
	bool console_piped;
	size_t run_size;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct event_loop loop;                /* the vmm thread's: devices add their fds */
	struct vm_device devs[VM_MAX_DEVICES]; /* in the device table's order (devices.h) */
	unsigned ndevs;
	unsigned nvcpus;
	struct vcpu vcpus[CONFIG_MAX_VCPUS];
	atomic_int exit_status; /* -1 while the VM runs; then the process exit status */
	/* Pausing: vCPU threads park outside KVM_RUN while paused is set (vm_pause). */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_ready; /* the lock and condition exist */
	bool paused;      /* under pause_lock */
	unsigned parked;  /* vCPU threads waiting, under pause_lock */
	int stop_fd;      /* eventfd: written once when the VM stops */
	/* What the VM was made from, for a snapshot: a copy, whose strings are the caller's
	 * (they must outlive the VM) or, for a restored VM, restored_cfg's. */
	struct vm_config cfg;
	void *restored_cfg; /* a restore's configuration strings, freed with the VM */
	int serial_fd;      /* cfg.serial_out_path, open; -1: the console is stdout */
	/* `ember run --warm`'s message for the init (base/handover.h), the front end's,
	 * served by the handover page at ARCH_HANDOVER_BASE in every VM. NULL: none. */
	const uint8_t *handover;
	size_t handover_len;
	struct handover handover_dev;
};

/* Check that path opens as vm_create opens a kernel or initrd (what: "kernel", "initrd"):
 * read-only, a regular file. Returns 0, or -errno with "cannot open kernel '...': ..." in
 * err. */
int vm_image_check(const char *what, const char *path, char *err, size_t errlen);

/* Open PUT /serial's file as the console's output: created if need be (0600), appended
 * to, non-blocking (a named pipe nobody reads drops output rather than stalling the
 * guest). Returns the fd, or -errno with a message naming it in err. */
int vm_serial_open(const char *path, char *err, size_t errlen);

/*
 * Build the whole VM from cfg: KVM VM, irqchip and PIT, memory, the kernel loaded and
 * boot data written, devices on the bus, every vCPU created with its CPUID and boot
 * state. No guest instruction runs yet. On failure returns -errno with a message in err
 * and leaves nothing behind (vm_destroy is not needed).
 */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/*
 * Start the vCPU threads and run the vmm loop on the calling thread until the VM stops:
 * the guest resets or powers off, a vCPU faults, or SIGINT/SIGTERM arrives (these must
 * be blocked in the calling thread, see signals_block). Joins every vCPU thread and
 * returns the process exit status (exit_status.h).
 */
int vm_run(struct vm *vm);

/* Release everything vm_create acquired. */
void vm_destroy(struct vm *vm);

/*
 * Stop the VM with the given exit status; callable from any thread, any number of
 * times: the first status wins. Sets every vCPU's immediate_exit, wakes the vmm loop and
 * every vCPU waiting (paused, or for device work); off the vCPU threads it also signals
 * each vCPU out of KVM_RUN, on one it leaves that to the vmm thread (vm_wait).
 */
void vm_stop(struct vm *vm, int status);

/* Pause the guest: every started vCPU leaves KVM_RUN and waits; returns once all wait (or
 * the VM stops). Devices keep running. Call from the vmm thread only. */
void vm_pause(struct vm *vm);

/* Let paused vCPUs run again. Call from the vmm thread only. */
void vm_resume(struct vm *vm);

/* Start the vCPU threads without running the vmm loop (vm_run does both). Returns 0, or
 * -errno after stopping the VM. */
int vm_start_vcpus(struct vm *vm);

/* The second half of vm_run, for a caller that started the vCPUs itself: run the vmm
 * loop until the VM stops, join the vCPU threads, return the exit status. */
int vm_wait(struct vm *vm);

/* True once vm_stop has been called. */
bool vm_stopping(struct vm *vm);

/* Start vCPU threads (vcpu.c). Returns 0 or -errno, with a message logged. */
int vcpu_start(struct vcpu *vcpu);

/* How a vCPU thread waits for device work it handed to the vmm thread (virtio.h); ctx is
 * the struct vm. A waiting vCPU counts as parked for vm_pause; vm_stop ends the wait. */
extern const struct virtio_wait_ops vcpu_wait_ops;

#endif
