/* The jailer process's own state: inherited descriptors, resource limits, the network
 * namespace, and detaching from the caller's session. */
#include "jailer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* Without close_range (Linux before 5.9): every number /proc/self/fd lists. */
static int close_fds_by_proc(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return jail_err("fds", errno, "cannot list /proc/self/fd");
	int self = dirfd(d);
	int fds[256];
	for (;;) {
		/* Closing while reading the directory is undefined: collect a batch, close it,
		 * read again from the start until only 0-2 and the directory itself remain. */
		unsigned n = 0;
		struct dirent *e;
		rewinddir(d);
		while ((e = readdir(d)) && n < sizeof(fds) / sizeof(fds[0])) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end || end == e->d_name || fd <= 2 || fd == self)
				continue;
			fds[n++] = (int)fd;
		}
		if (!n)
			break;
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
	}
	closedir(d);
	return 0;
}

int proc_close_fds(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return jail_err("fds", errno, "close_range");
	return close_fds_by_proc();
}

int proc_stdio_open(void)
{
	/* A caller that closed 0, 1 or 2 would otherwise see the jail's files land there. */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return jail_err("fds", errno, "cannot open /dev/null for fd %d", fd);
		if (n != fd) {
			close(n);
			return jail_err("fds", EBADF, "fd %d", fd);
		}
	}
	return 0;
}

static const struct {
	int resource;
	const char *name;
} proc_res[JAIL_RES_COUNT] = {
    [JAIL_RES_FSIZE] = {RLIMIT_FSIZE, "fsize"},
    [JAIL_RES_NOFILE] = {RLIMIT_NOFILE, "no-file"},
};

int proc_set_rlimits(const struct jail_args *a, struct rlimit saved[JAIL_RES_COUNT])
{
	for (int i = 0; i < JAIL_RES_COUNT; i++)
		if (getrlimit(proc_res[i].resource, &saved[i]) < 0)
			return jail_err("rlimits", errno, "cannot read %s", proc_res[i].name);
	for (int i = 0; i < JAIL_RES_COUNT; i++) {
		uint64_t v = a->rlimit[i];
		if (!a->rlimit_set[i]) {
			if (i != JAIL_RES_NOFILE)
				continue;
			v = JAIL_DEFAULT_NOFILE;
		}
		struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
		if (setrlimit(proc_res[i].resource, &rl) < 0)
			return jail_err("rlimits", errno, "%s=%llu", proc_res[i].name,
			                (unsigned long long)v);
	}
	return 0;
}

void proc_restore_rlimits(const struct rlimit saved[JAIL_RES_COUNT])
{
	for (int i = 0; i < JAIL_RES_COUNT; i++)
		setrlimit(proc_res[i].resource, &saved[i]);
}

int proc_join_netns(int fd, const char *path)
{
	if (setns(fd, CLONE_NEWNET) < 0)
		return jail_err("netns", errno, "cannot join '%s'", path);
	return 0;
}

int proc_daemonize(int null_fd)
{
	if (setsid() < 0)
		return jail_err("daemonize", errno, "setsid");
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(null_fd, fd) < 0)
			return jail_err("daemonize", errno, "cannot put /dev/null on fd %d", fd);
	return 0;
}
