/* Finding cgroup hierarchies in /proc/self/mounts and the process's own cgroups in
 * /proc/self/cgroup, from text as this kind of host writes it (v1 controllers each on its
 * own mount, v2 at /sys/fs/cgroup/unified) and as others do. */
#include "unit.h"

#include "jailer/jailer.h"

/* This development host's mounts, with a co-mounted pair and an escaped mount point added. */
static const char mounts_hybrid[] =
    "sysfs /sys sysfs rw,relatime 0 0\n"
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup /mnt/my\\040cgroups/net cgroup rw,net_cls,net_prio 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";

/* A v2-only host (systemd's default). */
static const char mounts_v2[] = "proc /proc proc rw 0 0\n"
                                "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0";

static const char self_hybrid[] = "9:name=systemd:/\n"
                                  "8:pids:/user.slice/a\n"
                                  "4:memory:/process_api/84b5\n"
                                  "3:cpuset:/\n"
                                  "2:cpu,cpuacct:/x:y\n"
                                  "0::/init.scope\n";

static void test_list_has(void **state)
{
	(void)state;
	assert_true(cg_list_has("rw,relatime,pids", ',', "pids"));
	assert_true(cg_list_has("pids", ',', "pids"));
	assert_true(cg_list_has("cpu,cpuacct", ',', "cpu"));
	assert_true(cg_list_has("cpu,cpuacct", ',', "cpuacct"));
	assert_false(cg_list_has("cpuacct", ',', "cpu"));
	assert_false(cg_list_has("cpuset", ',', "cpu"));
	assert_false(cg_list_has("name=pids", ',', "pids"));
	assert_false(cg_list_has("", ',', "pids"));
	assert_true(cg_list_has("cpuset cpu io memory pids", ' ', "pids"));
	assert_true(cg_list_has("cpuset cpu io memory pids\n", ' ', "pids"));
	assert_false(cg_list_has("cpuset cpu io memory", ' ', "pid"));
	assert_false(cg_list_has("hugetlb", ' ', ""));
}

static void test_mounts_v1(void **state)
{
	(void)state;
	char out[PATH_MAX];
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "pids", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/pids");
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "cpuacct", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "cpuset", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpuset");
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "net_prio", out, sizeof(out)), 0);
	assert_string_equal(out, "/mnt/my cgroups/net");
	/* Not mounted as v1 (and "relatime" or "rw" are options, not controllers that count:
	 * no controller has those names, so only real ones are ever asked for). */
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "hugetlb", out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "systemd", out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_mounts_find(mounts_v2, 1, "pids", out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_mounts_find("", 1, "pids", out, sizeof(out)), -ENOENT);
	char small[8];
	assert_int_equal(cg_mounts_find(mounts_hybrid, 1, "pids", small, sizeof(small)),
	                 -ENAMETOOLONG);
}

static void test_mounts_v2(void **state)
{
	(void)state;
	char out[PATH_MAX];
	assert_int_equal(cg_mounts_find(mounts_hybrid, 2, "pids", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
	assert_int_equal(cg_mounts_find(mounts_v2, 2, "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
	assert_int_equal(
	    cg_mounts_find("cgroup /x cgroup rw,pids 0 0\n", 2, "pids", out, sizeof(out)), -ENOENT);
}

static void test_mounts_malformed(void **state)
{
	(void)state;
	char out[PATH_MAX];
	/* Short, blank and garbage lines are skipped, never read past. */
	static const char junk[] = "\n\ncgroup\ncgroup /a\ncgroup /a cgroup\n   \n"
	                           "x y cgroup2x z\ncgroup /ok cgroup pids";
	assert_int_equal(cg_mounts_find(junk, 1, "pids", out, sizeof(out)), 0);
	assert_string_equal(out, "/ok");
	assert_int_equal(cg_mounts_find(junk, 2, "pids", out, sizeof(out)), -ENOENT);
	/* A backslash that is not an escape stays as it is. */
	assert_int_equal(cg_mounts_find("c /a\\9b cgroup pids 0 0", 1, "pids", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "/a\\9b");
}

static void test_self(void **state)
{
	(void)state;
	char out[PATH_MAX];
	assert_int_equal(cg_self_find(self_hybrid, 1, "pids", out, sizeof(out)), 0);
	assert_string_equal(out, "/user.slice/a");
	assert_int_equal(cg_self_find(self_hybrid, 1, "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/process_api/84b5");
	assert_int_equal(cg_self_find(self_hybrid, 1, "cpuacct", out, sizeof(out)), 0);
	assert_string_equal(out, "/x:y"); /* a colon in the path is the path's */
	assert_int_equal(cg_self_find(self_hybrid, 1, "cpuset", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(cg_self_find(self_hybrid, 2, "pids", out, sizeof(out)), 0);
	assert_string_equal(out, "/init.scope");
	assert_int_equal(cg_self_find(self_hybrid, 1, "hugetlb", out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_self_find("8:pids:/a\n", 2, "pids", out, sizeof(out)), -ENOENT);
	assert_int_equal(cg_self_find("0::/\n", 1, "pids", out, sizeof(out)), -ENOENT);
	assert_int_equal(
	    cg_self_find("garbage\n8:pids\n8:pids:\n8:pids:rel\n", 1, "pids", out, sizeof(out)),
	    -ENOENT);
	char small[4];
	assert_int_equal(cg_self_find(self_hybrid, 1, "pids", small, sizeof(small)), -ENAMETOOLONG);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_has),  cmocka_unit_test(test_mounts_v1),
	    cmocka_unit_test(test_mounts_v2), cmocka_unit_test(test_mounts_malformed),
	    cmocka_unit_test(test_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
