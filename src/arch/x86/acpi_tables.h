/*
 * The ACPI tables a stock Linux guest reads to find its CPUs, interrupt controllers and
 * platform devices (docs/CONTRACTS.md): RSDP -> XSDT -> FADT -> DSDT, and the MADT.
 */
#ifndef EMBER_X86_ACPI_TABLES_H
#define EMBER_X86_ACPI_TABLES_H

#include "../../base/guest_mem.h"

#include <stdint.h>

/* LAPIC ids 0..N-1 must stay below the xAPIC broadcast id 0xff. */
#define ACPI_MAX_VCPUS 254
/* Each virtio device is a Device VRxx, xx two hex digits. */
#define ACPI_MAX_VIRTIO 256
/* The IOAPIC the MADT describes: KVM's in-kernel one, at GSI base 0. Its id is 0, the value
 * the in-kernel IOAPIC's ID register holds after reset. That register keeps only 4 bits, so
 * an id past the LAPIC ids (such as nvcpus) would not read back beyond 15 vCPUs; and since
 * the xAPIC, interrupts travel as memory writes rather than over a shared APIC bus, so
 * IOAPIC and LAPIC ids no longer clash. */
#define ACPI_IOAPIC_ID   0
#define ACPI_IOAPIC_PINS 24

/* A virtio-mmio window: [base, base + size) below 4 GiB, raising GSI irq (edge, high). */
struct acpi_virtio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t irq;
};

struct acpi_machine {
	unsigned nvcpus;
	const struct acpi_virtio_dev *virtio;
	unsigned nvirtio;
};

/*
 * Write the tables for machine m into guest memory at [LAYOUT_ACPI, LAYOUT_ACPI_END): the
 * RSDP (revision 2) at LAYOUT_ACPI, then XSDT, FADT (revision 6.0, hardware-reduced, the
 * sleep, reset and power registers of devices/power.h), MADT (one enabled LAPIC per vCPU,
 * APIC ids 0..nvcpus-1, the IOAPIC, IRQ0 -> GSI 2, LAPIC NMI on LINT1) and the DSDT (COM1,
 * pvpanic, one LNRO0005 device per virtio window, \_S5). Everything is built and
 * checksummed on the host first, so guest memory is written only when it all fits.
 * On success stores the RSDP's address in *rsdp_out and returns 0. Returns -EINVAL for
 * nvcpus outside 1..ACPI_MAX_VCPUS, more than ACPI_MAX_VIRTIO virtio devices, or one that
 * is empty, crosses 4 GiB or names a GSI past the IOAPIC's pins; -ENOSPC if the tables do
 * not fit below LAYOUT_ACPI_END or gm has no RAM there; -ENOMEM.
 */
int acpi_tables_write(const struct guest_mem *gm, const struct acpi_machine *m, gpa_t *rsdp_out);

#endif
