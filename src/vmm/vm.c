/* Building a VM from its configuration, running it, and taking it apart. */
#include "vm.h"
#include "../arch/arch.h"
#include "../base/event_loop.h"
#include "../base/exit_status.h"
#include "../base/fail.h"
#include "../base/log.h"
#include "../base/start_trace.h"
#include "devices.h"
#include "initrd.h"
#include "vm_build.h"
#include "vmm_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Create the vCPUs and map their run areas; the architecture sets them up for kernel k
 * (NULL: a restore sets them up from the snapshot instead). */
int vm_build_vcpus(struct vm *vm, unsigned n, const struct kernel_image *k, char *err,
                   size_t errlen)
{
	int fds[CONFIG_MAX_VCPUS];
	int r = 0;
	for (unsigned i = 0; i < n; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->index = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0)
			FAIL(-errno, "cannot create vcpu %u: %s", i, strerror(errno));
		vm->nvcpus = i + 1;
		v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			FAIL(-errno, "cannot map vcpu %u's run area: %s", i, strerror(errno));
		}
		fds[i] = v->fd;
	}
	if (k)
		r = arch_vcpus_init(vm->kvm_fd, fds, n, k, err, errlen);
out:
	return r;
}

/* Open the kernel and initrd before anything else, so a wrong path is the first thing
 * reported. what is "kernel" or "initrd". */
static int open_image(const char *what, const char *path, uint64_t *size, char *err, size_t errlen)
{
	struct stat st;
	int r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL(-errno, "cannot open %s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0)
		FAIL(-errno, "cannot stat %s '%s': %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		FAIL(-EINVAL, "%s '%s' is not a regular file", what, path);
	*size = (uint64_t)st.st_size;
	return fd;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int vm_image_check(const char *what, const char *path, char *err, size_t errlen)
{
	uint64_t size;
	int fd = open_image(what, path, &size, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int vm_serial_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot open serial_out_path '%s': %s", path, strerror(-r));
		return r;
	}
	return fd;
}

static int create_machine(struct vm *vm, char *err, size_t errlen)
{
	int r = 0;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		FAIL(-errno, "KVM_CREATE_VM: %s", strerror(errno));
	int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		FAIL(-EINVAL, "KVM_GET_VCPU_MMAP_SIZE returned %d", size);
	vm->run_size = (size_t)size;
	r = arch_vm_init(vm->kvm_fd, vm->vm_fd, err, errlen);
out:
	return r;
}

int vm_build_slots(struct vm *vm, char *err, size_t errlen)
{
	int r = 0;
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct gm_region *g = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
		    .slot = i,
		    .guest_phys_addr = g->gpa,
		    .memory_size = g->size,
		    .userspace_addr = (uintptr_t)g->host,
		    .flags = vm->cfg.track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			FAIL(-errno, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", i,
			     strerror(errno));
	}
out:
	return r;
}

static int add_memory(struct vm *vm, uint64_t mem_mib, char *err, size_t errlen)
{
	int r = gm_create(&vm->mem, mem_mib << 20, ARCH_RAM_HOLE, ARCH_RAM_HIGH);
	if (r < 0) {
		snprintf(err, errlen, "cannot map %llu MiB of guest memory: %s",
		         (unsigned long long)mem_mib, strerror(-r));
		return r;
	}
	if (vm->cfg.huge_pages == HUGE_PAGES_TRANSPARENT)
		gm_advise_huge(&vm->mem);
	/* All dirty: the loader's writes are not in KVM's log, so a first Diff is whole. */
	if (vm->cfg.track_dirty_pages && (r = gm_track_dirty(&vm->mem, 1)) < 0) {
		snprintf(err, errlen, "cannot track dirty pages: %s", strerror(-r));
		return r;
	}
	return vm_build_slots(vm, err, errlen);
}

/* The initrd, with the guest command's archive after it, above the kernel. */
static int load_initrd(struct vm *vm, const struct vm_config *cfg, int fd, uint64_t size,
                       const struct kernel_image *k, struct arch_boot *bd, char *err, size_t errlen)
{
	uint8_t *archive = NULL;
	size_t archive_len = 0;
	if (cfg->cmd_argc || cfg->cmd_init) {
		archive =
		    cmd_archive_build(cfg->cmd_argv, cfg->cmd_argc, cfg->cmd_tty, &archive_len);
		if (!archive) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	uint64_t low, limit;
	arch_initrd_window(k, &low, &limit);
	char why[256];
	int r = initrd_load(&vm->mem, fd, size, archive, archive_len, low, limit, &bd->initrd,
	                    &bd->initrd_size, why, sizeof(why));
	free(archive);
	if (r < 0)
		snprintf(err, errlen, "cannot load initrd '%s': %s", cfg->initrd_path, why);
	return r;
}

int vm_build_begin(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->loop.epfd = vm->serial_fd = -1;
	atomic_init(&vm->exit_status, -1);
	if (pthread_mutex_init(&vm->pause_lock, NULL) || pthread_cond_init(&vm->pause_cond, NULL)) {
		snprintf(err, errlen, "cannot create the pause lock");
		return -ENOMEM;
	}
	vm->pause_ready = true;
	vm->flavour = kvm_flavour_detect();
	vm->cfg = *cfg;
	return 0;
}

int vm_build_machine(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	int r = 0;
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		FAIL(-errno, "eventfd: %s", strerror(errno));
	vm->kvm_fd = kvm_open(err, errlen);
	if (vm->kvm_fd < 0) {
		r = vm->kvm_fd;
		goto out;
	}
	start_trace_mark(START_KVM_OPEN);
	int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && cfg->vcpus > (unsigned)max_vcpus)
		FAIL(-EINVAL, "this KVM allows at most %d vCPUs, not %u", max_vcpus, cfg->vcpus);
	r = create_machine(vm, err, errlen);
	start_trace_mark(START_VM_CREATED);
out:
	return r;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct kernel_image kernel;
	struct arch_boot bd = {.kernel = &kernel, .nvcpus = cfg->vcpus};
	char cmdline[CONFIG_CMDLINE_MAX + 1];
	struct acpi_dev acpi[VM_MAX_DEVICES];
	int kernel_fd = -1, initrd_fd = -1;
	uint64_t kernel_size = 0, initrd_size = 0;
	int r = 0;

	if ((r = vm_build_begin(vm, cfg, err, errlen)) < 0)
		return r;

	kernel_fd = open_image("kernel", cfg->kernel_path, &kernel_size, err, errlen);
	if (kernel_fd < 0) {
		r = kernel_fd;
		goto out;
	}
	if (cfg->initrd_path[0]) {
		initrd_fd = open_image("initrd", cfg->initrd_path, &initrd_size, err, errlen);
		if (initrd_fd < 0) {
			r = initrd_fd;
			goto out;
		}
	}
	if (cfg->serial_out_path[0] &&
	    (r = vm->serial_fd = vm_serial_open(cfg->serial_out_path, err, errlen)) < 0)
		goto out;
	if ((r = event_loop_init(&vm->loop)) < 0)
		FAIL(r, "epoll_create1: %s", strerror(-r));
	if ((r = devices_create(vm, cfg, err, errlen)) < 0)
		goto out;
	start_trace_mark(START_DEVICES);
	/* The devices' words go first: a user's root= later on the line wins, and nothing
	 * of ours lands after a "--" (where words become the init's arguments). */
	int words = devices_cmdline(vm, cfg, cmdline, sizeof(cmdline));
	if (words < 0 ||
	    config_full_cmdline(cfg, cmdline + words, sizeof(cmdline) - (size_t)words) < 0)
		FAIL(-EINVAL, "the kernel command line is longer than %d bytes",
		     CONFIG_CMDLINE_MAX);
	bd.cmdline = cmdline;
	if ((r = vm_build_machine(vm, cfg, err, errlen)) < 0)
		goto out;
	if ((r = add_memory(vm, cfg->mem_mib, err, errlen)) < 0)
		goto out;
	start_trace_mark(START_MEM_MAPPED);
	char why[256];
	if ((r = arch_kernel_load(&vm->mem, kernel_fd, kernel_size, cfg->boot, &kernel, why,
	                          sizeof(why))) < 0)
		FAIL(r, "cannot load kernel '%s': %s", cfg->kernel_path, why);
	start_trace_mark(START_KERNEL_LOADED);
	vm->linux_guest = kernel.is_linux;
	vm->console_piped = cfg->cmd_init && !cfg->cmd_tty;
	if (vm->linux_guest && vm->flavour == KVM_FLAVOUR_PVM)
		log_warn("this host's KVM is PVM, which boots a Linux kernel only if it was built "
		         "as a PVM guest; a stock kernel will stop early");
	if (strlen(cmdline) > kernel.cmdline_max)
		FAIL(-EINVAL,
		     "the kernel command line is %zu bytes; this kernel accepts at most %u",
		     strlen(cmdline), kernel.cmdline_max);
	if (initrd_fd >= 0 &&
	    (r = load_initrd(vm, cfg, initrd_fd, initrd_size, &kernel, &bd, err, errlen)) < 0)
		goto out;
	bd.devs = acpi;
	bd.ndevs = devices_acpi(vm, acpi);
	if ((r = arch_boot_write(&vm->mem, &bd, err, errlen)) < 0 ||
	    (r = devices_boot(vm, err, errlen)) < 0)
		goto out;
	if ((r = devices_place(vm, err, errlen)) < 0)
		goto out;
	start_trace_mark(START_BOOT_TABLES);
	r = vm_build_vcpus(vm, cfg->vcpus, &kernel, err, errlen);
	start_trace_mark(START_VCPUS_BUILT);
out:
	if (kernel_fd >= 0)
		close(kernel_fd);
	if (initrd_fd >= 0)
		close(initrd_fd);
	if (r < 0)
		vm_destroy(vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
	devices_destroy(vm); /* before the VM: virtio devices deassign their KVM fds */
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	vm->nvcpus = 0;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->serial_fd >= 0)
		close(vm->serial_fd);
	vm->vm_fd = vm->kvm_fd = vm->stop_fd = vm->serial_fd = -1;
	event_loop_destroy(&vm->loop);
	if (vm->pause_ready) {
		pthread_cond_destroy(&vm->pause_cond);
		pthread_mutex_destroy(&vm->pause_lock);
		vm->pause_ready = false;
	}
	gm_destroy(&vm->mem);
	free(vm->restored_cfg);
	vm->restored_cfg = NULL;
}

int vm_start_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus && !vm_stopping(vm); i++) {
		int r = vcpu_start(&vm->vcpus[i]);
		if (r < 0) {
			vm_stop(vm, EXIT_USAGE);
			return r;
		}
	}
	return 0;
}

int vm_run(struct vm *vm)
{
	vm_start_vcpus(vm);
	return vm_wait(vm);
}

int vm_wait(struct vm *vm)
{
	vmm_thread_run(vm); /* locks the vmm thread down once its loop is set up */

	/* vm_stop set immediate_exit for all, but a vCPU that stopped the VM signalled no
	 * other (and a vCPU thread may have been starting): kick each out of KVM_RUN here,
	 * then wait for it. */
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->started)
			continue;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
		pthread_join(v->thread, NULL);
		v->started = false;
	}
	return atomic_load(&vm->exit_status);
}
