/*
 * Offsets into the Linux "zero page" (struct boot_params) and its setup header, from the
 * x86 boot protocol (Documentation/arch/x86/boot.rst and zero-page.rst). Fields are read
 * and written through these offsets with explicit little-endian helpers rather than a
 * packed struct, so no unaligned or type-punned access is needed.
 */
#ifndef EMBER_X86_BOOTPARAM_H
#define EMBER_X86_BOOTPARAM_H

#include <stdint.h>
#include <string.h>

#define BP_SIZE             4096
#define BP_ACPI_RSDP_ADDR   0x070 /* u64 */
#define BP_EXT_RAMDISK_IMG  0x0c0 /* u32 */
#define BP_EXT_RAMDISK_SIZE 0x0c4 /* u32 */
#define BP_EXT_CMD_LINE_PTR 0x0c8 /* u32 */
#define BP_E820_ENTRIES     0x1e8 /* u8 */
#define BP_SETUP_SECTS      0x1f1 /* u8: start of the setup header */
#define BP_BOOT_FLAG        0x1fe /* u16: 0xaa55 */
#define BP_HEADER           0x202 /* u32: "HdrS" */
#define BP_VERSION          0x206 /* u16 */
#define BP_TYPE_OF_LOADER   0x210 /* u8 */
#define BP_LOADFLAGS        0x211 /* u8 */
#define BP_RAMDISK_IMAGE    0x218 /* u32 */
#define BP_RAMDISK_SIZE     0x21c /* u32 */
#define BP_HEAP_END_PTR     0x224 /* u16 */
#define BP_CMD_LINE_PTR     0x228 /* u32 */
#define BP_INITRD_ADDR_MAX  0x22c /* u32 */
#define BP_KERNEL_ALIGNMENT 0x230 /* u32 */
#define BP_RELOCATABLE      0x234 /* u8 */
#define BP_XLOADFLAGS       0x236 /* u16 */
#define BP_CMDLINE_SIZE     0x238 /* u32 */
#define BP_E820_TABLE       0x2d0 /* E820_MAX_ENTRIES entries of 20 bytes */

#define BP_HEADER_MAGIC          0x53726448u /* "HdrS" */
#define BP_BOOT_FLAG_MAGIC       0xaa55u
#define BP_LOADER_UNDEFINED      0xff
#define BP_LOADFLAG_LOADED_HIGH  0x01
#define BP_LOADFLAG_CAN_USE_HEAP 0x80

#define E820_MAX_ENTRIES 128
#define E820_ENTRY_SIZE  20
#define E820_RAM         1
#define E820_RESERVED    2

static inline void bp_put8(uint8_t *bp, unsigned off, uint8_t v)
{
	bp[off] = v;
}

static inline void bp_put16(uint8_t *bp, unsigned off, uint16_t v)
{
	bp[off] = (uint8_t)v;
	bp[off + 1] = (uint8_t)(v >> 8);
}

static inline void bp_put32(uint8_t *bp, unsigned off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		bp[off + i] = (uint8_t)(v >> (8 * i));
}

static inline void bp_put64(uint8_t *bp, unsigned off, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		bp[off + i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t bp_get32(const uint8_t *bp, unsigned off)
{
	return (uint32_t)bp[off] | (uint32_t)bp[off + 1] << 8 | (uint32_t)bp[off + 2] << 16 |
	       (uint32_t)bp[off + 3] << 24;
}

static inline uint64_t bp_get64(const uint8_t *bp, unsigned off)
{
	return (uint64_t)bp_get32(bp, off) | (uint64_t)bp_get32(bp, off + 4) << 32;
}

#endif
