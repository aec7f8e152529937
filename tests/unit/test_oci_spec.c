/* ember-oci's config.json reader: the fields it honours become the agent's strings, wrong
 * types are refused with the field's name, unknown properties are ignored, resources size
 * the VM with a floor. */
#include "unit.h"

#include <stdlib.h>

#include "oci/oci.h"

#define MINIMAL                                                                                    \
	"{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, "                           \
	"\"process\": {\"args\": [\"sh\", \"-c\", \"exit 42\"], \"cwd\": \"/tmp\"}"

/* Whether the agent blob holds the string s. */
static bool blob_has(const struct oci_blob *b, const char *s)
{
	for (size_t off = 0; off < b->len; off += strlen(b->buf + off) + 1)
		if (!strcmp(b->buf + off, s))
			return true;
	return false;
}

static int parse(const char *text, struct oci_spec *spec, char *err)
{
	return oci_spec_parse(text, spec, err, OCI_ERR_MAX);
}

static void test_minimal(void **state)
{
	struct oci_spec spec;
	char err[OCI_ERR_MAX];
	(void)state;
	assert_int_equal(parse(MINIMAL ", \"unknownField\": {\"x\": 1}}", &spec, err), 0);
	assert_string_equal(spec.root_path, "rootfs");
	assert_false(spec.root_readonly);
	assert_true(blob_has(&spec.agent, "arg=sh"));
	assert_true(blob_has(&spec.agent, "arg=exit 42"));
	assert_true(blob_has(&spec.agent, "cwd=/tmp"));
	assert_true(blob_has(&spec.agent, "uid=0"));
	assert_int_equal(spec.mem_mib, OCI_MEM_DEFAULT);
	assert_int_equal(spec.vcpus, 1);
	oci_spec_free(&spec);
}

static void test_process_fields(void **state)
{
	struct oci_spec spec;
	char err[OCI_ERR_MAX];
	(void)state;
	assert_int_equal(
	    parse("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"/r\", \"readonly\": true},"
	          " \"hostname\": \"box\", \"process\": {\"args\": [\"id\"], \"env\": [\"A=1\"],"
	          " \"user\": {\"uid\": 1000, \"gid\": 100, \"additionalGids\": [5, 6]},"
	          " \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 10, \"hard\": 20}],"
	          " \"noNewPrivileges\": true},"
	          " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\"},"
	          "  {\"destination\": \"/sys\", \"type\": \"sysfs\", \"options\": [\"ro\", "
	          "\"nosuid\"]},"
	          "  {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"options\": "
	          "[\"mode=1777\"]}]}",
	          &spec, err),
	    0);
	assert_true(spec.root_readonly);
	assert_true(blob_has(&spec.agent, "env=A=1"));
	assert_true(blob_has(&spec.agent, "uid=1000"));
	assert_true(blob_has(&spec.agent, "gid=100"));
	assert_true(blob_has(&spec.agent, "gid+=5"));
	assert_true(blob_has(&spec.agent, "gid+=6"));
	assert_true(blob_has(&spec.agent, "rlimit=7:10:20"));
	assert_true(blob_has(&spec.agent, "nnp=1"));
	assert_true(blob_has(&spec.agent, "hostname=box"));
	assert_true(blob_has(&spec.agent, "mount=proc:0:/proc:"));
	assert_true(blob_has(&spec.agent, "mount=sysfs:3:/sys:")); /* MS_RDONLY|MS_NOSUID */
	assert_true(blob_has(&spec.agent, "mount=tmpfs:0:/dev/shm:mode=1777"));
	oci_spec_free(&spec);
}

static void expect_error(const char *text, const char *want)
{
	struct oci_spec spec;
	char err[OCI_ERR_MAX];
	assert_int_equal(parse(text, &spec, err), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{bad", "is not valid JSON");
	expect_error("[]", "must hold a JSON object");
	expect_error("{\"root\": {\"path\": \"r\"}}", "ociVersion must be a string");
	expect_error("{\"ociVersion\": \"2.0\", \"root\": {\"path\": \"r\"}}", "is not 1.x");
	expect_error("{\"ociVersion\": \"1.0.0\", \"process\": {\"args\": [\"x\"]}}",
	             "root.path must be a string");
	expect_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}}",
	             "process is required");
	expect_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"process\": "
	             "{\"args\": \"sh\"}}",
	             "process.args must be a non-empty array of strings");
	expect_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"process\": "
	             "{\"args\": []}}",
	             "process.args must be a non-empty array of strings");
	expect_error(MINIMAL ", \"hostname\": 5}", "hostname must be a string");
	expect_error(MINIMAL ", \"mounts\": [{\"destination\": \"/h\", \"type\": \"bind\", "
	                     "\"source\": \"/home\", \"options\": [\"rbind\"]}]}",
	             "a bind mount on /h");
	expect_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"process\": "
	             "{\"args\": [\"x\"], \"rlimits\": [{\"type\": \"RLIMIT_BOGUS\", \"soft\": 1, "
	             "\"hard\": 1}]}}",
	             "unknown type 'RLIMIT_BOGUS'");
	expect_error("{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"r\"}, \"process\": "
	             "{\"args\": [\"x\"], \"cwd\": \"relative\"}}",
	             "process.cwd must be an absolute path");
	expect_error("{\"ociVersion\": \"1.0.0\", \"ociVersion\": \"1.0.0\"}", "not valid JSON");
}

static void test_resources(void **state)
{
	struct oci_spec spec;
	char err[OCI_ERR_MAX];
	(void)state;
	assert_int_equal(parse(MINIMAL ", \"linux\": {\"resources\": {\"memory\": {\"limit\": "
	                               "536870912}, \"cpu\": {\"quota\": 150000, \"period\": "
	                               "100000}}}}",
	                       &spec, err),
	                 0);
	assert_int_equal(spec.mem_mib, 512);
	assert_int_equal(spec.vcpus, 2);
	oci_spec_free(&spec);
	/* Below the floor: the floor. */
	assert_int_equal(parse(MINIMAL ", \"linux\": {\"resources\": {\"memory\": {\"limit\": "
	                               "1048576}}}}",
	                       &spec, err),
	                 0);
	assert_int_equal(spec.mem_mib, OCI_MEM_FLOOR);
	oci_spec_free(&spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_process_fields),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_resources),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
