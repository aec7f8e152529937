/* Kernel images: tell ELF from bzImage by their bytes, load either, and pick the entry. */
#include "kernel.h"
#include "../../base/file_io.h"
#include "bootparam.h"
#include "elf_load.h"
#include "layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Setup-header fields beyond those boot_params writers need (bootparam.h). */
#define HDR_SYSSIZE        0x1f4 /* u32, 16-byte units */
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PREF_ADDRESS   0x258 /* u64 */
#define HDR_INIT_SIZE      0x260 /* u32 */
#define XLF_KERNEL_64      0x1
#define BZ_ENTRY64_OFFSET  0x200 /* startup_64 lies 0x200 into the protected-mode code */
#define BZ_MIN_VERSION     0x020c

/* x86 Linux's COMMAND_LINE_SIZE is 2048 with the NUL; a vmlinux does not record it. */
#define LINUX_ELF_CMDLINE_MAX 2047
/* x86_64 kernels declare initrd_addr_max 0x7fffffff; a vmlinux has no header to say so. */
#define LINUX_ELF_INITRD_LIMIT 0x80000000ULL

static uint16_t get16(const uint8_t *b, unsigned off)
{
	return (uint16_t)(b[off] | b[off + 1] << 8);
}

static int load_elf(const struct guest_mem *gm, int fd, uint64_t size, enum boot_request req,
                    struct kernel_image *out, char *err, size_t errlen)
{
	struct elf_image img;
	int r = elf_load(gm, fd, size, &img, err, errlen);
	if (r < 0)
		return r;
	bool pvh = req == BOOT_REQUEST_PVH || (req == BOOT_REQUEST_AUTO && !img.entry_usable);
	if (pvh && !img.pvh_entry) {
		snprintf(err, errlen, "--boot pvh: the ELF has no Xen PVH entry note");
		return -ENOEXEC;
	}
	if (!pvh && !img.entry_usable) {
		snprintf(err, errlen,
		         "ELF entry point 0x%" PRIx64 " is outside every loaded "
		         "segment (its PVH entry works: --boot pvh)",
		         img.entry);
		return -ENOEXEC;
	}
	out->entry_kind = pvh ? BOOT_ENTRY_PVH : BOOT_ENTRY_LINUX64;
	out->entry = pvh ? img.pvh_entry : img.entry;
	out->load_high = img.load_high;
	out->cmdline_max = img.linux_notes ? LINUX_ELF_CMDLINE_MAX : LAYOUT_CMDLINE_SIZE - 1;
	out->initrd_limit = img.linux_notes ? LINUX_ELF_INITRD_LIMIT : LAYOUT_MMIO_HOLE;
	out->is_linux = img.linux_notes;
	return 0;
}

static int load_bzimage(const struct guest_mem *gm, int fd, uint64_t size, const uint8_t *h,
                        enum boot_request req, struct kernel_image *out, char *err, size_t errlen)
{
	uint16_t version = get16(h, BP_VERSION);
	if (req == BOOT_REQUEST_PVH) {
		snprintf(err, errlen, "--boot pvh: a bzImage has no PVH entry (boot its vmlinux)");
		return -ENOEXEC;
	}
	if (get16(h, BP_BOOT_FLAG) != BP_BOOT_FLAG_MAGIC) {
		snprintf(err, errlen, "bzImage boot flag is 0x%04x, not 0xaa55",
		         get16(h, BP_BOOT_FLAG));
		return -ENOEXEC;
	}
	if (version < BZ_MIN_VERSION) {
		snprintf(err, errlen,
		         "bzImage speaks boot protocol %u.%02u; 2.12 or later is needed",
		         version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	if (!(get16(h, BP_XLOADFLAGS) & XLF_KERNEL_64)) {
		snprintf(err, errlen, "bzImage has no 64-bit entry (XLF_KERNEL_64 is clear)");
		return -ENOEXEC;
	}
	if (!(h[BP_LOADFLAGS] & BP_LOADFLAG_LOADED_HIGH)) {
		snprintf(err, errlen, "bzImage does not load at 1 MiB (a zImage?)");
		return -ENOEXEC;
	}
	uint64_t setup_sects = h[BP_SETUP_SECTS] ? h[BP_SETUP_SECTS] : 4;
	uint64_t kernel_off = (setup_sects + 1) * 512;
	uint64_t sys_bytes = (uint64_t)bp_get32(h, HDR_SYSSIZE) * 16;
	if (kernel_off >= size || sys_bytes == 0 || sys_bytes > size - kernel_off) {
		snprintf(err, errlen,
		         "bzImage is truncated: its header announces %" PRIu64
		         " bytes of kernel after %" PRIu64 " bytes of setup; the file has %" PRIu64,
		         sys_bytes, kernel_off, size);
		return -ENOEXEC;
	}
	uint32_t align = bp_get32(h, BP_KERNEL_ALIGNMENT);
	uint64_t load = bp_get64(h, HDR_PREF_ADDRESS);
	if (align == 0 || (align & (align - 1)) || load % align || load < LAYOUT_HIMEM) {
		snprintf(err, errlen,
		         "bzImage asks to load at 0x%" PRIx64 " with alignment 0x%x: "
		         "not a usable place",
		         load, align);
		return -ENOEXEC;
	}
	uint64_t ksize = size - kernel_off;
	uint64_t need = bp_get32(h, HDR_INIT_SIZE);
	if (need < ksize)
		need = ksize;
	uint8_t *dst = gm_ptr(gm, load, need);
	if (!dst) {
		snprintf(err, errlen,
		         "bzImage needs [0x%" PRIx64 ", 0x%" PRIx64 ") of RAM to "
		         "decompress itself; give the guest more memory (--mem)",
		         load, load + need);
		return -ENOEXEC;
	}
	int r = file_read_exact(fd, dst, ksize, kernel_off);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the bzImage: %s", strerror(-r));
		return r;
	}
	out->entry_kind = BOOT_ENTRY_LINUX64;
	out->entry = load + BZ_ENTRY64_OFFSET;
	out->load_high = load + need;
	uint32_t cl = bp_get32(h, BP_CMDLINE_SIZE);
	out->cmdline_max = cl < LAYOUT_CMDLINE_SIZE ? cl : LAYOUT_CMDLINE_SIZE - 1;
	out->initrd_limit = (uint64_t)bp_get32(h, BP_INITRD_ADDR_MAX) + 1;
	out->bzimage = true;
	out->is_linux = true;
	memcpy(out->setup_hdr, h + SETUP_HDR_START, sizeof(out->setup_hdr));
	return 0;
}

int kernel_load(const struct guest_mem *gm, int fd, uint64_t file_size, enum boot_request req,
                struct kernel_image *out, char *err, size_t errlen)
{
	uint8_t h[SETUP_HDR_END] = {0};
	uint64_t n = file_size < sizeof(h) ? file_size : sizeof(h);
	int r;

	memset(out, 0, sizeof(*out));
	if (file_size < 4) {
		snprintf(err, errlen, "file too short to be a kernel (%" PRIu64 " bytes)",
		         file_size);
		return -ENOEXEC;
	}
	if ((r = file_read_exact(fd, h, n, 0)) < 0) {
		snprintf(err, errlen, "cannot read the kernel: %s", strerror(-r));
		return r;
	}
	if (!memcmp(h,
	            "\x7f"
	            "ELF",
	            4))
		return load_elf(gm, fd, file_size, req, out, err, errlen);
	if (n >= sizeof(h) && bp_get32(h, BP_HEADER) == BP_HEADER_MAGIC)
		return load_bzimage(gm, fd, file_size, h, req, out, err, errlen);
	snprintf(err, errlen, "not a kernel: neither an ELF file nor a bzImage");
	return -ENOEXEC;
}
