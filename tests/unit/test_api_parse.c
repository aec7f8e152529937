/* The API's request parsing, the config file and GET /vm/config's rendering: every route,
 * every field's rules, and golden files for the JSON we produce and read. */
#include "unit.h"

#include "api/api.h"
#include "api/api_json.h"
#include "vmm/controller.h"
#include "base/config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>

static struct ctl_cmd cmd;
static struct ctl_reply reply;

/* ---- helpers ---- */

static int req_n(const char *method, const char *path, const char *body, size_t len)
{
	memset(&reply, 0, sizeof(reply));
	memset(&cmd, 0x5a, sizeof(cmd)); /* api_parse must fill what it returns */
	return api_parse(method, path, body, len, &cmd, &reply);
}

static int req(const char *method, const char *path, const char *body)
{
	return req_n(method, path, body, body ? strlen(body) : 0);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The fault message of a 400 reply, checking the body is exactly {"fault_message": "..."}. */
static const char *fault_message(void)
{
	static char msg[2048];
	json_error_t jerr;
	assert_int_equal(reply.status, 400);
	assert_int_equal(reply.len, strlen(reply.body));
	json_t *o = json_loadb(reply.body, reply.len, 0, &jerr);
	if (!o)
		print_error("fault body is not JSON: %s (%s)\n", reply.body, jerr.text);
	assert_non_null(o);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 1);
	json_t *m = json_object_get(o, "fault_message");
	assert_true(json_is_string(m));
	snprintf(msg, sizeof(msg), "%s", json_string_value(m));
	json_decref(o);
	return msg;
}

/* The request is refused with a 400 whose message mentions needle. */
#define assert_refused(m_, p_, b_, needle_)                                                        \
	do {                                                                                       \
		int rc_ = req(m_, p_, b_);                                                         \
		if (rc_ != -EINVAL)                                                                \
			print_error("%s %s %s was accepted\n", m_, p_, or_empty(b_));              \
		assert_int_equal(rc_, -EINVAL);                                                    \
		assert_err_mentions(fault_message(), needle_);                                     \
	} while (0)

#define assert_accepted(m_, p_, b_)                                                                \
	do {                                                                                       \
		int rc_ = req(m_, p_, b_);                                                         \
		if (rc_ != 0)                                                                      \
			print_error("%s %s %s refused: %s\n", m_, p_, or_empty(b_), reply.body);   \
		assert_int_equal(rc_, 0);                                                          \
	} while (0)

/* A JSON string of n copies of c, quoted. */
static const char *long_str(char c, size_t n)
{
	static char buf[3][8192];
	static int next;
	char *b = buf[next++ % 3];
	assert_true(n + 3 <= sizeof(buf[0]));
	b[0] = '"';
	memset(b + 1, c, n);
	b[n + 1] = '"';
	b[n + 2] = '\0';
	return b;
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
	static char buf[4][20000];
	static int next;
	char *b = buf[next++ % 4];
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(b, sizeof(buf[0]), f, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(buf[0]));
	return b;
}

/* ---- routes ---- */

static void get_routes(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		enum ctl_op op;
	} gets[] = {{"/", CTL_GET_INFO},
	            {"/version", CTL_GET_VERSION},
	            {"/vm/config", CTL_GET_VM_CONFIG},
	            {"/machine-config", CTL_GET_MACHINE_CONFIG}};
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
		assert_accepted("GET", gets[i].path, NULL);
		assert_int_equal(cmd.op, gets[i].op);
		/* A GET carries nothing; even an empty object is refused. */
		assert_refused("GET", gets[i].path, "{}", "no body");
	}
}

static void unknown_paths_and_methods(void **state)
{
	(void)state;
	assert_int_equal(req("PUT", "/foo", "{}"), -EINVAL);
	assert_string_equal(fault_message(), "Invalid request method and/or path: PUT /foo");

	static const char *const bad[][2] = {
	    {"GET", "/boot-source"}, /* PUT only */
	    {"PATCH", "/boot-source"},
	    {"PUT", "/vm"},
	    {"GET", "/vm"},
	    {"DELETE", "/vm"},
	    {"POST", "/actions"},
	    {"put", "/actions"}, /* methods are case-sensitive */
	    {"PUT", "/vsock/"},  /* a trailing '/' is another path */
	    {"GET", "/vm/config/"},
	    {"GET", "/version/"},
	    {"PUT", "/drives"},
	    {"GET", "/drives/rootfs"},
	    {"PATCH", "/entropy"},
	    {"PUT", "/Boot-Source"},
	    {"GET", ""},
	    {"GET", "//"},
	    {"PUT", "/balloon/statistics"},
	    {"POST", "/mmds"},
	    {"PUT", "/mmds/"},
	    {"PUT", "/snapshot/restore"},
	    {"GET", "/snapshot/create"},
	    {"PUT", "/cpu-config"},
	    {"GET", "/machine-config?x=1"},
	    {"PUT", "/network-interfaces"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_refused(bad[i][0], bad[i][1], "{}", "Invalid request method and/or path");
		assert_err_mentions(fault_message(), bad[i][1]);
	}
}

static void empty_body(void **state)
{
	(void)state;
	static const char *const puts[][2] = {
	    {"PUT", "/boot-source"},
	    {"PUT", "/machine-config"},
	    {"PATCH", "/machine-config"},
	    {"PUT", "/drives/a"},
	    {"PATCH", "/drives/a"},
	    {"PUT", "/network-interfaces/a"},
	    {"PATCH", "/network-interfaces/a"},
	    {"PUT", "/vsock"},
	    {"PUT", "/entropy"},
	    {"PUT", "/logger"},
	    {"PUT", "/metrics"},
	    {"PUT", "/actions"},
	    {"PATCH", "/vm"},
	};
	for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]); i++) {
		assert_refused(puts[i][0], puts[i][1], "", "body");
		/* Not an object: the shapes jansson would take, and the ones it refuses. */
		assert_refused(puts[i][0], puts[i][1], "[]", "JSON object");
		assert_refused(puts[i][0], puts[i][1], "[{}]", "JSON object");
		assert_refused(puts[i][0], puts[i][1], "null", "not valid JSON");
		assert_refused(puts[i][0], puts[i][1], "\"x\"", "not valid JSON");
		assert_refused(puts[i][0], puts[i][1], "7", "not valid JSON");
	}
}

static void bad_json(void **state)
{
	(void)state;
	assert_refused("PUT", "/boot-source", "{", "not valid JSON");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"", "not valid JSON");
	assert_refused("PUT", "/boot-source", "{'kernel_image_path': '/k'}", "not valid JSON");
	/* Trailing garbage, even another object. */
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"} x",
	               "not valid JSON");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}{}",
	               "not valid JSON");
	/* Whitespace around the value is fine. */
	assert_accepted("PUT", "/boot-source", " \n{\"kernel_image_path\": \"/k\"}\r\n ");
	/* Duplicate keys: which would win is a guess. */
	assert_refused("PUT", "/boot-source",
	               "{\"kernel_image_path\": \"/a\", \"kernel_image_path\": \"/b\"}",
	               "duplicate");
	/* A NUL inside the body, escaped NULs in strings and keys, invalid UTF-8. */
	static const char nul[] = "{\"kernel_image_path\": \"/k\"}\0";
	assert_int_equal(req_n("PUT", "/boot-source", nul, sizeof(nul) - 1), -EINVAL);
	assert_err_mentions(fault_message(), "not valid JSON");
	static const char nul2[] = "{\"kernel_image_path\": \"/\0k\"}";
	assert_int_equal(req_n("PUT", "/boot-source", nul2, sizeof(nul2) - 1), -EINVAL);
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\\u0000x\"}",
	               "not valid JSON");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\\u0000\": \"/k\"}",
	               "not valid JSON");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\xff\"}",
	               "not valid JSON");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\xc0\xaf\"}",
	               "not valid JSON");
	/* Numbers out of any integer's range. */
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 99999999999999999999999}",
	               "not valid JSON");
	/* Deep nesting ends in an error, not a crash. */
	char deep[3000 * 2 + 64];
	size_t n = (size_t)snprintf(deep, sizeof(deep), "{\"rate_limiter\": ");
	for (int i = 0; i < 3000; i++)
		deep[n++] = '[';
	for (int i = 0; i < 3000; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	assert_int_equal(req("PUT", "/entropy", deep), -EINVAL);
	(void)fault_message();
}

/* ---- boot-source ---- */

static void boot_source(void **state)
{
	(void)state;
	assert_accepted(
	    "PUT", "/boot-source",
	    "{\"kernel_image_path\": \"/srv/vmlinux\", \"initrd_path\": \"/srv/initrd\","
	    " \"boot_args\": \"console=ttyS0 quiet\"}");
	assert_int_equal(cmd.op, CTL_PUT_BOOT_SOURCE);
	assert_string_equal(cmd.u.boot.kernel_image_path, "/srv/vmlinux");
	assert_true(cmd.u.boot.has_initrd_path);
	assert_string_equal(cmd.u.boot.initrd_path, "/srv/initrd");
	assert_true(cmd.u.boot.has_boot_args);
	assert_string_equal(cmd.u.boot.boot_args, "console=ttyS0 quiet");

	assert_accepted("PUT", "/boot-source", "{\"kernel_image_path\": \"vmlinux\"}");
	assert_false(cmd.u.boot.has_initrd_path);
	assert_false(cmd.u.boot.has_boot_args);
	/* null is absent (GET /vm/config shows an absent initrd so); "" boot args are kept. */
	assert_accepted(
	    "PUT", "/boot-source",
	    "{\"kernel_image_path\": \"k\", \"initrd_path\": null, \"boot_args\": \"\"}");
	assert_false(cmd.u.boot.has_initrd_path);
	assert_true(cmd.u.boot.has_boot_args);
	assert_string_equal(cmd.u.boot.boot_args, "");
	/* Unicode survives. */
	assert_accepted("PUT", "/boot-source",
	                "{\"kernel_image_path\": \"/k\\u00e9\\ud83d\\ude00\"}");
	assert_string_equal(cmd.u.boot.kernel_image_path, "/k\xc3\xa9\xf0\x9f\x98\x80");

	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"k\", \"foo\": 1}",
	               "unknown field 'foo' in boot-source");
	assert_refused("PUT", "/boot-source", "{\"Kernel_image_path\": \"k\"}",
	               "unknown field 'Kernel_image_path'");
	assert_refused("PUT", "/boot-source", "{}", "missing required field 'kernel_image_path'");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": null}",
	               "missing required field 'kernel_image_path'");
	assert_refused("PUT", "/boot-source", "{\"boot_args\": \"x\"}", "kernel_image_path");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": 5}", "must be a string");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": [\"k\"]}", "not an array");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"k\", \"boot_args\": true}",
	               "field 'boot_args' in boot-source must be a string, not a boolean");
	assert_refused("PUT", "/boot-source", "{\"kernel_image_path\": \"\"}", "empty");
	assert_refused("PUT", "/boot-source",
	               "{\"kernel_image_path\": \"k\", \"initrd_path\": \"\"}", "initrd_path");

	/* The limits: API_PATH_MAX - 1 bytes of path, CONFIG_CMDLINE_MAX of arguments. */
	assert_accepted("PUT", "/boot-source",
	                fmt("{\"kernel_image_path\": %s}", long_str('k', API_PATH_MAX - 1)));
	assert_int_equal(strlen(cmd.u.boot.kernel_image_path), API_PATH_MAX - 1);
	assert_refused("PUT", "/boot-source",
	               fmt("{\"kernel_image_path\": %s}", long_str('k', API_PATH_MAX)), "too long");
	assert_refused(
	    "PUT", "/boot-source",
	    fmt("{\"kernel_image_path\": \"k\", \"initrd_path\": %s}", long_str('i', API_PATH_MAX)),
	    "initrd_path");
	assert_accepted("PUT", "/boot-source",
	                fmt("{\"kernel_image_path\": \"k\", \"boot_args\": %s}",
	                    long_str('a', CONFIG_CMDLINE_MAX)));
	assert_int_equal(strlen(cmd.u.boot.boot_args), CONFIG_CMDLINE_MAX);
	assert_refused("PUT", "/boot-source",
	               fmt("{\"kernel_image_path\": \"k\", \"boot_args\": %s}",
	                   long_str('a', CONFIG_CMDLINE_MAX + 1)),
	               "boot_args");
}

/* ---- machine-config ---- */

static void machine_config_put(void **state)
{
	(void)state;
	const struct ctl_machine_config *m = &cmd.u.machine;
	assert_accepted("PUT", "/machine-config",
	                "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": false,"
	                " \"track_dirty_pages\": true, \"huge_pages\": \"Transparent\","
	                " \"cpu_template\": \"None\"}");
	assert_int_equal(cmd.op, CTL_PUT_MACHINE_CONFIG);
	assert_true(m->has_vcpu_count && m->has_mem_size_mib && m->has_smt &&
	            m->has_track_dirty_pages && m->has_huge_pages);
	assert_int_equal(m->vcpu_count, 2);
	assert_int_equal(m->mem_size_mib, 256);
	assert_false(m->smt);
	assert_true(m->track_dirty_pages);
	assert_int_equal(m->huge_pages, HUGE_PAGES_TRANSPARENT);

	assert_accepted("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 1}");
	assert_false(m->has_smt || m->has_track_dirty_pages || m->has_huge_pages);
	assert_accepted("PUT", "/machine-config",
	                "{\"vcpu_count\": 32, \"mem_size_mib\": 128, \"huge_pages\": \"None\"}");
	assert_int_equal(m->vcpu_count, 32);
	assert_true(m->has_huge_pages);
	assert_int_equal(m->huge_pages, HUGE_PAGES_NONE);

	assert_refused("PUT", "/machine-config", "{\"mem_size_mib\": 128}",
	               "missing required field 'vcpu_count' in machine-config");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": 1}",
	               "missing required field 'mem_size_mib'");
	assert_refused("PUT", "/machine-config", "{}", "missing required field");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 128}",
	               "must be 1 to 32, not 0");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 128}",
	               "must be 1 to 32, not 33");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": -1, \"mem_size_mib\": 128}",
	               "not -1");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 9223372036854775807, \"mem_size_mib\": 128}", "1 to 32");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": 2.0, \"mem_size_mib\": 128}",
	               "must be an integer, not a real number");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 128}",
	               "must be an integer, not a string");
	assert_refused("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}",
	               "mem_size_mib");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 9223372036854775807}",
	               "mem_size_mib");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": true}",
	               "smt is not supported");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": 0}", "boolean");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"track_dirty_pages\": \"yes\"}",
	               "boolean");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"2M\"}",
	               "not supported");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"none\"}",
	               "\"None\", \"Transparent\" or \"2M\"");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"T2\"}",
	               "CPU templates are not supported");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"X\"}",
	               "cpu_template");
	assert_refused("PUT", "/machine-config",
	               "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"gdb_socket_path\": \"/g\"}",
	               "unknown field 'gdb_socket_path' in machine-config");
}

static void machine_config_patch(void **state)
{
	(void)state;
	const struct ctl_machine_config *m = &cmd.u.machine;
	assert_accepted("PATCH", "/machine-config", "{\"vcpu_count\": 4}");
	assert_int_equal(cmd.op, CTL_PATCH_MACHINE_CONFIG);
	assert_true(m->has_vcpu_count);
	assert_int_equal(m->vcpu_count, 4);
	assert_false(m->has_mem_size_mib || m->has_smt || m->has_track_dirty_pages ||
	             m->has_huge_pages);
	assert_accepted("PATCH", "/machine-config", "{\"mem_size_mib\": 1024}");
	assert_false(m->has_vcpu_count);
	assert_int_equal(m->mem_size_mib, 1024);
	assert_accepted("PATCH", "/machine-config", "{}");
	assert_false(m->has_vcpu_count || m->has_mem_size_mib);
	assert_refused("PATCH", "/machine-config", "{\"vcpu_count\": 64}", "1 to 32");
	assert_refused("PATCH", "/machine-config", "{\"smt\": true}", "not supported");
	assert_refused("PATCH", "/machine-config", "{\"memory\": 5}", "unknown field 'memory'");
}

/* ---- drives ---- */

static void drive_put(void **state)
{
	(void)state;
	const struct ctl_drive *d = &cmd.u.drive;
	assert_accepted("PUT", "/drives/rootfs",
	                "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/srv/rootfs.ext4\","
	                " \"is_root_device\": true, \"is_read_only\": true, \"cache_type\": "
	                "\"Writeback\", \"io_engine\": \"Async\", \"partuuid\": null,"
	                " \"rate_limiter\": null, \"socket\": null}");
	assert_int_equal(cmd.op, CTL_PUT_DRIVE);
	assert_string_equal(d->drive_id, "rootfs");
	assert_true(d->has_path_on_host && d->has_is_root_device && d->has_is_read_only &&
	            d->has_io_engine);
	assert_string_equal(d->path_on_host, "/srv/rootfs.ext4");
	assert_true(d->is_root_device);
	assert_true(d->is_read_only);
	assert_int_equal(d->io_engine, DRIVE_ENGINE_IO_URING);
	assert_true(d->has_cache_type);
	assert_int_equal(d->cache_type, DRIVE_CACHE_WRITEBACK);

	assert_accepted("PUT", "/drives/data_1_B",
	                "{\"drive_id\": \"data_1_B\", \"path_on_host\": \"d.img\","
	                " \"is_root_device\": false, \"io_engine\": \"Sync\", \"cache_type\": "
	                "\"Unsafe\"}");
	assert_false(d->is_root_device);
	assert_false(d->has_is_read_only);
	assert_false(d->is_read_only);
	assert_int_equal(d->io_engine, DRIVE_ENGINE_SYNC);
	assert_int_equal(d->cache_type, DRIVE_CACHE_UNSAFE);
	assert_accepted(
	    "PUT", "/drives/x",
	    "{\"drive_id\": \"x\", \"path_on_host\": \"d\", \"is_root_device\": false}");
	assert_false(d->has_io_engine);
	/* Firecracker's default cache is Unsafe. */
	assert_false(d->has_cache_type);
	assert_int_equal(d->cache_type, DRIVE_CACHE_UNSAFE);

	/* Firecracker's ids are [A-Za-z0-9_]: no '-', in the path or the body. */
	assert_refused("PUT", "/drives/data-1",
	               "{\"drive_id\": \"data-1\", \"path_on_host\": \"d\", \"is_root_device\": "
	               "false}",
	               "drive id 'data-1' in the path must be 1 to 64 letters, digits or '_'");
	assert_refused("PUT", "/config-file-has-no-path", "{}",
	               "Invalid request method and/or path");

	/* Ids: in the path, in the body, and the two must agree. */
	const char *max_id = long_str('i', CONFIG_ID_MAX);
	char path[128];
	snprintf(path, sizeof(path), "/drives/%.*s", CONFIG_ID_MAX, max_id + 1);
	assert_accepted(
	    "PUT", path,
	    fmt("{\"drive_id\": %s, \"path_on_host\": \"d\", \"is_root_device\": false}", max_id));
	assert_int_equal(strlen(d->drive_id), CONFIG_ID_MAX);
	snprintf(path, sizeof(path), "/drives/%.*s", CONFIG_ID_MAX + 1,
	         long_str('i', CONFIG_ID_MAX + 1) + 1);
	assert_refused("PUT", path, "{}", "drive id");
	assert_refused("PUT", "/drives/a/b", "{}", "drive id 'a/b' in the path must be 1 to 64");
	assert_refused("PUT", "/drives/", "{}", "drive id '' in the path must be");
	assert_refused("PUT", "/drives/a.b", "{}", "drive id 'a.b'");
	assert_refused("PUT", "/drives/a%20b", "{}", "drive id");
	assert_refused(
	    "PUT", "/drives/rootfs",
	    "{\"drive_id\": \"other\", \"path_on_host\": \"d\", \"is_root_device\": false}",
	    "must match");
	assert_refused(
	    "PUT", "/drives/rootfs",
	    "{\"drive_id\": \"RootFS\", \"path_on_host\": \"d\", \"is_root_device\": false}",
	    "'rootfs'");
	assert_refused("PUT", "/drives/rootfs",
	               "{\"path_on_host\": \"d\", \"is_root_device\": false}",
	               "missing required field 'drive_id' in drives/rootfs");
	assert_refused("PUT", "/drives/rootfs",
	               fmt("{\"drive_id\": %s, \"path_on_host\": \"d\", \"is_root_device\": false}",
	                   long_str('i', CONFIG_ID_MAX + 1)),
	               "drive id");
	assert_refused("PUT", "/drives/rootfs",
	               "{\"drive_id\": 7, \"path_on_host\": \"d\", \"is_root_device\": false}",
	               "field 'drive_id' in drives/rootfs must be a string, not an integer");

	/* Required fields. */
	assert_refused("PUT", "/drives/r", "{\"drive_id\": \"r\", \"path_on_host\": \"d\"}",
	               "missing required field 'is_root_device'");
	assert_refused("PUT", "/drives/r", "{\"drive_id\": \"r\", \"is_root_device\": true}",
	               "missing required field 'path_on_host'");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"\", \"is_root_device\": true}",
	               "empty");
	assert_refused("PUT", "/drives/r",
	               fmt("{\"drive_id\": \"r\", \"path_on_host\": %s, \"is_root_device\": true}",
	                   long_str('p', API_PATH_MAX)),
	               "too long");

	/* Types and enums. */
	assert_refused(
	    "PUT", "/drives/r",
	    "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": \"true\"}",
	    "field 'is_root_device' in drives/r must be a boolean, not a string");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"is_read_only\": 1}",
	               "is_read_only");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"io_engine\": \"io_uring\"}",
	               "\"Sync\" or \"Async\"");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"cache_type\": \"None\"}",
	               "\"Unsafe\" or \"Writeback\"");

	/* What we know of and cannot do. */
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"partuuid\": \"0eaa91a0-01\"}",
	               "partuuid is not supported");
	/* Rate limiters: Firecracker's RateLimiter, either bucket optional. */
	assert_accepted("PUT", "/drives/r",
	                "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	                " \"rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100,"
	                " \"one_time_burst\": 5000}}}");
	const struct ctl_rate_limiter *rl = &cmd.u.drive.rate_limiter;
	assert_true(rl->has && rl->has_bandwidth && !rl->has_ops);
	assert_int_equal(rl->cfg.bandwidth.size, 1000);
	assert_int_equal(rl->cfg.bandwidth.refill_time_ms, 100);
	assert_int_equal(rl->cfg.bandwidth.one_time_burst, 5000);
	assert_accepted("PUT", "/drives/r",
	                "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	                " \"rate_limiter\": {}}");
	assert_true(rl->has && !rl->has_bandwidth && !rl->has_ops);
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"rate_limiter\": {\"ops\": {\"size\": 10}}}",
	               "missing required field 'refill_time' in drives/r's rate_limiter's ops");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 1}}}",
	               "field 'size'");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"rate_limiter\": {\"iops\": {}}}",
	               "unknown field 'iops'");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 1,"
	               " \"period\": 1}}}",
	               "unknown field 'period'");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"rate_limiter\": 5}",
	               "field 'rate_limiter' in drives/r must be an object");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"is_root_device\": true, \"socket\": \"/vu.sock\"}",
	               "vhost-user");
	assert_refused("PUT", "/drives/r",
	               "{\"drive_id\": \"r\", \"path_on_host\": \"d\", \"is_root_device\": true,"
	               " \"fd\": 4}",
	               "unknown field 'fd' in drives/r");
}

static void drive_patch(void **state)
{
	(void)state;
	const struct ctl_drive *d = &cmd.u.drive;
	assert_accepted("PATCH", "/drives/rootfs",
	                "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/srv/new.ext4\"}");
	assert_int_equal(cmd.op, CTL_PATCH_DRIVE);
	assert_string_equal(d->drive_id, "rootfs");
	assert_true(d->has_path_on_host);
	assert_string_equal(d->path_on_host, "/srv/new.ext4");
	assert_accepted("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\"}");
	assert_false(d->has_path_on_host);
	assert_refused("PATCH", "/drives/rootfs", "{\"path_on_host\": \"/x\"}",
	               "missing required field 'drive_id'");
	assert_refused("PATCH", "/drives/rootfs", "{\"drive_id\": \"data\"}", "must match");
	assert_refused("PATCH", "/drives/a/b", "{\"drive_id\": \"a/b\"}", "drive id 'a/b'");
	assert_accepted("PATCH", "/drives/rootfs",
	                "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"ops\": {\"size\": 1,"
	                " \"refill_time\": 1}}}");
	assert_true(d->rate_limiter.has_ops && !d->rate_limiter.has_bandwidth);
	assert_false(d->has_path_on_host);
	assert_refused("PATCH", "/drives/rootfs",
	               "{\"drive_id\": \"rootfs\", \"is_read_only\": true}",
	               "unknown field 'is_read_only'");
	assert_refused("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": 1}",
	               "must be a string");
	assert_refused(
	    "PATCH", "/drives/rootfs",
	    fmt("{\"drive_id\": \"rootfs\", \"path_on_host\": %s}", long_str('p', API_PATH_MAX)),
	    "too long");
}

/* ---- network interfaces ---- */

static void net_put(void **state)
{
	(void)state;
	const struct ctl_net *n = &cmd.u.net;
	assert_accepted("PUT", "/network-interfaces/eth0",
	                "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	                "\"06:00:AC:10:00:02\", \"mtu\": 1400, \"rx_rate_limiter\": null,"
	                " \"tx_rate_limiter\": null}");
	assert_int_equal(cmd.op, CTL_PUT_NET);
	assert_string_equal(n->iface_id, "eth0");
	assert_string_equal(n->host_dev_name, "tap0");
	assert_true(n->has_guest_mac);
	static const uint8_t mac[6] = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02};
	assert_memory_equal(n->guest_mac, mac, 6);
	assert_int_equal(n->mtu, 1400);

	assert_accepted("PUT", "/network-interfaces/1",
	                "{\"iface_id\": \"1\", \"host_dev_name\": \"123456789012345\"}");
	assert_false(n->has_guest_mac);
	assert_int_equal(n->mtu, 0);
	assert_accepted("PUT", "/network-interfaces/1",
	                "{\"iface_id\": \"1\", \"host_dev_name\": \"t\", \"mtu\": 68}");
	assert_int_equal(n->mtu, 68);
	assert_accepted("PUT", "/network-interfaces/1",
	                "{\"iface_id\": \"1\", \"host_dev_name\": \"t\", \"mtu\": 65535, "
	                "\"guest_mac\": null}");
	assert_int_equal(n->mtu, 65535);
	assert_false(n->has_guest_mac);

	assert_refused("PUT", "/network-interfaces/eth0", "{\"host_dev_name\": \"tap0\"}",
	               "missing required field 'iface_id' in network-interfaces/eth0");
	assert_refused("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}",
	               "missing required field 'host_dev_name'");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}", "must match");
	assert_refused("PUT", "/network-interfaces/eth.0",
	               "{\"iface_id\": \"eth.0\", \"host_dev_name\": \"tap0\"}",
	               "network interface id 'eth.0'");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"1234567890123456\"}",
	               "1 to 15 bytes");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"\"}", "1 to 15 bytes");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"a/b\"}", "without '/'");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": 0}", "must be a string");

	static const char *const bad_macs[] = {
	    "06:00:00:00:00",    "06:00:00:00:00:00:00",
	    "06-00-00-00-00-00", "g6:00:00:00:00:00",
	    "06:00:00:00:00:0",  "6:00:00:00:00:000",
	    " 6:00:00:00:00:00", "+6:00:00:00:00:00",
	    "06:00:00:00:00:0g", "",
	    "0600:00:00:00:00:",
	};
	for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++)
		assert_refused("PUT", "/network-interfaces/eth0",
		               fmt("{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
		                   "\"guest_mac\": \"%s\"}",
		                   bad_macs[i]),
		               "six hex bytes");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	               "\"01:00:5e:00:00:01\"}",
	               "multicast");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	               "\"ff:ff:ff:ff:ff:ff\"}",
	               "multicast");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": 6}",
	               "must be a string");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mtu\": 67}",
	               "must be 68 to 65535, not 67");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mtu\": 65536}",
	               "68 to 65535");
	assert_refused("PUT", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mtu\": \"1500\"}",
	               "integer");
	assert_accepted(
	    "PUT", "/network-interfaces/eth0",
	    "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"rx_rate_limiter\": "
	    "{\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}");
	assert_true(cmd.u.net.rx_rate_limiter.has_bandwidth);
	assert_false(cmd.u.net.tx_rate_limiter.has);
	assert_refused(
	    "PUT", "/network-interfaces/eth0",
	    "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"tx_rate_limiter\": []}",
	    "tx_rate_limiter");
	assert_refused(
	    "PUT", "/network-interfaces/eth0",
	    "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"allow_mmds_requests\":"
	    " true}",
	    "unknown field 'allow_mmds_requests'");
}

static void net_patch(void **state)
{
	(void)state;
	assert_accepted("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}");
	assert_int_equal(cmd.op, CTL_PATCH_NET);
	assert_string_equal(cmd.u.net.iface_id, "eth0");
	assert_accepted("PATCH", "/network-interfaces/eth0",
	                "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": null}");
	assert_refused("PATCH", "/network-interfaces/eth0", "{}",
	               "missing required field 'iface_id'");
	assert_refused("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth1\"}",
	               "must match");
	assert_accepted("PATCH", "/network-interfaces/eth0",
	                "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": {\"ops\": {\"size\": 5,"
	                " \"refill_time\": 10}}}");
	assert_int_equal(cmd.u.net.rx_rate_limiter.cfg.ops.size, 5);
	assert_false(cmd.u.net.tx_rate_limiter.has);
	assert_refused("PATCH", "/network-interfaces/eth0",
	               "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap1\"}",
	               "unknown field 'host_dev_name'");
}

/* ---- vsock, entropy, logger, metrics ---- */

static void mmds_bodies(void **state)
{
	(void)state;
	assert_accepted("PUT", "/mmds", "{\"latest\": {\"a\": [1, null]}}");
	assert_int_equal(cmd.op, CTL_PUT_MMDS);
	assert_non_null(cmd.u.mmds.data);
	assert_non_null(json_object_get(cmd.u.mmds.data, "latest"));
	api_cmd_release(&cmd);
	assert_null(cmd.u.mmds.data);
	assert_accepted("PATCH", "/mmds", "{\"a\": null}");
	assert_int_equal(cmd.op, CTL_PATCH_MMDS);
	api_cmd_release(&cmd);
	assert_refused("PUT", "/mmds", "[1]", "must be a JSON object");
	assert_refused("GET", "/mmds", "{}", "takes no body");

	assert_accepted("PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\", \"e1\"]}");
	assert_int_equal(cmd.op, CTL_PUT_MMDS_CONFIG);
	assert_true(cmd.u.mmds_config.enabled);
	assert_false(cmd.u.mmds_config.v2);
	assert_int_equal(cmd.u.mmds_config.nifaces, 2);
	assert_string_equal(cmd.u.mmds_config.ifaces[1], "e1");
	assert_int_equal(cmd.u.mmds_config.ipv4, 0xa9fea9fe);
	assert_accepted("PUT", "/mmds/config",
	                "{\"version\": \"V2\", \"network_interfaces\": [\"eth0\"], "
	                "\"ipv4_address\": \"169.254.170.2\", \"imds_compat\": true}");
	assert_true(cmd.u.mmds_config.v2);
	assert_true(cmd.u.mmds_config.imds_compat);
	assert_int_equal(cmd.u.mmds_config.ipv4, 0xa9feaa02);
	assert_refused("PUT", "/mmds/config", "{}", "missing required field 'network_interfaces'");
	assert_refused("PUT", "/mmds/config", "{\"network_interfaces\": []}", "is empty");
	assert_refused("PUT", "/mmds/config", "{\"network_interfaces\": [\"a/b\"]}",
	               "network_interfaces[0]");
	assert_refused("PUT", "/mmds/config",
	               "{\"network_interfaces\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}",
	               "at most 4");
	assert_refused("PUT", "/mmds/config",
	               "{\"network_interfaces\": [\"a\"], \"version\": \"V3\"}",
	               "\"V1\" or \"V2\"");
	assert_refused("PUT", "/mmds/config",
	               "{\"network_interfaces\": [\"a\"], \"ipv4_address\": \"10.0.0.1\"}",
	               "not link local");
	const char *const bad_ips[] = {"169.254.1",     "169.254.1.1.1", "169.254.01.1",
	                               "169.254.256.1", "169.254.1.1 ",  "",
	                               "a.b.c.d"};
	for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++)
		assert_refused(
		    "PUT", "/mmds/config",
		    fmt("{\"network_interfaces\": [\"a\"], \"ipv4_address\": \"%s\"}", bad_ips[i]),
		    "must be an IPv4 address");
	assert_refused("PUT", "/mmds/config", "{\"network_interfaces\": [\"a\"], \"x\": 1}",
	               "unknown field 'x'");
}

static void vsock(void **state)
{
	(void)state;
	assert_accepted("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/run/v.sock\"}");
	assert_int_equal(cmd.op, CTL_PUT_VSOCK);
	assert_int_equal(cmd.u.vsock.guest_cid, 3);
	assert_string_equal(cmd.u.vsock.uds_path, "/run/v.sock");
	assert_accepted(
	    "PUT", "/vsock",
	    "{\"guest_cid\": 4294967294, \"uds_path\": \"v\", \"vsock_id\": \"vsock0\"}");
	assert_int_equal(cmd.u.vsock.guest_cid, 4294967294u);
	assert_accepted(
	    "PUT", "/vsock",
	    fmt("{\"guest_cid\": 52, \"uds_path\": %s}", long_str('u', CONFIG_UDS_PATH_MAX)));
	assert_int_equal(strlen(cmd.u.vsock.uds_path), CONFIG_UDS_PATH_MAX);

	assert_refused("PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"v\"}",
	               "must be 3 to 4294967294, not 2");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": 4294967295, \"uds_path\": \"v\"}",
	               "3 to 4294967294");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": -3, \"uds_path\": \"v\"}", "3 to");
	assert_refused("PUT", "/vsock", "{\"uds_path\": \"v\"}",
	               "missing required field 'guest_cid'");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": 3}", "missing required field 'uds_path'");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"\"}", "empty");
	assert_refused(
	    "PUT", "/vsock",
	    fmt("{\"guest_cid\": 3, \"uds_path\": %s}", long_str('u', CONFIG_UDS_PATH_MAX + 1)),
	    "too long");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"v\", \"vsock_id\": 1}",
	               "vsock_id");
	assert_refused("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"v\", \"port\": 1}",
	               "unknown field 'port' in vsock");
	/* vsock_id is kept, with the ids' rule. */
	assert_accepted("PUT", "/vsock",
	                "{\"guest_cid\": 3, \"uds_path\": \"v\", \"vsock_id\": \"v_1\"}");
	assert_string_equal(cmd.u.vsock.vsock_id, "v_1");
	assert_accepted("PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"v\"}");
	assert_string_equal(cmd.u.vsock.vsock_id, "");
	assert_refused(
	    "PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"v\", \"vsock_id\": \"v-1\"}",
	    "field 'vsock_id' in vsock: vsock id 'v-1' must be 1 to 64 letters, digits or '_'");
}

static void serial(void **state)
{
	(void)state;
	assert_accepted("PUT", "/serial", "{\"serial_out_path\": \"/run/console\"}");
	assert_int_equal(cmd.op, CTL_PUT_SERIAL);
	assert_string_equal(cmd.u.serial.serial_out_path, "/run/console");
	assert_accepted("PUT", "/serial", "{}");
	assert_string_equal(cmd.u.serial.serial_out_path, "");
	assert_refused("PUT", "/serial", "{\"serial_out_path\": \"\"}", "empty");
	assert_refused("PUT", "/serial", "{\"serial_out_path\": 3}",
	               "field 'serial_out_path' in serial must be a string");
	assert_refused("PUT", "/serial", "{\"rate_limiter\": {\"size\": 100, \"refill_time\": 10}}",
	               "field 'rate_limiter' in serial");
	assert_refused("PUT", "/serial", "{\"out\": \"x\"}", "unknown field 'out' in serial");
}

/* The controller's side: what Firecracker refuses before InstanceStart, and the files a
 * request names, opened there: a refusal changes nothing. */
static void controller_rules(void **state)
{
	(void)state;
	static struct ctl v;
	static struct ctl_cmd c;
	char err[256];
	const struct ctl_settings set = {.id = "rules", .host_mem_mib = 1024, .no_seccomp = true};
	assert_int_equal(ctl_init(&v, &set, err, sizeof(err)), 0);
	static const enum ctl_op after[] = {CTL_PATCH_DRIVE, CTL_PATCH_NET,
	                                    CTL_ACTION_FLUSH_METRICS, CTL_ACTION_SEND_CTRL_ALT_DEL};
	for (unsigned i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		memset(&c, 0, sizeof(c));
		c.op = after[i];
		api_execute(&v, &c, &reply);
		if (after[i] != CTL_ACTION_SEND_CTRL_ALT_DEL)
			assert_err_mentions(fault_message(), "not supported before starting");
		else
			assert_int_equal(reply.status, 400);
	}
	/* A kernel, an initrd, a drive that cannot be opened; a tap that does not exist. */
	memset(&c, 0, sizeof(c));
	c.op = CTL_PUT_BOOT_SOURCE;
	strcpy(c.u.boot.kernel_image_path, "/nonexistent/vmlinux");
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "cannot open kernel '/nonexistent/vmlinux'");
	strcpy(c.u.boot.kernel_image_path, "/proc/self/exe");
	c.u.boot.has_initrd_path = true;
	strcpy(c.u.boot.initrd_path, "/tmp");
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "initrd '/tmp' is not a regular file");
	assert_false(v.have_boot_source);
	assert_string_equal(v.cfg.kernel_path, "");
	c.u.boot.has_initrd_path = false;
	api_execute(&v, &c, &reply);
	assert_int_equal(reply.status, 204);
	assert_string_equal(v.cfg.kernel_path, "/proc/self/exe");

	memset(&c, 0, sizeof(c));
	c.op = CTL_PUT_DRIVE;
	strcpy(c.u.drive.drive_id, "d");
	strcpy(c.u.drive.path_on_host, "/nonexistent/disk");
	c.u.drive.has_path_on_host = true;
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "cannot open drive '/nonexistent/disk' read-write");
	strcpy(c.u.drive.path_on_host, "/tmp");
	c.u.drive.is_read_only = true;
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "'/tmp' is neither a regular file nor a block device");
	assert_int_equal(v.cfg.ndrives, 0);

	memset(&c, 0, sizeof(c));
	c.op = CTL_PUT_NET;
	strcpy(c.u.net.iface_id, "eth0");
	strcpy(c.u.net.host_dev_name, "nosuchtap7");
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "cannot attach to tap 'nosuchtap7'");
	assert_int_equal(v.cfg.nnets, 0);

	memset(&c, 0, sizeof(c));
	c.op = CTL_PUT_SERIAL;
	strcpy(c.u.serial.serial_out_path, "/nonexistent/console");
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "cannot open serial_out_path '/nonexistent/console'");
	assert_string_equal(v.cfg.serial_out_path, "");

	/* The balloon's target and the guest's memory, each checked against the other at
	 * the request that sets it (Firecracker's rule), not first at InstanceStart. */
	memset(&c, 0, sizeof(c));
	c.op = CTL_PUT_BALLOON;
	c.u.balloon.amount_mib = (uint32_t)v.cfg.mem_mib + 1;
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "field 'amount_mib' in balloon: 129 MiB is more");
	assert_false(v.cfg.balloon.enabled);
	c.u.balloon.amount_mib = 100;
	api_execute(&v, &c, &reply);
	assert_int_equal(reply.status, 204);
	assert_true(v.cfg.balloon.enabled);
	memset(&c, 0, sizeof(c));
	c.op = CTL_PATCH_MACHINE_CONFIG;
	c.u.machine.has_mem_size_mib = true;
	c.u.machine.mem_size_mib = 64;
	api_execute(&v, &c, &reply);
	assert_err_mentions(fault_message(), "smaller than the previously set balloon");
	assert_int_equal(v.cfg.mem_mib, 128);
	c.u.machine.mem_size_mib = 100;
	api_execute(&v, &c, &reply);
	assert_int_equal(reply.status, 204);
	assert_int_equal(v.cfg.mem_mib, 100);
	ctl_destroy(&v);
}

static void entropy(void **state)
{
	(void)state;
	assert_accepted("PUT", "/entropy", "{}");
	assert_int_equal(cmd.op, CTL_PUT_ENTROPY);
	assert_accepted("PUT", "/entropy", "{\"rate_limiter\": null}");
	assert_accepted("PUT", "/entropy",
	                "{\"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}");
	assert_int_equal(cmd.u.entropy.rate_limiter.cfg.bandwidth.size, 1);
	assert_refused("PUT", "/entropy", "{\"rate_limiter\": 5}", "rate_limiter");
	assert_refused("PUT", "/entropy", "{\"source\": \"/dev/urandom\"}",
	               "unknown field 'source' in entropy");
}

/* PATCH replaces the buckets it names and keeps the others; PUT sets both. */
static void rate_limiter_patch_and_put(void **state)
{
	(void)state;
	struct rate_limiter_config cur = {.bandwidth = {1000, 0, 100}, .ops = {10, 5, 1000}};
	struct ctl_rate_limiter none = {0};
	ctl_rate_limiter_apply(&cur, &none, false);
	assert_int_equal(cur.bandwidth.size, 1000);
	assert_int_equal(cur.ops.size, 10);
	struct ctl_rate_limiter lift_bw = {.has = true, .has_bandwidth = true};
	ctl_rate_limiter_apply(&cur, &lift_bw, false);
	assert_false(tb_config_on(&cur.bandwidth));
	assert_int_equal(cur.ops.size, 10);
	assert_int_equal(cur.ops.one_time_burst, 5);
	struct ctl_rate_limiter ops_only = {.has = true, .has_ops = true, .cfg.ops = {7, 0, 50}};
	cur.bandwidth = (struct token_bucket_config){1, 0, 1};
	ctl_rate_limiter_apply(&cur, &ops_only, true);
	assert_false(tb_config_on(&cur.bandwidth));
	assert_int_equal(cur.ops.size, 7);
	ctl_rate_limiter_apply(&cur, &none, true);
	assert_false(rl_config_on(&cur));
}

static void balloon(void **state)
{
	(void)state;
	const struct ctl_balloon *b = &cmd.u.balloon;
	assert_accepted("PUT", "/balloon",
	                "{\"amount_mib\": 64, \"deflate_on_oom\": true, "
	                "\"stats_polling_interval_s\": 2, \"free_page_reporting\": false}");
	assert_int_equal(cmd.op, CTL_PUT_BALLOON);
	assert_int_equal(b->amount_mib, 64);
	assert_true(b->deflate_on_oom && b->has_interval);
	assert_int_equal(b->stats_polling_interval_s, 2);
	assert_refused("PUT", "/balloon", "{\"amount_mib\": 64}", "deflate_on_oom");
	assert_refused("PUT", "/balloon", "{\"amount_mib\": -1, \"deflate_on_oom\": true}",
	               "amount_mib");
	assert_refused("PUT", "/balloon", "{\"amount_mib\": 16777216, \"deflate_on_oom\": true}",
	               "16777215");
	assert_false(b->free_page_reporting);
	assert_accepted(
	    "PUT", "/balloon",
	    "{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_reporting\": true}");
	assert_true(b->free_page_reporting);
	assert_refused("PUT", "/balloon",
	               "{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_hinting\": true}",
	               "not supported");
	assert_accepted("PATCH", "/balloon", "{\"amount_mib\": 0}");
	assert_int_equal(cmd.op, CTL_PATCH_BALLOON);
	assert_refused("PATCH", "/balloon", "{\"deflate_on_oom\": true}", "unknown field");
	assert_accepted("PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 9}");
	assert_int_equal(cmd.op, CTL_PATCH_BALLOON_STATS);
	assert_int_equal(b->stats_polling_interval_s, 9);
	assert_refused("PATCH", "/balloon/statistics", "{}", "stats_polling_interval_s");
}

static void logger(void **state)
{
	(void)state;
	const struct ctl_logger *l = &cmd.u.logger;
	assert_accepted("PUT", "/logger",
	                "{\"log_path\": \"/run/log.fifo\", \"level\": \"Warning\", \"show_level\": "
	                "true, \"show_log_origin\": true, \"module\": \"\"}");
	assert_int_equal(cmd.op, CTL_PUT_LOGGER);
	assert_true(l->has_log_path);
	assert_string_equal(l->log_path, "/run/log.fifo");
	assert_true(l->has_level);
	assert_int_equal(l->level, CTL_LOG_WARNING);
	assert_true(l->show_level);
	assert_true(l->show_log_origin);
	assert_true(l->has_module);
	assert_string_equal(l->module, "");

	assert_accepted("PUT", "/logger", "{}");
	assert_false(l->has_log_path || l->has_level || l->show_level || l->show_log_origin ||
	             l->has_show_level || l->has_show_log_origin || l->has_module);
	assert_accepted("PUT", "/logger", "{\"module\": \"virtio/blk\", \"show_level\": false}");
	assert_true(l->has_module && l->has_show_level && !l->show_level);
	assert_string_equal(l->module, "virtio/blk");
	assert_accepted("PUT", "/logger", "{\"module\": \"api_server\"}");
	assert_refused("PUT", "/logger", "{\"module\": \"virtio/\"}", "module");

	static const struct {
		const char *name;
		enum ctl_log_level level;
	} levels[] = {{"Error", CTL_LOG_ERROR}, {"warning", CTL_LOG_WARNING},
	              {"INFO", CTL_LOG_INFO},   {"debug", CTL_LOG_DEBUG},
	              {"TrAcE", CTL_LOG_TRACE}, {"off", CTL_LOG_OFF}};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		assert_accepted("PUT", "/logger", fmt("{\"level\": \"%s\"}", levels[i].name));
		assert_int_equal(l->level, levels[i].level);
	}
	assert_refused("PUT", "/logger", "{\"level\": \"Verbose\"}", "\"Off\", \"Error\"");
	assert_refused("PUT", "/logger", "{\"level\": \"Warn\"}", "level");
	assert_refused("PUT", "/logger", "{\"level\": 3}", "must be a string");
	assert_refused("PUT", "/logger", "{\"show_level\": \"true\"}", "boolean");
	assert_refused("PUT", "/logger", "{\"module\": \"api_server::request\"}", "module");
	assert_refused("PUT", "/logger", "{\"log_path\": \"\"}", "empty");
	assert_refused("PUT", "/logger", "{\"log_path\": \"/l\", \"file\": \"x\"}",
	               "unknown field 'file' in logger");
}

static void metrics(void **state)
{
	(void)state;
	assert_accepted("PUT", "/metrics", "{\"metrics_path\": \"/run/metrics.fifo\"}");
	assert_int_equal(cmd.op, CTL_PUT_METRICS);
	assert_string_equal(cmd.u.metrics.metrics_path, "/run/metrics.fifo");
	assert_accepted("PUT", "/metrics",
	                "{\"metrics_path\": \"m\", \"emit_id\": false, \"properties\": {}}");
	assert_refused("PUT", "/metrics", "{}", "missing required field 'metrics_path' in metrics");
	assert_refused("PUT", "/metrics", "{\"metrics_path\": \"m\", \"emit_id\": true}",
	               "emit_id");
	assert_refused("PUT", "/metrics",
	               "{\"metrics_path\": \"m\", \"properties\": {\"a\": \"b\"}}", "properties");
	assert_refused("PUT", "/metrics", "{\"metrics_path\": \"m\", \"properties\": []}",
	               "must be an object");
	assert_refused("PUT", "/metrics",
	               fmt("{\"metrics_path\": %s}", long_str('m', API_PATH_MAX)), "too long");
	assert_refused("PUT", "/metrics", "{\"metrics_path\": \"m\", \"format\": 1}",
	               "unknown field 'format'");
}

/* ---- actions, vm ---- */

static void actions(void **state)
{
	(void)state;
	assert_accepted("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
	assert_int_equal(cmd.op, CTL_ACTION_INSTANCE_START);
	assert_accepted("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}");
	assert_int_equal(cmd.op, CTL_ACTION_SEND_CTRL_ALT_DEL);
	assert_accepted("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}");
	assert_int_equal(cmd.op, CTL_ACTION_FLUSH_METRICS);
	assert_refused("PUT", "/actions", "{\"action_type\": \"instancestart\"}", "InstanceStart");
	assert_refused("PUT", "/actions", "{\"action_type\": \"Reboot\"}",
	               "\"FlushMetrics\", \"InstanceStart\" or \"SendCtrlAltDel\"");
	assert_refused("PUT", "/actions", "{}", "missing required field 'action_type'");
	assert_refused("PUT", "/actions", "{\"action_type\": null}", "missing required");
	assert_refused("PUT", "/actions", "{\"action_type\": [\"InstanceStart\"]}", "array");
	assert_refused("PUT", "/actions", "{\"action_type\": \"InstanceStart\", \"payload\": 1}",
	               "unknown field 'payload' in actions");
}

static void vm_state(void **state)
{
	(void)state;
	assert_accepted("PATCH", "/vm", "{\"state\": \"Paused\"}");
	assert_int_equal(cmd.op, CTL_PATCH_VM);
	assert_true(cmd.u.vm.paused);
	assert_accepted("PATCH", "/vm", "{\"state\": \"Resumed\"}");
	assert_false(cmd.u.vm.paused);
	assert_refused("PATCH", "/vm", "{\"state\": \"Running\"}", "\"Paused\" or \"Resumed\"");
	assert_refused("PATCH", "/vm", "{\"state\": \"paused\"}", "state");
	assert_refused("PATCH", "/vm", "{}", "missing required field 'state' in vm");
	assert_refused("PATCH", "/vm", "{\"state\": \"Paused\", \"force\": true}",
	               "unknown field 'force'");
}

static void snapshot_create(void **state)
{
	(void)state;
	assert_accepted("PUT", "/snapshot/create",
	                "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}");
	assert_int_equal(cmd.op, CTL_PUT_SNAPSHOT_CREATE);
	assert_string_equal(cmd.u.snap.snapshot_path, "/s");
	assert_string_equal(cmd.u.snap.mem_file_path, "/m");
	assert_false(cmd.u.snap.diff);
	assert_accepted("PUT", "/snapshot/create",
	                "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"/s\", "
	                "\"mem_file_path\": \"/m\", \"version\": \"1.0.0\"}");
	assert_true(cmd.u.snap.diff);
	assert_refused("PUT", "/snapshot/create", "{\"snapshot_path\": \"/s\"}",
	               "missing required field 'mem_file_path' in snapshot/create");
	assert_refused("PUT", "/snapshot/create",
	               "{\"snapshot_path\": \"\", \"mem_file_path\": \"/m\"}", "must not be empty");
	assert_refused("PUT", "/snapshot/create",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/s\"}", "the same file");
	assert_refused("PUT", "/snapshot/create",
	               "{\"snapshot_type\": \"Half\", \"snapshot_path\": \"/s\", "
	               "\"mem_file_path\": \"/m\"}",
	               "\"Full\" or \"Diff\"");
	assert_refused("PUT", "/snapshot/create",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"x\": 1}",
	               "unknown field 'x'");
	assert_refused("PUT", "/snapshot/create",
	               fmt("{\"snapshot_path\": %s, \"mem_file_path\": \"/m\"}",
	                   long_str('a', CONFIG_PATH_MAX)),
	               "too long");
}

static void snapshot_load(void **state)
{
	(void)state;
	assert_accepted(
	    "PUT", "/snapshot/load",
	    "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\", "
	    "\"backend_path\": \"/m\"}, \"track_dirty_pages\": true, \"resume_vm\": true, "
	    "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap7\"}, "
	    "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap8\"}], "
	    "\"vsock_override\": {\"uds_path\": \"/v.sock\"}, \"clock_realtime\": true, "
	    "\"huge_pages\": \"Snapshot\"}");
	const struct ctl_snapshot_load *l = &cmd.u.load;
	assert_int_equal(cmd.op, CTL_PUT_SNAPSHOT_LOAD);
	assert_string_equal(l->snapshot_path, "/s");
	assert_string_equal(l->mem_file_path, "/m");
	assert_true(l->track_dirty_pages && l->resume_vm && l->clock_realtime);
	assert_int_equal(l->nnets, 2);
	assert_string_equal(l->nets[1].iface_id, "eth1");
	assert_string_equal(l->nets[1].host_dev_name, "tap8");
	assert_true(l->has_vsock_uds);
	assert_string_equal(l->vsock_uds, "/v.sock");
	assert_int_equal(l->huge_pages, 0); /* the snapshot's */
	assert_accepted("PUT", "/snapshot/load",
	                "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	                "\"huge_pages\": \"Transparent\"}");
	assert_int_equal(l->huge_pages, 1 + HUGE_PAGES_TRANSPARENT);
	assert_accepted("PUT", "/snapshot/load",
	                "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	                "\"huge_pages\": \"None\"}");
	assert_int_equal(l->huge_pages, 1 + HUGE_PAGES_NONE);
	/* The deprecated forms: mem_file_path, enable_diff_snapshots. */
	assert_accepted("PUT", "/snapshot/load",
	                "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	                "\"enable_diff_snapshots\": true}");
	assert_true(l->track_dirty_pages);
	assert_false(l->resume_vm || l->has_vsock_uds || l->nnets);
	assert_refused("PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\"}",
	               "exactly one of mem_backend and mem_file_path");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"mem_backend\": "
	               "{\"backend_type\": \"File\", \"backend_path\": \"/m\"}}",
	               "exactly one");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", "
	               "\"backend_path\": \"/u.sock\"}}",
	               "\"Uffd\" (a page-fault handler process) is not supported");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"File\"}}",
	               "missing required field 'backend_path' in snapshot/load's mem_backend");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_backend\": \"File\"}",
	               "field 'mem_backend' in snapshot/load must be an object");
	assert_refused(
	    "PUT", "/snapshot/load",
	    "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	    "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"a\"}, "
	    "{\"iface_id\": \"eth0\", \"host_dev_name\": \"b\"}]}",
	    "overridden twice");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	               "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": "
	               "\"a/b\"}]}",
	               "without '/'");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	               "\"network_overrides\": [\"eth0\"]}",
	               "network_overrides[0] in snapshot/load must be an object");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	               "\"network_overrides\": [{\"iface_id\": \"eth0\"}]}",
	               "missing required field 'host_dev_name' in network_overrides[0]");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	               "\"vsock_override\": {}}",
	               "missing required field 'uds_path'");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
	               "\"huge_pages\": \"2M\"}",
	               "hugetlbfs");
	assert_refused("PUT", "/snapshot/load",
	               "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"resume_vm\": 1}",
	               "must be a boolean");
}

/* A failed parse leaves no half-filled command behind. */
/* A refusal leaves nothing of the request but the op its route names, which the metrics
 * count the failure against (CTL_OP_COUNT: no route). */
static void failure_clears_command(void **state)
{
	(void)state;
	static struct ctl_cmd zero;
	zero.op = CTL_PUT_BOOT_SOURCE;
	assert_int_equal(req("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"x\": 1}"),
	                 -EINVAL);
	assert_memory_equal(&cmd, &zero, sizeof(cmd));
	zero.op = CTL_OP_COUNT;
	assert_int_equal(req("PUT", "/nope", "{}"), -EINVAL);
	assert_memory_equal(&cmd, &zero, sizeof(cmd));
}

/* ---- replies ---- */

static void replies(void **state)
{
	(void)state;
	memset(&reply, 'x', sizeof(reply));
	ctl_reply_no_content(&reply);
	assert_int_equal(reply.status, 204);
	assert_int_equal(reply.len, 0);

	/* Quotes, backslashes, control bytes and bytes that are not UTF-8 still make valid JSON. */
	ctl_reply_fault(&reply, "bad \"%s\" \\ \t\x01 \xff\xfe end", "q");
	const char *m = fault_message();
	assert_string_equal(m, "bad \"q\" \\ \t\x01 \xef\xbf\xbd\xef\xbf\xbd end");
	/* The path is quoted back even when it is hostile. */
	assert_int_equal(req("PUT", "/\"\n\xc3", "{}"), -EINVAL);
	assert_string_equal(fault_message(),
	                    "Invalid request method and/or path: PUT /\"\n\xef\xbf\xbd");
	/* A long message is cut, and the body stays valid. */
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ctl_reply_fault(&reply, "%s", big);
	assert_true(strlen(fault_message()) < 1024);
	/* A cut through a UTF-8 sequence does not break the JSON. */
	for (size_t i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	ctl_reply_fault(&reply, "%s", big); /* 1023 bytes: half an é at the end */
	m = fault_message();
	assert_string_equal(m + strlen(m) - 5, "\xc3\xa9\xef\xbf\xbd");
}

/* ---- golden files ---- */

/* tests/unit/golden, found from this file's path (the Makefile builds from the top of the
 * tree and runs there), or EMBER_GOLDEN_DIR. */
static const char *golden_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("EMBER_GOLDEN_DIR");
	if (dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	} else {
		const char *file = __FILE__;
		const char *slash = strrchr(file, '/');
		int n = slash ? (int)(slash - file) : 1;
		snprintf(path, sizeof(path), "%.*s/golden/%s", n, slash ? file : ".", name);
	}
	return path;
}

static char *read_golden(const char *name, size_t *len)
{
	const char *path = golden_path(name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		print_error("cannot open %s: %s\n", path, strerror(errno));
	assert_true(fd >= 0);
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
		assert_true(n < cap);
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The body equals the golden file byte for byte. EMBER_UPDATE_GOLDEN=1 rewrites the file
 * instead (then review the diff). */
static void check_golden(const char *name, const char *body, size_t len)
{
	if (getenv("EMBER_UPDATE_GOLDEN")) {
		const char *path = golden_path(name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, body, len), (ssize_t)len);
		close(fd);
		return;
	}
	size_t glen;
	char *golden = read_golden(name, &glen);
	if (glen != len || memcmp(golden, body, len))
		print_error("%s differs from the rendering:\n%.*s\n", golden_path(name), (int)len,
		            body);
	assert_int_equal(glen, len);
	assert_memory_equal(golden, body, len);
	free(golden);
}

static void full_config(struct vm_config *c)
{
	config_defaults(c);
	strcpy(c->kernel_path, "/srv/vm/vmlinux");
	strcpy(c->initrd_path, "/srv/vm/initrd.cpio");
	strcpy(c->append, "quiet");
	c->vcpus = 2;
	c->mem_mib = 512;
	c->drives[0] = (struct drive_config){.id = "rootfs",
	                                     .path = "/srv/vm/rootfs.ext4",
	                                     .is_root = true,
	                                     .engine = DRIVE_ENGINE_AUTO};
	c->drives[1] = (struct drive_config){
	    .id = "data",
	    .path = "/srv/vm/data.img",
	    .read_only = true,
	    .engine = DRIVE_ENGINE_SYNC,
	    .cache = DRIVE_CACHE_UNSAFE,
	    .rate_limiter = {.bandwidth = {10485760, 0, 1000}, .ops = {100, 50, 1000}}};
	c->ndrives = 2;
	c->nets[0] = (struct net_config){.id = "eth0",
	                                 .tap = "tap0",
	                                 .mac = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02},
	                                 .has_mac = true,
	                                 .mtu = 1400,
	                                 .tx_rate_limiter = {.bandwidth = {1000000, 0, 100}}};
	c->nnets = 1;
	c->vsock = (struct vsock_config){
	    .enabled = true, .id = "vsock0", .guest_cid = 3, .uds_path = "/run/ember/vsock.sock"};
	c->entropy = true;
	c->entropy_rate_limiter = (struct rate_limiter_config){.bandwidth = {4096, 0, 1000}};
	c->balloon = (struct balloon_config){.enabled = true,
	                                     .amount_mib = 64,
	                                     .deflate_on_oom = true,
	                                     .stats_polling_interval_s = 5};
}

static void render_empty(void **state)
{
	(void)state;
	struct vm_config c;
	config_defaults(&c);
	memset(&reply, 'x', sizeof(reply));
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 200);
	assert_int_equal(reply.len, strlen(reply.body));
	check_golden("vm_config_empty.json", reply.body, reply.len);
}

static void render_full(void **state)
{
	(void)state;
	struct vm_config c;
	full_config(&c);
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 200);
	assert_int_equal(reply.len, strlen(reply.body));
	check_golden("vm_config_full.json", reply.body, reply.len);
}

/* Host strings need not be UTF-8; the body is JSON all the same. */
static void render_odd_strings(void **state)
{
	(void)state;
	struct vm_config c;
	full_config(&c);
	strcpy(c.kernel_path, "/srv/\xff\"k\n");
	strcpy(c.drives[0].path, "/srv/\xc3");
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 200);
	json_error_t jerr;
	json_t *o = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(o);
	json_t *k = json_object_get(json_object_get(o, "boot-source"), "kernel_image_path");
	assert_string_equal(json_string_value(k), "/srv/\xef\xbf\xbd\"k\n");
	json_decref(o);
}

/* The largest configuration Ember takes still fits a reply. */
static void render_largest(void **state)
{
	(void)state;
	static struct vm_config c;
	full_config(&c);
	/* Every string at its longest: the struct's own sizes. */
	char *paths[CONFIG_MAX_DRIVES + 2];
	for (unsigned i = 0; i < CONFIG_MAX_DRIVES; i++)
		paths[i] = c.drives[i].path;
	paths[CONFIG_MAX_DRIVES] = c.kernel_path;
	paths[CONFIG_MAX_DRIVES + 1] = c.initrd_path;
	for (unsigned i = 0; i < CONFIG_MAX_DRIVES + 2; i++) {
		memset(paths[i], 'p', CONFIG_PATH_MAX - 1);
		paths[i][CONFIG_PATH_MAX - 1] = '\0';
	}
	for (unsigned i = 0; i < CONFIG_MAX_DRIVES + CONFIG_MAX_NETS; i++) {
		char *id =
		    i < CONFIG_MAX_DRIVES ? c.drives[i].id : c.nets[i - CONFIG_MAX_DRIVES].id;
		memset(id, 'a' + (char)i, CONFIG_ID_MAX);
		id[CONFIG_ID_MAX] = '\0';
	}
	memset(c.cmdline, 'c', CONFIG_CMDLINE_MAX);
	c.cmdline[CONFIG_CMDLINE_MAX] = '\0';
	c.append[0] = '\0';
	c.ndrives = CONFIG_MAX_DRIVES;
	for (unsigned i = 0; i < CONFIG_MAX_NETS; i++)
		strcpy(c.nets[i].tap, "tap012345678901");
	c.nnets = CONFIG_MAX_NETS;
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 200);

	/* Paths of control bytes escape six-fold: too big, said with a 500, not cut. */
	for (unsigned i = 0; i < CONFIG_MAX_DRIVES + 2; i++)
		memset(paths[i], '\x01', CONFIG_PATH_MAX - 1);
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 500);
	json_t *o = json_loadb(reply.body, reply.len, 0, NULL);
	assert_non_null(o);
	assert_true(
	    unit_mentions(json_string_value(json_object_get(o, "fault_message")), "larger"));
	json_decref(o);
}

/* ---- config files ---- */

#define MAX_SEEN 24
static struct {
	unsigned n;
	unsigned stop_at; /* return 7 from this call (1-based); 0: never */
	struct ctl_cmd cmds[MAX_SEEN];
} seen;

static int record(const struct ctl_cmd *c, void *ctx)
{
	assert_ptr_equal(ctx, &seen);
	assert_true(seen.n < MAX_SEEN);
	seen.cmds[seen.n++] = *c;
	return seen.n == seen.stop_at ? 7 : 0;
}

static int parse_config(const char *text, char *err, size_t errlen)
{
	memset(&seen, 0, sizeof(seen));
	err[0] = '\0';
	return api_parse_config_file(text, strlen(text), record, &seen, err, errlen);
}

static void config_file_good(void **state)
{
	(void)state;
	char err[CTL_REPLY_MAX];
	size_t len;
	char *text = read_golden("config_file_full.json", &len);
	int rc = parse_config(text, err, sizeof(err));
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);

	static const enum ctl_op order[] = {
	    CTL_PUT_LOGGER,      CTL_PUT_METRICS, CTL_PUT_MACHINE_CONFIG,
	    CTL_PUT_BOOT_SOURCE, CTL_PUT_DRIVE,   CTL_PUT_DRIVE,
	    CTL_PUT_NET,         CTL_PUT_VSOCK,   CTL_PUT_ENTROPY};
	assert_int_equal(seen.n, sizeof(order) / sizeof(order[0]));
	for (unsigned i = 0; i < seen.n; i++)
		assert_int_equal(seen.cmds[i].op, order[i]);

	const struct ctl_logger *l = &seen.cmds[0].u.logger;
	assert_string_equal(l->log_path, "/run/ember/log.fifo");
	assert_int_equal(l->level, CTL_LOG_DEBUG);
	assert_string_equal(seen.cmds[1].u.metrics.metrics_path, "/run/ember/metrics.fifo");
	const struct ctl_machine_config *m = &seen.cmds[2].u.machine;
	assert_int_equal(m->vcpu_count, 2);
	assert_int_equal(m->mem_size_mib, 1024);
	assert_int_equal(m->huge_pages, HUGE_PAGES_TRANSPARENT);
	const struct ctl_boot_source *b = &seen.cmds[3].u.boot;
	assert_string_equal(b->kernel_image_path, "/srv/vm/vmlinux");
	assert_string_equal(b->initrd_path, "/srv/vm/initrd.cpio");
	assert_string_equal(b->boot_args, "console=ttyS0 reboot=k panic=1");
	/* Drives in the file's order, not sorted. */
	assert_string_equal(seen.cmds[4].u.drive.drive_id, "scratch");
	assert_false(seen.cmds[4].u.drive.is_root_device);
	assert_int_equal(seen.cmds[4].u.drive.io_engine, DRIVE_ENGINE_IO_URING);
	assert_string_equal(seen.cmds[5].u.drive.drive_id, "rootfs");
	assert_true(seen.cmds[5].u.drive.is_root_device);
	assert_true(seen.cmds[5].u.drive.is_read_only);
	assert_string_equal(seen.cmds[6].u.net.iface_id, "eth0");
	assert_string_equal(seen.cmds[6].u.net.host_dev_name, "tap0");
	assert_true(seen.cmds[6].u.net.has_guest_mac);
	assert_int_equal(seen.cmds[7].u.vsock.guest_cid, 42);
	assert_string_equal(seen.cmds[7].u.vsock.uds_path, "/run/ember/vsock.sock");

	/* The first callback that says no stops the walk, and its value comes back. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 3;
	assert_int_equal(api_parse_config_file(text, len, record, &seen, err, sizeof(err)), 7);
	assert_int_equal(seen.n, 3);
	free(text);

	/* The least a file can hold. */
	assert_int_equal(parse_config("{\"boot-source\": {\"kernel_image_path\": \"k\"}, "
	                              "\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": "
	                              "128}}",
	                              err, sizeof(err)),
	                 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.cmds[0].op, CTL_PUT_MACHINE_CONFIG);
	assert_int_equal(seen.cmds[1].op, CTL_PUT_BOOT_SOURCE);
}

/* GET /vm/config's output is a config file that gives the same VM back. */
static void config_file_round_trip(void **state)
{
	(void)state;
	char err[512], cmdline[CONFIG_CMDLINE_MAX + 1];
	struct vm_config c;
	full_config(&c);
	ctl_render_vm_config(&c, &reply);
	assert_int_equal(reply.status, 200);
	int rc = parse_config(reply.body, err, sizeof(err));
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(seen.n, 8);

	const struct ctl_machine_config *m = &seen.cmds[0].u.machine;
	assert_int_equal(seen.cmds[0].op, CTL_PUT_MACHINE_CONFIG);
	assert_int_equal(m->vcpu_count, c.vcpus);
	assert_int_equal(m->mem_size_mib, c.mem_mib);
	assert_false(m->smt || m->track_dirty_pages);
	assert_true(m->has_huge_pages);
	assert_int_equal(m->huge_pages, c.huge_pages);

	const struct ctl_boot_source *b = &seen.cmds[1].u.boot;
	assert_int_equal(seen.cmds[1].op, CTL_PUT_BOOT_SOURCE);
	assert_string_equal(b->kernel_image_path, c.kernel_path);
	assert_string_equal(b->initrd_path, c.initrd_path);
	assert_true(config_full_cmdline(&c, cmdline, sizeof(cmdline)) > 0);
	assert_string_equal(b->boot_args, cmdline);

	for (unsigned i = 0; i < c.ndrives; i++) {
		const struct ctl_drive *d = &seen.cmds[2 + i].u.drive;
		assert_int_equal(seen.cmds[2 + i].op, CTL_PUT_DRIVE);
		assert_string_equal(d->drive_id, c.drives[i].id);
		assert_string_equal(d->path_on_host, c.drives[i].path);
		assert_int_equal(d->is_root_device, c.drives[i].is_root);
		assert_int_equal(d->is_read_only, c.drives[i].read_only);
		assert_int_equal(d->io_engine, c.drives[i].engine == DRIVE_ENGINE_SYNC
		                                   ? DRIVE_ENGINE_SYNC
		                                   : DRIVE_ENGINE_IO_URING);
		assert_true(d->has_cache_type);
		assert_int_equal(d->cache_type, c.drives[i].cache);
	}
	const struct ctl_net *n = &seen.cmds[4].u.net;
	assert_int_equal(seen.cmds[4].op, CTL_PUT_NET);
	assert_string_equal(n->iface_id, c.nets[0].id);
	assert_string_equal(n->host_dev_name, c.nets[0].tap);
	assert_true(n->has_guest_mac);
	assert_memory_equal(n->guest_mac, c.nets[0].mac, 6);
	assert_int_equal(n->mtu, c.nets[0].mtu);
	assert_int_equal(seen.cmds[5].op, CTL_PUT_VSOCK);
	assert_int_equal(seen.cmds[5].u.vsock.guest_cid, c.vsock.guest_cid);
	assert_string_equal(seen.cmds[5].u.vsock.uds_path, c.vsock.uds_path);
	assert_string_equal(seen.cmds[5].u.vsock.vsock_id, c.vsock.id);
	assert_int_equal(seen.cmds[6].op, CTL_PUT_ENTROPY);
	assert_memory_equal(&seen.cmds[6].u.entropy.rate_limiter.cfg, &c.entropy_rate_limiter,
	                    sizeof(c.entropy_rate_limiter));
	assert_memory_equal(&seen.cmds[3].u.drive.rate_limiter.cfg, &c.drives[1].rate_limiter,
	                    sizeof(c.drives[1].rate_limiter));
	assert_memory_equal(&n->tx_rate_limiter.cfg, &c.nets[0].tx_rate_limiter,
	                    sizeof(c.nets[0].tx_rate_limiter));
	const struct ctl_balloon *bl = &seen.cmds[7].u.balloon;
	assert_int_equal(seen.cmds[7].op, CTL_PUT_BALLOON);
	assert_int_equal(bl->amount_mib, 64);
	assert_true(bl->deflate_on_oom);
	assert_int_equal(bl->stats_polling_interval_s, 5);

	/* The same from the golden file itself. */
	size_t len;
	char *text = read_golden("vm_config_full.json", &len);
	assert_int_equal(parse_config(text, err, sizeof(err)), 0);
	assert_int_equal(seen.n, 8);
	free(text);
}

/* One section of the good file replaced by value (a JSON text; NULL removes it). */
static const char *with_section(const char *key, const char *value)
{
	static char out[65536];
	size_t len;
	char *text = read_golden("config_file_full.json", &len);
	json_t *root = json_loadb(text, len, 0, NULL);
	free(text);
	assert_non_null(root);
	if (value) {
		json_error_t jerr;
		json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
		if (!v)
			print_error("test JSON %s: %s\n", value, jerr.text);
		assert_non_null(v);
		assert_int_equal(json_object_set_new(root, key, v), 0);
	} else {
		assert_int_equal(json_object_del(root, key), 0);
	}
	size_t n = json_dumpb(root, out, sizeof(out) - 1, JSON_INDENT(1));
	assert_true(n > 0 && n < sizeof(out));
	out[n] = '\0';
	json_decref(root);
	return out;
}

#define assert_config_refused(text, needle)                                                        \
	do {                                                                                       \
		char err_[512];                                                                    \
		int rc_ = parse_config(text, err_, sizeof(err_));                                  \
		if (rc_ != -EINVAL)                                                                \
			print_error("config accepted: %s\n", text);                                \
		assert_int_equal(rc_, -EINVAL);                                                    \
		assert_err_mentions(err_, needle);                                                 \
		/* A file that is wrong anywhere configures nothing. */                            \
		assert_int_equal(seen.n, 0);                                                       \
	} while (0)

static void config_file_bad(void **state)
{
	(void)state;
	assert_config_refused("", "not valid JSON");
	assert_config_refused("{", "not valid JSON");
	assert_config_refused("[]", "JSON object");
	assert_config_refused("{\"boot-source\": {\"kernel_image_path\": \"k\"}} x",
	                      "not valid JSON");
	assert_config_refused(
	    "{\"boot-source\": {\"kernel_image_path\": \"k\"}, \"boot-source\": {}}", "duplicate");
	assert_config_refused(with_section("boot-source", NULL), "'boot-source'");
	assert_config_refused(with_section("boot-source", "null"), "'boot-source'");
	assert_config_refused(with_section("machine-config", NULL), "'machine-config'");
	assert_config_refused(with_section("machines", "{}"), "unknown section 'machines'");
	assert_config_refused(with_section("serial", "{}"), "unknown section 'serial'");

	/* Each section malformed: the message names the section and the field. */
	assert_config_refused(with_section("boot-source", "{\"kernel_image_path\": 1}"),
	                      "field 'kernel_image_path' in boot-source must be a string");
	assert_config_refused(with_section("boot-source", "[]"),
	                      "boot-source must be a JSON object");
	assert_config_refused(with_section("machine-config", "{\"vcpu_count\": 2}"),
	                      "missing required field 'mem_size_mib' in machine-config");
	assert_config_refused(
	    with_section("machine-config", "{\"vcpu_count\": 99, \"mem_size_mib\": 128}"),
	    "1 to 32");
	assert_config_refused(with_section("drives", "{}"),
	                      "section 'drives' in the config file must be an array");
	assert_config_refused(with_section("drives", "[7]"), "drives[0] must be a JSON object");
	assert_config_refused(with_section("drives",
	                                   "[{\"drive_id\": \"a\", \"path_on_host\": \"p\","
	                                   " \"is_root_device\": true}, {\"drive_id\": \"b\","
	                                   " \"path_on_host\": \"p\", \"is_root_device\": true,"
	                                   " \"bogus\": 1}]"),
	                      "unknown field 'bogus' in drives[1]");
	assert_config_refused(with_section("drives", "[{\"drive_id\": \"a/b\", \"path_on_host\": "
	                                             "\"p\", \"is_root_device\": true}]"),
	                      "field 'drive_id' in drives[0]: drive id 'a/b'");
	assert_config_refused(with_section("network-interfaces",
	                                   "[{\"iface_id\": \"eth0\", \"host_dev_name\": \"t\","
	                                   " \"mtu\": 9}]"),
	                      "field 'mtu' in network-interfaces[0] must be 68 to 65535");
	assert_config_refused(with_section("network-interfaces", "\"eth0\""),
	                      "'network-interfaces'");
	assert_config_refused(with_section("vsock", "{\"guest_cid\": 1, \"uds_path\": \"v\"}"),
	                      "field 'guest_cid' in vsock");
	assert_config_refused(with_section("vsock", "[]"), "vsock must be a JSON object");
	assert_config_refused(with_section("entropy", "{\"rate_limiter\": {\"ops\": 1}}"),
	                      "field 'ops' in entropy's rate_limiter");
	assert_config_refused(with_section("entropy", "true"), "entropy must be a JSON object");
	assert_config_refused(with_section("logger", "{\"level\": \"loud\"}"),
	                      "field 'level' in logger");
	assert_config_refused(with_section("metrics", "{}"),
	                      "missing required field 'metrics_path' in metrics");

	/* Sections Ember shows as null and cannot configure. */
	assert_config_refused(with_section("balloon", "{\"amount_mib\": 0}"),
	                      "missing required field 'deflate_on_oom' in balloon");
	assert_config_refused(with_section("balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": "
	                                              "false, \"free_page_hinting\": true}"),
	                      "free page hinting is not supported");
	assert_config_refused(with_section("cpu-config", "{}"), "cpu-config");
	assert_config_refused(with_section("mmds-config", "{\"network_interfaces\": []}"),
	                      "is empty");
	assert_config_refused(with_section("pmem", "[{\"id\": \"p\", \"path_on_host\": \"x\"}]"),
	                      "pmem");

	/* More devices than a VM takes. */
	char drives[4096];
	size_t n = (size_t)snprintf(drives, sizeof(drives), "[");
	for (int i = 0; i <= CONFIG_MAX_DRIVES; i++)
		n += (size_t)snprintf(drives + n, sizeof(drives) - n,
		                      "%s{\"drive_id\": \"d%d\", \"path_on_host\": \"p\","
		                      " \"is_root_device\": false}",
		                      i ? ", " : "", i);
	snprintf(drives + n, sizeof(drives) - n, "]");
	assert_config_refused(with_section("drives", drives), "at most 8");

	/* And the ones that are fine as null or empty. */
	char err[512];
	assert_int_equal(parse_config(with_section("balloon", "null"), err, sizeof(err)), 0);
	assert_int_equal(parse_config(with_section("pmem", "[]"), err, sizeof(err)), 0);
	assert_int_equal(parse_config(with_section("drives", "[]"), err, sizeof(err)), 0);
	assert_int_equal(seen.n, 7);
	assert_int_equal(parse_config(with_section("vsock", "null"), err, sizeof(err)), 0);
	assert_int_equal(seen.n, 8);

	/* A short error buffer still ends in a NUL. */
	char small[8];
	memset(small, 'z', sizeof(small));
	assert_int_equal(api_parse_config_file("{}", 2, record, &seen, small, sizeof(small)),
	                 -EINVAL);
	assert_non_null(memchr(small, '\0', sizeof(small)));
}

/* ---- the endpoint table: adding a row needs nothing else ---- */

/* Every row is whole, and its route leads back to it. */
static void endpoint_rows(void **state)
{
	(void)state;
	for (unsigned op = 0; op < CTL_OP_COUNT; op++) {
		const struct api_endpoint *e = &api_endpoints[op];
		const char *id;
		char path[64];

		assert_non_null(e->method);
		assert_non_null(e->path);
		assert_non_null(e->name);
		assert_non_null(e->parse);
		assert_non_null(e->execute);
		assert_true(e->when == API_BEFORE_BOOT || e->when == API_AFTER_BOOT ||
		            e->when == API_ANY);
		if (e->when != API_ANY)
			assert_non_null(e->refusal);
		for (unsigned j = 0; j < op; j++)
			assert_string_not_equal(api_endpoints[j].name, e->name);

		snprintf(path, sizeof(path), "%s%s", e->path, e->id_what ? "some-id" : "");
		const struct api_endpoint *r = api_route_find(e->method, path, &id);
		assert_non_null(r);
		if (e->id_what)
			assert_string_equal(id, "some-id");
		if (!e->action) {
			assert_ptr_equal(r, e);
			continue;
		}
		/* PUT /actions: the body's action_type picks the row. */
		assert_non_null(r->action);
		assert_accepted(e->method, path, fmt("{\"action_type\": \"%s\"}", e->action));
		assert_int_equal(cmd.op, op);
	}
}

/* Every op is executed, counted in its own stats slot and named in the metrics line. */
static void endpoint_stats(void **state)
{
	(void)state;
	static struct ctl v;
	static struct ctl_cmd c;
	char tmpl[] = "/tmp/ember-metrics-XXXXXX";
	static char line[16384];

	const struct ctl_settings set = {
	    .id = "stats-test", .host_mem_mib = 1024, .no_seccomp = true, .op_name = api_op_name};
	char err[256];
	assert_int_equal(ctl_init(&v, &set, err, sizeof(err)), 0);
	for (unsigned op = 0; op < CTL_OP_COUNT; op++) {
		memset(&c, 0, sizeof(c));
		c.op = (enum ctl_op)op;
		api_execute(&v, &c, &reply);
		assert_true(reply.status >= 200 && reply.status < 500);
	}
	for (unsigned op = 0; op < CTL_OP_COUNT; op++)
		assert_int_equal(v.stats.count[op], 1);
	assert_int_equal(sizeof(v.stats.count) / sizeof(v.stats.count[0]), CTL_OP_COUNT);
	assert_int_equal(sizeof(v.stats.fails) / sizeof(v.stats.fails[0]), CTL_OP_COUNT);

	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	v.metrics_fd = fd;
	ctl_flush_metrics(&v);
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
	assert_true(n > 0);
	line[n] = '\0';
	/* Firecracker's names (test_metrics checks the layout): machine-config's PUT once. */
	assert_non_null(strstr(line, "\"machine_cfg_count\":1,"));
	assert_non_null(strstr(line, "\"actions_count\":3,")); /* the three actions */
	ctl_destroy(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(endpoint_rows),
	    cmocka_unit_test(endpoint_stats),
	    cmocka_unit_test(get_routes),
	    cmocka_unit_test(unknown_paths_and_methods),
	    cmocka_unit_test(empty_body),
	    cmocka_unit_test(bad_json),
	    cmocka_unit_test(boot_source),
	    cmocka_unit_test(machine_config_put),
	    cmocka_unit_test(machine_config_patch),
	    cmocka_unit_test(drive_put),
	    cmocka_unit_test(drive_patch),
	    cmocka_unit_test(net_put),
	    cmocka_unit_test(net_patch),
	    cmocka_unit_test(mmds_bodies),
	    cmocka_unit_test(vsock),
	    cmocka_unit_test(serial),
	    cmocka_unit_test(controller_rules),
	    cmocka_unit_test(entropy),
	    cmocka_unit_test(balloon),
	    cmocka_unit_test(rate_limiter_patch_and_put),
	    cmocka_unit_test(logger),
	    cmocka_unit_test(metrics),
	    cmocka_unit_test(actions),
	    cmocka_unit_test(vm_state),
	    cmocka_unit_test(snapshot_create),
	    cmocka_unit_test(snapshot_load),
	    cmocka_unit_test(failure_clears_command),
	    cmocka_unit_test(replies),
	    cmocka_unit_test(render_empty),
	    cmocka_unit_test(render_full),
	    cmocka_unit_test(render_odd_strings),
	    cmocka_unit_test(render_largest),
	    cmocka_unit_test(config_file_good),
	    cmocka_unit_test(config_file_round_trip),
	    cmocka_unit_test(config_file_bad),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
