/* Building a VM from its configuration, running it, and taking it apart. */
#include "vm.h"
#include "../arch/x86/acpi_tables.h"
#include "../arch/x86/boot.h"
#include "../arch/x86/cpuid.h"
#include "../arch/x86/kernel.h"
#include "../arch/x86/layout.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../base/event_loop.h"
#include "initrd.h"
#include "vmm_thread.h"
#include "vm_virtio.h"

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

#define FAIL(code, ...)                                                                            \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		r = (code);                                                                        \
		goto out;                                                                          \
	} while (0)

static void serial_set_irq(void *ctx, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = {.irq = SERIAL_COM1_IRQ, .level = (uint32_t)level};
	/* Only fails if the irqchip is gone, i.e. during teardown: nothing to do then. */
	(void)ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void kbd_set_irq(void *ctx, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = {.irq = I8042_KBD_IRQ, .level = (uint32_t)level};
	/* As serial_set_irq: fails only once the irqchip is gone. */
	(void)ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void guest_reset(void *ctx)
{
	vm_stop(ctx, EXIT_GUEST_OK);
}

static void guest_poweroff(void *ctx, int status)
{
	vm_stop(ctx, status);
}

static void guest_panic(void *ctx)
{
	if (!vm_stopping(ctx))
		log_err("the guest kernel panicked");
	vm_stop(ctx, EXIT_GUEST_FAULT);
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
	r = i8042_init(&vm->i8042, guest_reset, kbd_set_irq, vm);
	if (r) {
		snprintf(err, errlen, "cannot set up the keyboard controller: %s", strerror(-r));
		return r;
	}
	vm->i8042_ready = true;
	power_init(&vm->power, guest_poweroff, guest_reset, vm);
	pvpanic_init(&vm->pvpanic, guest_panic, vm);

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
	    {&vm->pio, PVPANIC_PORT, 1, &pvpanic_ops, &vm->pvpanic, "pvpanic"},
	    {&vm->pio, POWER_PORT_BASE, POWER_PORTS, &power_ops, &vm->power, "ACPI power"},
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

static int create_vcpus(struct vm *vm, unsigned n, const struct kernel_image *k, char *err,
                        size_t errlen)
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
		if (i == 0 &&
		    (r = boot_setup_vcpu(v->fd, k->entry_kind, k->entry, err, errlen)) < 0)
			goto out;
	}
out:
	free(cpuid);
	free(supported);
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

/*
 * Interrupt routing as on a PC with an IOAPIC, and as the MADT describes it: GSI 0 (the
 * PIT, IRQ 0) reaches IOAPIC pin 2 (the MADT's override), every other GSI its own pin;
 * ISA IRQs 0-15 but the cascade (2) also reach the PIC. KVM's default table sends GSI 0
 * to pin 0, which would leave Linux's IOAPIC timer silent.
 */
static int route_interrupts(struct vm *vm)
{
	enum { PIC_LINES = 16, IOAPIC_PINS = ACPI_IOAPIC_PINS };
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[PIC_LINES + IOAPIC_PINS];
	} rt;
	unsigned n = 0;

	memset(&rt, 0, sizeof(rt));
	for (unsigned gsi = 0; gsi < PIC_LINES; gsi++) {
		if (gsi == 2)
			continue;
		rt.e[n].gsi = gsi;
		rt.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt.e[n].u.irqchip.irqchip =
		    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		rt.e[n].u.irqchip.pin = gsi % 8;
		n++;
	}
	for (unsigned gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue; /* pin 2 belongs to GSI 0 */
		rt.e[n].gsi = gsi;
		rt.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt.e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		rt.e[n].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		n++;
	}
	rt.hdr.nr = n;
	return ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &rt) < 0 ? -errno : 0;
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
	if ((r = route_interrupts(vm)) < 0)
		FAIL(r, "KVM_SET_GSI_ROUTING: %s", strerror(-r));
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

/* The initrd, with the guest command's archive after it, above the kernel. */
static int load_initrd(struct vm *vm, const struct vm_config *cfg, int fd, uint64_t size,
                       const struct kernel_image *k, struct boot_data *bd, char *err, size_t errlen)
{
	uint8_t *archive = NULL;
	size_t archive_len = 0;
	if (cfg->cmd_argc) {
		archive =
		    cmd_archive_build(cfg->cmd_argv, cfg->cmd_argc, cfg->cmd_tty, &archive_len);
		if (!archive) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	uint64_t low = (k->load_high + 4095) & ~4095ULL;
	uint64_t limit = k->initrd_limit < LAYOUT_MMIO_HOLE ? k->initrd_limit : LAYOUT_MMIO_HOLE;
	char why[256];
	int r = initrd_load(&vm->mem, fd, size, archive, archive_len, low, limit, &bd->initrd,
	                    &bd->initrd_size, why, sizeof(why));
	free(archive);
	if (r < 0)
		snprintf(err, errlen, "cannot load initrd '%s': %s", cfg->initrd_path, why);
	return r;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct kernel_image kernel;
	struct boot_data bd = {.kernel = &kernel};
	char cmdline[CONFIG_CMDLINE_MAX + 1];
	struct acpi_virtio_dev acpi_virtio[VM_MAX_VIRTIO];
	int kernel_fd = -1, initrd_fd = -1;
	uint64_t kernel_size = 0, initrd_size = 0;
	int r = 0;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->loop.epfd = -1;
	atomic_init(&vm->exit_status, -1);
	if (pthread_mutex_init(&vm->pause_lock, NULL) || pthread_cond_init(&vm->pause_cond, NULL)) {
		snprintf(err, errlen, "cannot create the pause lock");
		return -ENOMEM;
	}
	vm->pause_ready = true;
	vm->flavour = kvm_flavour_detect();

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
	if ((r = event_loop_init(&vm->loop)) < 0)
		FAIL(r, "epoll_create1: %s", strerror(-r));
	if ((r = vm_virtio_create(vm, cfg, err, errlen)) < 0)
		goto out;
	/* The devices' words go first: a user's root= later on the line wins, and nothing
	 * of ours lands after a "--" (where words become the init's arguments). */
	int words = vm_virtio_cmdline(vm, cmdline, sizeof(cmdline));
	if (words < 0 ||
	    config_full_cmdline(cfg, cmdline + words, sizeof(cmdline) - (size_t)words) < 0)
		FAIL(-EINVAL, "the kernel command line is longer than %d bytes",
		     CONFIG_CMDLINE_MAX);
	bd.cmdline = cmdline;
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
	if ((r = kernel_load(&vm->mem, kernel_fd, kernel_size, cfg->boot, &kernel, why,
	                     sizeof(why))) < 0)
		FAIL(r, "cannot load kernel '%s': %s", cfg->kernel_path, why);
	vm->linux_guest = kernel.is_linux;
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
	struct acpi_machine machine = {.nvcpus = cfg->vcpus, .virtio = acpi_virtio};
	machine.nvirtio = vm_virtio_acpi(vm, acpi_virtio);
	if ((r = acpi_tables_write(&vm->mem, &machine, &bd.rsdp)) < 0)
		FAIL(r, "cannot write the ACPI tables: %s", strerror(-r));
	if ((r = boot_write_tables(&vm->mem, &bd)) < 0)
		FAIL(r, "guest memory too small for the boot data and command line");
	if ((r = add_devices(vm, err, errlen)) < 0)
		goto out;
	if ((r = vm_virtio_place(vm, err, errlen)) < 0)
		goto out;
	r = create_vcpus(vm, cfg->vcpus, &kernel, err, errlen);
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
	vm_virtio_destroy(vm); /* before the VM: it deassigns the device's KVM fds */
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
	event_loop_destroy(&vm->loop);
	if (vm->pause_ready) {
		pthread_cond_destroy(&vm->pause_cond);
		pthread_mutex_destroy(&vm->pause_lock);
		vm->pause_ready = false;
	}
	gm_destroy(&vm->mem);
	if (vm->serial_ready)
		serial_destroy(&vm->serial);
	vm->serial_ready = false;
	if (vm->i8042_ready)
		i8042_destroy(&vm->i8042);
	vm->i8042_ready = false;
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
