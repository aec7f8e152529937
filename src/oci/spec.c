/*
 * config.json, read with jansson: the fields ember-oci honours, checked for type, and the
 * container's process, hostname and mounts flattened for the guest agent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "oci.h"
#include "../../guest/agent_proto.h"

static const struct {
	const char *name;
	int res;
} rlimits[] = {
    {"RLIMIT_CPU", 0},       {"RLIMIT_FSIZE", 1}, {"RLIMIT_DATA", 2},    {"RLIMIT_STACK", 3},
    {"RLIMIT_CORE", 4},      {"RLIMIT_RSS", 5},   {"RLIMIT_NPROC", 6},   {"RLIMIT_NOFILE", 7},
    {"RLIMIT_MEMLOCK", 8},   {"RLIMIT_AS", 9},    {"RLIMIT_LOCKS", 10},  {"RLIMIT_SIGPENDING", 11},
    {"RLIMIT_MSGQUEUE", 12}, {"RLIMIT_NICE", 13}, {"RLIMIT_RTPRIO", 14}, {"RLIMIT_RTTIME", 15},
};

/* Mount options that are flags; the rest go to the file system as data. */
static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flags[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"noatime", MS_NOATIME, 0},
    {"atime", 0, MS_NOATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, 0},
    {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, 0},
    /* Propagation means nothing for a mount made inside the guest. */
    {"private", 0, 0},
    {"rprivate", 0, 0},
    {"shared", 0, 0},
    {"rshared", 0, 0},
    {"slave", 0, 0},
    {"rslave", 0, 0},
};

/* The file systems the guest mounts itself; bind mounts of host paths are refused. */
static const char *const guest_fs[] = {"proc",   "sysfs",  "tmpfs",  "devpts",
                                       "mqueue", "cgroup", "cgroup2"};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int blob_add(struct oci_blob *b, const char *key, const char *value)
{
	size_t need = strlen(key) + 1 + strlen(value) + 1;
	if (b->len + need > AGENT_MAX_PAYLOAD)
		return -1;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + need)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p)
			return -1;
		b->buf = p;
		b->cap = cap;
	}
	b->len += (size_t)sprintf(b->buf + b->len, "%s=%s", key, value) + 1;
	return 0;
}

static int blob_addu(struct oci_blob *b, const char *key, unsigned long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%llu", v);
	return blob_add(b, key, num);
}

void oci_blob_free(struct oci_blob *blob)
{
	free(blob->buf);
	*blob = (struct oci_blob){0};
}

/* A string array field (may be absent unless required); -1 with err set if malformed. */
static int strings(json_t *obj, const char *key, const char *where, bool required,
                   struct oci_blob *b, const char *bkey, char *err, size_t errlen)
{
	json_t *arr = json_object_get(obj, key), *v;
	size_t i;
	if (!arr && !required)
		return 0;
	if (!json_is_array(arr) || (required && json_array_size(arr) == 0))
		return fail(err, errlen, "%s.%s must be a%s array of strings", where, key,
		            required ? " non-empty" : "n");
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return fail(err, errlen, "%s.%s[%zu] must be a string", where, key, i);
		if (strchr(json_string_value(v), '\0') !=
		    json_string_value(v) + json_string_length(v))
			return fail(err, errlen, "%s.%s[%zu] holds a NUL", where, key, i);
		if (blob_add(b, bkey, json_string_value(v)) < 0)
			return fail(err, errlen, "%s is larger than 64 KiB", where);
	}
	return 0;
}

static int uint_field(json_t *obj, const char *key, const char *where, unsigned long long max,
                      unsigned long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (unsigned long long)json_integer_value(v) > max)
		return fail(err, errlen, "%s.%s must be an integer from 0 to %llu", where, key,
		            max);
	*out = (unsigned long long)json_integer_value(v);
	return 0;
}

int oci_process_encode(json_t *process, struct oci_blob *b, char *err, size_t errlen)
{
	json_t *user, *v;
	unsigned long long uid = 0, gid = 0;
	size_t i;

	if (!json_is_object(process))
		return fail(err, errlen, "process must be an object");
	if (strings(process, "args", "process", true, b, "arg", err, errlen) < 0 ||
	    strings(process, "env", "process", false, b, "env", err, errlen) < 0)
		return -1;
	v = json_object_get(process, "cwd");
	if (v && (!json_is_string(v) || json_string_value(v)[0] != '/'))
		return fail(err, errlen, "process.cwd must be an absolute path");
	if (blob_add(b, "cwd", v ? json_string_value(v) : "/") < 0)
		return fail(err, errlen, "process is larger than 64 KiB");
	v = json_object_get(process, "terminal");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "process.terminal must be true or false");
	user = json_object_get(process, "user");
	if (user && !json_is_object(user))
		return fail(err, errlen, "process.user must be an object");
	if (user) {
		if (uint_field(user, "uid", "process.user", 0xfffffffeULL, &uid, err, errlen) < 0 ||
		    uint_field(user, "gid", "process.user", 0xfffffffeULL, &gid, err, errlen) < 0)
			return -1;
		json_t *gids = json_object_get(user, "additionalGids");
		if (gids && !json_is_array(gids))
			return fail(err, errlen, "process.user.additionalGids must be an array");
		json_array_foreach(gids, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 0xfffffffeLL)
				return fail(err, errlen,
				            "process.user.additionalGids[%zu] must be a group id",
				            i);
			blob_addu(b, "gid+", (unsigned long long)json_integer_value(v));
		}
		if (json_object_get(user, "username"))
			return fail(err, errlen, "process.user.username is for Windows containers");
	}
	blob_addu(b, "uid", uid);
	blob_addu(b, "gid", gid);
	json_t *rl = json_object_get(process, "rlimits");
	if (rl && !json_is_array(rl))
		return fail(err, errlen, "process.rlimits must be an array");
	json_array_foreach(rl, i, v)
	{
		const char *type = json_string_value(json_object_get(v, "type"));
		unsigned long long soft = 0, hard = 0;
		size_t k;
		char text[80];
		if (!type)
			return fail(err, errlen, "process.rlimits[%zu].type must be a string", i);
		for (k = 0; k < sizeof(rlimits) / sizeof(rlimits[0]); k++)
			if (!strcmp(rlimits[k].name, type))
				break;
		if (k == sizeof(rlimits) / sizeof(rlimits[0]))
			return fail(err, errlen, "process.rlimits[%zu]: unknown type '%.64s'", i,
			            type);
		if (!json_object_get(v, "soft") || !json_object_get(v, "hard"))
			return fail(err, errlen, "process.rlimits[%zu] needs soft and hard", i);
		if (uint_field(v, "soft", "process.rlimits[]", ~0ULL >> 1, &soft, err, errlen) <
		        0 ||
		    uint_field(v, "hard", "process.rlimits[]", ~0ULL >> 1, &hard, err, errlen) < 0)
			return -1;
		snprintf(text, sizeof(text), "%d:%llu:%llu", rlimits[k].res, soft, hard);
		blob_add(b, "rlimit", text);
	}
	v = json_object_get(process, "noNewPrivileges");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "process.noNewPrivileges must be true or false");
	if (json_is_true(v))
		blob_add(b, "nnp", "1");
	return 0;
}

static int encode_mount(json_t *m, size_t i, struct oci_blob *b, char *err, size_t errlen)
{
	const char *dest = json_string_value(json_object_get(m, "destination"));
	const char *type = json_string_value(json_object_get(m, "type"));
	json_t *opts = json_object_get(m, "options"), *o;
	unsigned long flags = 0;
	char data[1024] = "", line[2048];
	size_t k, j;
	bool known = false;

	if (!dest || dest[0] != '/' || strchr(dest, ':'))
		return fail(err, errlen, "mounts[%zu].destination must be an absolute path", i);
	if (opts && !json_is_array(opts))
		return fail(err, errlen, "mounts[%zu].options must be an array of strings", i);
	json_array_foreach(opts, j, o)
	{
		const char *name = json_string_value(o);
		if (!name)
			return fail(err, errlen, "mounts[%zu].options[%zu] must be a string", i, j);
		if (!strcmp(name, "bind") || !strcmp(name, "rbind"))
			type = "bind";
	}
	if (!type)
		type = "bind"; /* runtime-spec: a mount without a type is a bind mount */
	for (k = 0; k < sizeof(guest_fs) / sizeof(guest_fs[0]); k++)
		known |= !strcmp(type, guest_fs[k]);
	if (!known)
		return fail(
		    err, errlen,
		    "mounts[%zu]: a %.32s mount on %.256s: ember-oci mounts only proc, sysfs, "
		    "tmpfs, devpts, mqueue and cgroup inside the VM (host paths do not reach it)",
		    i, type, dest);
	if (!strcmp(type, "cgroup"))
		type = "cgroup2"; /* the guest kernel's hierarchy */
	json_array_foreach(opts, j, o)
	{
		const char *name = json_string_value(o);
		for (k = 0; k < sizeof(mount_flags) / sizeof(mount_flags[0]); k++)
			if (!strcmp(mount_flags[k].name, name))
				break;
		if (k < sizeof(mount_flags) / sizeof(mount_flags[0])) {
			flags = (flags | mount_flags[k].set) & ~mount_flags[k].clear;
			continue;
		}
		if (strchr(name, ':') || strlen(data) + strlen(name) + 2 > sizeof(data))
			return fail(err, errlen, "mounts[%zu].options: '%.64s' is not supported", i,
			            name);
		if (data[0])
			strcat(data, ",");
		strcat(data, name);
	}
	snprintf(line, sizeof(line), "%s:%lu:%s:%s", type, flags, dest, data);
	if (blob_add(b, "mount", line) < 0)
		return fail(err, errlen, "mounts are larger than 64 KiB");
	return 0;
}

/* linux.resources: memory.limit to guest MiB, cpu.quota/period to vCPUs. */
static int resources(json_t *lnx, struct oci_spec *spec, char *err, size_t errlen)
{
	json_t *res = json_object_get(lnx, "resources");
	unsigned long long limit = 0, quota = 0, period = 0;
	spec->mem_mib = OCI_MEM_DEFAULT;
	spec->vcpus = 1;
	if (!res)
		return 0;
	if (!json_is_object(res))
		return fail(err, errlen, "linux.resources must be an object");
	json_t *mem = json_object_get(res, "memory");
	if (json_is_object(mem) && json_is_integer(json_object_get(mem, "limit")) &&
	    json_integer_value(json_object_get(mem, "limit")) > 0) {
		limit = (unsigned long long)json_integer_value(json_object_get(mem, "limit"));
		limit >>= 20;
		spec->mem_mib = limit < OCI_MEM_FLOOR ? OCI_MEM_FLOOR
		                : limit > 65536       ? 65536
		                                      : (unsigned)limit;
	}
	json_t *cpu = json_object_get(res, "cpu");
	if (json_is_object(cpu)) {
		if (uint_field(cpu, "period", "linux.resources.cpu", ~0ULL >> 1, &period, err,
		               errlen) < 0)
			return -1;
		json_t *q = json_object_get(cpu, "quota");
		if (json_is_integer(q) && json_integer_value(q) > 0)
			quota = (unsigned long long)json_integer_value(q);
		if (quota && period) {
			unsigned long long n = (quota + period - 1) / period;
			spec->vcpus = n > OCI_VCPUS_MAX ? OCI_VCPUS_MAX : (unsigned)n;
		}
	}
	return 0;
}

int oci_spec_parse(const char *text, struct oci_spec *spec, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *process, *mounts, *m, *v, *lnx;
	size_t i;

	*spec = (struct oci_spec){0};
	spec->json = root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, "config.json is not valid JSON: %s (line %d, column %d)",
		            jerr.text, jerr.line, jerr.column);
	if (!json_is_object(root)) {
		fail(err, errlen, "config.json must hold a JSON object");
		goto bad;
	}
	spec->version = json_string_value(json_object_get(root, "ociVersion"));
	if (!spec->version) {
		fail(err, errlen, "config.json: ociVersion must be a string");
		goto bad;
	}
	if (strncmp(spec->version, "1.", 2)) {
		fail(err, errlen, "config.json: ociVersion %.32s is not 1.x", spec->version);
		goto bad;
	}
	v = json_object_get(root, "root");
	spec->root_path = json_string_value(json_object_get(v, "path"));
	if (!json_is_object(v) || !spec->root_path || !spec->root_path[0]) {
		fail(err, errlen, "config.json: root.path must be a string");
		goto bad;
	}
	v = json_object_get(json_object_get(root, "root"), "readonly");
	if (v && !json_is_boolean(v)) {
		fail(err, errlen, "config.json: root.readonly must be true or false");
		goto bad;
	}
	spec->root_readonly = json_is_true(v);
	process = json_object_get(root, "process");
	if (!process) {
		fail(err, errlen, "config.json: process is required to create a container");
		goto bad;
	}
	if (oci_process_encode(process, &spec->agent, err, errlen) < 0)
		goto shift;
	spec->terminal = json_is_true(json_object_get(process, "terminal"));
	v = json_object_get(root, "hostname");
	if (v && !json_is_string(v)) {
		fail(err, errlen, "config.json: hostname must be a string");
		goto bad;
	}
	if (v && json_string_length(v) > 64) {
		fail(err, errlen, "config.json: hostname is longer than 64 characters");
		goto bad;
	}
	if (v && json_string_length(v))
		blob_add(&spec->agent, "hostname", json_string_value(v));
	mounts = json_object_get(root, "mounts");
	if (mounts && !json_is_array(mounts)) {
		fail(err, errlen, "config.json: mounts must be an array");
		goto bad;
	}
	json_array_foreach(mounts, i, m)
	{
		if (!json_is_object(m)) {
			fail(err, errlen, "config.json: mounts[%zu] must be an object", i);
			goto bad;
		}
		if (encode_mount(m, i, &spec->agent, err, errlen) < 0)
			goto shift;
	}
	lnx = json_object_get(root, "linux");
	if (lnx && !json_is_object(lnx)) {
		fail(err, errlen, "config.json: linux must be an object");
		goto bad;
	}
	if (resources(lnx, spec, err, errlen) < 0)
		goto shift;
	return 0;
shift:
	/* Prefix the field's message with the file it is in. */
	{
		char msg[OCI_ERR_MAX];
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "config.json: %s", msg);
	}
bad:
	oci_spec_free(spec);
	return -1;
}

void oci_spec_free(struct oci_spec *spec)
{
	json_decref(spec->json);
	oci_blob_free(&spec->agent);
	*spec = (struct oci_spec){0};
}
