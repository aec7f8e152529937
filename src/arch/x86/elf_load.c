/* ELF64 loader: validate every header first, then copy the PT_LOAD segments in. */
#include "elf_load.h"
#include "layout.h"
#include "../../base/file_io.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int check_ehdr(const Elf64_Ehdr *eh, uint64_t file_size, char *err, size_t errlen)
{
	uint64_t ph_bytes, ph_end;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "not an ELF file (bad magic)");
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "not a 64-bit little-endian ELF file");
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_X86_64) {
		snprintf(err, errlen, "ELF machine is %u, not x86_64 (%u)", eh->e_machine,
		         EM_X86_64);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		snprintf(err, errlen, "ELF type is %u, not an executable (ET_EXEC)", eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		snprintf(err, errlen, "ELF program header size is %u, not %zu", eh->e_phentsize,
		         sizeof(Elf64_Phdr));
		return -EINVAL;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS) {
		snprintf(err, errlen, "ELF has %u program headers (1 to %d accepted)", eh->e_phnum,
		         ELF_MAX_PHDRS);
		return -EINVAL;
	}
	ph_bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (__builtin_add_overflow(eh->e_phoff, ph_bytes, &ph_end) || ph_end > file_size) {
		snprintf(err, errlen, "ELF program headers lie outside the file");
		return -EINVAL;
	}
	return 0;
}

static int check_segment(const struct guest_mem *gm, const Elf64_Phdr *ph, unsigned i,
                         uint64_t file_size, char *err, size_t errlen)
{
	uint64_t file_end, mem_last;

	if (ph->p_filesz > ph->p_memsz) {
		snprintf(err, errlen,
		         "ELF segment %u: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64,
		         i, ph->p_filesz, ph->p_memsz);
		return -EINVAL;
	}
	if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end) || file_end > file_size) {
		snprintf(err, errlen, "ELF segment %u: its bytes lie outside the file (truncated?)",
		         i);
		return -EINVAL;
	}
	if (ph->p_paddr < LAYOUT_HIMEM) {
		snprintf(err, errlen, "ELF segment %u loads at 0x%" PRIx64 ", below 1 MiB", i,
		         ph->p_paddr);
		return -EINVAL;
	}
	if (ph->p_memsz && (__builtin_add_overflow(ph->p_paddr, ph->p_memsz - 1, &mem_last) ||
	                    !gm_ptr(gm, ph->p_paddr, ph->p_memsz))) {
		snprintf(err, errlen,
		         "ELF segment %u [0x%" PRIx64 ", +0x%" PRIx64
		         ") does not fit in guest RAM (%" PRIu64 " MiB)",
		         i, ph->p_paddr, ph->p_memsz, gm->ram_bytes >> 20);
		return -EINVAL;
	}
	return 0;
}

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static bool in_segments(const Elf64_Phdr *const *load, unsigned nload, uint64_t addr)
{
	for (unsigned j = 0; j < nload; j++)
		if (addr >= load[j]->p_paddr && addr - load[j]->p_paddr < load[j]->p_memsz)
			return true;
	return false;
}

/* Walk one PT_NOTE segment's notes (ELF gABI: namesz, descsz, type, then the name and
 * the descriptor, each padded to 4 bytes), every length checked against the segment. */
static int parse_notes(int fd, const Elf64_Phdr *ph, unsigned i, uint64_t file_size,
                       struct elf_image *out, char *err, size_t errlen)
{
	static uint8_t buf[ELF_MAX_NOTE_BYTES]; /* setup runs once, on one thread */
	uint64_t end;
	int r;

	if (ph->p_filesz > sizeof(buf) ||
	    __builtin_add_overflow(ph->p_offset, ph->p_filesz, &end) || end > file_size) {
		snprintf(err, errlen, "ELF note segment %u is too large or lies outside the file",
		         i);
		return -EINVAL;
	}
	if ((r = file_read_exact(fd, buf, ph->p_filesz, ph->p_offset)) < 0) {
		snprintf(err, errlen, "cannot read ELF note segment %u: %s", i, strerror(-r));
		return r;
	}
	for (uint64_t off = 0; off < ph->p_filesz;) {
		uint32_t h[3];
		if (ph->p_filesz - off < sizeof(h))
			goto bad;
		memcpy(h, buf + off, sizeof(h));
		off += sizeof(h);
		uint64_t name_pad = ((uint64_t)h[0] + 3) & ~3ULL;
		uint64_t desc_pad = ((uint64_t)h[1] + 3) & ~3ULL;
		if (name_pad > ph->p_filesz - off || desc_pad > ph->p_filesz - off - name_pad)
			goto bad;
		const uint8_t *name = buf + off, *desc = buf + off + name_pad;
		off += name_pad + desc_pad;
		if (h[0] == 6 && !memcmp(name, "Linux", 6))
			out->linux_notes = true;
		if (h[0] == 4 && !memcmp(name, "Xen", 4) && h[2] == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t v = 0;
			if (h[1] != 4 && h[1] != 8)
				goto bad;
			memcpy(&v, desc, h[1]);
			if (v == 0 || v > UINT32_MAX) {
				snprintf(err, errlen,
				         "the PVH entry note points at 0x%" PRIx64
				         ", not a 32-bit address",
				         v);
				return -EINVAL;
			}
			out->pvh_entry = v;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "ELF note segment %u is malformed", i);
	return -EINVAL;
}

static int ranges_overlap(const Elf64_Phdr *a, const Elf64_Phdr *b)
{
	/* Both ranges were checked to lie in guest RAM, so the ends cannot overflow. */
	return a->p_paddr < b->p_paddr + b->p_memsz && b->p_paddr < a->p_paddr + a->p_memsz;
}

int elf_load(const struct guest_mem *gm, int fd, uint64_t file_size, struct elf_image *out,
             char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_MAX_PHDRS];
	const Elf64_Phdr *load[ELF_MAX_PHDRS];
	unsigned nload = 0;
	int r;

	if (file_size < sizeof(eh)) {
		snprintf(err, errlen, "file too short for an ELF header (%" PRIu64 " bytes)",
		         file_size);
		return -ENOEXEC;
	}
	if ((r = file_read_exact(fd, &eh, sizeof(eh), 0)) < 0) {
		snprintf(err, errlen, "cannot read the ELF header: %s", strerror(-r));
		return r;
	}
	if ((r = check_ehdr(&eh, file_size, err, errlen)) < 0)
		return r;
	if ((r = file_read_exact(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff)) < 0) {
		snprintf(err, errlen, "cannot read the ELF program headers: %s", strerror(-r));
		return r;
	}

	memset(out, 0, sizeof(*out));
	out->entry = eh.e_entry;
	out->load_low = UINT64_MAX;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_NOTE &&
		    (r = parse_notes(fd, &ph[i], i, file_size, out, err, errlen)) < 0)
			return r;
		if (ph[i].p_type != PT_LOAD)
			continue;
		/* Empty segments are checked too (a p_filesz over a zero p_memsz is an error),
		 * then skipped: they load nothing. */
		if ((r = check_segment(gm, &ph[i], i, file_size, err, errlen)) < 0)
			return r;
		if (ph[i].p_memsz == 0)
			continue;
		for (unsigned j = 0; j < nload; j++) {
			if (ranges_overlap(&ph[i], load[j])) {
				snprintf(err, errlen, "ELF segments %u and %u overlap in memory",
				         (unsigned)(load[j] - ph), i);
				return -EINVAL;
			}
		}
		load[nload++] = &ph[i];
		if (ph[i].p_paddr < out->load_low)
			out->load_low = ph[i].p_paddr;
		if (ph[i].p_paddr + ph[i].p_memsz > out->load_high)
			out->load_high = ph[i].p_paddr + ph[i].p_memsz;
	}
	if (nload == 0) {
		snprintf(err, errlen, "ELF has no loadable segment");
		return -EINVAL;
	}
	out->entry_usable = in_segments(load, nload, eh.e_entry);
	if (out->pvh_entry && !in_segments(load, nload, out->pvh_entry)) {
		snprintf(err, errlen, "the PVH entry 0x%" PRIx64 " is outside every loaded segment",
		         out->pvh_entry);
		return -EINVAL;
	}
	if (!out->entry_usable && !out->pvh_entry) {
		snprintf(err, errlen,
		         "ELF entry point 0x%" PRIx64 " is outside every loaded segment",
		         eh.e_entry);
		return -EINVAL;
	}

	for (unsigned k = 0; k < nload; k++) {
		const Elf64_Phdr *p = load[k];
		uint8_t *dst = gm_ptr(gm, p->p_paddr, p->p_memsz);
		if (p->p_filesz && (r = file_read_exact(fd, dst, p->p_filesz, p->p_offset)) < 0) {
			snprintf(err, errlen, "cannot read ELF segment %u: %s", (unsigned)(p - ph),
			         strerror(-r));
			return r;
		}
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	return 0;
}
