/*
 * The state of one container, ROOT/ID/state.json: written by create and start (under the
 * directory's lock), read by every command. The live status also looks at the host
 * process (gone: stopped) and at ROOT/ID/exit, which that process writes as it ends.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "oci.h"

static const char *const status_names[] = {
    [OCI_CREATING] = "creating",
    [OCI_CREATED] = "created",
    [OCI_RUNNING] = "running",
    [OCI_STOPPED] = "stopped",
};

const char *oci_status_name(enum oci_status status)
{
	return status_names[status];
}

bool oci_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 255 || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_+.-", *p))
			return false;
	return true;
}

json_t *oci_state_json(const struct oci_state *st, enum oci_status live, bool internal)
{
	json_t *o = json_object();
	json_object_set_new(o, "ociVersion", json_string(OCI_VERSION));
	json_object_set_new(o, "id", json_string(st->id));
	json_object_set_new(o, "pid", json_integer(live == OCI_STOPPED && !internal ? 0 : st->pid));
	json_object_set_new(o, "status", json_string(oci_status_name(live)));
	json_object_set_new(o, "bundle", json_string(st->bundle));
	json_object_set_new(o, "rootfs", json_string(st->rootfs));
	json_object_set_new(o, "created", json_string(st->created));
	json_object_set_new(o, "owner", json_string(""));
	json_object_set_new(o, "annotations",
	                    st->annotations ? json_incref(st->annotations) : json_object());
	if (internal)
		json_object_set_new(o, "emberStartTime", json_integer((json_int_t)st->start_time));
	return o;
}

static void copy(char *dst, size_t cap, json_t *v)
{
	snprintf(dst, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int oci_state_from_json(const char *text, struct oci_state *st)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *status;
	size_t i;

	*st = (struct oci_state){0};
	if (!json_is_object(o))
		goto bad;
	status = json_string_value(json_object_get(o, "status"));
	for (i = 0; status && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(status, status_names[i]))
			break;
	if (!status || i == sizeof(status_names) / sizeof(status_names[0]) ||
	    !json_is_string(json_object_get(o, "id")) ||
	    !json_is_integer(json_object_get(o, "pid")))
		goto bad;
	st->status = (enum oci_status)i;
	copy(st->id, sizeof(st->id), json_object_get(o, "id"));
	copy(st->bundle, sizeof(st->bundle), json_object_get(o, "bundle"));
	copy(st->rootfs, sizeof(st->rootfs), json_object_get(o, "rootfs"));
	copy(st->created, sizeof(st->created), json_object_get(o, "created"));
	st->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	st->start_time =
	    (unsigned long long)json_integer_value(json_object_get(o, "emberStartTime"));
	if (json_is_object(json_object_get(o, "annotations")))
		st->annotations = json_incref(json_object_get(o, "annotations"));
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	return -1;
}

void oci_state_clear(struct oci_state *st)
{
	json_decref(st->annotations);
	st->annotations = NULL;
}

int oci_state_save(int dirfd, const struct oci_state *st)
{
	json_t *o = oci_state_json(st, st->status, true);
	char *text = json_dumps(o, JSON_COMPACT);
	int err = 0, fd;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	fd = openat(dirfd, "state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(dirfd, "state.json.tmp", dirfd, "state.json") < 0)
		err = -errno;
out:
	free(text);
	return err;
}

int oci_state_load(int dirfd, struct oci_state *st)
{
	char buf[65536];
	int fd = openat(dirfd, "state.json", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return oci_state_from_json(buf, st) < 0 ? -EINVAL : 0;
}

unsigned long long oci_pid_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* After the comm's closing parenthesis: field 3 is the state, 22 the start time. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	/* A zombie is as good as gone: it has exited, its status is recorded. */
	if (strstr(buf, ") Z ") || strstr(buf, ") X "))
		return 0;
	return t;
}

enum oci_status oci_state_status(int dirfd, const struct oci_state *st)
{
	struct stat sb;
	if (st->status == OCI_STOPPED)
		return OCI_STOPPED;
	if (fstatat(dirfd, "exit", &sb, 0) == 0)
		return OCI_STOPPED;
	if (st->pid <= 0)
		return st->status; /* creating: no host process yet */
	if (oci_pid_start_time(st->pid) != st->start_time)
		return OCI_STOPPED;
	return st->status;
}
