/* The ACPI tables, read back from guest memory the way an OS finds them, and checked by
 * ACPICA's own tools (iasl, acpiexec from acpica-tools) as a second opinion. */
#include "unit.h"

#include "arch/x86/acpi_tables.h"
#include "arch/x86/layout.h"
#include "devices/power.h"
#include "base/guest_mem.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define MiB  (1ULL << 20)
#define JUNK 0xcc

#define FADT_HW_REDUCED    (1u << 20)
#define FADT_RESET_REG_SUP (1u << 10)

static struct guest_mem gm;

/* The tables as a guest finds them, starting from the RSDP. */
struct tables {
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt;
	gpa_t xsdt_gpa, fadt_gpa, madt_gpa, dsdt_gpa;
};

static int group_setup(void **state)
{
	(void)state;
	return gm_create(&gm, 64 * MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gm_destroy(&gm);
	return 0;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	return unit_le(p, n);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* A table at gpa: its signature, its extent inside the ACPI area, its checksum. */
static const uint8_t *table_at(gpa_t gpa, const char *sig)
{
	const uint8_t *h = gm_ptr(&gm, gpa, 36);
	assert_non_null(h);
	if (memcmp(h, sig, 4) != 0)
		print_error("table at 0x%llx is '%.4s', not '%s'\n", (unsigned long long)gpa, h,
		            sig);
	assert_memory_equal(h, sig, 4);
	uint32_t len = (uint32_t)le(h + 4, 4);
	assert_true(len >= 36);
	assert_true(gpa >= LAYOUT_ACPI && gpa + len <= LAYOUT_ACPI_END);
	const uint8_t *t = gm_ptr(&gm, gpa, len);
	assert_non_null(t);
	if (sum(t, len) != 0)
		print_error("table %s: checksum off by 0x%02x\n", sig, sum(t, len));
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "EMBER ", 6);
	return t;
}

static uint32_t table_len(const uint8_t *t)
{
	return (uint32_t)le(t + 4, 4);
}

/* Write the tables for m over junk and follow every pointer from the RSDP. */
static void load(const struct acpi_machine *m, struct tables *t)
{
	gpa_t rsdp = 0;

	memset(gm_ptr(&gm, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI), JUNK,
	       LAYOUT_ACPI_END - LAYOUT_ACPI);
	assert_int_equal(acpi_tables_write(&gm, m, &rsdp), 0);
	assert_int_equal(rsdp, 0xe0000);
	assert_int_equal(rsdp, LAYOUT_ACPI);

	t->rsdp = gm_ptr(&gm, rsdp, 36);
	assert_non_null(t->rsdp);
	assert_memory_equal(t->rsdp, "RSD PTR ", 8);
	t->xsdt_gpa = le(t->rsdp + 24, 8);
	t->xsdt = table_at(t->xsdt_gpa, "XSDT");

	uint32_t n = (table_len(t->xsdt) - 36) / 8;
	assert_int_equal(table_len(t->xsdt), 36 + 8 * n);
	t->fadt = t->madt = NULL;
	for (uint32_t i = 0; i < n; i++) {
		gpa_t p = le(t->xsdt + 36 + 8 * i, 8);
		const uint8_t *h = gm_ptr(&gm, p, 4);
		assert_non_null(h);
		if (!memcmp(h, "FACP", 4)) {
			assert_null(t->fadt);
			t->fadt_gpa = p;
			t->fadt = table_at(p, "FACP");
		} else if (!memcmp(h, "APIC", 4)) {
			assert_null(t->madt);
			t->madt_gpa = p;
			t->madt = table_at(p, "APIC");
		} else {
			fail_msg("unexpected table '%.4s' in the XSDT", h);
		}
	}
	assert_non_null(t->fadt);
	assert_non_null(t->madt);
	t->dsdt_gpa = le(t->fadt + 140, 8);
	t->dsdt = table_at(t->dsdt_gpa, "DSDT");
}

/* The virtio windows the tests describe: base and GSI. */
static const struct {
	uint64_t base;
	unsigned irq;
} VIRTIO[] = {
    {0xd0000000, 5},
    {0xd0001000, 6},
    {0xd0002000, 7},
};

/* A virtio-mmio window as the machine's device table describes it: Device VRxx. */
static struct acpi_dev virtio_window(unsigned i, uint64_t base, int gsi)
{
	struct acpi_dev d = {.hid = "LNRO0005",
	                     .uid = (int)i,
	                     .isa_irq = -1,
	                     .mem_base = base,
	                     .mem_size = 0x1000,
	                     .gsi = gsi};
	snprintf(d.name, sizeof(d.name), "VR%02X", i & 0xff);
	return d;
}

/* A machine like Ember's: COM1, the keyboard controller, pvpanic, then nvirtio windows
 * from VIRTIO, then VMGenID on event GSI 23. Returns the count. */
static unsigned machine_devs(struct acpi_dev *out, unsigned nvirtio)
{
	unsigned n = 0;
	out[n++] = (struct acpi_dev){.name = "COM1",
	                             .hid = "PNP0501",
	                             .hid_eisa = true,
	                             .uid = 0,
	                             .nio = 1,
	                             .io = {{0x3f8, 8}},
	                             .isa_irq = 4,
	                             .gsi = -1};
	out[n++] = (struct acpi_dev){.name = "KBD_",
	                             .hid = "PNP0303",
	                             .hid_eisa = true,
	                             .uid = -1,
	                             .nio = 2,
	                             .io = {{0x60, 1}, {0x64, 1}},
	                             .isa_irq = 1,
	                             .gsi = -1};
	out[n++] = (struct acpi_dev){.name = "PEVT",
	                             .hid = "QEMU0001",
	                             .uid = -1,
	                             .nio = 1,
	                             .io = {{0x505, 1}},
	                             .isa_irq = -1,
	                             .gsi = -1};
	for (unsigned i = 0; i < nvirtio; i++)
		out[n++] = virtio_window(i, VIRTIO[i].base, (int)VIRTIO[i].irq);
	out[n++] = (struct acpi_dev){.name = "VGEN",
	                             .hid = "EMBR0001",
	                             .cid = "VM_Gen_Counter",
	                             .uid = -1,
	                             .isa_irq = -1,
	                             .gsi = -1,
	                             .addr = LAYOUT_VMGENID,
	                             .event_gsi = 23};
	return n;
}

/* ---- the tables, field by field ---- */

static void rsdp(void **state)
{
	(void)state;
	struct acpi_machine m = {.nvcpus = 1};
	struct tables t;

	load(&m, &t);
	assert_int_equal(sum(t.rsdp, 20), 0); /* the ACPI 1.0 checksum */
	assert_int_equal(sum(t.rsdp, 36), 0); /* the extended checksum */
	assert_memory_equal(t.rsdp + 9, "EMBER ", 6);
	assert_int_equal(t.rsdp[15], 2);          /* revision */
	assert_int_equal(le(t.rsdp + 16, 4), 0);  /* no RSDT */
	assert_int_equal(le(t.rsdp + 20, 4), 36); /* length */
	assert_int_equal(le(t.rsdp + 33, 3), 0);  /* reserved */
	assert_int_equal(t.xsdt_gpa % 8, 0);
}

static void xsdt(void **state)
{
	(void)state;
	struct acpi_machine m = {.nvcpus = 2};
	struct tables t;

	load(&m, &t);
	assert_int_equal(table_len(t.xsdt), 36 + 16); /* FADT and MADT */
	assert_int_equal(t.xsdt[8], 1);               /* revision */
	/* The tables do not overlap one another or the RSDP. */
	gpa_t start[] = {LAYOUT_ACPI, t.xsdt_gpa, t.fadt_gpa, t.madt_gpa, t.dsdt_gpa};
	uint32_t len[] = {36, table_len(t.xsdt), table_len(t.fadt), table_len(t.madt),
	                  table_len(t.dsdt)};
	for (unsigned i = 0; i < 5; i++)
		for (unsigned j = 0; j < 5; j++)
			if (i != j)
				assert_true(start[i] + len[i] <= start[j] ||
				            start[j] + len[j] <= start[i]);
}

/* A Generic Address Structure for a byte register in System I/O space. */
static void assert_gas_io8(const uint8_t *g, uint64_t port)
{
	assert_int_equal(g[0], 1); /* System I/O */
	assert_int_equal(g[1], 8); /* bit width */
	assert_int_equal(g[2], 0); /* bit offset */
	assert_int_equal(g[3], 1); /* byte access */
	assert_int_equal(le(g + 4, 8), port);
}

static void fadt(void **state)
{
	(void)state;
	struct acpi_machine m = {.nvcpus = 1};
	struct tables t;

	load(&m, &t);
	const uint8_t *f = t.fadt;
	assert_int_equal(table_len(f), 276);
	assert_int_equal(f[8], 6);   /* revision */
	assert_int_equal(f[131], 0); /* minor version: ACPI 6.0 */
	uint32_t flags = (uint32_t)le(f + 112, 4);
	assert_true(flags & FADT_HW_REDUCED);
	assert_true(flags & FADT_RESET_REG_SUP);
	/* Sleep and reset registers at the ports of docs/CONTRACTS.md. */
	assert_gas_io8(f + 244, 0x600);
	assert_gas_io8(f + 256, 0x601);
	assert_gas_io8(f + 116, 0x602);
	assert_int_equal(f[128], 0x06);
	assert_gas_io8(f + 244, POWER_SLEEP_CONTROL_PORT);
	assert_gas_io8(f + 256, POWER_SLEEP_STATUS_PORT);
	assert_gas_io8(f + 116, POWER_RESET_PORT);
	assert_int_equal(f[128], POWER_RESET_VALUE);
	/* Hardware-reduced: no FACS, no fixed-hardware register blocks. */
	assert_int_equal(le(f + 36, 4), 0);  /* FIRMWARE_CTRL */
	assert_int_equal(le(f + 132, 8), 0); /* X_FIRMWARE_CTRL */
	for (unsigned off = 56; off < 88; off += 4)
		assert_int_equal(le(f + off, 4), 0); /* PM1a/b, PM2, PM timer, GPE blocks */
	for (unsigned off = 148; off < 244; off++)
		assert_int_equal(f[off], 0); /* their 64-bit forms */
	/* The DSDT through X_DSDT only. */
	assert_int_equal(le(f + 40, 4), 0);
	assert_int_equal(le(f + 140, 8), t.dsdt_gpa);
	/* No VGA, no CMOS RTC. */
	uint16_t boot = (uint16_t)le(f + 109, 2);
	assert_true(boot & (1u << 2));
	assert_true(boot & (1u << 5));
	assert_false(boot & (1u << 3)); /* MSI is not forbidden */
}

/* Walk the MADT's entries: n LAPICs with ids 0..n-1, one IOAPIC, the timer override and the
 * LAPIC NMI, filling the table exactly. */
static void check_madt(unsigned nvcpus)
{
	struct acpi_machine m = {.nvcpus = nvcpus};
	struct tables t;
	unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	load(&m, &t);
	const uint8_t *p = t.madt;
	uint32_t len = table_len(p);
	assert_int_equal(p[8], 4); /* revision */
	assert_int_equal(len, 44 + 8 * nvcpus + 12 + 10 + 6);
	assert_int_equal(le(p + 36, 4), 0xfee00000);
	assert_int_equal(le(p + 40, 4), 1); /* PCAT_COMPAT */

	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = p + off;
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics); /* processor UID */
			assert_int_equal(e[3], lapics); /* APIC id */
			assert_int_equal(le(e + 4, 4), 1);
			lapics++;
			break;
		case 1: /* I/O APIC */
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], ACPI_IOAPIC_ID);
			assert_int_equal(le(e + 4, 4), 0xfec00000);
			assert_int_equal(le(e + 8, 4), 0); /* GSI base */
			ioapics++;
			break;
		case 2: /* Interrupt Source Override */
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);         /* ISA */
			assert_int_equal(e[3], 0);         /* IRQ 0 */
			assert_int_equal(le(e + 4, 4), 2); /* -> GSI 2 */
			assert_int_equal(le(e + 8, 2), 0); /* bus-default flags */
			isos++;
			break;
		case 4: /* Local APIC NMI */
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff); /* all processors */
			assert_int_equal(e[5], 1);    /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(lapics, nvcpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 1);
	assert_int_equal(nmis, 1);
}

static void madt_1(void **state)
{
	(void)state;
	check_madt(1);
}

static void madt_2(void **state)
{
	(void)state;
	check_madt(2);
}

static void madt_32(void **state)
{
	(void)state;
	check_madt(32);
}

static void madt_254(void **state)
{
	(void)state;
	check_madt(ACPI_MAX_VCPUS);
}

static int contains(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static void dsdt_names(void **state)
{
	(void)state;
	struct acpi_dev devs[8];
	struct acpi_machine m = {.nvcpus = 1, .devs = devs, .ndevs = machine_devs(devs, 3)};
	struct tables t;

	load(&m, &t);
	const uint8_t *d = t.dsdt;
	size_t n = table_len(d);
	assert_int_equal(d[8], 2); /* revision 2: 64-bit integers */
	assert_true(contains(d, n, "COM1"));
	assert_true(contains(d, n, "KBD_"));
	assert_true(contains(d, n, "PEVT"));
	assert_true(contains(d, n, "QEMU0001"));
	assert_true(contains(d, n, "LNRO0005"));
	assert_true(contains(d, n, "VR00"));
	assert_true(contains(d, n, "VR02"));
	assert_false(contains(d, n, "VR03"));
	assert_true(contains(d, n, "_S5_"));

	m.ndevs = machine_devs(devs, 0);
	load(&m, &t);
	assert_false(contains(t.dsdt, table_len(t.dsdt), "LNRO0005"));
}

static void many_virtio(void **state)
{
	(void)state;
	static struct acpi_dev v[ACPI_MAX_DEVICES];
	struct acpi_machine m = {.nvcpus = ACPI_MAX_VCPUS, .devs = v, .ndevs = ACPI_MAX_DEVICES};
	struct tables t;

	for (unsigned i = 0; i < ACPI_MAX_DEVICES; i++)
		v[i] = virtio_window(i, 0xd0000000 + 0x1000 * i, 5 + (int)(i % 19));
	load(&m, &t);
	assert_true(contains(t.dsdt, table_len(t.dsdt), "VRFF"));
	assert_true(contains(t.dsdt, table_len(t.dsdt), "VR0A"));
}

/* Bad machines are refused before guest memory is touched. */
static void rejects(void **state)
{
	(void)state;
	static struct acpi_dev many[ACPI_MAX_DEVICES + 1];
	const struct acpi_dev high = virtio_window(0, 0x100000000, 5);
	struct acpi_dev straddle = virtio_window(0, 0xfffff000, 5);
	straddle.mem_size = 0x2000;
	const struct acpi_dev bad_irq = virtio_window(0, 0xd0000000, ACPI_IOAPIC_PINS);
	struct acpi_dev devs[8];
	machine_devs(devs, 0);
	struct acpi_dev bad_name = devs[0], digit_name = devs[0], bad_eisa = devs[0];
	struct acpi_dev no_hid = devs[0], empty_io = devs[0], three_io = devs[1];
	struct acpi_dev isa_16 = devs[0];
	memcpy(bad_name.name, "Com1", 5);
	memcpy(digit_name.name, "1COM", 5);
	bad_eisa.hid = "PNP05X1";
	no_hid.hid = NULL;
	empty_io.io[0].len = 0;
	three_io.nio = 3;
	isa_16.isa_irq = 16;
	const struct acpi_machine bad[] = {
	    {.nvcpus = 0},
	    {.nvcpus = ACPI_MAX_VCPUS + 1},
	    {.nvcpus = 1, .ndevs = 1},
	    {.nvcpus = 1, .devs = &high, .ndevs = 1},
	    {.nvcpus = 1, .devs = &straddle, .ndevs = 1},
	    {.nvcpus = 1, .devs = &bad_irq, .ndevs = 1},
	    {.nvcpus = 1, .devs = many, .ndevs = ACPI_MAX_DEVICES + 1},
	    {.nvcpus = 1, .devs = &bad_name, .ndevs = 1},
	    {.nvcpus = 1, .devs = &digit_name, .ndevs = 1},
	    {.nvcpus = 1, .devs = &bad_eisa, .ndevs = 1},
	    {.nvcpus = 1, .devs = &no_hid, .ndevs = 1},
	    {.nvcpus = 1, .devs = &empty_io, .ndevs = 1},
	    {.nvcpus = 1, .devs = &three_io, .ndevs = 1},
	    {.nvcpus = 1, .devs = &isa_16, .ndevs = 1},
	};
	uint8_t *area = gm_ptr(&gm, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI);

	for (unsigned i = 0; i < ACPI_MAX_DEVICES + 1; i++)
		many[i] = virtio_window(i, 0xd0000000 + 0x1000 * i, 5);
	assert_int_equal(ACPI_MAX_VCPUS, 254);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gpa_t rsdp = 0x1234;
		memset(area, JUNK, LAYOUT_ACPI_END - LAYOUT_ACPI);
		assert_int_equal(acpi_tables_write(&gm, &bad[i], &rsdp), -EINVAL);
		assert_int_equal(rsdp, 0x1234);
		for (size_t j = 0; j < LAYOUT_ACPI_END - LAYOUT_ACPI; j++)
			assert_int_equal(area[j], JUNK);
	}
	/* The last window ends exactly at 4 GiB: fine. */
	const struct acpi_dev top = virtio_window(0, 0xfffff000, 23);
	struct acpi_machine ok = {.nvcpus = 1, .devs = &top, .ndevs = 1};
	gpa_t rsdp;
	assert_int_equal(acpi_tables_write(&gm, &ok, &rsdp), 0);
}

static void small_guests(void **state)
{
	(void)state;
	struct guest_mem g;
	struct acpi_machine m = {.nvcpus = 1};
	gpa_t rsdp = 0;

	/* No RAM at 0xe0000. */
	assert_int_equal(gm_create(&g, 512 * 1024, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(acpi_tables_write(&g, &m, &rsdp), -ENOSPC);
	gm_destroy(&g);

	/* 1 MiB covers the whole area. */
	assert_int_equal(gm_create(&g, MiB, LAYOUT_MMIO_HOLE, LAYOUT_HIGH_RAM), 0);
	assert_int_equal(acpi_tables_write(&g, &m, &rsdp), 0);
	assert_int_equal(rsdp, LAYOUT_ACPI);
	gm_destroy(&g);
}

/* ---- ACPICA's opinion ---- */

struct tmpdir {
	char path[PATH_MAX];
};

/* The directory of the running ACPICA test; its teardown removes it even after a failure. */
static struct tmpdir tmp;

static void tmpdir_make(struct tmpdir *d)
{
	const char *base = getenv("TMPDIR");
	snprintf(d->path, sizeof(d->path), "%s/ember-acpi.XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(d->path));
}

static void tmpdir_remove(struct tmpdir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;
	if (!dir)
		return;
	while ((e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	rmdir(d->path);
	d->path[0] = '\0';
}

static int acpica_teardown(void **state)
{
	(void)state;
	if (tmp.path[0])
		tmpdir_remove(&tmp);
	return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* The whole of a file, NUL-terminated; the caller frees it. */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		print_error("cannot open %s: %s\n", path, strerror(errno));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	if (len)
		*len = got;
	return buf;
}

/*
 * Run argv (argv[0] from PATH) in dir with stdout and stderr into dir/log, for at most 60 s.
 * Returns its exit status and its output in *out (to free). A missing tool fails the test:
 * the tables are only known good once ACPICA has read them.
 */
static int run(const struct tmpdir *d, char *const argv[], char **out)
{
	char log[PATH_MAX + 8];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	snprintf(log, sizeof(log), "%s/log", d->path);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addchdir_np(&fa, d->path);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc == ENOENT)
		fail_msg("%s not found: install acpica-tools (apt-get install acpica-tools; "
		         "`make test` installs it)",
		         argv[0]);
	if (rc != 0)
		fail_msg("cannot run %s: %s", argv[0], strerror(rc));

	for (unsigned ms = 0;; ms += 10) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		assert_true(w == 0 || (w < 0 && errno == EINTR));
		if (ms >= 60000) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("%s did not finish in 60 s", argv[0]);
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	*out = read_file(log, NULL);
	if (!WIFEXITED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* Fail, showing text, if it has any of the words ACPICA uses for problems. */
static void assert_no_complaints(const char *what, const char *text)
{
	static const char *const words[] = {"error",   "warning",   "incorrect",
	                                    "invalid", "exception", "AE_"};
	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (unit_mentions(text, words[i]))
			fail_msg("%s mentions '%s':\n%s", what, words[i], text);
}

static void dump_table(const struct tmpdir *d, const char *name, const uint8_t *t)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s.dat", d->path, name);
	write_file(path, t, table_len(t));
}

/* iasl -d must read the table without a complaint; returns its disassembly (to free). */
static char *disassemble(const struct tmpdir *d, const char *name)
{
	char dat[PATH_MAX + 16], dsl[PATH_MAX + 16];
	char *out;

	snprintf(dat, sizeof(dat), "%s/%s.dat", d->path, name);
	snprintf(dsl, sizeof(dsl), "%s/%s.dsl", d->path, name);
	char *const argv[] = {"iasl", "-d", dat, NULL};
	int rc = run(d, argv, &out);
	if (rc != 0)
		fail_msg("iasl -d %s.dat exited %d:\n%s", name, rc, out);
	assert_no_complaints("iasl -d", out);
	free(out);
	char *text = read_file(dsl, NULL);
	assert_no_complaints(name, text);
	return text;
}

static unsigned count(const char *text, const char *s)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, s)) != NULL; p += strlen(s))
		n++;
	return n;
}

static void assert_has(const char *text, const char *s)
{
	if (!strstr(text, s))
		fail_msg("no '%s' in:\n%s", s, text);
}

/* The disassembly of one device: from its "Device (NAME)" line to the next device's. */
static void assert_device_has(const char *text, const char *device, const char *s)
{
	const char *from = strstr(text, device);
	if (!from) {
		fail_msg("no '%s' in:\n%s", device, text);
		return;
	}
	const char *to = strstr(from + 1, "Device (");
	size_t len = to ? (size_t)(to - from) : strlen(from);
	if (!memmem(from, len, s, strlen(s)))
		fail_msg("no '%s' in %s:\n%.*s", s, device, (int)len, from);
}

/* acpiexec with the FADT, MADT and DSDT dumped in d, running one batch command; its
 * output, which must hold no complaint. */
static char *acpiexec(struct tmpdir *d, const char *command)
{
	char facp[PATH_MAX + 16], apic[PATH_MAX + 16], dsdt[PATH_MAX + 16];
	char *out;
	snprintf(facp, sizeof(facp), "%s/facp.dat", d->path);
	snprintf(apic, sizeof(apic), "%s/apic.dat", d->path);
	snprintf(dsdt, sizeof(dsdt), "%s/dsdt.dat", d->path);
	char *const argv[] = {"acpiexec", "-b", (char *)command, facp, apic, dsdt, NULL};
	int rc = run(d, argv, &out);
	if (rc != 0)
		fail_msg("acpiexec exited %d:\n%s", rc, out);
	assert_no_complaints("acpiexec", out);
	return out;
}

/* Every table through iasl -d, the DSDT's disassembly back through iasl to the very same
 * AML, and the tables loaded by acpiexec, which evaluates \_S5. */
static void acpica_check(unsigned nvcpus, unsigned nvirtio)
{
	struct acpi_dev devs[8];
	struct acpi_machine m = {
	    .nvcpus = nvcpus, .devs = devs, .ndevs = machine_devs(devs, nvirtio)};
	struct tables t;
	struct tmpdir *d = &tmp;
	char buf[PATH_MAX + 32], *out;
	int rc;

	assert_true(nvirtio <= sizeof(VIRTIO) / sizeof(VIRTIO[0]));
	load(&m, &t);
	tmpdir_make(d);
	dump_table(d, "xsdt", t.xsdt);
	dump_table(d, "facp", t.fadt);
	dump_table(d, "apic", t.madt);
	dump_table(d, "dsdt", t.dsdt);

	free(disassemble(d, "xsdt"));
	free(disassemble(d, "facp"));

	char *madt = disassemble(d, "apic");
	assert_int_equal(count(madt, "[Processor Local APIC]"), nvcpus);
	free(madt);

	char *dsdt = disassemble(d, "dsdt");
	assert_has(dsdt, "Scope (\\_SB)");
	assert_has(dsdt, "Device (COM1)");
	assert_has(dsdt, "EisaId (\"PNP0501\")");
	/* The keyboard controller: data port, command port, ISA IRQ 1. */
	assert_int_equal(count(dsdt, "Device (KBD)"), 1);
	assert_device_has(dsdt, "Device (KBD)", "EisaId (\"PNP0303\")");
	/* In this order: Linux takes the first IO for the data port. */
	assert_device_has(dsdt, "Device (KBD)",
	                  "IO (Decode16,\n"
	                  "                    0x0060,             // Range Minimum\n"
	                  "                    0x0060,             // Range Maximum\n"
	                  "                    0x01,               // Alignment\n"
	                  "                    0x01,               // Length\n"
	                  "                    )\n"
	                  "                IO (Decode16,\n"
	                  "                    0x0064,             // Range Minimum\n"
	                  "                    0x0064,             // Range Maximum\n"
	                  "                    0x01,               // Alignment\n"
	                  "                    0x01,               // Length\n");
	assert_device_has(dsdt, "Device (KBD)", "IRQNoFlags ()\n                    {1}");
	assert_has(dsdt, "Device (PEVT)");
	assert_has(dsdt, "Name (_HID, \"QEMU0001\")");
	assert_has(dsdt, "Name (\\_S5, Package (0x04)");
	assert_int_equal(count(dsdt, "\"LNRO0005\""), nvirtio);
	for (unsigned i = 0; i < nvirtio; i++) {
		snprintf(buf, sizeof(buf), "Device (VR%02X)", i);
		assert_has(dsdt, buf);
		snprintf(buf, sizeof(buf), "0x%08X,         // Address Base",
		         (unsigned)VIRTIO[i].base);
		assert_has(dsdt, buf);
		snprintf(buf, sizeof(buf), "0x%08X,\n", VIRTIO[i].irq);
		assert_has(dsdt, buf);
	}
	assert_int_equal(count(dsdt, "Device (VR"), nvirtio);
	/* VMGenID as Linux's driver finds it, and the Generic Event Device that notifies it. */
	assert_device_has(dsdt, "Device (VGEN)", "Name (_HID, \"EMBR0001\"");
	assert_device_has(dsdt, "Device (VGEN)", "Name (_CID, \"VM_Gen_Counter\"");
	assert_device_has(dsdt, "Device (VGEN)", "Method (ADDR, 0, NotSerialized)");
	assert_device_has(dsdt, "Device (VGEN)", "Return (Package (0x02)");
	assert_device_has(dsdt, "Device (GED)", "Name (_HID, \"ACPI0013\"");
	assert_device_has(dsdt, "Device (GED)",
	                  "Interrupt (ResourceConsumer, Edge, ActiveHigh, "
	                  "Exclusive, ,, )\n                {\n"
	                  "                    0x00000017,\n");
	assert_device_has(dsdt, "Device (GED)", "Method (_EVT, 1, Serialized)");
	assert_device_has(dsdt, "Device (GED)", "If ((Arg0 == 0x17))");
	assert_device_has(dsdt, "Device (GED)", "Notify (\\_SB.VGEN, 0x80)");
	free(dsdt);

	/* -on keeps the names as written (iasl would drop the root prefix of \_SB and \_S5),
	 * so the recompiled body must match ours byte for byte. */
	char dsl[PATH_MAX + 16], prefix[PATH_MAX + 16], aml[PATH_MAX + 16];
	snprintf(dsl, sizeof(dsl), "%s/dsdt.dsl", d->path);
	snprintf(prefix, sizeof(prefix), "%s/again", d->path);
	snprintf(aml, sizeof(aml), "%s/again.aml", d->path);
	char *const iasl[] = {"iasl", "-on", "-p", prefix, dsl, NULL};
	rc = run(d, iasl, &out);
	if (rc != 0 || !strstr(out, "0 Errors, 0 Warnings"))
		fail_msg("iasl could not compile its own disassembly (exit %d):\n%s", rc, out);
	free(out);
	size_t again_len;
	uint8_t *again = (uint8_t *)read_file(aml, &again_len);
	assert_int_equal(again_len, table_len(t.dsdt));
	assert_memory_equal(again + 36, t.dsdt + 36, again_len - 36);
	free(again);

	out = acpiexec(d, "evaluate \\_S5");
	assert_has(out, "[Package] Contains 4 Elements");
	assert_has(out, "[Integer] = 0000000000000005");
	free(out);

	/* ADDR gives the generation ID's address in two halves; _EVT(23) notifies VGEN. */
	out = acpiexec(d, "evaluate \\_SB.VGEN.ADDR");
	assert_has(out, "[Package] Contains 2 Elements");
	assert_has(out, "[Integer] = 00000000000DFFF0");
	free(out);
	out = acpiexec(d, "evaluate \\_SB.GED._EVT 23");
	assert_has(out, "Device Notify on [VGEN]");
	assert_has(out, "Value 0x80");
	free(out);

	tmpdir_remove(d);
}

static void acpica_1cpu_no_virtio(void **state)
{
	(void)state;
	acpica_check(1, 0);
}

static void acpica_1cpu_2virtio(void **state)
{
	(void)state;
	acpica_check(1, 2);
}

static void acpica_2cpu_3virtio(void **state)
{
	(void)state;
	acpica_check(2, 3);
}

static void acpica_32cpu_3virtio(void **state)
{
	(void)state;
	acpica_check(32, 3);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rsdp),
	    cmocka_unit_test(xsdt),
	    cmocka_unit_test(fadt),
	    cmocka_unit_test(madt_1),
	    cmocka_unit_test(madt_2),
	    cmocka_unit_test(madt_32),
	    cmocka_unit_test(madt_254),
	    cmocka_unit_test(dsdt_names),
	    cmocka_unit_test(many_virtio),
	    cmocka_unit_test(rejects),
	    cmocka_unit_test(small_guests),
	    cmocka_unit_test_teardown(acpica_1cpu_no_virtio, acpica_teardown),
	    cmocka_unit_test_teardown(acpica_1cpu_2virtio, acpica_teardown),
	    cmocka_unit_test_teardown(acpica_2cpu_3virtio, acpica_teardown),
	    cmocka_unit_test_teardown(acpica_32cpu_3virtio, acpica_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
