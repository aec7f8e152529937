/* ember-jailer: the steps in their order. Every input is checked before anything is made;
 * each step records what it made, and a failed start takes all of it back. The exec file is
 * mounted into the jail read-only by default, copied in with --copy-exec. */
#include "jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSFS_MAGIC_ 0x6e736673 /* linux/magic.h's NSFS_MAGIC */

#ifndef EMBER_VERSION
#define EMBER_VERSION "unknown"
#endif

static const char jail_usage[] =
    "usage: " JAIL_PROG " --id ID --exec-file FILE --uid UID --gid GID [options] [-- ARGS...]\n"
    "Makes <base>/<exec file's name>/<ID>/root (or takes the one the caller made with the\n"
    "guest's files in it), mounts FILE there read-only (in the jail's own mount namespace,\n"
    "onto an empty file), and runs it as UID:GID with no capabilities, with only /dev/kvm,\n"
    "/dev/net/tun and /dev/urandom in its /dev.\n"
    "  --id ID                 the jail's id: 1 to 64 letters, digits and hyphens\n"
    "  --exec-file FILE        a static executable (the monitor)\n"
    "  --uid UID, --gid GID    numbers the jailed process runs as\n"
    "  --chroot-base-dir DIR   absolute; default " JAIL_DEFAULT_BASE "\n"
    "  --netns PATH            join this network namespace (e.g. /var/run/netns/NAME)\n"
    "  --cgroup FILE=VALUE     write VALUE to FILE (e.g. pids.max=64) in the jail's cgroup\n"
    "                          <controller>/<exec file's name>/<ID>; repeatable\n"
    "  --cgroup-version 1|2    the hierarchy to use, default 1\n"
    "  --resource-limit R=N    fsize or no-file (default no-file=2048); repeatable\n"
    "  --daemonize             new session, standard I/O on /dev/null\n"
    "  --new-pid-ns            run FILE as PID 1 of a new PID namespace (its pid is written\n"
    "                          to <root>/<name>.pid; the jailer exits once it runs)\n"
    "  --copy-exec             copy FILE into the jail (root's, mode 0550) instead of\n"
    "                          mounting it: the jail holds its own binary on disk\n"
    "  --parent-cgroup PATH    the jail's cgroups go under PATH (relative to each\n"
    "                          hierarchy's root) instead of <exec file's name>\n"
    "  --no-monitor-args       give FILE only ARGS (by default, as Firecracker's jailer,\n"
    "                          FILE gets --id ID --start-time-us T --start-time-cpu-us C\n"
    "                          --parent-cpu-time-us P first)\n"
    "  -- ARGS...              FILE's arguments\n"
    "Exit status: FILE's own once it runs; 1 if a step failed, 2 for bad arguments (and\n"
    "then nothing is left behind).\n";

static uint64_t clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, JAIL_PROG ": %s\n", msg);
	return JAIL_EXIT_USAGE;
}

/* Without --copy-exec the jailed process runs the file as it is: its own mode must let
 * UID:GID (with no other groups and no capabilities) run it, and its mount must allow exec,
 * which the jail's read-only mount of it would otherwise quietly grant. */
static int check_exec_mountable(struct jail *j, const struct stat *st)
{
	const struct jail_args *a = &j->args;
	char msg[PATH_MAX + 160];
	struct statvfs sv;
	/* Every start runs this very inode: only root may be able to change it. */
	if (st->st_uid != 0 || (st->st_mode & 022)) {
		snprintf(msg, sizeof(msg),
		         "--exec-file '%s': must be root's and not writable by its group or "
		         "others to be mounted (owner %u, mode %04o); use --copy-exec",
		         a->exec_file, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
		return usage_error(msg);
	}
	/* Root's file, and UID is never 0: its group bit or its others bit decides. */
	mode_t x = st->st_gid == a->gid ? S_IXGRP : S_IXOTH;
	if (!(st->st_mode & x)) {
		snprintf(
		    msg, sizeof(msg),
		    "--exec-file '%s': uid %u, gid %u may not run it (mode %04o, owner %u:%u); "
		    "use --copy-exec",
		    a->exec_file, (unsigned)a->uid, (unsigned)a->gid,
		    (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid);
		return usage_error(msg);
	}
	if (fstatvfs(j->exec_fd, &sv) == 0 && (sv.f_flag & ST_NOEXEC)) {
		snprintf(msg, sizeof(msg), "--exec-file '%s': on a noexec mount; use --copy-exec",
		         a->exec_file);
		return usage_error(msg);
	}
	return 0;
}

/* The exec file, opened once: what is checked is what gets mounted or copied. */
static int open_exec(struct jail *j)
{
	const char *path = j->args.exec_file;
	char msg[PATH_MAX + 128];
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	if (!jail_name_valid(name)) {
		snprintf(msg, sizeof(msg),
		         "--exec-file '%s': its name must be 1 to %d letters, digits, '.', '_' or "
		         "'-', not starting with '.'",
		         path, JAIL_NAME_MAX);
		return usage_error(msg);
	}
	memcpy(j->name, name, strlen(name) + 1);

	j->exec_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block */
	if (j->exec_fd < 0) {
		snprintf(msg, sizeof(msg), "--exec-file '%s': %s", path, strerror(errno));
		return usage_error(msg);
	}
	struct stat st;
	if (fstat(j->exec_fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		snprintf(msg, sizeof(msg), "--exec-file '%s': not an executable regular file",
		         path);
		return usage_error(msg);
	}
	unsigned char head[4096];
	ssize_t n = pread(j->exec_fd, head, sizeof(head), 0);
	const char *why = "unreadable";
	if (n < 0 || elf_check_static(head, (size_t)n, (uint64_t)st.st_size, &why) < 0) {
		snprintf(msg, sizeof(msg), "--exec-file '%s': %s", path, why);
		return usage_error(msg);
	}
	return j->args.copy_exec ? 0 : check_exec_mountable(j, &st);
}

/* What else the command line names, checked before anything is made. */
static int open_inputs(struct jail *j)
{
	char msg[PATH_MAX + 128];
	int r = open_exec(j);
	if (r)
		return r;
	if (j->args.netns) {
		struct statfs sf;
		j->netns_fd = open(j->args.netns, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (j->netns_fd < 0) {
			snprintf(msg, sizeof(msg), "--netns '%s': %s", j->args.netns,
			         strerror(errno));
			return usage_error(msg);
		}
		if (fstatfs(j->netns_fd, &sf) < 0 || sf.f_type != NSFS_MAGIC_) {
			snprintf(msg, sizeof(msg), "--netns '%s': not a namespace file",
			         j->args.netns);
			return usage_error(msg);
		}
	}
	if (j->args.daemonize) {
		/* setsid() fails for a process group leader, as a shell's foreground job is. */
		if (getpgrp() == getpid())
			return usage_error(
			    "--daemonize: the jailer leads its process group, so it "
			    "cannot start a session (start it from a script, or in the "
			    "background)");
		j->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (j->null_fd < 0)
			return jail_err("daemonize", errno, "cannot open /dev/null");
	}
	j->host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (j->host_root < 0)
		return jail_err("jail", errno, "cannot open /");
	j->host_mnt_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (j->host_mnt_ns < 0)
		return jail_err("jail", errno, "cannot open /proc/self/ns/mnt (is /proc mounted?)");
	return 0;
}

/* The last step, in the process that becomes the jailed one. Returns only on failure. */
static int run_jailed(struct jail *j)
{
	const struct jail_args *a = &j->args;
	char path[JAIL_NAME_MAX + 2];
	static char nums[3][JAIL_NUM_MAX];
	snprintf(path, sizeof(path), "/%s", j->name);
	char **argv = calloc((size_t)a->exec_argc + 10, sizeof(*argv));
	if (!argv)
		return jail_err("exec", ENOMEM, "arguments");
	/* As Firecracker's jailer: this process's CPU time now (it goes on across the exec), and
	 * the jailer's own work as the parent's. */
	jail_exec_argv(a, path, j->start_us, clock_us(CLOCK_PROCESS_CPUTIME_ID), j->jailer_cpu_us,
	               nums, argv);
	static char *const no_env[] = {NULL};

	/* Done with these; closed so a low no-file limit still leaves the undo a descriptor. */
	close(j->exec_fd);
	j->exec_fd = -1;
	if (j->netns_fd >= 0)
		close(j->netns_fd);
	if (j->null_fd >= 0)
		close(j->null_fd);
	j->netns_fd = j->null_fd = -1;

	/* What runs is opened now, while the jail's root is still root's alone: once it is
	 * the jailed uid's (next), that uid could put another file at the path. */
	int exe = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (exe < 0) {
		free(argv);
		return jail_err("exec", errno, "%s", path);
	}
	umask(j->umask);
	/* The limits bind the jailed process, not the jailer's own work (a small fsize or
	 * no-file would break it); set while still root, which may raise them. */
	j->rlimits_set = true;
	int r = fs_give_root(j);
	if (!r)
		r = proc_set_rlimits(a, j->rlimit_saved);
	if (!r)
		r = priv_drop(a->uid, a->gid);
	if (r) {
		close(exe);
		free(argv);
		return r;
	}
	execveat(exe, "", argv, no_env, AT_EMPTY_PATH);
	/* The file was checked to be a static executable, so this is rare (ENOMEM, ETXTBSY).
	 * The caller still tries to take the jail back, which a non-root uid cannot. */
	int e = errno;
	close(exe);
	free(argv);
	return jail_err("exec", e, "%s (privileges are gone: %s may be left behind)", path,
	                j->fs.root);
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds (make asan) only: LeakSanitizer's check at exit reads /proc/PID/task, and a
 * jailer that has entered the jail (a failed step after pivot_root, or the --new-pid-ns
 * parent) has no /proc, so the check itself fails the run. The other checks stay on. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

/* --new-pid-ns: the jailed process is PID 1 of a new namespace; this process stays root, waits
 * until it has exec'd (or failed), and so can still take the jail back. */
static int run_in_pid_ns(struct jail *j)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return jail_err("pid namespace", errno, "pipe");
	/* A fork whose child alone enters the new namespace: after unshare(CLONE_NEWPID) every
	 * later child of this process would go there too, and once the jailed PID 1 ends,
	 * none could be made at all (ENOMEM), not even a sanitizer runtime's helper thread. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return jail_err("pid namespace", errno, "clone(CLONE_NEWPID)");
	}
	if (pid == 0) {
		close(p[0]);
		int st = run_jailed(j);
		/* Failed before its exec: tell the parent, which undoes. The close-on-exec pipe
		 * says the opposite by closing unwritten. */
		unsigned char c = (unsigned char)st;
		if (write(p[1], &c, 1) < 0) {
			/* the parent sees an exec where there was none; nothing else to do */
		}
		_exit(st);
	}
	close(p[1]);
	int r = fs_write_pid(j, pid);
	unsigned char c;
	ssize_t n;
	do {
		n = read(p[0], &c, 1);
	} while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == 1) {
		waitpid(pid, NULL, 0);
		return c ? c : JAIL_EXIT_FAIL;
	}
	if (r) {
		/* Running, but its pid file could not be written: it must not run unlisted. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct jail j;
	char err[PATH_MAX + 128];
	int status;

	j.start_us = clock_us(CLOCK_MONOTONIC);
	j.start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	j.exec_fd = j.netns_fd = j.null_fd = j.host_root = j.host_mnt_ns = -1;
	/* Nothing the caller left open reaches the jail, nor any of its environment. */
	if ((status = proc_close_fds()) || (status = proc_stdio_open()))
		return status;
	clearenv();
	/* Exact modes for everything made; the caller's umask goes to the jailed process. */
	j.umask = umask(0);

	if (jail_args_parse(&j.args, argc, argv, err, sizeof(err)) < 0)
		return usage_error(err);
	if (j.args.help) {
		fputs(jail_usage, stdout);
		return 0;
	}
	if (j.args.version) {
		puts(JAIL_PROG " " EMBER_VERSION);
		return 0;
	}
	if ((status = open_inputs(&j)))
		return status;

	if ((status = fs_make_jail(&j)) ||
	    (status = j.args.copy_exec ? fs_copy_exec(&j) : fs_make_exec_mount_point(&j)) ||
	    (status = cg_setup(&j)))
		goto undo;
	if (j.netns_fd >= 0 && (status = proc_join_netns(j.netns_fd, j.args.netns)))
		goto undo;
	if ((status = mnt_enter_jail(&j)) || (status = fs_make_devices(&j)))
		goto undo;
	j.jailer_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID) - j.start_cpu_us;
	if (j.args.daemonize && (status = proc_daemonize(j.null_fd)))
		goto undo;
	if (j.args.new_pid_ns) {
		status = run_in_pid_ns(&j);
		if (status == 0)
			return 0;
		goto undo;
	}
	/* Returns only if the jailed process could not start. */
	status = run_jailed(&j);
undo:
	mnt_leave_jail(&j);
	if (j.rlimits_set)
		proc_restore_rlimits(j.rlimit_saved);
	cg_undo(&j);
	fs_undo(&j);
	return status;
}
