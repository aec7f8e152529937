/* The exec file check: static x86-64 executables pass; scripts, dynamically linked programs,
 * shared libraries, other machines and malformed headers are refused with a reason. */
#include "unit.h"

#include <elf.h>

#include "jailer/jailer.h"

struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
};

static struct image make(uint16_t type, uint32_t interp_type)
{
	struct image im;
	memset(&im, 0, sizeof(im));
	memcpy(im.eh.e_ident, ELFMAG, SELFMAG);
	im.eh.e_ident[EI_CLASS] = ELFCLASS64;
	im.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im.eh.e_ident[EI_VERSION] = EV_CURRENT;
	im.eh.e_type = type;
	im.eh.e_machine = EM_X86_64;
	im.eh.e_entry = 0x401000;
	im.eh.e_phoff = offsetof(struct image, ph);
	im.eh.e_phentsize = sizeof(Elf64_Phdr);
	im.eh.e_phnum = 3;
	im.ph[0].p_type = PT_LOAD;
	im.ph[1].p_type = interp_type;
	im.ph[2].p_type = PT_GNU_STACK;
	return im;
}

static int check(const void *buf, size_t len, const char **why)
{
	*why = NULL;
	return elf_check_static(buf, len, len, why);
}

static void test_static(void **state)
{
	(void)state;
	const char *why;
	struct image im = make(ET_EXEC, PT_NOTE);
	assert_int_equal(check(&im, sizeof(im), &why), 0);
	im = make(ET_DYN, PT_NOTE); /* static-pie */
	assert_int_equal(check(&im, sizeof(im), &why), 0);
}

static void expect_refused(const void *buf, size_t len, uint64_t size, const char *word)
{
	const char *why = NULL;
	assert_int_equal(elf_check_static(buf, len, size, &why), -ENOEXEC);
	assert_non_null(why);
	assert_err_mentions(why, word);
}

static void test_refused(void **state)
{
	(void)state;
	struct image im = make(ET_EXEC, PT_INTERP);
	expect_refused(&im, sizeof(im), sizeof(im), "dynamically linked");
	im = make(ET_DYN, PT_INTERP);
	expect_refused(&im, sizeof(im), sizeof(im), "dynamically linked");
	im = make(ET_DYN, PT_NOTE);
	im.eh.e_entry = 0;
	expect_refused(&im, sizeof(im), sizeof(im), "shared library");
	im = make(ET_REL, PT_NOTE);
	expect_refused(&im, sizeof(im), sizeof(im), "not an executable");
	im = make(ET_EXEC, PT_NOTE);
	im.eh.e_machine = EM_AARCH64;
	expect_refused(&im, sizeof(im), sizeof(im), "x86-64");
	im = make(ET_EXEC, PT_NOTE);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_refused(&im, sizeof(im), sizeof(im), "x86-64");
	expect_refused("#!/bin/sh\necho hi\n", 18, 18, "script");
	expect_refused("hello", 5, 5, "not an ELF");
	expect_refused("", 0, 0, "not an ELF");
	im = make(ET_EXEC, PT_NOTE);
	expect_refused(&im, 40, 40, "truncated");
}

static void test_bad_program_headers(void **state)
{
	(void)state;
	struct image im = make(ET_EXEC, PT_NOTE);
	/* Program headers beyond what was read, beyond the file, or wrapping around. */
	expect_refused(&im, sizeof(im) - 1, sizeof(im), "out of reach");
	expect_refused(&im, sizeof(im), sizeof(im) - 1, "out of reach");
	im.eh.e_phoff = UINT64_MAX - 8;
	expect_refused(&im, sizeof(im), sizeof(im), "out of reach");
	im = make(ET_EXEC, PT_NOTE);
	im.eh.e_phnum = 0;
	expect_refused(&im, sizeof(im), sizeof(im), "program headers");
	im = make(ET_EXEC, PT_NOTE);
	im.eh.e_phnum = PN_XNUM;
	expect_refused(&im, sizeof(im), sizeof(im), "program headers");
	im = make(ET_EXEC, PT_NOTE);
	im.eh.e_phentsize = 32;
	expect_refused(&im, sizeof(im), sizeof(im), "program headers");
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_bad_program_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
