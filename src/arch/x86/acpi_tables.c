/* ACPI tables for x86 guests, built on the host from the ACPI 6.0 layouts (chapter 5.2). */
#include "acpi_tables.h"

#include "../../acpi/aml.h"
#include "../../devices/power.h"
#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OEM_ID           "EMBER "   /* 6 bytes */
#define OEM_TABLE_ID     "EMBERVM " /* 8 bytes */
#define OEM_REVISION     1
#define CREATOR_ID       "EMBR"
#define CREATOR_REVISION 1
#define HYPERVISOR_ID    "EMBER   " /* FADT Hypervisor Vendor Identity, 8 bytes */

#define ACPI_AREA  (LAYOUT_ACPI_END - LAYOUT_ACPI)
#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

/* Root System Description Pointer (5.2.5.3). */
#define RSDP_SIZE         36
#define RSDP_CHECKSUM     8 /* over the first 20 bytes (the ACPI 1.0 part) */
#define RSDP_OEM_ID       9
#define RSDP_REVISION     15
#define RSDP_LENGTH       20
#define RSDP_XSDT         24
#define RSDP_EXT_CHECKSUM 32 /* over all 36 bytes */
#define RSDP_V1_SIZE      20

/* System Description Table header (5.2.6). */
#define SDT_HEADER       36
#define SDT_LENGTH       4
#define SDT_REVISION     8
#define SDT_CHECKSUM     9
#define SDT_OEM_ID       10
#define SDT_OEM_TABLE_ID 16
#define SDT_OEM_REVISION 24
#define SDT_CREATOR_ID   28
#define SDT_CREATOR_REV  32

#define XSDT_REVISION 1
#define XSDT_ENTRIES  2 /* FADT, MADT */

/* Fixed ACPI Description Table, revision 6 (5.2.9). */
#define FADT_SIZE           276
#define FADT_REVISION       6
#define FADT_MINOR          0 /* ACPI 6.0 */
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS          112
#define FADT_RESET_REG      116
#define FADT_RESET_VALUE    128
#define FADT_MINOR_VERSION  131
#define FADT_X_DSDT         140
#define FADT_SLEEP_CONTROL  244
#define FADT_SLEEP_STATUS   256
#define FADT_HYPERVISOR_ID  268

#define FADT_F_PWR_BUTTON      (1u << 4) /* no fixed-feature power button */
#define FADT_F_SLP_BUTTON      (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

#define IAPC_8042                 (1u << 1)
#define IAPC_VGA_NOT_PRESENT      (1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

/* Generic Address Structure (5.2.3.2). */
#define GAS_SYSTEM_IO   1
#define GAS_ACCESS_BYTE 1

/* Multiple APIC Description Table (5.2.12); revision 4 is ACPI 6.0 errata A's. */
#define MADT_REVISION       4
#define MADT_LAPIC_ADDR     36
#define MADT_FLAGS          40
#define MADT_HEADER         44
#define MADT_PCAT_COMPAT    1u
#define MADT_LAPIC          0
#define MADT_LAPIC_SIZE     8
#define MADT_LAPIC_ENABLED  1u
#define MADT_IOAPIC         1
#define MADT_IOAPIC_SIZE    12
#define MADT_ISO            2
#define MADT_ISO_SIZE       10
#define MADT_LAPIC_NMI      4
#define MADT_LAPIC_NMI_SIZE 6
#define MADT_ALL_PROCESSORS 0xff
#define MADT_LINT1          1

/* The 8254 PIT's IRQ 0 reaches the IOAPIC on pin 2, as on PCs. */
#define TIMER_ISA_IRQ 0
#define TIMER_GSI     2

/* DSDT revision 2: integers are 64 bits wide. */
#define DSDT_REVISION 2

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte that makes p[0, n) sum to zero once stored in a checksum field holding 0. */
static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* A table's header; the checksum is set by sdt_seal() once the body is in place. */
static void sdt_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t revision)
{
	memcpy(t, sig, 4);
	put32(t + SDT_LENGTH, len);
	t[SDT_REVISION] = revision;
	t[SDT_CHECKSUM] = 0;
	memcpy(t + SDT_OEM_ID, OEM_ID, 6);
	memcpy(t + SDT_OEM_TABLE_ID, OEM_TABLE_ID, 8);
	put32(t + SDT_OEM_REVISION, OEM_REVISION);
	memcpy(t + SDT_CREATOR_ID, CREATOR_ID, 4);
	put32(t + SDT_CREATOR_REV, CREATOR_REVISION);
}

static void sdt_seal(uint8_t *t, uint32_t len)
{
	t[SDT_CHECKSUM] = checksum(t, len);
}

/* A one-byte register in System I/O space at port. */
static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8; /* register bit width */
	g[2] = 0; /* bit offset */
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

static void write_rsdp(uint8_t *r, gpa_t xsdt)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + RSDP_OEM_ID, OEM_ID, 6);
	r[RSDP_REVISION] = 2;
	/* RsdtAddress stays 0: revision 2 OSes take the XSDT, and there is no RSDT. */
	put32(r + RSDP_LENGTH, RSDP_SIZE);
	put64(r + RSDP_XSDT, xsdt);
	r[RSDP_CHECKSUM] = checksum(r, RSDP_V1_SIZE);
	r[RSDP_EXT_CHECKSUM] = checksum(r, RSDP_SIZE);
}

static void write_xsdt(uint8_t *t, const gpa_t entries[XSDT_ENTRIES])
{
	uint32_t len = SDT_HEADER + 8 * XSDT_ENTRIES;
	sdt_header(t, "XSDT", len, XSDT_REVISION);
	for (unsigned i = 0; i < XSDT_ENTRIES; i++)
		put64(t + SDT_HEADER + 8 * i, entries[i]);
	sdt_seal(t, len);
}

static void write_fadt(uint8_t *t, gpa_t dsdt)
{
	sdt_header(t, "FACP", FADT_SIZE, FADT_REVISION);
	/* Hardware-reduced: no PM1/GPE blocks, SCI, SMI command port or FACS; the OS uses
	 * the sleep registers instead. An 8042 (the DSDT's PNP0303 keyboard controller) and
	 * no other legacy devices than those the DSDT lists. */
	put16(t + FADT_IAPC_BOOT_ARCH,
	      IAPC_8042 | IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON |
	                          FADT_F_SLP_BUTTON);
	gas_io8(t + FADT_RESET_REG, POWER_RESET_PORT);
	t[FADT_RESET_VALUE] = POWER_RESET_VALUE;
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	/* Only the 64-bit pointer: a 32-bit DSDT field that disagrees with X_DSDT is an
	 * error, and one that agrees adds nothing. */
	put64(t + FADT_X_DSDT, dsdt);
	gas_io8(t + FADT_SLEEP_CONTROL, POWER_SLEEP_CONTROL_PORT);
	gas_io8(t + FADT_SLEEP_STATUS, POWER_SLEEP_STATUS_PORT);
	memcpy(t + FADT_HYPERVISOR_ID, HYPERVISOR_ID, 8);
	sdt_seal(t, FADT_SIZE);
}

static uint32_t madt_size(unsigned nvcpus)
{
	return MADT_HEADER + MADT_LAPIC_SIZE * nvcpus + MADT_IOAPIC_SIZE + MADT_ISO_SIZE +
	       MADT_LAPIC_NMI_SIZE;
}

static void write_madt(uint8_t *t, unsigned nvcpus)
{
	uint32_t len = madt_size(nvcpus);
	uint8_t *e = t + MADT_HEADER;

	sdt_header(t, "APIC", len, MADT_REVISION);
	put32(t + MADT_LAPIC_ADDR, (uint32_t)LAYOUT_LAPIC);
	/* KVM's in-kernel irqchip includes the dual 8259s: the OS must mask them. */
	put32(t + MADT_FLAGS, MADT_PCAT_COMPAT);
	for (unsigned i = 0; i < nvcpus; i++, e += MADT_LAPIC_SIZE) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_SIZE;
		e[2] = (uint8_t)i; /* ACPI processor UID */
		e[3] = (uint8_t)i; /* APIC id: KVM gives vCPU i LAPIC id i */
		put32(e + 4, MADT_LAPIC_ENABLED);
	}
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_SIZE;
	e[2] = ACPI_IOAPIC_ID;
	e[3] = 0;
	put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	put32(e + 8, 0); /* GSI base */
	e += MADT_IOAPIC_SIZE;

	e[0] = MADT_ISO;
	e[1] = MADT_ISO_SIZE;
	e[2] = 0; /* bus: ISA */
	e[3] = TIMER_ISA_IRQ;
	put32(e + 4, TIMER_GSI);
	put16(e + 8, 0); /* polarity and trigger conform to the bus: edge, active high */
	e += MADT_ISO_SIZE;

	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_SIZE;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, 0);
	e[5] = MADT_LINT1;
	sdt_seal(t, len);
}

/* Notify value 0x80: device-specific ("the generation ID changed" for VMGenID). */
#define NOTIFY_DEVICE_SPECIFIC 0x80

/* One device of the machine's table. */
static void dsdt_device(struct aml *a, const struct acpi_dev *d)
{
	aml_device_begin(a, d->name);
	if (d->hid_eisa)
		aml_name_eisaid(a, "_HID", d->hid);
	else
		aml_name_string_value(a, "_HID", d->hid);
	if (d->cid)
		aml_name_string_value(a, "_CID", d->cid);
	if (d->uid >= 0)
		aml_name_integer(a, "_UID", (uint64_t)d->uid);
	if (d->addr) {
		/* Microsoft's VMGenID: ADDR evaluates to the two 32-bit halves. */
		aml_method_begin(a, "ADDR", 0, 0);
		aml_return(a);
		aml_package_begin(a);
		aml_integer(a, d->addr & 0xffffffffu);
		aml_integer(a, d->addr >> 32);
		aml_package_end(a);
		aml_method_end(a);
	}
	if (!d->nio && d->isa_irq < 0 && !d->mem_size && d->gsi < 0) {
		aml_device_end(a);
		return;
	}
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	for (unsigned i = 0; i < d->nio; i++)
		aml_res_io(a, d->io[i].base, d->io[i].len);
	if (d->isa_irq >= 0)
		aml_res_irq_noflags(a, (unsigned)d->isa_irq);
	if (d->mem_size)
		aml_res_memory32_fixed(a, (uint32_t)d->mem_base, d->mem_size, 1);
	if (d->gsi >= 0)
		aml_res_interrupt(a, (uint32_t)d->gsi, AML_IRQ_CONSUMER | AML_IRQ_EDGE);
	aml_restemplate_end(a);
	aml_device_end(a);
}

/* The Generic Event Device (ACPI 6.0, 5.6.9): a hardware-reduced machine's way to raise
 * an ACPI event. One Interrupt per device with an event GSI; the OS runs _EVT(gsi) when it
 * fires, which notifies that device. */
static void dsdt_ged(struct aml *a, const struct acpi_machine *m)
{
	char path[16];
	unsigned n = 0;
	for (unsigned i = 0; i < m->ndevs; i++)
		n += m->devs[i].event_gsi != 0;
	if (!n)
		return;
	aml_device_begin(a, "GED_");
	aml_name_string_value(a, "_HID", "ACPI0013");
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].event_gsi)
			aml_res_interrupt(a, m->devs[i].event_gsi, AML_IRQ_CONSUMER | AML_IRQ_EDGE);
	aml_restemplate_end(a);
	aml_method_begin(a, "_EVT", 1, 1);
	for (unsigned i = 0; i < m->ndevs; i++) {
		if (!m->devs[i].event_gsi)
			continue;
		snprintf(path, sizeof(path), "\\_SB_.%s", m->devs[i].name);
		aml_if_begin(a);
		aml_lequal(a);
		aml_arg(a, 0);
		aml_integer(a, m->devs[i].event_gsi);
		aml_notify(a, path, NOTIFY_DEVICE_SPECIFIC);
		aml_if_end(a);
	}
	aml_method_end(a);
	aml_device_end(a);
}

/* The DSDT's AML into buf[0, cap): returns its length or -ENOSPC. */
static long build_dsdt_aml(uint8_t *buf, size_t cap, const struct acpi_machine *m)
{
	struct aml a;

	aml_init(&a, buf, cap);
	aml_scope_begin(&a, "\\_SB_");
	for (unsigned i = 0; i < m->ndevs; i++)
		dsdt_device(&a, &m->devs[i]);
	dsdt_ged(&a, m);
	aml_scope_end(&a);

	/* S5 is the one sleep state: SLP_TYPa (what a hardware-reduced OS writes to the sleep
	 * control register), SLP_TYPb (for a PM1b block there is not), two reserved. */
	aml_name(&a, "\\_S5_");
	aml_package_begin(&a);
	aml_integer(&a, POWER_SLP_TYP_S5);
	aml_integer(&a, POWER_SLP_TYP_S5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_package_end(&a);

	long len = aml_finish(&a);
	/* The names and ids were checked (check_machine), so the only failure left is space. */
	return len < 0 ? -ENOSPC : len;
}

/* A name segment: four of [A-Z0-9_], not starting with a digit. */
static bool name_seg_ok(const char name[5])
{
	if (name[4] || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (unsigned i = 0; i < 4; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static bool device_ok(const struct acpi_dev *d)
{
	uint32_t eisa;
	if (!name_seg_ok(d->name) || !d->hid || !d->hid[0] || d->nio > 2)
		return false;
	if (d->hid_eisa && aml_eisaid_value(d->hid, &eisa) < 0)
		return false;
	for (unsigned i = 0; i < d->nio; i++)
		if (d->io[i].len == 0)
			return false;
	if (d->isa_irq > 15 || d->gsi >= ACPI_IOAPIC_PINS)
		return false;
	if (d->mem_size && (d->mem_base > UINT32_MAX || d->mem_base + d->mem_size - 1 > UINT32_MAX))
		return false;
	if (d->event_gsi >= ACPI_IOAPIC_PINS || (d->cid && !d->cid[0]))
		return false;
	return true;
}

static int check_machine(const struct acpi_machine *m)
{
	if (m->nvcpus < 1 || m->nvcpus > ACPI_MAX_VCPUS)
		return -EINVAL;
	if (m->ndevs > ACPI_MAX_DEVICES || (m->ndevs && !m->devs))
		return -EINVAL;
	for (unsigned i = 0; i < m->ndevs; i++) {
		if (!device_ok(&m->devs[i]))
			return -EINVAL;
		/* _EVT tells events apart by their GSI alone. */
		for (unsigned j = 0; j < i && m->devs[i].event_gsi; j++)
			if (m->devs[j].event_gsi == m->devs[i].event_gsi)
				return -EINVAL;
	}
	return 0;
}

int acpi_tables_write(const struct guest_mem *gm, const struct acpi_machine *m, gpa_t *rsdp_out)
{
	int err = check_machine(m);
	if (err)
		return err;

	/* Layout, each table 16-byte aligned: RSDP, XSDT, FADT, MADT, DSDT. */
	size_t xsdt = ALIGN16((size_t)RSDP_SIZE);
	size_t fadt = ALIGN16(xsdt + SDT_HEADER + 8 * XSDT_ENTRIES);
	size_t madt = ALIGN16(fadt + FADT_SIZE);
	size_t dsdt = ALIGN16(madt + madt_size(m->nvcpus));
	if (dsdt + SDT_HEADER > ACPI_AREA)
		return -ENOSPC;

	/* A static scratch area, not calloc: in the static build a 128 KiB calloc grew the
	 * monitor's peak RSS by 968 KiB (measured with --stats). Setup runs on one thread;
	 * only the bytes used are cleared, so untouched pages stay out of RSS. */
	static uint8_t scratch[ACPI_AREA];
	uint8_t *area = scratch;
	memset(area, 0, dsdt + SDT_HEADER);
	long aml_len = build_dsdt_aml(area + dsdt + SDT_HEADER, ACPI_AREA - dsdt - SDT_HEADER, m);
	if (aml_len < 0) {
		err = (int)aml_len;
		goto out;
	}
	uint32_t dsdt_len = (uint32_t)(SDT_HEADER + (size_t)aml_len);
	size_t total = dsdt + dsdt_len;

	sdt_header(area + dsdt, "DSDT", dsdt_len, DSDT_REVISION);
	sdt_seal(area + dsdt, dsdt_len);
	write_madt(area + madt, m->nvcpus);
	write_fadt(area + fadt, LAYOUT_ACPI + dsdt);
	const gpa_t entries[XSDT_ENTRIES] = {LAYOUT_ACPI + fadt, LAYOUT_ACPI + madt};
	write_xsdt(area + xsdt, entries);
	write_rsdp(area, LAYOUT_ACPI + xsdt);

	uint8_t *dst = gm_ptr(gm, LAYOUT_ACPI, total);
	if (!dst) {
		err = -ENOSPC;
		goto out;
	}
	memcpy(dst, area, total);
	*rsdp_out = LAYOUT_ACPI;
out:
	return err;
}
