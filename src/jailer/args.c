/* The jailer's command line into a struct jail_args: every value checked for its form here,
 * before anything is made; what a value names on the host is checked by the steps. */
#include "jailer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Controllers a --cgroup file may name, and the hierarchies they exist in. "cgroup." files
 * (cgroup.procs, cgroup.subtree_control) are the jailer's own business, never the user's. */
static const struct {
	const char *name;
	bool v1, v2;
} jail_controllers[] = {
    {"blkio", true, false},     {"cpu", true, true},      {"cpuacct", true, false},
    {"cpuset", true, true},     {"devices", true, false}, {"freezer", true, false},
    {"hugetlb", true, true},    {"io", false, true},      {"memory", true, true},
    {"misc", true, true},       {"net_cls", true, false}, {"net_prio", true, false},
    {"perf_event", true, true}, {"pids", true, true},     {"rdma", true, true},
};

static const char *const jail_res_names[JAIL_RES_COUNT] = {
    [JAIL_RES_FSIZE] = "fsize",
    [JAIL_RES_NOFILE] = "no-file",
};

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool jail_id_valid(const char *id)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (n >= JAIL_ID_MAX || !(is_alnum(id[n]) || id[n] == '-'))
			return false;
	return n > 0;
}

bool jail_name_valid(const char *name)
{
	size_t n = 0;
	if (name[0] == '.')
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		if (n >= JAIL_NAME_MAX || !(is_alnum(c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

int jail_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s[0])
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

int jail_parse_id_number(const char *s, uint32_t *out)
{
	uint64_t v;
	int r = jail_parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v >= UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int jail_check_dir_path(const char *path, char *err, size_t errlen)
{
	if (path[0] != '/') {
		snprintf(err, errlen, "'%s' is not an absolute path", path);
		return -EINVAL;
	}
	if (strlen(path) >= PATH_MAX / 2) {
		snprintf(err, errlen, "'%.40s...' is too long", path);
		return -EINVAL;
	}
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(err, errlen, "'%s' has a '.' or '..' component", path);
			return -EINVAL;
		}
		p += n;
	}
	return 0;
}

bool jail_controller_known(const char *controller, int version)
{
	for (size_t i = 0; i < sizeof(jail_controllers) / sizeof(jail_controllers[0]); i++)
		if (strcmp(jail_controllers[i].name, controller) == 0)
			return version == 1 ? jail_controllers[i].v1 : jail_controllers[i].v2;
	return false;
}

static bool controller_in_any(const char *controller)
{
	return jail_controller_known(controller, 1) || jail_controller_known(controller, 2);
}

int jail_parse_cgroup(const char *arg, struct jail_cgroup *out, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	if (!eq) {
		snprintf(err, errlen, "--cgroup '%s': expected FILE=VALUE", arg);
		return -EINVAL;
	}
	size_t flen = (size_t)(eq - arg);
	const char *value = eq + 1;
	if (flen == 0 || flen >= sizeof(out->file)) {
		snprintf(err, errlen, "--cgroup '%.40s': the file name must be 1 to %zu characters",
		         arg, sizeof(out->file) - 1);
		return -EINVAL;
	}
	/* [a-z0-9_] segments joined by single dots: no "..", no leading or trailing dot, so the
	 * name can only ever be a file in the jail's own cgroup directory. At least one dot:
	 * the controller comes before it. Further dots are allowed (memory.swap.max). */
	size_t dot = 0;
	for (size_t i = 0; i < flen; i++) {
		char c = arg[i];
		if (c == '.') {
			if (i == 0 || arg[i - 1] == '.' || i == flen - 1)
				goto bad_name;
			if (!dot)
				dot = i;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
			goto bad_name;
		}
	}
	if (!dot)
		goto bad_name;
	memcpy(out->file, arg, flen);
	out->file[flen] = '\0';
	memcpy(out->controller, arg, dot);
	out->controller[dot] = '\0';
	if (!controller_in_any(out->controller)) {
		snprintf(err, errlen, "--cgroup '%s': unknown cgroup controller '%s'", arg,
		         out->controller);
		return -EINVAL;
	}
	size_t vlen = strlen(value);
	if (vlen == 0 || vlen >= sizeof(out->value)) {
		snprintf(err, errlen, "--cgroup %s: the value must be 1 to %zu characters",
		         out->file, sizeof(out->value) - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < vlen; i++) {
		if (value[i] < 0x20 || value[i] > 0x7e) {
			snprintf(err, errlen, "--cgroup %s: the value has a control character",
			         out->file);
			return -EINVAL;
		}
	}
	memcpy(out->value, value, vlen + 1);
	return 0;
bad_name:
	snprintf(err, errlen,
	         "--cgroup '%s': unknown cgroup file '%.*s' (expected CONTROLLER.NAME of "
	         "a-z, 0-9, _ and .)",
	         arg, (int)flen, arg);
	return -EINVAL;
}

int jail_parse_rlimit(const char *arg, enum jail_res *res, uint64_t *value, char *err,
                      size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	for (int i = 0; i < JAIL_RES_COUNT; i++) {
		if (strlen(jail_res_names[i]) != nlen || strncmp(jail_res_names[i], arg, nlen) != 0)
			continue;
		if (!eq) {
			snprintf(err, errlen, "--resource-limit '%s': expected %s=N", arg,
			         jail_res_names[i]);
			return -EINVAL;
		}
		int r = jail_parse_u64(eq + 1, value);
		if (r < 0) {
			snprintf(err, errlen, "--resource-limit '%s': '%s' is not %s", arg, eq + 1,
			         r == -ERANGE ? "a 64-bit number" : "a decimal number");
			return -EINVAL;
		}
		*res = (enum jail_res)i;
		return 0;
	}
	snprintf(err, errlen, "--resource-limit '%s': unknown resource '%.*s' (fsize, no-file)",
	         arg, (int)nlen, arg);
	return -EINVAL;
}

bool jail_parent_cgroup_valid(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len > JAIL_PARENT_CG_MAX || path[0] == '/' || path[len - 1] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t n = 0;
		for (; p[n] && p[n] != '/'; n++)
			if (!(is_alnum(p[n]) || p[n] == '.' || p[n] == '_' || p[n] == '-'))
				return false;
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

int jail_exec_argv(const struct jail_args *a, char *prog, uint64_t start_us, uint64_t start_cpu_us,
                   uint64_t parent_cpu_us, char nums[3][JAIL_NUM_MAX], char **out)
{
	int n = 0;
	out[n++] = prog;
	if (!a->no_monitor_args) {
		static const char *const flags[3] = {"--start-time-us", "--start-time-cpu-us",
		                                     "--parent-cpu-time-us"};
		const uint64_t v[3] = {start_us, start_cpu_us, parent_cpu_us};
		out[n++] = "--id";
		out[n++] = (char *)a->id;
		for (int i = 0; i < 3; i++) {
			snprintf(nums[i], JAIL_NUM_MAX, "%llu", (unsigned long long)v[i]);
			out[n++] = (char *)flags[i];
			out[n++] = nums[i];
		}
	}
	for (int i = 0; i < a->exec_argc; i++)
		out[n++] = a->exec_argv[i];
	out[n] = NULL;
	return n;
}

/* The value of a flag that takes one; NULL (with a message) when it is missing or given
 * twice. */
static const char *flag_value(int argc, char **argv, int *i, const char *seen, char *err,
                              size_t errlen)
{
	const char *flag = argv[*i];
	if (seen) {
		snprintf(err, errlen, "%s given twice", flag);
		return NULL;
	}
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "%s needs a value", flag);
		return NULL;
	}
	return argv[++*i];
}

/* Flags whose value has no "unset" form of its own, for "given twice" and "required". */
struct seen {
	const char *uid, *gid, *base, *version;
};

static int parse_one(struct jail_args *a, struct seen *seen, int argc, char **argv, int *i,
                     char *err, size_t errlen)
{
	const char *f = argv[*i];
	const char *v;

	if (strcmp(f, "--id") == 0) {
		if (!(v = flag_value(argc, argv, i, a->id, err, errlen)))
			return -EINVAL;
		if (!jail_id_valid(v)) {
			snprintf(err, errlen,
			         "--id '%s': an id is 1 to %d letters, digits and hyphens", v,
			         JAIL_ID_MAX);
			return -EINVAL;
		}
		a->id = v;
	} else if (strcmp(f, "--exec-file") == 0) {
		if (!(v = flag_value(argc, argv, i, a->exec_file, err, errlen)))
			return -EINVAL;
		if (!v[0]) {
			snprintf(err, errlen, "--exec-file: empty path");
			return -EINVAL;
		}
		a->exec_file = v;
	} else if (strcmp(f, "--uid") == 0 || strcmp(f, "--gid") == 0) {
		bool is_uid = f[2] == 'u';
		uint32_t n;
		if (!(v = flag_value(argc, argv, i, is_uid ? seen->uid : seen->gid, err, errlen)))
			return -EINVAL;
		if (jail_parse_id_number(v, &n) < 0) {
			snprintf(err, errlen, "%s '%s': not a number from 0 to 4294967294", f, v);
			return -EINVAL;
		}
		/* Without capabilities uid 0 still owns every root file and may signal every
		 * root process; gid 0 opens root's group-readable files. */
		if (n == 0) {
			snprintf(err, errlen, "%s 0: the jailed process may not run as root", f);
			return -EINVAL;
		}
		if (is_uid) {
			seen->uid = v;
			a->uid = n;
		} else {
			seen->gid = v;
			a->gid = n;
		}
	} else if (strcmp(f, "--chroot-base-dir") == 0) {
		char why[160];
		if (!(v = flag_value(argc, argv, i, seen->base, err, errlen)))
			return -EINVAL;
		if (jail_check_dir_path(v, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--chroot-base-dir %s", why);
			return -EINVAL;
		}
		seen->base = a->base_dir = v;
	} else if (strcmp(f, "--netns") == 0) {
		if (!(v = flag_value(argc, argv, i, a->netns, err, errlen)))
			return -EINVAL;
		if (v[0] != '/') {
			snprintf(err, errlen, "--netns '%s' is not an absolute path", v);
			return -EINVAL;
		}
		a->netns = v;
	} else if (strcmp(f, "--cgroup") == 0) {
		if (!(v = flag_value(argc, argv, i, NULL, err, errlen)))
			return -EINVAL;
		if (a->n_cgroups == JAIL_CGROUPS_MAX) {
			snprintf(err, errlen, "more than %d --cgroup values", JAIL_CGROUPS_MAX);
			return -EINVAL;
		}
		struct jail_cgroup *cg = &a->cgroups[a->n_cgroups];
		if (jail_parse_cgroup(v, cg, err, errlen) < 0)
			return -EINVAL;
		for (unsigned k = 0; k < a->n_cgroups; k++) {
			if (strcmp(a->cgroups[k].file, cg->file) == 0) {
				snprintf(err, errlen, "--cgroup %s given twice", cg->file);
				return -EINVAL;
			}
		}
		a->n_cgroups++;
	} else if (strcmp(f, "--cgroup-version") == 0) {
		if (!(v = flag_value(argc, argv, i, seen->version, err, errlen)))
			return -EINVAL;
		if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0) {
			snprintf(err, errlen, "--cgroup-version '%s': 1 or 2", v);
			return -EINVAL;
		}
		seen->version = v;
		a->cgroup_version = v[0] - '0';
	} else if (strcmp(f, "--resource-limit") == 0) {
		enum jail_res res;
		uint64_t n;
		if (!(v = flag_value(argc, argv, i, NULL, err, errlen)))
			return -EINVAL;
		if (jail_parse_rlimit(v, &res, &n, err, errlen) < 0)
			return -EINVAL;
		if (a->rlimit_set[res]) {
			snprintf(err, errlen, "--resource-limit %s given twice",
			         jail_res_names[res]);
			return -EINVAL;
		}
		a->rlimit_set[res] = true;
		a->rlimit[res] = n;
	} else if (strcmp(f, "--daemonize") == 0) {
		a->daemonize = true;
	} else if (strcmp(f, "--new-pid-ns") == 0) {
		a->new_pid_ns = true;
	} else if (strcmp(f, "--copy-exec") == 0) {
		a->copy_exec = true;
	} else if (strcmp(f, "--no-monitor-args") == 0) {
		a->no_monitor_args = true;
	} else if (strcmp(f, "--parent-cgroup") == 0) {
		if (!(v = flag_value(argc, argv, i, a->parent_cgroup, err, errlen)))
			return -EINVAL;
		if (!jail_parent_cgroup_valid(v)) {
			snprintf(
			    err, errlen,
			    "--parent-cgroup '%s': a relative path of 1 to %d bytes, components "
			    "of letters, digits, '.', '_' and '-', none '.' or '..'",
			    v, JAIL_PARENT_CG_MAX);
			return -EINVAL;
		}
		a->parent_cgroup = v;
	} else if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
		a->help = true;
	} else if (strcmp(f, "--version") == 0) {
		a->version = true;
	} else {
		snprintf(err, errlen, "unknown argument '%s'", f);
		return -EINVAL;
	}
	return 0;
}

int jail_args_parse(struct jail_args *a, int argc, char **argv, char *err, size_t errlen)
{
	static char *no_args[] = {NULL};
	memset(a, 0, sizeof(*a));
	a->base_dir = JAIL_DEFAULT_BASE;
	a->cgroup_version = 1;
	a->exec_argv = no_args;
	struct seen seen = {0};

	int i;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			a->exec_argv = &argv[i + 1];
			a->exec_argc = argc - i - 1;
			break;
		}
		if (parse_one(a, &seen, argc, argv, &i, err, errlen) < 0)
			return -EINVAL;
	}
	if (a->help || a->version)
		return 0;

	const char *missing = !a->id          ? "--id"
	                      : !a->exec_file ? "--exec-file"
	                      : !seen.uid     ? "--uid"
	                      : !seen.gid     ? "--gid"
	                                      : NULL;
	if (missing) {
		snprintf(err, errlen, "%s is required", missing);
		return -EINVAL;
	}
	for (unsigned k = 0; k < a->n_cgroups; k++) {
		if (!jail_controller_known(a->cgroups[k].controller, a->cgroup_version)) {
			snprintf(err, errlen,
			         "--cgroup %s: cgroup version %d has no '%s' controller",
			         a->cgroups[k].file, a->cgroup_version, a->cgroups[k].controller);
			return -EINVAL;
		}
	}
	return 0;
}
