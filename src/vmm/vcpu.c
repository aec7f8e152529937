/* A vCPU thread: KVM_RUN, dispatch the exit, repeat. Anything unexpected stops the VM.
 * Work that is not the vCPU's (device activation and reset, signalling other threads) is
 * handed to the vmm thread, so the vCPU seccomp filter allows little beyond KVM_RUN. */
#include "vm.h"
#include "../base/exit_status.h"
#include "../base/footprint.h"
#include "../base/start_trace.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"
#include "../virtio/virtio.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *pvm_hint(const struct vm *vm)
{
	if (vm->flavour != KVM_FLAVOUR_PVM)
		return "";
	if (vm->linux_guest)
		return ": this Linux kernel is not PVM-aware, and this host's KVM is PVM, which "
		       "boots only kernels built as PVM guests (boot it on a host with VMX or SVM, "
		       "or in the nested test rig, tests/rig/rig.sh; see 'ember doctor')";
	return " (this host's KVM is PVM, which runs only freestanding 64-bit and PVM-aware "
	       "guests; see 'ember doctor')";
}

/* Log "vcpu N: <what> at RIP 0x..." once and stop the VM with a guest-fault status. */
__attribute__((format(printf, 2, 3))) static void vcpu_fault(struct vcpu *v, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	atomic_fetch_add_explicit(&v->failures, 1, memory_order_relaxed);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	struct kvm_regs regs;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		log_err("vcpu %u: %s at RIP 0x%llx%s", v->index, what, regs.rip, pvm_hint(v->vm));
	else
		log_err("vcpu %u: %s (RIP unavailable)%s", v->index, what, pvm_hint(v->vm));
	vm_stop(v->vm, EXIT_GUEST_FAULT);
}

static void handle_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned size = run->io.size;
	uint64_t bytes = (uint64_t)size * run->io.count;

	/* KVM fills these, but a bad value would send us outside the run page: check. */
	if ((size != 1 && size != 2 && size != 4) || run->io.count == 0 ||
	    run->io.data_offset > v->vm->run_size ||
	    bytes > v->vm->run_size - run->io.data_offset) {
		vcpu_fault(v, "malformed port I/O exit (port 0x%x, size %u, count %u)",
		           run->io.port, size, run->io.count);
		return;
	}
	const struct bus_range *r = bus_find(&v->vm->pio, run->io.port, size);
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (!r) {
			/* Nothing answers here: reads float high, writes vanish, as on a PC.
			 * Linux probes ports this way, so this is not a fault. */
			if (run->io.direction == KVM_EXIT_IO_IN)
				memset(data, 0xff, size);
		} else if (run->io.direction == KVM_EXIT_IO_IN) {
			r->ops->read(r->dev, run->io.port - r->base, data, size);
		} else {
			r->ops->write(r->dev, run->io.port - r->base, data, size);
		}
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	const struct bus_range *r = NULL;

	if (len >= 1 && len <= sizeof(run->mmio.data))
		r = bus_find(&v->vm->mmio, run->mmio.phys_addr, len);
	if (!r) {
		vcpu_fault(v,
		           "unhandled MMIO %s of %u bytes at guest physical 0x%llx (no RAM or "
		           "device there)",
		           run->mmio.is_write ? "write" : "read", len, run->mmio.phys_addr);
		return;
	}
	if (run->mmio.is_write)
		r->ops->write(r->dev, run->mmio.phys_addr - r->base, run->mmio.data, len);
	else
		r->ops->read(r->dev, run->mmio.phys_addr - r->base, run->mmio.data, len);
}

static const char *internal_error_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	default:
		return "unexpected exit";
	}
}

static void handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		atomic_fetch_add_explicit(run->io.direction == KVM_EXIT_IO_OUT ? &v->exit_io_out
		                                                               : &v->exit_io_in,
		                          1, memory_order_relaxed);
		handle_pio(v);
		break;
	case KVM_EXIT_MMIO:
		atomic_fetch_add_explicit(run->mmio.is_write ? &v->exit_mmio_write
		                                             : &v->exit_mmio_read,
		                          1, memory_order_relaxed);
		handle_mmio(v);
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_SHUTDOWN:
		if (v->vm->flavour == KVM_FLAVOUR_SVM) {
			/* SVM reinitialises the vCPU on a shutdown intercept: its RIP now reads
			 * as the reset vector, which would mislead. */
			log_err("vcpu %u: triple fault (KVM_EXIT_SHUTDOWN) at RIP unknown (SVM "
			        "resets the vCPU on shutdown)",
			        v->index);
			vm_stop(v->vm, EXIT_GUEST_FAULT);
		} else {
			vcpu_fault(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		}
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fault(v, "KVM internal error %u: %s (KVM_EXIT_INTERNAL_ERROR)",
		           run->internal.suberror, internal_error_name(run->internal.suberror));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fault(v, "VM entry failed, hardware reason 0x%llx (KVM_EXIT_FAIL_ENTRY)",
		           (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_stop(v->vm, 0);
		else
			vcpu_fault(v, "system event %u (KVM_EXIT_SYSTEM_EVENT)",
			           run->system_event.type);
		break;
	default:
		vcpu_fault(v, "unhandled KVM exit reason %u", run->exit_reason);
		break;
	}
}

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to interrupt KVM_RUN */
}

/* Set on vCPU threads: vm_stop there leaves the signalling to the vmm thread. */
static __thread bool on_vcpu_thread;

/* While the VM is paused, wait here, outside KVM_RUN. */
static void park_if_paused(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (!__atomic_load_n(&vm->paused, __ATOMIC_ACQUIRE))
		return; /* the common case, on every exit: no lock */
	/* Finish the last exit's emulation first (an IN's value into RAX), so a snapshot of
	 * the paused vCPU is whole: with immediate_exit set, KVM_RUN completes it and returns
	 * before entering the guest. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	(void)ioctl(v->fd, KVM_RUN, 0);
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		vm->parked++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (vm->paused && !vm_stopping(vm))
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

/*
 * A vCPU thread waiting for device work it handed to the vmm thread (virtio_wait_ops):
 * outside KVM_RUN, on the pause condition, and counted as parked, since vm_pause on the
 * vmm thread must not wait for a vCPU that waits for the vmm thread. vm_stop ends it.
 */
static void wait_device(void *ctx, bool (*done)(void *arg), void *arg)
{
	struct vm *vm = ctx;
	pthread_mutex_lock(&vm->pause_lock);
	if (!done(arg) && !vm_stopping(vm)) {
		vm->parked++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (!done(arg) && !vm_stopping(vm))
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

static void wake_devices(void *ctx)
{
	struct vm *vm = ctx;
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

const struct virtio_wait_ops vcpu_wait_ops = {.wait = wait_device, .wake = wake_devices};

/* immediate_exit covers a vCPU about to enter KVM_RUN; the signal (when signal) one
 * inside. */
static void kick_vcpus(struct vm *vm, bool signal)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (signal && v->started && !pthread_equal(v->thread, pthread_self()))
			pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
}

void vm_pause(struct vm *vm)
{
	unsigned started = 0;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		started += vm->vcpus[i].started;
	pthread_mutex_lock(&vm->pause_lock);
	__atomic_store_n(&vm->paused, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->pause_lock);
	kick_vcpus(vm, true);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < started && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!vm_stopping(vm))
		for (unsigned i = 0; i < vm->nvcpus; i++)
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&vm->paused, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	sigset_t kick;

	on_vcpu_thread = true;
	snprintf(name, sizeof(name), "ember-vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	snprintf(name, sizeof(name), "vcpu %u", v->index);
	log_thread_name(name);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	sc_lockdown(SC_VCPU);
	if (v->index == 0)
		start_trace_mark(START_VCPU_RUN);

	while (!vm_stopping(v->vm)) {
		park_if_paused(v);
		if (vm_stopping(v->vm))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vcpu %u: KVM_RUN failed: %s%s", v->index, strerror(errno),
			        pvm_hint(v->vm));
			vm_stop(v->vm, EXIT_GUEST_FAULT);
			break;
		}
		handle_exit(v);
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	static bool handler_installed;
	if (!handler_installed) {
		struct sigaction sa = {.sa_handler = kick_handler};
		sigemptyset(&sa.sa_mask);
		if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
			return -errno;
		handler_installed = true;
	}
	int r = footprint_thread_start(&v->thread, vcpu_thread, v);
	if (r) {
		log_err("cannot start the thread for vcpu %u: %s", v->index, strerror(r));
		return -r;
	}
	v->started = true;
	return 0;
}

void vm_stop(struct vm *vm, int status)
{
	int running = -1;
	if (!atomic_compare_exchange_strong(&vm->exit_status, &running, status))
		return;
	start_trace_mark(START_GUEST_EXIT);
	/* A vCPU thread sends no signal: the vmm thread, woken below, kicks every vCPU
	 * before it joins them (vm_wait). */
	kick_vcpus(vm, !on_vcpu_thread);
	/* Paused vCPUs, and those waiting for device work, wait on the condition: wake
	 * them so they see the stop. */
	if (vm->pause_ready) {
		pthread_mutex_lock(&vm->pause_lock);
		pthread_cond_broadcast(&vm->pause_cond);
		pthread_mutex_unlock(&vm->pause_lock);
	}
	uint64_t one = 1;
	ssize_t w = write(vm->stop_fd, &one, sizeof(one));
	(void)w; /* an eventfd write of 1 cannot fail short of overflow */
}

bool vm_stopping(struct vm *vm)
{
	return atomic_load(&vm->exit_status) >= 0;
}
