/* The log file's lines in Firecracker's format, the module filter, and a second
 * configuration (PUT /logger again) changing only what it names. */
#include "unit.h"
#include "base/log.h"

#include <fcntl.h>
#include <stdlib.h>

static void prefix_format(void **state)
{
	(void)state;
	char b[256];
	/* 2026-12-07T01:02:03 UTC */
	long long t = 1796605323;
	log_format_prefix(b, sizeof(b), t, 5, "vm-1", "api", NULL, NULL, 0);
	assert_string_equal(b, "2026-12-07T01:02:03.000000005 [vm-1:api] ");
	log_format_prefix(b, sizeof(b), t, 123456789, "vm-1", "vcpu 0", "WARN", NULL, 0);
	assert_string_equal(b, "2026-12-07T01:02:03.123456789 [vm-1:vcpu 0:WARN] ");
	log_format_prefix(b, sizeof(b), t, 0, "anonymous-instance", "vmm", "ERROR",
	                  "src/virtio/blk.c", 42);
	assert_string_equal(
	    b, "2026-12-07T01:02:03.000000000 [anonymous-instance:vmm:ERROR:src/virtio/blk.c:42] ");
}

static void modules(void **state)
{
	(void)state;
	assert_true(log_module_ok("virtio"));
	assert_true(log_module_ok("virtio/blk"));
	assert_true(log_module_ok("api_server"));
	assert_true(log_module_ok("main"));
	assert_false(log_module_ok("virtio/"));
	assert_false(log_module_ok("virtio/blk/x"));
	assert_false(log_module_ok("vmm::devices"));
	assert_false(log_module_ok(""));

	assert_true(log_module_match("", "src/virtio/blk.c"));
	assert_true(log_module_match("virtio", "src/virtio/blk.c"));
	assert_true(log_module_match("virtio/blk", "src/virtio/blk.c"));
	assert_false(log_module_match("virtio/blk", "src/virtio/blk_uring.c"));
	assert_false(log_module_match("virtio", "src/vmm/vm.c"));
	assert_true(log_module_match("api_server", "src/api/parse.c"));
	assert_true(log_module_match("main", "src/cli.c"));
	assert_false(log_module_match("main", "src/api/parse.c"));
}

static int read_all(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = 0;
	return (int)n;
}

static void reconfigure(void **state)
{
	(void)state;
	char t1[] = "/tmp/ember-log-XXXXXX", t2[] = "/tmp/ember-log-XXXXXX", buf[4096];
	int f1 = mkstemp(t1), f2 = mkstemp(t2);
	assert_true(f1 >= 0 && f2 >= 0);
	int r1 = open(t1, O_RDONLY), r2 = open(t2, O_RDONLY);
	unlink(t1), unlink(t2);
	log_stderr_level(LOG_WARNING);

	struct log_settings s = {.fd = f1,
	                         .has_level = true,
	                         .level = LOG_INFO,
	                         .has_show_level = true,
	                         .show_level = true,
	                         .module = "",
	                         .instance_id = "vm-7"};
	log_configure(&s);
	log_info("first %d", 1);
	log_debug("not at Info");
	read_all(r1, buf, sizeof(buf));
	assert_non_null(strstr(buf, " [vm-7:vmm:INFO] first 1\n"));
	assert_null(strstr(buf, "not at Info"));

	/* Again: the origin on and Debug; the file as it was. */
	log_configure(&(struct log_settings){.fd = LOG_KEEP_FD,
	                                     .has_level = true,
	                                     .level = LOG_DEBUG,
	                                     .has_show_origin = true,
	                                     .show_origin = true});
	log_debug("second");
	read_all(r1, buf, sizeof(buf));
	assert_non_null(strstr(buf, ":DEBUG:tests/unit/test_log.c:"));
	assert_non_null(strstr(buf, "] second\n"));
	/* A module filter: this file is not in virtio's. */
	log_configure(&(struct log_settings){.fd = LOG_KEEP_FD, .module = "virtio"});
	log_info("filtered");
	read_all(r1, buf, sizeof(buf));
	assert_null(strstr(buf, "filtered"));

	/* A new file: the old one is closed, the new gets the lines. */
	log_configure(&(struct log_settings){.fd = f2, .module = ""});
	log_info("third");
	read_all(r2, buf, sizeof(buf));
	assert_non_null(strstr(buf, "] third\n"));
	assert_int_equal(write(f1, "x", 1), -1); /* closed */
	assert_int_equal(log_missed_count(), 0);
	close(r1), close(r2);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(prefix_format),
	    cmocka_unit_test(modules),
	    cmocka_unit_test(reconfigure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
