/*
 * What the machine (src/vmm) asks of an architecture, and all it asks: the VM's interrupt
 * controllers and timer, the guest-physical layout, the kernel and its entry, the boot data
 * and firmware tables, and each vCPU's first state. One implementation per architecture
 * (src/arch/x86/arch.c, as kvmtool draws the line); the machine includes only this header.
 */
#ifndef EMBER_ARCH_H
#define EMBER_ARCH_H

#include "../base/config.h"
#include "../base/guest_mem.h"
#include "../base/snapshot_file.h"
#include "x86/acpi_tables.h"
#include "x86/kernel.h"
#include "x86/layout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The guest-physical layout the machine builds on: RAM stops at ARCH_RAM_HOLE and goes on
 * at ARCH_RAM_HIGH; virtio-mmio windows follow one another from ARCH_VIRTIO_MMIO_BASE,
 * their interrupts from ARCH_VIRTIO_FIRST_GSI up to ARCH_LAST_GSI. ARCH_EVENT_GSI and
 * ARCH_VMGENID_ADDR are VMGenID's interrupt and generation ID. */
#define ARCH_RAM_HOLE         LAYOUT_MMIO_HOLE
#define ARCH_RAM_HIGH         LAYOUT_HIGH_RAM
#define ARCH_VIRTIO_MMIO_BASE LAYOUT_MMIO_DEVICES
#define ARCH_BOOT_TIMER_BASE  LAYOUT_MMIO_HOLE            /* Firecracker's BOOT_DEVICE_MEM_START */
#define ARCH_HANDOVER_BASE    (LAYOUT_MMIO_HOLE + 0x1000) /* the page after the boot timer */
#define ARCH_VIRTIO_FIRST_GSI 5 /* above the ISA devices Ember has (0, 1, 4) */
#define ARCH_EVENT_GSI        (ACPI_IOAPIC_PINS - 1) /* the Generic Event Device's (VMGenID) */
#define ARCH_LAST_GSI         (ARCH_EVENT_GSI - 1)
#define ARCH_VMGENID_ADDR     LAYOUT_VMGENID

/*
 * Give the new KVM VM (vm_fd, from kvm_fd) what the architecture's guests expect before
 * any memory or vCPU exists: on x86 the TSS and identity-map pages (VMX), the in-kernel
 * PIC, IOAPIC and LAPICs with PC interrupt routing, and the PIT. Returns 0, or -errno with
 * a message in err.
 */
int arch_vm_init(int kvm_fd, int vm_fd, char *err, size_t errlen);

/* Load the kernel in fd (size bytes) into gm, entered as req asks; describe it in *k.
 * Returns 0, or -errno with a message in err (the caller names the file). */
int arch_kernel_load(const struct guest_mem *gm, int fd, uint64_t size, enum boot_request req,
                     struct kernel_image *k, char *err, size_t errlen);

/* Where an initrd may lie for kernel k: at or above *low, ending at or below *limit. */
void arch_initrd_window(const struct kernel_image *k, uint64_t *low, uint64_t *limit);

/* What the guest finds in memory at entry besides its kernel. */
struct arch_boot {
	const struct kernel_image *kernel;
	const char *cmdline;
	gpa_t initrd; /* 0: none */
	uint64_t initrd_size;
	unsigned nvcpus;
	const struct acpi_dev *devs; /* the machine's devices, for the firmware tables */
	unsigned ndevs;
};

/* Write the firmware tables (ACPI) and the boot data (on x86: GDT, page tables, boot_params
 * or the PVH start info, the command line) into gm. Returns 0, or -errno with a message. */
int arch_boot_write(const struct guest_mem *gm, const struct arch_boot *b, char *err,
                    size_t errlen);

/* Set up the n vCPUs of vcpu_fds (index i is vCPU i): CPUID, interrupt controller and, for
 * vCPU 0, the entry state of kernel k; the others wait to be started by the guest (INIT and
 * SIPI on x86). Returns 0, or -errno with a message in err. */
int arch_vcpus_init(int kvm_fd, const int *vcpu_fds, unsigned n, const struct kernel_image *k,
                    char *err, size_t errlen);

/* ---- snapshots (src/arch/x86/vcpu_state.c) ---- */

/* This host's CPU identity, stamped on every snapshot and compared at restore
 * (SF_CPU_ID_BYTES), and a line describing one for a refusal's message. */
void arch_cpu_identity(uint8_t *id);
void arch_cpu_describe(const uint8_t *id, char *buf, size_t len);

/* The VM's own state (x86: PIC master and slave, IOAPIC, PIT, kvmclock) into w, and back
 * into a new VM whose arch_vm_init ran. clock_realtime: the guest's clock jumps by the
 * wall-clock time since the snapshot (else it goes on from the snapshot's instant).
 * Returns 0, or -errno with a message in err. */
int arch_vm_save(int vm_fd, struct sf_writer *w, char *err, size_t errlen);
int arch_vm_restore(int vm_fd, const struct sf_reader *r, bool clock_realtime, char *err,
                    size_t errlen);

/* vCPU index's state, the vCPU out of KVM_RUN (paused): everything a guest can see. */
int arch_vcpu_save(int kvm_fd, int vcpu_fd, unsigned index, struct sf_writer *w, char *err,
                   size_t errlen);

/* Whether r holds all of vCPU index's state with the sizes this host's KVM uses; nothing
 * is changed. Returns 0 or -EINVAL with a message. */
int arch_vcpu_check(int kvm_fd, const struct sf_reader *r, unsigned index, char *err,
                    size_t errlen);

/* Put vCPU index's state from r into a new vCPU (no arch_vcpus_init), in the order KVM
 * needs (x86: TSC rate, CPUID, MP state, regs, sregs, XSAVE, XCRs, debug registers,
 * LAPIC, MSRs, events). Returns 0, or -errno with a message in err. */
int arch_vcpu_restore(int kvm_fd, int vcpu_fd, unsigned index, const struct sf_reader *r, char *err,
                      size_t errlen);

/* The restored vCPU is about to run again: tell a paravirtual clock it was stopped. */
void arch_vcpu_resumed(int kvm_fd, int vcpu_fd);

#endif
