/*
 * Loading a kernel image into guest memory, whatever its format: a 64-bit ELF (vmlinux
 * or a freestanding guest) entered by the Linux 64-bit boot protocol or by its Xen PVH
 * note, or a bzImage entered at its 64-bit entry. The result says how to enter it and
 * what the kernel allows for its command line and initrd.
 */
#ifndef EMBER_X86_KERNEL_H
#define EMBER_X86_KERNEL_H

#include "../../base/config.h"
#include "../../base/guest_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum boot_entry {
	BOOT_ENTRY_LINUX64, /* long mode, RSI = boot_params */
	BOOT_ENTRY_PVH,     /* 32-bit protected mode, EBX = hvm_start_info */
};

/* The part of a bzImage's setup header Ember copies into boot_params: 0x1f1 up to the
 * end of struct setup_header (boot protocol 2.15). */
#define SETUP_HDR_START 0x1f1
#define SETUP_HDR_END   0x290

struct kernel_image {
	enum boot_entry entry_kind;
	uint64_t entry;        /* guest physical address of the first instruction */
	uint64_t load_high;    /* one past the highest byte the kernel may use while booting */
	uint32_t cmdline_max;  /* the longest command line it accepts, without the NUL */
	uint64_t initrd_limit; /* an initrd must end at or below this address */
	bool bzimage;          /* setup_hdr holds the image's setup header */
	bool is_linux;         /* a Linux kernel (a bzImage, or an ELF with "Linux" notes) */
	uint8_t setup_hdr[SETUP_HDR_END - SETUP_HDR_START];
};

/*
 * Load the kernel in fd (file_size bytes) into gm and describe it in *out. The format is
 * found from the bytes (ELF magic, or a bzImage's "HdrS"), never from the file name.
 * req picks the entry: AUTO takes an ELF's e_entry when it lies in a loaded segment and
 * its PVH note otherwise, and a bzImage's 64-bit entry; LINUX64 and PVH insist on theirs.
 * A bzImage must speak boot protocol 2.12 or later, have XLF_KERNEL_64, a power-of-two
 * kernel_alignment that its preferred load address honours, and its whole payload in the
 * file; it is loaded at that address and needs init_size bytes of RAM from there.
 * On refusal returns -ENOEXEC/-EINVAL with a message in err naming the problem;
 * read errors return -errno.
 */
int kernel_load(const struct guest_mem *gm, int fd, uint64_t file_size, enum boot_request req,
                struct kernel_image *out, char *err, size_t errlen);

#endif
