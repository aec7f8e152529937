/*
 * x86_64 boot: the data structures a guest finds in memory at entry (GDT, identity page
 * tables, boot_params with the E820 map and command line) and the vCPU state for the
 * Linux 64-bit boot protocol. docs/CONTRACTS.md describes the result for guest authors.
 */
#ifndef EMBER_X86_BOOT_H
#define EMBER_X86_BOOT_H

#include "../../base/guest_mem.h"
#include "kernel.h"

#include <stddef.h>
#include <stdint.h>

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* GDT selectors: a flat 32-bit code segment for the PVH entry, those the Linux boot
 * protocol asks for (__BOOT_CS, __BOOT_DS), and our TSS. */
#define BOOT_CS32      0x08
#define BOOT_CS        0x10
#define BOOT_DS        0x18
#define BOOT_TSS       0x20
#define BOOT_GDT_LIMIT (BOOT_TSS + 16 - 1) /* the TSS descriptor takes two entries */

/*
 * Build the E820 map for gm's RAM: low RAM below the EBDA, the reserved BIOS area up to
 * 1 MiB, RAM from 1 MiB, and RAM above 4 GiB for large guests. Returns the number of
 * entries written (at most max), or -ENOSPC if max is too small.
 */
int boot_e820_build(const struct guest_mem *gm, struct e820_entry *out, size_t max);

/* What the boot data tells the kernel besides the memory map. */
struct boot_data {
	const char *cmdline;
	const struct kernel_image *kernel; /* NULL: a freestanding 64-bit guest */
	gpa_t initrd;                      /* 0: no initrd */
	uint64_t initrd_size;
	gpa_t rsdp; /* 0: no ACPI tables */
};

/*
 * Write the GDT, the identity page tables (first 4 GiB, 2 MiB pages), the command line
 * and boot_params (the E820 map, the initrd, the RSDP; a bzImage's setup header copied in
 * first, as the boot protocol asks) into guest memory, and for a PVH entry the
 * hvm_start_info at LAYOUT_PVH_INFO with the same memory map, the initrd as module 0
 * and the RSDP. bd->cmdline must be at most LAYOUT_CMDLINE_SIZE - 1 bytes. Returns 0,
 * or -ENOSPC when gm has too little RAM for these structures or the command line is too
 * long.
 */
int boot_write_tables(const struct guest_mem *gm, const struct boot_data *bd);

/* The 64-bit GDT descriptor for the given selector index, as written by boot_write_tables. */
uint64_t boot_gdt_entry(unsigned index);

/*
 * Set up vCPU fd to enter the guest at rip, the FPU and the boot MSRs. BOOT_ENTRY_LINUX64:
 * segment registers from the GDT, CR0/CR3/CR4/EFER for long mode with the identity tables,
 * RSI = boot_params. BOOT_ENTRY_PVH: 32-bit protected mode without paging, flat CS
 * (BOOT_CS32) and data segments, EBX = hvm_start_info (the PVH ABI).
 * Only the boot vCPU is set up this way; the others wait for INIT/SIPI.
 * Returns 0 or -errno; on error writes what failed into err.
 */
int boot_setup_vcpu(int vcpu_fd, enum boot_entry kind, uint64_t rip, char *err, size_t errlen);

/*
 * Program the in-kernel LAPIC of vcpu_fd: LINT0 as ExtINT, LINT1 as NMI, as a PC BIOS
 * leaves them. Returns 0 or -errno.
 */
int boot_setup_lapic(int vcpu_fd);

#endif
