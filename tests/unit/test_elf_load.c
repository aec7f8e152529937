/* The ELF loader: one valid image, then every malformed header it must refuse before it
 * writes a byte into the guest. */
#include "unit.h"

#include "arch/x86/elf_load.h"
#include "arch/x86/layout.h"
#include "base/guest_mem.h"

#include <elf.h>

#define MiB     (1ULL << 20)
#define GUEST   (16 * MiB)
#define CANARY  0xa5
#define IMG_MAX 0x4000

/*
 * The base image: two PT_LOAD segments, like a linked test guest.
 *   0: text at 0x200000, 0x100 bytes from file offset 0x1000 (filesz == memsz)
 *   1: data at 0x201000, 0x80 bytes from file offset 0x2000, then bss to 0x1000
 * Entry 0x200010. Every refusal below breaks one field, mostly in the second segment, so
 * that a loader copying segment 0 before checking segment 1 would be caught.
 */
#define SEG0_PADDR 0x200000ULL
#define SEG0_OFF   0x1000ULL
#define SEG0_SIZE  0x100ULL
#define SEG1_PADDR 0x201000ULL
#define SEG1_OFF   0x2000ULL
#define SEG1_FILE  0x80ULL
#define SEG1_MEM   0x1000ULL
#define ENTRY      0x200010ULL

struct img {
	uint8_t bytes[IMG_MAX];
	size_t size; /* the file's length */
};

static struct guest_mem gm;

static Elf64_Ehdr *ehdr(struct img *im)
{
	return (Elf64_Ehdr *)im->bytes;
}

static Elf64_Phdr *phdr(struct img *im, unsigned i)
{
	return (Elf64_Phdr *)(im->bytes + sizeof(Elf64_Ehdr)) + i;
}

static uint8_t seg0_byte(size_t i)
{
	return (uint8_t)(0x10 + i * 7);
}

static uint8_t seg1_byte(size_t i)
{
	return (uint8_t)(0xc3 ^ i);
}

static void img_init(struct img *im)
{
	memset(im, 0, sizeof(*im));
	Elf64_Ehdr *eh = ehdr(im);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = ENTRY;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;

	*phdr(im, 0) = (Elf64_Phdr){.p_type = PT_LOAD,
	                            .p_flags = PF_R | PF_X,
	                            .p_offset = SEG0_OFF,
	                            .p_vaddr = SEG0_PADDR,
	                            .p_paddr = SEG0_PADDR,
	                            .p_filesz = SEG0_SIZE,
	                            .p_memsz = SEG0_SIZE,
	                            .p_align = 0x1000};
	*phdr(im, 1) = (Elf64_Phdr){.p_type = PT_LOAD,
	                            .p_flags = PF_R | PF_W,
	                            .p_offset = SEG1_OFF,
	                            .p_vaddr = SEG1_PADDR,
	                            .p_paddr = SEG1_PADDR,
	                            .p_filesz = SEG1_FILE,
	                            .p_memsz = SEG1_MEM,
	                            .p_align = 0x1000};
	for (size_t i = 0; i < SEG0_SIZE; i++)
		im->bytes[SEG0_OFF + i] = seg0_byte(i);
	for (size_t i = 0; i < SEG1_FILE; i++)
		im->bytes[SEG1_OFF + i] = seg1_byte(i);
	im->size = SEG1_OFF + SEG1_FILE;
}

static int group_setup(void **state)
{
	(void)state;
	return gm_create(&gm, GUEST, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static void fill_canary(void)
{
	memset(gm_ptr(&gm, 0, GUEST), CANARY, GUEST);
}

/* The first guest address whose byte is not the canary, or GUEST if there is none. */
static uint64_t first_touched(uint64_t from, uint64_t to)
{
	const uint8_t *p = gm_ptr(&gm, 0, GUEST);
	for (uint64_t a = from; a < to; a++)
		if (p[a] != CANARY)
			return a;
	return GUEST;
}

/* Load the first file_size bytes of im; err is cleared first so a message is news. */
static int load_n(struct img *im, size_t file_size, struct elf_image *out, char *err, size_t errlen)
{
	int fd = unit_memfd(im->bytes, file_size);
	err[0] = '\0';
	int r = elf_load(&gm, fd, file_size, out, err, errlen);
	close(fd);
	return r;
}

/* Expect im to be refused with a message mentioning needle and guest memory untouched. */
static void expect_refused_n(struct img *im, size_t file_size, const char *needle)
{
	struct elf_image out;
	char err[256];

	fill_canary();
	int r = load_n(im, file_size, &out, err, sizeof(err));
	if (r >= 0)
		print_error("loaded, expected a refusal mentioning '%s'\n", needle);
	assert_true(r == -EINVAL || r == -ENOEXEC);
	assert_err_mentions(err, needle);
	assert_int_equal(first_touched(0, GUEST), GUEST);
}

static void expect_refused(struct img *im, const char *needle)
{
	expect_refused_n(im, im->size, needle);
}

/* ---- accepted ---- */

static void valid_two_segments(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_init(&im);
	fill_canary();
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
	assert_int_equal(out.entry, ENTRY);
	assert_int_equal(out.load_low, SEG0_PADDR);
	assert_int_equal(out.load_high, SEG1_PADDR + SEG1_MEM);

	const uint8_t *g = gm_ptr(&gm, 0, GUEST);
	for (size_t i = 0; i < SEG0_SIZE; i++)
		assert_int_equal(g[SEG0_PADDR + i], seg0_byte(i));
	for (size_t i = 0; i < SEG1_FILE; i++)
		assert_int_equal(g[SEG1_PADDR + i], seg1_byte(i));
	/* bss: the rest of p_memsz is zeroed, not left as it was. */
	for (size_t i = SEG1_FILE; i < SEG1_MEM; i++)
		assert_int_equal(g[SEG1_PADDR + i], 0);
	/* Nothing outside the segments was written. */
	assert_int_equal(first_touched(0, SEG0_PADDR), GUEST);
	assert_int_equal(first_touched(SEG0_PADDR + SEG0_SIZE, SEG1_PADDR), GUEST);
	assert_int_equal(first_touched(SEG1_PADDR + SEG1_MEM, GUEST), GUEST);
}

static void valid_other_headers_ignored(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	/* Segments listed high first, with a PT_NOTE and a PT_GNU_STACK whose addresses
	 * would be refused for a PT_LOAD. */
	img_init(&im);
	Elf64_Phdr s0 = *phdr(&im, 0), s1 = *phdr(&im, 1);
	ehdr(&im)->e_phnum = 4;
	*phdr(&im, 0) = s1;
	*phdr(&im, 1) = (Elf64_Phdr){
	    .p_type = PT_NOTE, .p_offset = 0, .p_paddr = 0x10, .p_filesz = 0, .p_memsz = 0x10};
	*phdr(&im, 2) = s0;
	*phdr(&im, 3) =
	    (Elf64_Phdr){.p_type = PT_GNU_STACK, .p_paddr = UINT64_MAX, .p_memsz = UINT64_MAX};
	fill_canary();
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
	assert_int_equal(out.load_low, SEG0_PADDR);
	assert_int_equal(out.load_high, SEG1_PADDR + SEG1_MEM);
	assert_int_equal(first_touched(0, SEG0_PADDR), GUEST);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, SEG0_PADDR, 1), seg0_byte(0));
}

static void valid_adjacent_and_at_ram_end(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	/* Segment 1 starts where segment 0 ends (touching is not overlapping); a third, all
	 * bss, ends on the last byte of guest RAM. */
	img_init(&im);
	ehdr(&im)->e_phnum = 3;
	phdr(&im, 1)->p_paddr = SEG0_PADDR + SEG0_SIZE;
	*phdr(&im, 2) = (Elf64_Phdr){.p_type = PT_LOAD,
	                             .p_paddr = GUEST - 0x2000,
	                             .p_offset = 0,
	                             .p_filesz = 0,
	                             .p_memsz = 0x2000};
	fill_canary();
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
	assert_int_equal(out.load_low, SEG0_PADDR);
	assert_int_equal(out.load_high, GUEST);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, GUEST - 1, 1), 0);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, SEG0_PADDR + SEG0_SIZE, 1), seg1_byte(0));
}

static void valid_max_phdrs(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	/* ELF_MAX_PHDRS headers are accepted: the limit is inclusive. */
	img_init(&im);
	ehdr(&im)->e_phnum = ELF_MAX_PHDRS;
	for (unsigned i = 2; i < ELF_MAX_PHDRS; i++)
		*phdr(&im, i) = (Elf64_Phdr){.p_type = PT_NOTE};
	assert_true(sizeof(Elf64_Ehdr) + ELF_MAX_PHDRS * sizeof(Elf64_Phdr) <= SEG0_OFF);
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
}

/* ---- refused: the file and the ELF header ---- */

static void refuse_shorter_than_header(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	expect_refused_n(&im, sizeof(Elf64_Ehdr) - 1, "short");
	expect_refused_n(&im, 4, "short");
	expect_refused_n(&im, 0, "short");
}

static void refuse_phdrs_beyond_file(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	/* The second header's last byte is one past the end of the file. */
	ehdr(&im)->e_phoff = im.size - 2 * sizeof(Elf64_Phdr) + 1;
	expect_refused(&im, "program headers");

	/* The file ends in the middle of the headers. */
	img_init(&im);
	expect_refused_n(&im, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 8, "program headers");

	/* e_phoff + e_phnum * e_phentsize wraps past 2^64. */
	img_init(&im);
	ehdr(&im)->e_phoff = UINT64_MAX - 8;
	expect_refused(&im, "program headers");
}

static void refuse_segment_beyond_file(void **state)
{
	(void)state;
	struct img im;

	/* A truncated file: segment 1's bytes end 0x40 past the end. */
	img_init(&im);
	expect_refused_n(&im, im.size - 0x40, "file");

	/* p_offset beyond the file. */
	img_init(&im);
	phdr(&im, 1)->p_offset = im.size;
	expect_refused(&im, "file");

	/* p_offset + p_filesz wraps past 2^64 (p_memsz is large enough to hold p_filesz). */
	img_init(&im);
	phdr(&im, 1)->p_offset = UINT64_MAX - 0x10;
	expect_refused(&im, "file");
}

static void refuse_bad_magic(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_ident[EI_MAG1] = 'X';
	expect_refused(&im, "magic");

	img_init(&im);
	ehdr(&im)->e_ident[EI_MAG0] = 0;
	expect_refused(&im, "magic");
}

static void refuse_32bit(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_refused(&im, "64-bit");
}

static void refuse_big_endian(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_refused(&im, "little-endian");
}

static void refuse_wrong_machine(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_machine = EM_386;
	expect_refused(&im, "machine");

	img_init(&im);
	ehdr(&im)->e_machine = EM_AARCH64;
	expect_refused(&im, "machine");
}

static void refuse_et_dyn(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_type = ET_DYN;
	expect_refused(&im, "type");

	img_init(&im);
	ehdr(&im)->e_type = ET_REL;
	expect_refused(&im, "type");
}

static void refuse_wrong_phentsize(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_refused(&im, "program header size");

	img_init(&im);
	ehdr(&im)->e_phentsize = 32; /* an Elf32_Phdr */
	expect_refused(&im, "program header size");
}

static void refuse_phnum(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_phnum = 0;
	expect_refused(&im, "program headers");

	/* One over the limit, with every header inside the file. */
	img_init(&im);
	ehdr(&im)->e_phnum = ELF_MAX_PHDRS + 1;
	for (unsigned i = 2; i < ELF_MAX_PHDRS + 1; i++)
		*phdr(&im, i) = (Elf64_Phdr){.p_type = PT_NOTE};
	expect_refused(&im, "program headers");

	img_init(&im);
	ehdr(&im)->e_phnum = 0xffff; /* PN_XNUM */
	expect_refused(&im, "program headers");
}

/* ---- refused: segments ---- */

static void refuse_filesz_over_memsz(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	phdr(&im, 1)->p_memsz = SEG1_FILE - 1;
	expect_refused(&im, "size");
}

static void refuse_filesz_over_memsz_zero(void **state)
{
	(void)state;
	struct img im;

	/* p_memsz 0 with file bytes is still "p_filesz exceeds p_memsz" (the contract makes
	 * no exception for empty segments). */
	img_init(&im);
	phdr(&im, 1)->p_memsz = 0;
	expect_refused(&im, "size");
}

static void refuse_below_1m(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	phdr(&im, 1)->p_paddr = LAYOUT_HIMEM - 0x1000; /* ends exactly at 1 MiB */
	expect_refused(&im, "1 MiB");

	img_init(&im);
	phdr(&im, 1)->p_paddr = LAYOUT_HIMEM - 1; /* straddles 1 MiB */
	expect_refused(&im, "1 MiB");

	img_init(&im);
	phdr(&im, 1)->p_paddr = 0; /* over the GDT, page tables and boot_params */
	expect_refused(&im, "1 MiB");
}

static void refuse_beyond_ram(void **state)
{
	(void)state;
	struct img im;

	/* Straddles the end of RAM by one byte. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = GUEST - SEG1_MEM + 1;
	expect_refused(&im, "guest RAM");

	/* Wholly beyond it. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = GUEST;
	expect_refused(&im, "guest RAM");

	/* In the device hole, and above 4 GiB. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = LAYOUT_LAPIC;
	expect_refused(&im, "guest RAM");
	img_init(&im);
	phdr(&im, 1)->p_paddr = LAYOUT_HIGH_RAM;
	expect_refused(&im, "guest RAM");

	/* Bigger than all of RAM. */
	img_init(&im);
	phdr(&im, 1)->p_memsz = GUEST;
	expect_refused(&im, "guest RAM");
}

static void refuse_overflowing_segment(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	phdr(&im, 1)->p_memsz = UINT64_MAX;
	expect_refused(&im, "guest RAM");

	img_init(&im);
	phdr(&im, 1)->p_paddr = UINT64_MAX - 0xfff;
	expect_refused(&im, "guest RAM");

	/* p_paddr + p_memsz wraps to land back inside RAM, just after segment 0. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = SEG0_PADDR + 0x1000;
	phdr(&im, 1)->p_memsz = UINT64_MAX - 0x1000;
	expect_refused(&im, "guest RAM");

	img_init(&im);
	phdr(&im, 1)->p_paddr = UINT64_MAX;
	phdr(&im, 1)->p_memsz = UINT64_MAX;
	phdr(&im, 1)->p_filesz = 0;
	expect_refused(&im, "guest RAM");
}

static void refuse_overlapping(void **state)
{
	(void)state;
	struct img im;

	/* Segment 1 starts on segment 0's last byte. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = SEG0_PADDR + SEG0_SIZE - 1;
	expect_refused(&im, "overlap");

	/* Segment 1 ends on segment 0's first byte. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = SEG0_PADDR - SEG1_MEM + 1;
	expect_refused(&im, "overlap");

	/* The same address. */
	img_init(&im);
	phdr(&im, 1)->p_paddr = SEG0_PADDR;
	expect_refused(&im, "overlap");

	/* Segment 1 inside segment 0, and segment 0 inside segment 1. */
	img_init(&im);
	phdr(&im, 0)->p_memsz = 0x3000;
	expect_refused(&im, "overlap");
	img_init(&im);
	phdr(&im, 1)->p_paddr = SEG0_PADDR - 0x800;
	expect_refused(&im, "overlap");

	/* Third segment overlapping the first, not its neighbour. */
	img_init(&im);
	ehdr(&im)->e_phnum = 3;
	*phdr(&im, 2) = *phdr(&im, 0);
	phdr(&im, 2)->p_paddr = SEG0_PADDR + 0x80;
	expect_refused(&im, "overlap");
}

static void refuse_no_pt_load(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	phdr(&im, 0)->p_type = PT_NULL;
	phdr(&im, 1)->p_type = PT_GNU_STACK;
	expect_refused(&im, "loadable");

	/* PT_LOAD headers that load nothing do not count. */
	img_init(&im);
	phdr(&im, 0)->p_filesz = phdr(&im, 0)->p_memsz = 0;
	phdr(&im, 1)->p_filesz = phdr(&im, 1)->p_memsz = 0;
	expect_refused(&im, "loadable");
}

static void refuse_entry_outside(void **state)
{
	(void)state;
	struct img im;

	img_init(&im);
	ehdr(&im)->e_entry = 0x300000;
	expect_refused(&im, "entry");

	/* One past segment 0, in the gap before segment 1. */
	img_init(&im);
	ehdr(&im)->e_entry = SEG0_PADDR + SEG0_SIZE;
	expect_refused(&im, "entry");

	/* Just below segment 0, and one past the last segment. */
	img_init(&im);
	ehdr(&im)->e_entry = SEG0_PADDR - 1;
	expect_refused(&im, "entry");
	img_init(&im);
	ehdr(&im)->e_entry = SEG1_PADDR + SEG1_MEM;
	expect_refused(&im, "entry");

	img_init(&im);
	ehdr(&im)->e_entry = 0;
	expect_refused(&im, "entry");
}

/* A third program header: a PT_NOTE segment at file offset 0x3000 holding the given
 * notes (name "Xen" type 18 = the PVH entry, name "Linux"). */
#define NOTE_OFF 0x3000ULL
static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
                       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memcpy(p + 12, name, namesz);
	size_t off = 12 + ((namesz + 3) & ~3u);
	memcpy(p + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

static void add_notes(struct img *im, uint64_t pvh, bool linux_note)
{
	size_t n = 0;
	uint8_t *p = im->bytes + NOTE_OFF;
	if (pvh)
		n += put_note(p + n, "Xen", 18, &pvh, 8);
	if (linux_note) {
		uint32_t salt = 0;
		n += put_note(p + n, "Linux", 0x100, &salt, 4);
	}
	ehdr(im)->e_phnum = 3;
	*phdr(im, 2) = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = n};
	im->size = NOTE_OFF + n;
}

static void notes_pvh_and_linux(void **state)
{
	(void)state;
	struct img im;
	struct elf_image out;
	char err[256];

	img_init(&im);
	add_notes(&im, SEG0_PADDR + 0x20, true);
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
	assert_int_equal(out.pvh_entry, SEG0_PADDR + 0x20);
	assert_true(out.linux_notes);
	assert_true(out.entry_usable);

	/* No usable e_entry, but a PVH entry: loads, and says the 64-bit entry is unusable. */
	img_init(&im);
	add_notes(&im, SEG0_PADDR + 0x20, false);
	ehdr(&im)->e_entry = 0;
	assert_int_equal(load_n(&im, im.size, &out, err, sizeof(err)), 0);
	assert_false(out.entry_usable);
	assert_false(out.linux_notes);

	/* A PVH entry outside every segment, or above 4 GiB, is refused. */
	img_init(&im);
	add_notes(&im, 0x900000, false);
	expect_refused_n(&im, im.size, "PVH entry");
	img_init(&im);
	add_notes(&im, 0x100000000ULL, false);
	expect_refused_n(&im, im.size, "32-bit");
}

static void notes_malformed(void **state)
{
	(void)state;
	struct img im;

	/* A name size running past the segment. */
	img_init(&im);
	add_notes(&im, SEG0_PADDR, false);
	uint32_t huge = 0xfffffff0u;
	memcpy(im.bytes + NOTE_OFF, &huge, 4);
	expect_refused_n(&im, im.size, "malformed");
	/* A descriptor size running past it. */
	img_init(&im);
	add_notes(&im, SEG0_PADDR, false);
	memcpy(im.bytes + NOTE_OFF + 4, &huge, 4);
	expect_refused_n(&im, im.size, "malformed");
	/* A header cut short. */
	img_init(&im);
	add_notes(&im, SEG0_PADDR, false);
	phdr(&im, 2)->p_filesz = 7;
	expect_refused_n(&im, im.size, "malformed");
	/* A note segment past the end of the file. */
	img_init(&im);
	add_notes(&im, SEG0_PADDR, false);
	phdr(&im, 2)->p_filesz += 1;
	expect_refused_n(&im, im.size, "note segment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(valid_two_segments),
	    cmocka_unit_test(valid_other_headers_ignored),
	    cmocka_unit_test(valid_adjacent_and_at_ram_end),
	    cmocka_unit_test(valid_max_phdrs),
	    cmocka_unit_test(refuse_shorter_than_header),
	    cmocka_unit_test(refuse_phdrs_beyond_file),
	    cmocka_unit_test(refuse_segment_beyond_file),
	    cmocka_unit_test(refuse_bad_magic),
	    cmocka_unit_test(refuse_32bit),
	    cmocka_unit_test(refuse_big_endian),
	    cmocka_unit_test(refuse_wrong_machine),
	    cmocka_unit_test(refuse_et_dyn),
	    cmocka_unit_test(refuse_wrong_phentsize),
	    cmocka_unit_test(refuse_phnum),
	    cmocka_unit_test(refuse_filesz_over_memsz),
	    cmocka_unit_test(refuse_filesz_over_memsz_zero),
	    cmocka_unit_test(refuse_below_1m),
	    cmocka_unit_test(refuse_beyond_ram),
	    cmocka_unit_test(refuse_overflowing_segment),
	    cmocka_unit_test(refuse_overlapping),
	    cmocka_unit_test(refuse_no_pt_load),
	    cmocka_unit_test(notes_pvh_and_linux),
	    cmocka_unit_test(notes_malformed),
	    cmocka_unit_test(refuse_entry_outside),
	};
	unit_init();
	return cmocka_run_group_tests(tests, group_setup, group_teardown) ? 1 : 0;
}
