/*
 * x86_64 boot: the data structures a guest finds in memory at entry (GDT, identity page
 * tables, boot_params with the E820 map and command line) and the vCPU state for the
 * Linux 64-bit boot protocol. docs/CONTRACTS.md describes the result for guest authors.
 */
#ifndef EMBER_X86_BOOT_H
#define EMBER_X86_BOOT_H

#include "../../vmm/guest_mem.h"

#include <stddef.h>
#include <stdint.h>

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* GDT selectors the boot protocol asks for (__BOOT_CS, __BOOT_DS) and our TSS. */
#define BOOT_CS  0x10
#define BOOT_DS  0x18
#define BOOT_TSS 0x20
#define BOOT_GDT_LIMIT (BOOT_TSS + 16 - 1) /* the TSS descriptor takes two entries */

/*
 * Build the E820 map for gm's RAM: low RAM below the EBDA, the reserved BIOS area up to
 * 1 MiB, RAM from 1 MiB, and RAM above 4 GiB for large guests. Returns the number of
 * entries written (at most max), or -ENOSPC if max is too small.
 */
int boot_e820_build(const struct guest_mem *gm, struct e820_entry *out, size_t max);

/*
 * Write the GDT, the identity page tables (first 4 GiB, 2 MiB pages), the command line
 * and boot_params (with the E820 map) into guest memory. cmdline must be at most
 * LAYOUT_CMDLINE_SIZE - 1 bytes. Returns 0, or -ENOSPC when gm has too little RAM for
 * these structures or the command line is too long.
 */
int boot_write_tables(const struct guest_mem *gm, const char *cmdline);

/* The 64-bit GDT descriptor for the given selector index, as written by boot_write_tables. */
uint64_t boot_gdt_entry(unsigned index);

/*
 * Set up vCPU fd for 64-bit entry at rip: segment registers from the GDT, CR0/CR3/CR4/EFER
 * for long mode with the identity tables, RSI = boot_params, the FPU, the boot MSRs.
 * Only the boot vCPU is set up this way; the others wait for INIT/SIPI.
 * Returns 0 or -errno; on error writes what failed into err.
 */
int boot_setup_vcpu(int vcpu_fd, uint64_t rip, char *err, size_t errlen);

/*
 * Program the in-kernel LAPIC of vcpu_fd: LINT0 as ExtINT, LINT1 as NMI, as a PC BIOS
 * leaves them. Returns 0 or -errno.
 */
int boot_setup_lapic(int vcpu_fd);

#endif
