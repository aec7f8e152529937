/*
 * The ACPI tables a stock Linux guest reads to find its CPUs, interrupt controllers and
 * platform devices (docs/CONTRACTS.md): RSDP -> XSDT -> FADT -> DSDT, and the MADT.
 */
#ifndef EMBER_X86_ACPI_TABLES_H
#define EMBER_X86_ACPI_TABLES_H

#include "../../base/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>

/* LAPIC ids 0..N-1 must stay below the xAPIC broadcast id 0xff. */
#define ACPI_MAX_VCPUS 254
/* At most this many devices in the DSDT. */
#define ACPI_MAX_DEVICES 256
/* The IOAPIC the MADT describes: KVM's in-kernel one, at GSI base 0. Its id is 0, the value
 * the in-kernel IOAPIC's ID register holds after reset. That register keeps only 4 bits, so
 * an id past the LAPIC ids (such as nvcpus) would not read back beyond 15 vCPUs; and since
 * the xAPIC, interrupts travel as memory writes rather than over a shared APIC bus, so
 * IOAPIC and LAPIC ids no longer clash. */
#define ACPI_IOAPIC_ID   0
#define ACPI_IOAPIC_PINS 24

/* One device in the DSDT's \_SB scope, as the machine's device table describes it: its
 * name, its hardware id, and the resources of its _CRS in this order: port ranges, an ISA
 * IRQ, a 32-bit memory window, an interrupt (GSI, edge-triggered, active high); no _CRS if
 * it has none of these. */
struct acpi_dev {
	char name[5];    /* four characters of [A-Z0-9_], the first not a digit: "COM1" */
	const char *hid; /* "PNP0501" */
	bool hid_eisa;   /* hid is written as an EISA id (EisaId("PNP0501")), else a string */
	int uid;         /* _UID, or -1 for none */
	unsigned nio;    /* port ranges, at most 2 */
	struct {
		uint16_t base;
		uint8_t len;
	} io[2];
	int isa_irq;       /* IRQNoFlags, or -1 */
	uint64_t mem_base; /* Memory32Fixed, read-write, when mem_size is not 0 */
	uint32_t mem_size;
	int gsi; /* Interrupt, or -1 */
	/* Beyond _HID/_UID/_CRS, for a device such as VMGenID: */
	const char *cid; /* a _CID string, or NULL */
	uint64_t addr;   /* not 0: Method(ADDR) returns Package(){low 32 bits, high 32 bits} */
	/* not 0: the Generic Event Device (ACPI0013, \_SB_.GED_) has an Interrupt on this GSI,
	 * and its _EVT does Notify(this device, 0x80) when it fires */
	unsigned event_gsi;
};

struct acpi_machine {
	unsigned nvcpus;
	const struct acpi_dev *devs;
	unsigned ndevs;
};

/*
 * Write the tables for machine m into guest memory at [LAYOUT_ACPI, LAYOUT_ACPI_END): the
 * RSDP (revision 2) at LAYOUT_ACPI, then XSDT, FADT (revision 6.0, hardware-reduced, the
 * sleep, reset and power registers of devices/power.h), MADT (one enabled LAPIC per vCPU,
 * APIC ids 0..nvcpus-1, the IOAPIC, IRQ0 -> GSI 2, LAPIC NMI on LINT1) and the DSDT (each
 * of m->devs in order, then the Generic Event Device if a device has an event_gsi, then
 * \_S5). Everything is built and checksummed on the host first,
 * so guest memory is written only when it all fits. On success stores the RSDP's address
 * in *rsdp_out and returns 0. Returns -EINVAL for nvcpus outside 1..ACPI_MAX_VCPUS, more
 * than ACPI_MAX_DEVICES devices, or a device whose name or hid is malformed, with more than
 * two port ranges, an empty port range, an ISA IRQ past 15, a memory window that crosses
 * 4 GiB, a GSI or event GSI past the IOAPIC's pins, or two devices on one event GSI; -ENOSPC if the
 * tables do not fit below LAYOUT_ACPI_END or gm has no RAM there.
 */
int acpi_tables_write(const struct guest_mem *gm, const struct acpi_machine *m, gpa_t *rsdp_out);

#endif
