/*
 * The x86_64 guest-physical layout, in one place (docs/CONTRACTS.md describes it for guest
 * authors). It follows what Linux and other microVM monitors use, so kernels find what
 * they expect.
 */
#ifndef EMBER_X86_LAYOUT_H
#define EMBER_X86_LAYOUT_H

#define LAYOUT_GDT          0x500ULL
#define LAYOUT_PVH_INFO     0x6000ULL /* hvm_start_info, module list, memory map */
#define LAYOUT_ZERO_PAGE    0x7000ULL /* boot_params */
#define LAYOUT_BOOT_STACK   0x8ff0ULL
#define LAYOUT_PML4         0x9000ULL
#define LAYOUT_PDPT         0xa000ULL
#define LAYOUT_PD           0xb000ULL /* four page directories: 0xb000-0xefff */
#define LAYOUT_PD_COUNT     4         /* identity map of the first 4 GiB */
#define LAYOUT_CMDLINE      0x20000ULL
#define LAYOUT_CMDLINE_SIZE 0x1000ULL
#define LAYOUT_EBDA         0x9fc00ULL /* [EBDA, 1 MiB) is reserved in the E820 map */
/* VMGenID's 16 bytes, just below the RSDP: reserved, in a page of no RAM (so /dev/mem
 * shows it), outside the areas Linux scans for BIOS tables and option ROMs' 2 KiB starts
 * (Firecracker puts its own at the same place). */
#define LAYOUT_VMGENID  0xdfff0ULL
#define LAYOUT_ACPI     0xe0000ULL /* RSDP, then the other ACPI tables, up to 1 MiB */
#define LAYOUT_ACPI_END 0x100000ULL
#define LAYOUT_HIMEM    0x100000ULL /* kernels load at or above 1 MiB */

#define LAYOUT_MMIO_HOLE    0xc0000000ULL  /* 32-bit device hole: [3 GiB, 4 GiB) */
#define LAYOUT_HIGH_RAM     0x100000000ULL /* RAM beyond the hole continues at 4 GiB */
#define LAYOUT_MMIO_DEVICES 0xd0000000ULL  /* virtio-mmio windows, 4 KiB each */
#define LAYOUT_IOAPIC       0xfec00000ULL
#define LAYOUT_LAPIC        0xfee00000ULL
#define LAYOUT_IDENTITY_MAP 0xfffbc000ULL /* KVM_SET_IDENTITY_MAP_ADDR (VMX only) */
#define LAYOUT_TSS          0xfffbd000ULL /* KVM_SET_TSS_ADDR, 3 pages (VMX only) */

#endif
