/* Loading a 64-bit x86 ELF kernel (vmlinux or a freestanding guest) into guest memory. */
#ifndef EMBER_X86_ELF_LOAD_H
#define EMBER_X86_ELF_LOAD_H

#include "../../base/guest_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_PHDRS 64

#define ELF_MAX_NOTE_BYTES 0x10000 /* a PT_NOTE segment larger than this is refused */

struct elf_image {
	uint64_t entry;     /* e_entry: the 64-bit entry point, a guest physical address */
	bool entry_usable;  /* e_entry lies inside a loaded segment */
	uint64_t pvh_entry; /* the Xen PVH note's 32-bit entry, inside a segment; 0: none */
	bool linux_notes;   /* the ELF carries "Linux" notes: it is a Linux vmlinux */
	uint64_t load_low;  /* lowest guest physical address loaded */
	uint64_t load_high; /* one past the highest */
};

/*
 * Load the ELF64 x86_64 executable in fd (file_size bytes) into gm: every PT_LOAD segment
 * goes to its p_paddr, file bytes copied and the rest of p_memsz zeroed.
 * Refuses, with -EINVAL/-ENOEXEC and a message in err naming the problem: a file too
 * short for its headers, a wrong magic, class, byte order, machine or type, program
 * headers outside the file or more than ELF_MAX_PHDRS, a segment whose file bytes lie
 * outside the file, whose p_filesz exceeds p_memsz, which starts below 1 MiB or does not
 * lie wholly in guest RAM, two segments that overlap, no PT_LOAD at all, or an entry
 * point outside every loaded segment. Read errors return -errno.
 * Nothing is written to guest memory until every header has been checked.
 */
int elf_load(const struct guest_mem *gm, int fd, uint64_t file_size, struct elf_image *out,
             char *err, size_t errlen);

#endif
