/* The x86_64 side of the machine (arch/arch.h): PC interrupt routing, the boot protocol's
 * data, ACPI, and each vCPU's CPUID and entry state. */
#include "../arch.h"
#include "../../base/fail.h"
#include "boot.h"
#include "cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/*
 * Interrupt routing as on a PC with an IOAPIC, and as the MADT describes it: GSI 0 (the
 * PIT, IRQ 0) reaches IOAPIC pin 2 (the MADT's override), every other GSI its own pin;
 * ISA IRQs 0-15 but the cascade (2) also reach the PIC. KVM's default table sends GSI 0
 * to pin 0, which would leave Linux's IOAPIC timer silent.
 */
static int route_interrupts(int vm_fd)
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
	return ioctl(vm_fd, KVM_SET_GSI_ROUTING, &rt) < 0 ? -errno : 0;
}

int arch_vm_init(int kvm_fd, int vm_fd, char *err, size_t errlen)
{
	int r = 0;
	/* The TSS and identity-map pages matter only under VMX; they sit in the device hole
	 * below the IOAPIC, where no device of ours goes. */
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		FAIL(-errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = LAYOUT_IDENTITY_MAP;
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		FAIL(-errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		FAIL(-errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if ((r = route_interrupts(vm_fd)) < 0)
		FAIL(r, "KVM_SET_GSI_ROUTING: %s", strerror(-r));
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		FAIL(-errno, "KVM_CREATE_PIT2: %s", strerror(errno));
out:
	return r;
}

int arch_kernel_load(const struct guest_mem *gm, int fd, uint64_t size, enum boot_request req,
                     struct kernel_image *k, char *err, size_t errlen)
{
	return kernel_load(gm, fd, size, req, k, err, errlen);
}

void arch_initrd_window(const struct kernel_image *k, uint64_t *low, uint64_t *limit)
{
	*low = (k->load_high + 4095) & ~4095ULL;
	*limit = k->initrd_limit < LAYOUT_MMIO_HOLE ? k->initrd_limit : LAYOUT_MMIO_HOLE;
}

int arch_boot_write(const struct guest_mem *gm, const struct arch_boot *b, char *err, size_t errlen)
{
	struct boot_data bd = {.cmdline = b->cmdline,
	                       .kernel = b->kernel,
	                       .initrd = b->initrd,
	                       .initrd_size = b->initrd_size};
	struct acpi_machine machine = {.nvcpus = b->nvcpus, .devs = b->devs, .ndevs = b->ndevs};
	int r = acpi_tables_write(gm, &machine, &bd.rsdp);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the ACPI tables: %s", strerror(-r));
		return r;
	}
	r = boot_write_tables(gm, &bd);
	if (r < 0)
		snprintf(err, errlen, "guest memory too small for the boot data and command line");
	return r;
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

int arch_vcpus_init(int kvm_fd, const int *vcpu_fds, unsigned n, const struct kernel_image *k,
                    char *err, size_t errlen)
{
	struct kvm_cpuid2 *supported = supported_cpuid(kvm_fd);
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
		memcpy(cpuid, supported, cpuid_size);
		cpuid_filter(cpuid->entries, cpuid->nent, i, n);
		if (ioctl(vcpu_fds[i], KVM_SET_CPUID2, cpuid) < 0)
			FAIL(-errno, "KVM_SET_CPUID2 for vcpu %u: %s", i, strerror(errno));
		if ((r = boot_setup_lapic(vcpu_fds[i])) < 0)
			FAIL(r, "cannot program vcpu %u's LAPIC: %s", i, strerror(-r));
		/* Only the boot vCPU starts at the kernel's entry; the others wait in the
		 * in-kernel LAPIC for INIT/SIPI, as on real hardware. */
		if (i == 0 &&
		    (r = boot_setup_vcpu(vcpu_fds[i], k->entry_kind, k->entry, err, errlen)) < 0)
			goto out;
	}
out:
	free(cpuid);
	free(supported);
	return r;
}
