/* The `run` command line and the kernel-independent configuration checks. */
#include "unit.h"

#include <fcntl.h>

#include "cli.h"
#include "base/config.h"

/* Parse a NULL-terminated list of arguments after "run". getopt_long permutes argv, so
 * each call gets a fresh writable copy of the pointer array. */
#define MAX_ARGS 24

struct parse {
	char *argv[MAX_ARGS + 1];
	char store[4096]; /* writable copies: option values are split in place */
	struct vm_config cfg;
	char err[256];
	int rc;
};

static void parse_argv(struct parse *p, const char *const *args)
{
	int argc = 0;
	size_t used = 0;

	memset(p, 0, sizeof(*p));
	p->argv[argc++] = (char *)"run";
	for (; args[argc - 1]; argc++) {
		size_t n = strlen(args[argc - 1]) + 1;
		assert_true(argc < MAX_ARGS);
		if (used + n > sizeof(p->store)) {
			p->argv[argc] = (char *)args[argc - 1]; /* long, read-only test strings */
			continue;
		}
		p->argv[argc] = memcpy(p->store + used, args[argc - 1], n);
		used += n;
	}
	p->argv[argc] = NULL;
	p->rc = cli_parse_run(argc, p->argv, &p->cfg, p->err, sizeof(p->err));
}

#define PARSE(p, ...) parse_argv((p), (const char *const[]){__VA_ARGS__, NULL})

/* Expect a refusal whose message mentions needle. */
static void expect_bad(struct parse *p, const char *needle)
{
	if (p->rc != -EINVAL)
		print_error("rc %d, err '%s'\n", p->rc, p->err);
	assert_int_equal(p->rc, -EINVAL);
	assert_err_mentions(p->err, needle);
}

/* ---- cli_parse_run: accepted ---- */

static void parse_devices(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--drive", "path=/tmp/a.img,ro,id=data,cache=unsafe", "--drive",
	      "root,path=r.img,engine=sync", "--net", "tap=tap0,mac=06:00:ac:10:00:02,mtu=9000",
	      "--vsock", "cid=3,uds=/tmp/v.sock", "--no-rng");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.ndrives, 2);
	assert_string_equal(p.cfg.drives[0].path, "/tmp/a.img");
	assert_string_equal(p.cfg.drives[0].id, "data");
	assert_true(p.cfg.drives[0].read_only);
	assert_false(p.cfg.drives[0].is_root);
	assert_string_equal(p.cfg.drives[1].path, "r.img");
	assert_string_equal(p.cfg.drives[1].id, "drive1");
	assert_true(p.cfg.drives[1].is_root);
	assert_int_equal(p.cfg.drives[1].engine, DRIVE_ENGINE_SYNC);
	/* ember run's drives flush by default; cache=unsafe as Firecracker's Unsafe. */
	assert_int_equal(p.cfg.drives[0].cache, DRIVE_CACHE_UNSAFE);
	assert_int_equal(p.cfg.drives[1].cache, DRIVE_CACHE_WRITEBACK);
	/* and advises guest RAM for huge pages */
	assert_int_equal(p.cfg.huge_pages, HUGE_PAGES_TRANSPARENT);
	assert_int_equal(p.cfg.nnets, 1);
	assert_string_equal(p.cfg.nets[0].tap, "tap0");
	assert_true(p.cfg.nets[0].has_mac);
	assert_int_equal(p.cfg.nets[0].mac[5], 2);
	assert_int_equal(p.cfg.nets[0].mtu, 9000);
	assert_true(p.cfg.vsock.enabled);
	assert_int_equal(p.cfg.vsock.guest_cid, 3);
	assert_string_equal(p.cfg.vsock.uds_path, "/tmp/v.sock");
	assert_false(p.cfg.entropy);

	PARSE(&p, "--kernel", "k");
	assert_true(p.cfg.entropy); /* the CLI's default */

	/* Per-second limits: a bucket of that size refilled every second. */
	PARSE(&p, "--drive", "path=a,bw=10485760,iops=100", "--net", "tap=t,rx_bw=1000,tx_bw=2000");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.drives[0].rate_limiter.bandwidth.size, 10485760);
	assert_int_equal(p.cfg.drives[0].rate_limiter.bandwidth.refill_time_ms, 1000);
	assert_int_equal(p.cfg.drives[0].rate_limiter.ops.size, 100);
	assert_int_equal(p.cfg.nets[0].rx_rate_limiter.bandwidth.size, 1000);
	assert_int_equal(p.cfg.nets[0].tx_rate_limiter.bandwidth.size, 2000);
	assert_false(tb_config_on(&p.cfg.nets[0].tx_rate_limiter.ops));
}

static void parse_bad_devices(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--drive", "ro");
	expect_bad(&p, "needs path=FILE");
	PARSE(&p, "--drive", "path=a,bogus");
	expect_bad(&p, "unknown item 'bogus'");
	PARSE(&p, "--drive", "path=a,engine=fast");
	expect_bad(&p, "engine=");
	PARSE(&p, "--drive", "path=a,bw=fast");
	expect_bad(&p, "bw= takes a number of bytes a second");
	PARSE(&p, "--drive", "path=a,iops");
	expect_bad(&p, "iops= takes a number of requests");
	PARSE(&p, "--net", "tap=t,tx_bw=-1");
	expect_bad(&p, "tx_bw= takes a number");
	PARSE(&p, "--drive", "path=a,cache=none");
	expect_bad(&p, "cache= takes writeback or unsafe, not 'none'");
	PARSE(&p, "--net", "mac=06:00:00:00:00:01");
	expect_bad(&p, "needs tap=NAME");
	PARSE(&p, "--net", "tap=t,mac=06:00:00:00:00");
	expect_bad(&p, "six hex bytes");
	PARSE(&p, "--net", "tap=t,mac=01:00:00:00:00:01");
	expect_bad(&p, "multicast");
	PARSE(&p, "--net", "tap=t,mtu=67");
	expect_bad(&p, "68 to 65535");
	PARSE(&p, "--vsock", "cid=2,uds=/x");
	expect_bad(&p, "from 3");
	PARSE(&p, "--vsock", "cid=3");
	expect_bad(&p, "needs cid=N and uds=PATH");
	PARSE(&p, "--vsock", "cid=3,uds=a", "--vsock", "cid=4,uds=b");
	expect_bad(&p, "only one --vsock");
	PARSE(&p, "--drive", "path=0", "--drive", "path=1", "--drive", "path=2", "--drive",
	      "path=3", "--drive", "path=4", "--drive", "path=5", "--drive", "path=6", "--drive",
	      "path=7");
	assert_int_equal(p.rc, 0);
}

static void parse_all_flags(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--kernel", "guests/hello.elf", "--mem", "256", "--vcpus", "4", "--cmdline",
	      "console=ttyS0 quiet \"x y\"");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "guests/hello.elf");
	assert_int_equal(p.cfg.mem_mib, 256);
	assert_int_equal(p.cfg.vcpus, 4);
	assert_string_equal(p.cfg.cmdline, "console=ttyS0 quiet \"x y\"");
}

static void parse_equals_form_and_order(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--vcpus=32", "--cmdline=", "--mem=1", "--kernel=k");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "k");
	assert_int_equal(p.cfg.mem_mib, 1);
	assert_int_equal(p.cfg.vcpus, 32);
	assert_string_equal(p.cfg.cmdline, "");

	/* A later flag wins. */
	PARSE(&p, "--kernel", "a", "--mem", "64", "--mem", "512", "--kernel", "b");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "b");
	assert_int_equal(p.cfg.mem_mib, 512);
}

static void parse_defaults(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--kernel", "k");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.mem_mib, CONFIG_DEFAULT_MEM_MIB);
	assert_int_equal(p.cfg.mem_mib, 128);
	assert_int_equal(p.cfg.vcpus, 1);
	assert_string_equal(p.cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_string_equal(p.cfg.append, "");
	assert_string_equal(p.cfg.initrd_path, "");
	assert_int_equal(p.cfg.boot, BOOT_REQUEST_AUTO);
	assert_int_equal(p.cfg.cmd_argc, 0);

	/* No arguments at all parses (config_validate then asks for a kernel). */
	PARSE(&p, NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "");
}

static void parse_big_values(void **state)
{
	(void)state;
	struct parse p;

	/* Out of range for a VM but valid numbers: config_validate's job, not the parser's. */
	PARSE(&p, "--kernel", "k", "--mem", "1048576", "--vcpus", "0");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.mem_mib, 1048576);
	assert_int_equal(p.cfg.vcpus, 0);
	/* A leading zero is still plain decimal. */
	PARSE(&p, "--kernel", "k", "--mem", "0128");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.mem_mib, 128);
}

/* The usage text goes to stdout: keep it out of the test log. Returns the saved fd. */
static int stdout_silence(void)
{
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(saved >= 0 && null >= 0);
	assert_true(dup2(null, STDOUT_FILENO) >= 0);
	close(null);
	return saved;
}

static void stdout_restore(int saved)
{
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
}

static void parse_help(void **state)
{
	(void)state;
	struct parse p;

	int saved = stdout_silence();

	PARSE(&p, "--help");
	int rc_long = p.rc;
	PARSE(&p, "--kernel", "k", "-h");
	int rc_short = p.rc;

	stdout_restore(saved);
	assert_int_equal(rc_long, 1);
	assert_int_equal(rc_short, 1);
}

/* ---- cli_parse_run: refused ---- */

static const char *const bad_numbers[] = {
    "abc",
    "-1",
    "-0",
    "+5",
    " 5",
    "5 ",
    "12x",
    "1.5",
    "0x10",
    "1e3",
    "",
    "99999999999999999999999", /* beyond 2^64 */
    "18446744073709551616",    /* 2^64 */
    "18446744073709551615",    /* 2^64 - 1: fits strtoull, not the field */
};

static void parse_bad_mem(void **state)
{
	(void)state;
	struct parse p;

	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
		PARSE(&p, "--kernel", "k", "--mem", bad_numbers[i]);
		expect_bad(&p, "--mem");
	}
	/* Just over the bound that keeps mem_mib << 20 from overflowing. */
	PARSE(&p, "--kernel", "k", "--mem", "8796093022208"); /* 2^43 */
	expect_bad(&p, "--mem");
	PARSE(&p, "--mem=", "--kernel", "k");
	expect_bad(&p, "--mem");
}

static void parse_bad_vcpus(void **state)
{
	(void)state;
	struct parse p;

	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
		PARSE(&p, "--kernel", "k", "--vcpus", bad_numbers[i]);
		expect_bad(&p, "--vcpus");
	}
	/* Values that would wrap to a small count if truncated to 32 bits. */
	PARSE(&p, "--kernel", "k", "--vcpus", "4294967297");
	expect_bad(&p, "--vcpus");
	PARSE(&p, "--kernel", "k", "--vcpus", "4294967296");
	expect_bad(&p, "--vcpus");
}

static void parse_missing_value(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--kernel");
	expect_bad(&p, "--kernel");
	PARSE(&p, "--kernel", "k", "--mem");
	expect_bad(&p, "--mem");
	PARSE(&p, "--kernel", "k", "--vcpus");
	expect_bad(&p, "--vcpus");
	PARSE(&p, "--kernel", "k", "--cmdline");
	expect_bad(&p, "--cmdline");
	/* The next flag is taken as the value, and is not a number. */
	PARSE(&p, "--mem", "--kernel", "k");
	expect_bad(&p, "--mem");
}

static void parse_unknown_option(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--kernel", "k", "--bogus");
	expect_bad(&p, "--bogus");
	assert_err_mentions(p.err, "unknown");
	PARSE(&p, "--memory", "64", "--kernel", "k");
	expect_bad(&p, "--memory");
	PARSE(&p, "-x", "--kernel", "k");
	expect_bad(&p, "-x");
	PARSE(&p, "--help=yes");
	expect_bad(&p, "--help");
}

static void parse_stray_argument(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--kernel", "k", "extra");
	expect_bad(&p, "extra");
	/* Before the options too (getopt_long moves it to the end). */
	PARSE(&p, "vmlinux", "--kernel", "k");
	expect_bad(&p, "vmlinux");
	/* A guest command must follow "--". */
	PARSE(&p, "--kernel", "k", "uname", "-a");
	expect_bad(&p, "uname");
}

static void parse_guest_command(void **state)
{
	(void)state;
	struct parse p;

	/* Everything after "--" is the command, options included. */
	PARSE(&p, "--kernel", "k", "--", "--mem", "1", "a b");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.cmd_argc, 3);
	assert_string_equal(p.cfg.cmd_argv[0], "--mem");
	assert_string_equal(p.cfg.cmd_argv[2], "a b");
	assert_int_equal(p.cfg.mem_mib, CONFIG_DEFAULT_MEM_MIB);
	/* A "--" that is an option's value does not start the command. */
	PARSE(&p, "--cmdline", "--", "x");
	expect_bad(&p, "x");
	PARSE(&p, "--append", "--", "--", "true");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.append, "--");
	assert_int_equal(p.cfg.cmd_argc, 1);
	assert_string_equal(p.cfg.cmd_argv[0], "true");
	/* A trailing "--" alone is no command. */
	PARSE(&p, "--kernel", "k", "--");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.cmd_argc, 0);
}

static void parse_boot_initrd_append(void **state)
{
	(void)state;
	struct parse p;

	PARSE(&p, "--boot", "pvh", "--initrd", "i", "--append", "x=1");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.cfg.boot, BOOT_REQUEST_PVH);
	assert_string_equal(p.cfg.initrd_path, "i");
	assert_string_equal(p.cfg.append, "x=1");
	PARSE(&p, "--boot=linux");
	assert_int_equal(p.cfg.boot, BOOT_REQUEST_LINUX64);
	PARSE(&p, "--boot", "bios");
	expect_bad(&p, "--boot takes auto, linux or pvh, not 'bios'");
}

static void full_cmdline_and_command_limits(void **state)
{
	(void)state;
	struct vm_config c;
	char buf[64], err[256];
	char *argv[] = {"true", NULL};

	config_defaults(&c);
	strcpy(c.kernel_path, "k");
	strcpy(c.cmdline, "a b");
	assert_int_equal(config_full_cmdline(&c, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "a b");
	strcpy(c.append, "c");
	assert_int_equal(config_full_cmdline(&c, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "a b c");
	assert_int_equal(config_full_cmdline(&c, buf, 5), -ENOSPC);

	/* A command needs an initrd to carry it. */
	c.cmd_argv = argv;
	c.cmd_argc = 1;
	assert_int_equal(config_validate(&c, 1024, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs an initrd"));
	strcpy(c.initrd_path, "i");
	assert_int_equal(config_validate(&c, 1024, err, sizeof(err)), 0);
	c.cmd_argc = CONFIG_CMD_MAX_ARGS + 1;
	assert_int_equal(config_validate(&c, 1024, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "arguments"));
}

/* The configuration owns its strings: a value longer than its field is refused, never cut. */
static void parse_too_long(void **state)
{
	(void)state;
	struct parse p;
	static char big[CONFIG_PATH_MAX + 16];

	memset(big, 'a', sizeof(big) - 1);
	PARSE(&p, "--kernel", big);
	expect_bad(&p, "--kernel: the path is 4111 bytes; at most 4095");
	PARSE(&p, "--initrd", big);
	expect_bad(&p, "--initrd: the path is");
	memcpy(big, "path=", 5);
	PARSE(&p, "--drive", big);
	expect_bad(&p, "--drive path= is 4106 bytes; at most 4095");
	PARSE(&p, "--drive",
	      "path=x,id=an-id-of-more-than-sixty-four-bytes-is-more-than-a-drive-may-have");
	expect_bad(&p, "must be 1 to 64 letters");
	PARSE(&p, "--net", "tap=sixteen-bytes-xx");
	expect_bad(&p, "tap name 'sixteen-bytes-xx' must be 1 to 15 bytes");
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "cid=3,uds=", 10);
	big[200] = '\0';
	PARSE(&p, "--vsock", big);
	expect_bad(&p, "vsock uds path must be 1 to 96 bytes");
	memset(big, 'a', sizeof(big) - 1);
	PARSE(&p, "--cmdline", big);
	expect_bad(&p, "the kernel command line is 4111 bytes; the limit is 4095");
	big[CONFIG_CMDLINE_MAX] = '\0';
	PARSE(&p, "--cmdline", big);
	assert_int_equal(p.rc, 0);
	PARSE(&p, "--cmdline", big, "--append", "x");
	expect_bad(&p, "the kernel command line is 4097 bytes");
}

static void parse_after_failure(void **state)
{
	(void)state;
	struct parse p;

	/* getopt state from a failed parse does not leak into the next one. */
	PARSE(&p, "--kernel", "k", "stray");
	assert_int_equal(p.rc, -EINVAL);
	PARSE(&p, "--bogus");
	assert_int_equal(p.rc, -EINVAL);
	PARSE(&p, "--kernel", "k2", "--vcpus", "2");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "k2");
	assert_int_equal(p.cfg.vcpus, 2);
	assert_int_equal(p.cfg.mem_mib, 128);
}

static void parse_after_help_cluster(void **state)
{
	(void)state;
	struct parse p;

	/* "-hk": --help returns while getopt is still inside the cluster "-hk". The next
	 * parse must start afresh, not carry on with the 'k' left over from the last argv. */
	int saved = stdout_silence();
	PARSE(&p, "-hk");
	int rc_help = p.rc;
	stdout_restore(saved);
	assert_int_equal(rc_help, 1);

	PARSE(&p, "--kernel", "k");
	if (p.rc != 0)
		print_error("second parse: rc %d, err '%s'\n", p.rc, p.err);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.cfg.kernel_path, "k");
}

/* ---- config_validate ---- */

#define HOST_MIB 4096

static struct vm_config good(void)
{
	struct vm_config c;
	config_defaults(&c);
	strcpy(c.kernel_path, "vmlinux");
	return c;
}

static int validate(const struct vm_config *c, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_validate(c, HOST_MIB, err, errlen);
}

static void validate_ok(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	assert_int_equal(validate(&c, err, sizeof(err)), 0);
	c.vcpus = CONFIG_MAX_VCPUS;
	c.mem_mib = HOST_MIB;
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
	c.vcpus = 1;
	c.mem_mib = 1;
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
}

static void validate_no_kernel(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	c.kernel_path[0] = '\0';
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "kernel");
}

static void validate_vcpus(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	c.vcpus = 0;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "vcpus");
	c.vcpus = CONFIG_MAX_VCPUS + 1;
	assert_int_equal(CONFIG_MAX_VCPUS + 1, 33);
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "vcpus");
	c.vcpus = 1u << 20;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
}

static void validate_mem(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	c.mem_mib = 0;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "mem");
	c.mem_mib = HOST_MIB + 1;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "mem");
	assert_err_mentions(err, "4096"); /* names the host's size */
	c.mem_mib = UINT64_MAX >> 21;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
}

static void validate_cmdline(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	/* The command line with its append, one byte over. */
	memset(c.cmdline, 'a', CONFIG_CMDLINE_MAX - 2);
	c.cmdline[CONFIG_CMDLINE_MAX - 2] = '\0';
	strcpy(c.append, "bc");
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "command line");
	/* Exactly the maximum fits. */
	strcpy(c.append, "b");
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
	c.append[0] = '\0';
	memset(c.cmdline, 'a', CONFIG_CMDLINE_MAX);
	c.cmdline[CONFIG_CMDLINE_MAX] = '\0';
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
}

static void validate_devices(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[256];

	c.ndrives = 2;
	c.drives[0] = (struct drive_config){.id = "a", .path = "x", .is_root = true};
	c.drives[1] = (struct drive_config){.id = "a", .path = "y"};
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "two drives have the id 'a'");
	strcpy(c.drives[1].id, "b/../c");
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "letters, digits");
	/* Firecracker's ids: no '-' in a device's (an instance's may have one). */
	strcpy(c.drives[1].id, "data-1");
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "drive id 'data-1' must be 1 to 64 letters, digits or '_'");
	assert_false(config_id_ok("a-b"));
	assert_true(config_id_ok("a_B9"));
	assert_true(config_instance_id_ok("anonymous-instance"));
	assert_false(config_instance_id_ok("a/b"));
	strcpy(c.drives[1].id, "b");
	c.drives[1].is_root = true;
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "only one drive");
	c.drives[1].is_root = false;
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
	c.nnets = 2;
	c.nets[0] = (struct net_config){.id = "n0", .tap = "tap0"};
	c.nets[1] = (struct net_config){.id = "n1", .tap = "tap0"};
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "use the tap 'tap0'");
	strcpy(c.nets[1].tap, "a/b");
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "1 to 15 bytes");
	/* A longer name cannot even be held. */
	assert_int_equal(CONFIG_SET(c.nets[1].tap, "a-name-longer-than-15"), -ENAMETOOLONG);
	strcpy(c.nets[1].tap, "tap1");
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
	c.vsock = (struct vsock_config){.enabled = true, .guest_cid = 3, .uds_path = ""};
	assert_int_equal(validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "vsock uds path");
	strcpy(c.vsock.uds_path, "/run/v.sock");
	assert_int_equal(validate(&c, err, sizeof(err)), 0);
}

static void validate_short_err_buffer(void **state)
{
	(void)state;
	struct vm_config c = good();
	char err[8];

	/* The message is cut to fit and still terminated. */
	c.vcpus = 0;
	memset(err, 'z', sizeof(err));
	assert_int_equal(config_validate(&c, HOST_MIB, err, sizeof(err)), -EINVAL);
	assert_non_null(memchr(err, '\0', sizeof(err)));
}

/* ---- the API mode's options: the same table, the other mode ---- */

static int parse_api(struct cli_api_opts *o, char *err, size_t errlen, const char *const *args)
{
	static char store[16][256];
	char *argv[17];
	int argc = 0;
	argv[argc++] = strcpy(store[0], "ember");
	for (; args[argc - 1]; argc++)
		argv[argc] = strcpy(store[argc], args[argc - 1]);
	argv[argc] = NULL;
	return cli_parse_api(argc, argv, o, err, errlen);
}

#define PARSE_API(o, err, ...)                                                                     \
	parse_api((o), (err), sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

static void api_options(void **state)
{
	(void)state;
	struct cli_api_opts o;
	char err[256];

	assert_int_equal(PARSE_API(&o, err, "--api-sock", "/tmp/s", "--id", "vm1", "--level",
	                           "debug", "--show-level", "--no-seccomp",
	                           "--http-api-max-payload-size=2048"),
	                 0);
	assert_string_equal(o.api_sock, "/tmp/s");
	assert_string_equal(o.id, "vm1");
	assert_int_equal(o.level, LOG_DEBUG);
	assert_true(o.show_level && o.no_seccomp);
	assert_int_equal(o.max_payload, 2048);
	/* The defaults. */
	assert_int_equal(PARSE_API(&o, err, "--no-seccomp"), 0);
	assert_string_equal(o.api_sock, CLI_DEFAULT_SOCKET);
	assert_string_equal(o.id, "anonymous-instance");
	/* A run option is not one of this mode's, and the other way round. */
	assert_int_equal(PARSE_API(&o, err, "--id", "x", "--kernel", "k"), -EINVAL);
	assert_err_mentions(err, "unknown option '--kernel' (see 'ember --api-sock --help')");
	struct parse p;
	PARSE(&p, "--api-sock", "/tmp/s");
	expect_bad(&p, "unknown option '--api-sock' (see 'ember --help')");
	assert_int_equal(PARSE_API(&o, err, "--no-api"), -EINVAL);
	assert_err_mentions(err, "--no-api needs --config-file");
	/* Which first word means the API mode: its options but --help. */
	assert_true(cli_api_mode_wanted("--api-sock"));
	assert_true(cli_api_mode_wanted("--config-file=x"));
	assert_true(cli_api_mode_wanted("--no-seccomp"));
	assert_false(cli_api_mode_wanted("--help"));
	assert_false(cli_api_mode_wanted("--kernel"));
	assert_false(cli_api_mode_wanted("--api-socket"));
	assert_false(cli_api_mode_wanted("run"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_all_flags),
	    cmocka_unit_test(parse_devices),
	    cmocka_unit_test(parse_bad_devices),
	    cmocka_unit_test(validate_devices),
	    cmocka_unit_test(parse_equals_form_and_order),
	    cmocka_unit_test(parse_defaults),
	    cmocka_unit_test(parse_big_values),
	    cmocka_unit_test(parse_help),
	    cmocka_unit_test(parse_bad_mem),
	    cmocka_unit_test(parse_bad_vcpus),
	    cmocka_unit_test(parse_missing_value),
	    cmocka_unit_test(parse_unknown_option),
	    cmocka_unit_test(parse_stray_argument),
	    cmocka_unit_test(parse_guest_command),
	    cmocka_unit_test(parse_boot_initrd_append),
	    cmocka_unit_test(full_cmdline_and_command_limits),
	    cmocka_unit_test(parse_too_long),
	    cmocka_unit_test(api_options),
	    cmocka_unit_test(parse_after_failure),
	    cmocka_unit_test(parse_after_help_cluster),
	    cmocka_unit_test(validate_ok),
	    cmocka_unit_test(validate_no_kernel),
	    cmocka_unit_test(validate_vcpus),
	    cmocka_unit_test(validate_mem),
	    cmocka_unit_test(validate_cmdline),
	    cmocka_unit_test(validate_short_err_buffer),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
