/* ember-oci's state file: a round trip through JSON, the spec's fields in what `state`
 * prints, ids runc would refuse refused, and the live status of a host process. */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "oci/oci.h"

static void test_round_trip(void **state)
{
	char dir[] = "/tmp/oci-state.XXXXXX";
	struct oci_state st = {.status = OCI_CREATED, .pid = getpid()}, back;
	(void)state;
	assert_non_null(mkdtemp(dir));
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	strcpy(st.id, "c1");
	strcpy(st.bundle, "/b");
	strcpy(st.rootfs, "/b/rootfs");
	strcpy(st.created, "2024-01-01T00:00:00Z");
	st.start_time = oci_pid_start_time(getpid());
	assert_true(st.start_time != 0);
	st.annotations = json_pack("{s:s}", "k", "v");
	assert_int_equal(oci_state_save(dirfd, &st), 0);
	assert_int_equal(oci_state_load(dirfd, &back), 0);
	assert_string_equal(back.id, "c1");
	assert_string_equal(back.bundle, "/b");
	assert_int_equal(back.pid, getpid());
	assert_int_equal(back.status, OCI_CREATED);
	assert_true(back.start_time == st.start_time);
	assert_string_equal(json_string_value(json_object_get(back.annotations, "k")), "v");
	/* This process is alive: created. With an exit file: stopped. */
	assert_int_equal(oci_state_status(dirfd, &back), OCI_CREATED);
	int fd = openat(dirfd, "exit", O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_int_equal(oci_state_status(dirfd, &back), OCI_STOPPED);
	unlinkat(dirfd, "exit", 0);
	/* A pid whose start time differs (reused): stopped. */
	back.start_time++;
	assert_int_equal(oci_state_status(dirfd, &back), OCI_STOPPED);

	/* What `state` prints: the spec's fields, pid 0 once stopped, no internal ones. */
	json_t *o = oci_state_json(&back, OCI_STOPPED, false);
	assert_string_equal(json_string_value(json_object_get(o, "ociVersion")), OCI_VERSION);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "stopped");
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), 0);
	assert_non_null(json_object_get(o, "annotations"));
	assert_null(json_object_get(o, "emberStartTime"));
	json_decref(o);
	oci_state_clear(&st);
	oci_state_clear(&back);
	unlinkat(dirfd, "state.json", 0);
	close(dirfd);
	rmdir(dir);
}

static void test_dead_pid(void **state)
{
	struct oci_state st = {.status = OCI_RUNNING};
	(void)state;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	st.pid = pid;
	st.start_time = 12345;
	assert_int_equal(oci_pid_start_time(pid), 0);
	assert_int_equal(oci_state_status(AT_FDCWD, &st), OCI_STOPPED);
}

static void test_malformed(void **state)
{
	struct oci_state st;
	(void)state;
	assert_int_equal(oci_state_from_json("{", &st), -1);
	assert_int_equal(
	    oci_state_from_json("{\"id\": \"x\", \"pid\": 1, \"status\": \"odd\"}", &st), -1);
	assert_int_equal(oci_state_from_json("{\"id\": \"x\", \"status\": \"created\"}", &st), -1);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(oci_id_valid("abc-DEF_1.2+3"));
	assert_false(oci_id_valid(""));
	assert_false(oci_id_valid("."));
	assert_false(oci_id_valid(".."));
	assert_false(oci_id_valid("a/b"));
	assert_false(oci_id_valid("a b"));
	char longid[300];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_false(oci_id_valid(longid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_dead_pid),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ids),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
