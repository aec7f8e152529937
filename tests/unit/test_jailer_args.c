/* The jailer's command line: ids, numbers, paths, --cgroup and --resource-limit values, and
 * whole command lines, good and bad. Nothing here touches the system. */
#include "unit.h"

#include "jailer/jailer.h"

static void test_id(void **state)
{
	(void)state;
	assert_true(jail_id_valid("a"));
	assert_true(jail_id_valid("551e7604-e35c-42b3-b825-416853441234"));
	assert_true(jail_id_valid("A-z-0-9"));
	char max[JAIL_ID_MAX + 2];
	memset(max, 'x', JAIL_ID_MAX);
	max[JAIL_ID_MAX] = '\0';
	assert_true(jail_id_valid(max));
	max[JAIL_ID_MAX] = 'x';
	max[JAIL_ID_MAX + 1] = '\0';
	assert_false(jail_id_valid(max)); /* 65 */
	assert_false(jail_id_valid(""));
	assert_false(jail_id_valid("a/b"));
	assert_false(jail_id_valid(".."));
	assert_false(jail_id_valid("a..b"));
	assert_false(jail_id_valid("/"));
	assert_false(jail_id_valid("a_b"));
	assert_false(jail_id_valid("a b"));
	assert_false(jail_id_valid("a\nb"));
	assert_false(jail_id_valid("\xc3\xa9"));
}

static void test_name(void **state)
{
	(void)state;
	assert_true(jail_name_valid("ember"));
	assert_true(jail_name_valid("ember-0.1.0_x86"));
	assert_false(jail_name_valid(""));
	assert_false(jail_name_valid("."));
	assert_false(jail_name_valid(".."));
	assert_false(jail_name_valid(".hidden"));
	assert_false(jail_name_valid("a b"));
	assert_false(jail_name_valid("a:b"));
	char long_name[JAIL_NAME_MAX + 2];
	memset(long_name, 'e', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(jail_name_valid(long_name));
}

static void test_numbers(void **state)
{
	(void)state;
	uint32_t v;
	uint64_t w;
	assert_int_equal(jail_parse_id_number("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(jail_parse_id_number("1000", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(jail_parse_id_number("4294967294", &v), 0);
	assert_int_equal(v, 4294967294u);
	assert_int_equal(jail_parse_id_number("4294967295", &v), -ERANGE); /* (uid_t)-1 */
	assert_int_equal(jail_parse_id_number("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(jail_parse_id_number("", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number("-1", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number("+1", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number(" 1", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number("1 ", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number("0x10", &v), -EINVAL);
	assert_int_equal(jail_parse_id_number("root", &v), -EINVAL);
	assert_int_equal(jail_parse_u64("18446744073709551615", &w), 0);
	assert_true(w == UINT64_MAX);
	assert_int_equal(jail_parse_u64("18446744073709551616", &w), -ERANGE);
}

static void test_dir_path(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(jail_check_dir_path("/srv/jailer", err, sizeof(err)), 0);
	assert_int_equal(jail_check_dir_path("/", err, sizeof(err)), 0);
	assert_int_equal(jail_check_dir_path("/a//b/", err, sizeof(err)), 0);
	assert_int_equal(jail_check_dir_path("/a/.b/c..", err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(jail_check_dir_path("srv/jailer", err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "absolute");
	assert_int_equal(jail_check_dir_path("", err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_check_dir_path("/srv/../etc", err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "..");
	assert_int_equal(jail_check_dir_path("/srv/./x", err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_check_dir_path("/srv/..", err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_check_dir_path("/.", err, sizeof(err)), -EINVAL);
	static char huge[PATH_MAX];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[0] = '/';
	assert_int_equal(jail_check_dir_path(huge, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "long");
}

static void test_cgroup_good(void **state)
{
	(void)state;
	struct jail_cgroup c;
	char err[256];
	assert_int_equal(jail_parse_cgroup("pids.max=64", &c, err, sizeof(err)), 0);
	assert_string_equal(c.file, "pids.max");
	assert_string_equal(c.controller, "pids");
	assert_string_equal(c.value, "64");
	assert_int_equal(jail_parse_cgroup("cpu.max=50000 100000", &c, err, sizeof(err)), 0);
	assert_string_equal(c.controller, "cpu");
	assert_string_equal(c.value, "50000 100000");
	assert_int_equal(jail_parse_cgroup("cpuset.cpus=0-1,3", &c, err, sizeof(err)), 0);
	assert_string_equal(c.controller, "cpuset");
	assert_int_equal(jail_parse_cgroup("memory.swap.max=0", &c, err, sizeof(err)), 0);
	assert_string_equal(c.controller, "memory");
	assert_string_equal(c.file, "memory.swap.max");
	/* The value may hold '=' (only the first one splits). */
	assert_int_equal(jail_parse_cgroup("memory.max=a=b", &c, err, sizeof(err)), 0);
	assert_string_equal(c.value, "a=b");
}

static void expect_bad_cgroup(const char *arg, const char *word)
{
	struct jail_cgroup c;
	char err[256] = "";
	assert_int_equal(jail_parse_cgroup(arg, &c, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, word);
}

static void test_cgroup_bad(void **state)
{
	(void)state;
	expect_bad_cgroup("pids.max", "FILE=VALUE");
	expect_bad_cgroup("=64", "1 to");
	expect_bad_cgroup("pids.max=", "value");
	expect_bad_cgroup("pids=64", "unknown cgroup file");           /* no dot */
	expect_bad_cgroup("bogus.max=1", "unknown cgroup controller"); /* no such controller */
	expect_bad_cgroup("cgroup.procs=1", "controller");             /* the jailer's own files */
	expect_bad_cgroup("cgroup.subtree_control=+pids", "controller");
	expect_bad_cgroup("../pids.max=1", "unknown cgroup file");
	expect_bad_cgroup("pids/../../x.max=1", "unknown cgroup file");
	expect_bad_cgroup("pids..max=1", "unknown cgroup file");
	expect_bad_cgroup(".pids.max=1", "unknown cgroup file");
	expect_bad_cgroup("pids.max.=1", "unknown cgroup file");
	expect_bad_cgroup("Pids.max=1", "unknown cgroup file");
	expect_bad_cgroup("pids.max =1", "unknown cgroup file");
	expect_bad_cgroup("pids.max=6\n4", "control character");
	expect_bad_cgroup("pids.max=\x7f", "control character");
	char huge_value[400];
	snprintf(huge_value, sizeof(huge_value), "pids.max=%0300d", 1);
	expect_bad_cgroup(huge_value, "value");
	char huge_file[200];
	snprintf(huge_file, sizeof(huge_file), "pids.%0100d=1", 1);
	expect_bad_cgroup(huge_file, "1 to");
}

static void test_controllers(void **state)
{
	(void)state;
	assert_true(jail_controller_known("pids", 1));
	assert_true(jail_controller_known("pids", 2));
	assert_true(jail_controller_known("blkio", 1));
	assert_false(jail_controller_known("blkio", 2));
	assert_true(jail_controller_known("io", 2));
	assert_false(jail_controller_known("io", 1));
	assert_false(jail_controller_known("cgroup", 1));
	assert_false(jail_controller_known("cgroup", 2));
	assert_false(jail_controller_known("", 1));
}

static void test_rlimit(void **state)
{
	(void)state;
	enum jail_res r;
	uint64_t v;
	char err[256] = "";
	assert_int_equal(jail_parse_rlimit("fsize=250000000", &r, &v, err, sizeof(err)), 0);
	assert_int_equal(r, JAIL_RES_FSIZE);
	assert_true(v == 250000000);
	assert_int_equal(jail_parse_rlimit("no-file=1024", &r, &v, err, sizeof(err)), 0);
	assert_int_equal(r, JAIL_RES_NOFILE);
	assert_true(v == 1024);
	assert_int_equal(jail_parse_rlimit("no-file=0", &r, &v, err, sizeof(err)), 0);
	assert_true(v == 0);

	assert_int_equal(jail_parse_rlimit("nofile=1", &r, &v, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "unknown resource");
	assert_int_equal(jail_parse_rlimit("fsize", &r, &v, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "fsize=N");
	assert_int_equal(jail_parse_rlimit("fsize=", &r, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_parse_rlimit("fsize=-1", &r, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_parse_rlimit("fsize=1k", &r, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_parse_rlimit("fsize=18446744073709551616", &r, &v, err, sizeof(err)),
	                 -EINVAL);
	assert_err_mentions(err, "64-bit");
	assert_int_equal(jail_parse_rlimit("=5", &r, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_parse_rlimit("fsizefsize=5", &r, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(jail_parse_rlimit("fsiz=5", &r, &v, err, sizeof(err)), -EINVAL);
}

/* Parse a NULL-terminated list of words (argv[0] added); 0 or -EINVAL with err. */
static int parse(struct jail_args *a, char *err, size_t errlen, ...)
{
	static char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, errlen);
	argv[argc++] = "ember-jailer";
	char *w;
	while ((w = va_arg(ap, char *)))
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return jail_args_parse(a, argc, argv, err, errlen);
}

#define REQ "--id", "vm-1", "--exec-file", "/usr/bin/ember", "--uid", "123", "--gid", "100"

static void test_parse_minimal(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	assert_int_equal(parse(&a, err, sizeof(err), REQ, NULL), 0);
	assert_string_equal(a.id, "vm-1");
	assert_string_equal(a.exec_file, "/usr/bin/ember");
	assert_int_equal(a.uid, 123);
	assert_int_equal(a.gid, 100);
	assert_string_equal(a.base_dir, "/srv/jailer");
	assert_null(a.netns);
	assert_int_equal(a.cgroup_version, 1);
	assert_int_equal(a.n_cgroups, 0);
	assert_false(a.rlimit_set[JAIL_RES_FSIZE]);
	assert_false(a.rlimit_set[JAIL_RES_NOFILE]);
	assert_false(a.daemonize);
	assert_false(a.new_pid_ns);
	assert_false(a.copy_exec); /* the exec file is mounted, not copied */
	assert_int_equal(a.exec_argc, 0);
	assert_null(a.exec_argv[0]);
}

static void test_parse_full(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	assert_int_equal(parse(&a, err, sizeof(err), "--cgroup", "pids.max=64", "--uid", "7",
	                       "--gid", "8", "--id", "x", "--exec-file", "e", "--chroot-base-dir",
	                       "/tmp/j", "--netns", "/var/run/netns/n", "--cgroup-version", "2",
	                       "--cgroup", "memory.max=268435456", "--resource-limit", "fsize=10",
	                       "--resource-limit", "no-file=64", "--daemonize", "--new-pid-ns",
	                       "--copy-exec", "--", "--api-sock", "/api.sock", "--", "", NULL),
	                 0);
	assert_int_equal(a.uid, 7);
	assert_int_equal(a.gid, 8);
	assert_string_equal(a.base_dir, "/tmp/j");
	assert_string_equal(a.netns, "/var/run/netns/n");
	assert_int_equal(a.cgroup_version, 2);
	assert_int_equal(a.n_cgroups, 2);
	assert_string_equal(a.cgroups[0].file, "pids.max");
	assert_string_equal(a.cgroups[1].controller, "memory");
	assert_true(a.rlimit_set[JAIL_RES_FSIZE] && a.rlimit[JAIL_RES_FSIZE] == 10);
	assert_true(a.rlimit_set[JAIL_RES_NOFILE] && a.rlimit[JAIL_RES_NOFILE] == 64);
	assert_true(a.daemonize);
	assert_true(a.new_pid_ns);
	assert_true(a.copy_exec);
	/* Everything after the first "--" is the exec file's, a second "--" and "" included. */
	assert_int_equal(a.exec_argc, 4);
	assert_string_equal(a.exec_argv[0], "--api-sock");
	assert_string_equal(a.exec_argv[1], "/api.sock");
	assert_string_equal(a.exec_argv[2], "--");
	assert_string_equal(a.exec_argv[3], "");
	assert_null(a.exec_argv[4]);
}

static void test_parse_copy_exec(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	/* A switch: anywhere before "--", and harmless when repeated, as --daemonize. */
	assert_int_equal(parse(&a, err, sizeof(err), "--copy-exec", REQ, NULL), 0);
	assert_true(a.copy_exec);
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--copy-exec", "--copy-exec", NULL), 0);
	assert_true(a.copy_exec);
	/* After "--" it is the exec file's argument, not the jailer's. */
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--", "--copy-exec", NULL), 0);
	assert_false(a.copy_exec);
	assert_int_equal(a.exec_argc, 1);
	assert_string_equal(a.exec_argv[0], "--copy-exec");
	/* It takes no value: a following word is parsed as the next flag. */
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--copy-exec", "yes", NULL), -EINVAL);
	assert_err_mentions(err, "unknown argument 'yes'");
	/* Spelled exactly. */
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--copy-exec=1", NULL), -EINVAL);
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--copy", NULL), -EINVAL);
}

static void expect_bad(const char *word, struct jail_args *a, int r, const char *err)
{
	(void)a;
	if (r != -EINVAL)
		print_error("parse returned %d for a case about '%s'\n", r, word);
	assert_int_equal(r, -EINVAL);
	assert_err_mentions(err, word);
}

static void test_parse_bad(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	expect_bad(
	    "--id is required", &a,
	    parse(&a, err, sizeof(err), "--exec-file", "e", "--uid", "1", "--gid", "1", NULL), err);
	expect_bad("--exec-file is required", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--uid", "1", "--gid", "1", NULL), err);
	expect_bad("--uid is required", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--gid", "1", NULL),
	           err);
	expect_bad("--gid is required", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--uid", "1", NULL),
	           err);
	expect_bad("may not run as root", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--uid", "0",
	                 "--gid", "1", NULL),
	           err);
	expect_bad("may not run as root", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--uid", "1",
	                 "--gid", "0", NULL),
	           err);
	expect_bad("--id 'a/b'", &a,
	           parse(&a, err, sizeof(err), "--id", "a/b", "--exec-file", "e", "--uid", "1",
	                 "--gid", "1", NULL),
	           err);
	expect_bad("--id '../x'", &a,
	           parse(&a, err, sizeof(err), "--id", "../x", "--exec-file", "e", "--uid", "1",
	                 "--gid", "1", NULL),
	           err);
	expect_bad("--id '..'", &a,
	           parse(&a, err, sizeof(err), "--id", "..", "--exec-file", "e", "--uid", "1",
	                 "--gid", "1", NULL),
	           err);
	expect_bad("given twice", &a, parse(&a, err, sizeof(err), REQ, "--id", "b", NULL), err);
	expect_bad("given twice", &a, parse(&a, err, sizeof(err), REQ, "--uid", "5", NULL), err);
	expect_bad("given twice", &a,
	           parse(&a, err, sizeof(err), REQ, "--cgroup-version", "1", "--cgroup-version",
	                 "2", NULL),
	           err);
	expect_bad("given twice", &a,
	           parse(&a, err, sizeof(err), REQ, "--cgroup", "pids.max=1", "--cgroup",
	                 "pids.max=2", NULL),
	           err);
	expect_bad("given twice", &a,
	           parse(&a, err, sizeof(err), REQ, "--resource-limit", "fsize=1",
	                 "--resource-limit", "fsize=2", NULL),
	           err);
	expect_bad("--uid 'x'", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--uid", "x",
	                 "--gid", "1", NULL),
	           err);
	expect_bad("--gid '-1'", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "e", "--uid", "1",
	                 "--gid", "-1", NULL),
	           err);
	expect_bad("absolute", &a,
	           parse(&a, err, sizeof(err), REQ, "--chroot-base-dir", "srv/jailer", NULL), err);
	expect_bad("'..'", &a,
	           parse(&a, err, sizeof(err), REQ, "--chroot-base-dir", "/srv/..", NULL), err);
	expect_bad("--netns", &a, parse(&a, err, sizeof(err), REQ, "--netns", "netns/x", NULL),
	           err);
	expect_bad("1 or 2", &a, parse(&a, err, sizeof(err), REQ, "--cgroup-version", "3", NULL),
	           err);
	expect_bad("unknown cgroup file", &a,
	           parse(&a, err, sizeof(err), REQ, "--cgroup", "pids=1", NULL), err);
	/* Checked once the version is known, whichever flag came first. */
	expect_bad("no 'blkio'", &a,
	           parse(&a, err, sizeof(err), REQ, "--cgroup", "blkio.weight=100",
	                 "--cgroup-version", "2", NULL),
	           err);
	expect_bad("no 'io'", &a, parse(&a, err, sizeof(err), REQ, "--cgroup", "io.max=x", NULL),
	           err);
	expect_bad("unknown resource", &a,
	           parse(&a, err, sizeof(err), REQ, "--resource-limit", "cpu=1", NULL), err);
	expect_bad("--netns needs a value", &a, parse(&a, err, sizeof(err), REQ, "--netns", NULL),
	           err);
	expect_bad("needs a value", &a, parse(&a, err, sizeof(err), "--exec-file", NULL), err);
	expect_bad("unknown argument '--bogus'", &a,
	           parse(&a, err, sizeof(err), REQ, "--bogus", NULL), err);
	expect_bad("unknown argument 'run'", &a, parse(&a, err, sizeof(err), REQ, "run", NULL),
	           err);
	expect_bad("empty", &a,
	           parse(&a, err, sizeof(err), "--id", "a", "--exec-file", "", "--uid", "1",
	                 "--gid", "1", NULL),
	           err);
	char *many[2 * JAIL_CGROUPS_MAX + 12];
	int n = 0;
	char values[JAIL_CGROUPS_MAX + 1][32];
	many[n++] = "ember-jailer";
	const char *req[] = {REQ};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		many[n++] = (char *)req[i];
	for (int i = 0; i <= JAIL_CGROUPS_MAX; i++) {
		snprintf(values[i], sizeof(values[i]), "memory.x%d=1", i);
		many[n++] = "--cgroup";
		many[n++] = values[i];
	}
	many[n] = NULL;
	assert_int_equal(jail_args_parse(&a, n, many, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "more than");
}

static void test_parse_help(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	assert_int_equal(parse(&a, err, sizeof(err), "--help", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, err, sizeof(err), "--version", NULL), 0);
	assert_true(a.version);
	/* An unknown flag is still an error next to --help. */
	assert_int_equal(parse(&a, err, sizeof(err), "--help", "--bogus", NULL), -EINVAL);
}

static void test_parent_cgroup(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256];
	assert_true(jail_parent_cgroup_valid("fc"));
	assert_true(jail_parent_cgroup_valid("workers/ember-1"));
	assert_true(jail_parent_cgroup_valid("a.b_c-d"));
	assert_false(jail_parent_cgroup_valid(""));
	assert_false(jail_parent_cgroup_valid("/root")); /* Firecracker refuses it too */
	assert_false(jail_parent_cgroup_valid("a/"));
	assert_false(jail_parent_cgroup_valid("a//b"));
	assert_false(jail_parent_cgroup_valid("a/../b"));
	assert_false(jail_parent_cgroup_valid(".."));
	assert_false(jail_parent_cgroup_valid("./a"));
	assert_false(jail_parent_cgroup_valid("a b"));
	char longp[JAIL_PARENT_CG_MAX + 2];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_false(jail_parent_cgroup_valid(longp));
	longp[JAIL_PARENT_CG_MAX] = '\0';
	assert_true(jail_parent_cgroup_valid(longp));

	assert_int_equal(parse(&a, err, sizeof(err), REQ, NULL), 0);
	assert_null(a.parent_cgroup);
	assert_int_equal(parse(&a, err, sizeof(err), REQ, "--parent-cgroup", "fc/vms", NULL), 0);
	assert_string_equal(a.parent_cgroup, "fc/vms");
	expect_bad("--parent-cgroup '../x'", &a,
	           parse(&a, err, sizeof(err), REQ, "--parent-cgroup", "../x", NULL), err);
	expect_bad(
	    "given twice", &a,
	    parse(&a, err, sizeof(err), REQ, "--parent-cgroup", "a", "--parent-cgroup", "b", NULL),
	    err);
	expect_bad("needs a value", &a, parse(&a, err, sizeof(err), REQ, "--parent-cgroup", NULL),
	           err);
}

/* The jailed monitor's words: Firecracker's jailer's order, then the user's. */
static void test_exec_argv(void **state)
{
	(void)state;
	struct jail_args a;
	char err[256], nums[3][JAIL_NUM_MAX], *out[16];
	char prog[] = "/ember";
	assert_int_equal(
	    parse(&a, err, sizeof(err), REQ, "--", "--api-sock", "/run/api.sock", NULL), 0);
	assert_int_equal(jail_exec_argv(&a, prog, 12345, 67, UINT64_MAX, nums, out), 11);
	const char *want[] = {"/ember",
	                      "--id",
	                      "vm-1",
	                      "--start-time-us",
	                      "12345",
	                      "--start-time-cpu-us",
	                      "67",
	                      "--parent-cpu-time-us",
	                      "18446744073709551615",
	                      "--api-sock",
	                      "/run/api.sock"};
	for (int i = 0; i < 11; i++)
		assert_string_equal(out[i], want[i]);
	assert_null(out[11]);

	assert_int_equal(
	    parse(&a, err, sizeof(err), REQ, "--no-monitor-args", "--", "sleep", "30", NULL), 0);
	assert_true(a.no_monitor_args);
	assert_int_equal(jail_exec_argv(&a, prog, 1, 2, 3, nums, out), 3);
	assert_string_equal(out[0], "/ember");
	assert_string_equal(out[1], "sleep");
	assert_string_equal(out[2], "30");
	assert_null(out[3]);

	assert_int_equal(parse(&a, err, sizeof(err), REQ, NULL), 0);
	assert_int_equal(jail_exec_argv(&a, prog, 1, 2, 3, nums, out), 9);
	assert_null(out[9]);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_name),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_dir_path),
	    cmocka_unit_test(test_cgroup_good),
	    cmocka_unit_test(test_cgroup_bad),
	    cmocka_unit_test(test_controllers),
	    cmocka_unit_test(test_rlimit),
	    cmocka_unit_test(test_parse_minimal),
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_copy_exec),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_help),
	    cmocka_unit_test(test_parent_cgroup),
	    cmocka_unit_test(test_exec_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
