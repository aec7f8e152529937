/* The exec file runs alone in an empty jail: no loader, no libraries, no shell. So it must be
 * an x86-64 ELF executable without a program interpreter; anything else would fail only at
 * the exec, after the jailer has given up the rights it needs to take the jail back. */
#include "jailer.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

int elf_check_static(const unsigned char *buf, size_t len, uint64_t file_size, const char **why)
{
	Elf64_Ehdr eh;
	if (len < 4 || memcmp(buf, ELFMAG, SELFMAG) != 0) {
		*why = len >= 2 && buf[0] == '#' && buf[1] == '!'
		           ? "a script, whose interpreter would not be in the jail"
		           : "not an ELF file";
		return -ENOEXEC;
	}
	if (len < sizeof(eh)) {
		*why = "a truncated ELF header";
		return -ENOEXEC;
	}
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		*why = "not an x86-64 ELF file";
		return -ENOEXEC;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		*why = "an ELF file that is not an executable";
		return -ENOEXEC;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM) {
		*why = "an ELF file with bad program headers";
		return -ENOEXEC;
	}
	uint64_t end;
	if (__builtin_add_overflow(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), &end) ||
	    end > file_size || end > len) {
		*why = "an ELF file whose program headers are out of reach";
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP) {
			*why = "dynamically linked (its loader and libraries would not be in the "
			       "jail; "
			       "use a static build)";
			return -ENOEXEC;
		}
	}
	if (eh.e_type == ET_DYN && eh.e_entry == 0) {
		*why = "a shared library, not an executable";
		return -ENOEXEC;
	}
	return 0;
}
