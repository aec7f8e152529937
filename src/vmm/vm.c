/* Building a VM from its configuration, running it, and taking it apart. */
#include "vm.h"
#include "../arch/x86/boot.h"
#include "../arch/x86/cpuid.h"
#include "../arch/x86/elf_load.h"
#include "../arch/x86/layout.h"
#include "../exit_status.h"
#include "../log.h"
#include "event_loop.h"

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

#define FAIL(code, ...)                                                                       \
	do {                                                                                  \
		snprintf(err, errlen, __VA_ARGS__);                                           \
		r = (code);                                                                   \
		goto out;                                                                     \
	} while (0)

static void serial_set_irq(void *ctx, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = {.irq = SERIAL_COM1_IRQ, .level = (uint32_t)level};
	/* Only fails if the irqchip is gone, i.e. during teardown: nothing to do then. */
	(void)ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void i8042_reset(void *ctx)
{
	vm_stop(ctx, EXIT_GUEST_OK);
}

/* The device list, in one place: every device the machine has and where it sits. */
static int add_devices(struct vm *vm, char *err, size_t errlen)
{
	int r = serial_init(&vm->serial, STDOUT_FILENO, serial_set_irq, vm);
	if (r) {
		snprintf(err, errlen, "cannot set up the serial port: %s", strerror(-r));
		return r;
	}
	vm->serial_ready = true;
	i8042_init(&vm->i8042, i8042_reset, vm);

	const struct {
		struct bus *bus;
		uint64_t base, len;
		const struct bus_ops *ops;
		void *dev;
		const char *name;
	} devices[] = {
		{&vm->pio, SERIAL_COM1_BASE, SERIAL_REGS, &serial_ops, &vm->serial, "COM1"},
		{&vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, &vm->i8042, "i8042 data"},
		{&vm->pio, I8042_COMMAND_PORT, 1, &i8042_command_ops, &vm->i8042, "i8042 command"},
	};
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		r = bus_add(devices[i].bus, devices[i].base, devices[i].len, devices[i].ops,
			    devices[i].dev, devices[i].name);
		if (r) {
			snprintf(err, errlen, "cannot place %s at 0x%llx: %s", devices[i].name,
				 (unsigned long long)devices[i].base, strerror(-r));
			return r;
		}
	}
	return 0;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	errno = E2BIG;
	return NULL;
}

static int create_vcpus(struct vm *vm, unsigned n, uint64_t entry, char *err, size_t errlen)
{
	struct kvm_cpuid2 *supported = supported_cpuid(vm->kvm_fd);
	struct kvm_cpuid2 *cpuid = NULL;
	size_t cpuid_size;
	int r = 0;

	if (!supported)
		FAIL(-errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	cpuid_size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	cpuid = malloc(cpuid_size);
	if (!cpuid)
		FAIL(-ENOMEM, "out of memory");

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
		memcpy(cpuid, supported, cpuid_size);
		cpuid_filter(cpuid->entries, cpuid->nent, i, n);
		if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
			FAIL(-errno, "KVM_SET_CPUID2 for vcpu %u: %s", i, strerror(errno));
		if ((r = boot_setup_lapic(v->fd)) < 0)
			FAIL(r, "cannot program vcpu %u's LAPIC: %s", i, strerror(-r));
		/* Only the boot vCPU starts at the kernel's entry; the others wait in the
		 * in-kernel LAPIC for INIT/SIPI, as on real hardware. */
		if (i == 0 && (r = boot_setup_vcpu(v->fd, entry, err, errlen)) < 0)
			goto out;
	}
out:
	free(cpuid);
	free(supported);
	return r;
}

/* Open the kernel before anything else, so a wrong path is the first thing reported. */
static int open_kernel(const char *path, uint64_t *size, char *err, size_t errlen)
{
	struct stat st;
	int r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL(-errno, "cannot open kernel '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		FAIL(-errno, "cannot stat kernel '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		FAIL(-EINVAL, "kernel '%s' is not a regular file", path);
	*size = (uint64_t)st.st_size;
	return fd;
out:
	if (fd >= 0)
		close(fd);
	return r;
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
	/* The TSS and identity-map pages matter only under VMX; they sit in the device hole
	 * below the IOAPIC, where no device of ours goes. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		FAIL(-errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = LAYOUT_IDENTITY_MAP;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		FAIL(-errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		FAIL(-errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		FAIL(-errno, "KVM_CREATE_PIT2: %s", strerror(errno));
out:
	return r;
}

static int add_memory(struct vm *vm, uint64_t mem_mib, char *err, size_t errlen)
{
	int r = gm_create(&vm->mem, mem_mib << 20);
	if (r < 0)
		FAIL(r, "cannot map %llu MiB of guest memory: %s", (unsigned long long)mem_mib,
		     strerror(-r));
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct gm_region *g = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = g->gpa,
			.memory_size = g->size,
			.userspace_addr = (uintptr_t)g->host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			FAIL(-errno, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", i,
			     strerror(errno));
	}
out:
	return r;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct elf_image img;
	int kernel_fd = -1;
	int r = 0;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
	atomic_init(&vm->exit_status, -1);
	vm->flavour = kvm_flavour_detect();

	uint64_t kernel_size = 0;
	kernel_fd = open_kernel(cfg->kernel_path, &kernel_size, err, errlen);
	if (kernel_fd < 0) {
		r = kernel_fd;
		goto out;
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		FAIL(-errno, "eventfd: %s", strerror(errno));
	vm->kvm_fd = kvm_open(err, errlen);
	if (vm->kvm_fd < 0) {
		r = vm->kvm_fd;
		goto out;
	}
	int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && cfg->vcpus > (unsigned)max_vcpus)
		FAIL(-EINVAL, "this KVM allows at most %d vCPUs, not %u", max_vcpus, cfg->vcpus);
	if ((r = create_machine(vm, err, errlen)) < 0)
		goto out;
	if ((r = add_memory(vm, cfg->mem_mib, err, errlen)) < 0)
		goto out;
	char why[256];
	if ((r = elf_load(&vm->mem, kernel_fd, kernel_size, &img, why, sizeof(why))) < 0)
		FAIL(r, "cannot load kernel '%s': %s", cfg->kernel_path, why);
	if ((r = boot_write_tables(&vm->mem, cfg->cmdline)) < 0)
		FAIL(r, "guest memory too small for the boot data and command line");
	if ((r = add_devices(vm, err, errlen)) < 0)
		goto out;
	r = create_vcpus(vm, cfg->vcpus, img.entry, err, errlen);
out:
	if (kernel_fd >= 0)
		close(kernel_fd);
	if (r < 0)
		vm_destroy(vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
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
	vm->vm_fd = vm->kvm_fd = vm->stop_fd = -1;
	gm_destroy(&vm->mem);
	if (vm->serial_ready)
		serial_destroy(&vm->serial);
	vm->serial_ready = false;
}

int vm_run(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus && !vm_stopping(vm); i++)
		if (vcpu_start(&vm->vcpus[i]) < 0)
			vm_stop(vm, EXIT_USAGE);

	event_loop_run(vm);

	/* vm_stop set immediate_exit for all; kick again any vCPU it may have missed
	 * while threads were still starting, then wait for each. */
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
