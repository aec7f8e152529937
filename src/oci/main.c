/*
 * ember-oci's command line, runc's: global flags, then a command and its flags. Each
 * container is a directory under --root (default /run/ember-oci) holding its state, its
 * root disk image, its sockets and the microVM's console log.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "oci.h"
#include "../../guest/agent_proto.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif

static const char *root_dir = "/run/ember-oci";
static const char *log_path;
static bool log_json;

/* One error: on stderr, and in --log as runc writes it (text or JSON, which containerd reads). */
__attribute__((format(printf, 1, 2))) static void error(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ember-oci: %s\n", msg);
	if (!log_path)
		return;
	FILE *f = fopen(log_path, "ae");
	if (!f)
		return;
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (log_json) {
		json_t *o =
		    json_pack("{s:s, s:s, s:s}", "level", "error", "msg", msg, "time", when);
		char *text = json_dumps(o, JSON_COMPACT);
		fprintf(f, "%s\n", text ? text : "");
		free(text);
		json_decref(o);
	} else {
		fprintf(f, "time=\"%s\" level=error msg=\"%s\"\n", when, msg);
	}
	fclose(f);
}

/* A command-line mistake, in runc's words; exit status 1 as runc's. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error("%s%s%s", cmd ? cmd : "", cmd ? ": " : "", msg);
	return 1;
}

/* ---- the container's directory ---- */

static int open_dir(const char *id, bool must_exist)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root_dir, id);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && must_exist)
		error("container \"%s\" does not exist", id);
	return fd;
}

/* Serialize commands on one container (not across containers). */
static int lock_dir(int dirfd)
{
	int fd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	return fd;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_dir(const char *id)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root_dir, id);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int load(const char *id, int *dirfd, struct oci_state *st, enum oci_status *live)
{
	if (!oci_id_valid(id)) {
		error("invalid container id \"%s\"", id);
		return -1;
	}
	*dirfd = open_dir(id, true);
	if (*dirfd < 0)
		return -1;
	int err = oci_state_load(*dirfd, st);
	if (err < 0) {
		error("container \"%s\": cannot read its state: %s", id, strerror(-err));
		close(*dirfd);
		return -1;
	}
	*live = oci_state_status(*dirfd, st);
	return 0;
}

static int write_pid_file(const char *path, pid_t pid)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f || fprintf(f, "%d", (int)pid) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
		error("cannot write the pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the root disk image ---- */

static unsigned long long tree_bytes;

static int count_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	tree_bytes += (unsigned long long)sb->st_blocks * 512 + 4096;
	return 0;
}

/*
 * ext4 from the rootfs directory with mkfs.ext4 -d, without a journal (the image lives
 * as long as the container). Sized at twice the tree plus 256 MiB for the container's
 * writes; the file is sparse, so the slack costs nothing until written.
 */
static int build_image(int dirfd, const char *id, const char *rootfs, char *err, size_t errlen)
{
	char img[PATH_MAX + 300], out[1024] = "";
	int pipefd[2];
	tree_bytes = 0;
	if (nftw(rootfs, count_one, 16, FTW_PHYS) < 0) {
		snprintf(err, errlen, "cannot read the root %.256s: %s", rootfs, strerror(errno));
		return -1;
	}
	unsigned long long mib = (tree_bytes * 2 >> 20) + 256;
	/* mkfs.ext4 gets a real path: dirfd is closed on exec. */
	snprintf(img, sizeof(img), "%s/%s/rootfs.img", root_dir, id);
	int fd = openat(dirfd, "rootfs.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)(mib << 20)) < 0) {
		snprintf(err, errlen, "cannot make the disk image: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
		execlp("mkfs.ext4", "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-d",
		       rootfs, img, (char *)NULL);
		printf("cannot run mkfs.ext4 (e2fsprogs): %s\n", strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		while (got && out[got - 1] == '\n')
			out[--got] = '\0';
		snprintf(err, errlen, "cannot build the root disk image from %.200s: %.200s",
		         rootfs, out[0] ? out : "mkfs.ext4 failed");
		return -1;
	}
	return 0;
}

static const char *ember_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("EMBER_OCI_EMBER");
	if (env && *env)
		return env;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 7);
	if (n > 0) {
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash) {
			strcpy(slash + 1, "ember");
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "/usr/local/bin/ember";
}

/* ---- create, start, run ---- */

struct create_opts {
	const char *bundle, *pid_file, *console_socket;
	bool detach; /* the host process leaves us (create, run -d) or stays our child (run) */
};

static int read_text(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap + 1);
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			if (cap >= (16u << 20))
				break;
			cap *= 2;
			char *p = realloc(buf, cap + 1);
			if (!p) {
				free(buf);
				buf = NULL;
			}
			buf = p;
		}
	}
	fclose(f);
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Returns the host process's pid, or -1 (with one error printed and nothing left behind). */
static pid_t create(const char *id, const struct create_opts *o)
{
	char bundle[PATH_MAX], cfg[PATH_MAX + 16], rootfs[PATH_MAX], err[OCI_ERR_MAX];
	struct oci_spec spec;
	struct stat sb;
	char *text = NULL;
	int dirfd = -1, lockfd = -1, pipefd[2] = {-1, -1};
	pid_t pid = -1;

	if (!oci_id_valid(id)) {
		error("invalid container id \"%s\"", id);
		return -1;
	}
	if (!realpath(o->bundle ? o->bundle : ".", bundle)) {
		error("cannot use the bundle %s: %s", o->bundle ? o->bundle : ".", strerror(errno));
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	int e = read_text(cfg, &text);
	if (e < 0) {
		error("cannot read %s: %s", cfg, strerror(-e));
		return -1;
	}
	e = oci_spec_parse(text, &spec, err, sizeof(err));
	free(text);
	if (e < 0) {
		error("%s/%s", bundle, err);
		return -1;
	}
	int len = spec.root_path[0] == '/'
	              ? snprintf(rootfs, sizeof(rootfs), "%s", spec.root_path)
	              : snprintf(rootfs, sizeof(rootfs), "%s/%s", bundle, spec.root_path);
	if (len >= (int)sizeof(rootfs)) {
		error("root.path is too long");
		goto out_spec;
	}
	if (stat(rootfs, &sb) < 0) {
		error("root.path %s: %s", rootfs, strerror(errno));
		goto out_spec;
	}
	if (!S_ISDIR(sb.st_mode)) {
		error("root.path %s: not a directory", rootfs);
		goto out_spec;
	}
	if (spec.terminal) {
		error("process.terminal: a pty through --console-socket is not supported yet; "
		      "set terminal to false");
		goto out_spec;
	}
	const char *ember = ember_path();
	if (access(ember, X_OK) < 0) {
		error("cannot run %s: %s (set EMBER_OCI_EMBER)", ember, strerror(errno));
		goto out_spec;
	}
	if (mkdir(root_dir, 0711) < 0 && errno != EEXIST) {
		error("cannot make the state root %s: %s", root_dir, strerror(errno));
		goto out_spec;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root_dir, id);
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			error("container with id exists: %s", id);
		else
			error("cannot make %s: %s", path, strerror(errno));
		goto out_spec;
	}
	/* From here on, a failure removes the directory. */
	dirfd = open_dir(id, true);
	lockfd = dirfd < 0 ? -1 : lock_dir(dirfd);
	struct oci_state st = {.status = OCI_CREATING};
	snprintf(st.id, sizeof(st.id), "%s", id);
	snprintf(st.bundle, sizeof(st.bundle), "%s", bundle);
	snprintf(st.rootfs, sizeof(st.rootfs), "%s", rootfs);
	time_t now = time(NULL);
	struct tm tm;
	strftime(st.created, sizeof(st.created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_t *ann = json_object_get(spec.json, "annotations");
	st.annotations = json_is_object(ann) ? json_incref(ann) : NULL;
	if (dirfd < 0 || (e = oci_state_save(dirfd, &st)) < 0) {
		error("cannot write the state of %s: %s", id, strerror(dirfd < 0 ? errno : -e));
		goto fail;
	}
	if (build_image(dirfd, id, rootfs, err, sizeof(err)) < 0) {
		error("%s", err);
		goto fail;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		error("pipe: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		error("fork: %s", strerror(errno));
		goto fail;
	}
	if (child == 0) {
		close(pipefd[0]);
		close(lockfd);
		if (o->detach) {
			/* Leave the caller: the host process is reparented to the nearest
			 * subreaper (conmon, containerd's shim) or init. */
			setsid();
			if (fork() != 0)
				_exit(0);
		}
		dprintf(pipefd[1], "pid %d\n", (int)getpid());
		struct oci_shim_args a = {.dirfd = dirfd,
		                          .ember = ember,
		                          .image = "rootfs.img",
		                          .spec = &spec,
		                          .ready_fd = pipefd[1]};
		oci_shim_run(&a);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (o->detach)
		waitpid(child, NULL, 0);
	char reply[OCI_ERR_MAX + 64];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(reply) - 1 &&
	       (n = read(pipefd[0], reply + got, sizeof(reply) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	int shim_pid = 0;
	char *line2 = strchr(reply, '\n');
	if (sscanf(reply, "pid %d", &shim_pid) != 1 || !line2 || strncmp(line2 + 1, "ok\n", 3)) {
		char *msg = line2 ? line2 + 1 : reply;
		msg[strcspn(msg, "\n")] = '\0';
		error("cannot create container %s: %s", id,
		      msg[0] ? msg : "its host process ended without a word");
		if (shim_pid > 0)
			kill(shim_pid, SIGKILL);
		if (!o->detach)
			waitpid(child, NULL, 0);
		goto fail;
	}
	pid = shim_pid;
	st.pid = pid;
	st.start_time = oci_pid_start_time(pid);
	st.status = OCI_CREATED;
	if ((e = oci_state_save(dirfd, &st)) < 0) {
		error("cannot write the state of %s: %s", id, strerror(-e));
		kill(pid, SIGKILL);
		pid = -1;
		goto fail;
	}
	if (o->pid_file && write_pid_file(o->pid_file, pid) < 0) {
		kill(pid, SIGKILL);
		pid = -1;
		goto fail;
	}
	oci_state_clear(&st);
	goto out;
fail:
	oci_state_clear(&st);
	remove_dir(id);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (lockfd >= 0)
		close(lockfd);
	if (dirfd >= 0)
		close(dirfd);
out_spec:
	oci_spec_free(&spec);
	return pid;
}

static int start(const char *id)
{
	struct oci_state st;
	enum oci_status live;
	int dirfd, rc = 1;
	uint32_t type;
	char reply[OCI_ERR_MAX], err[OCI_ERR_MAX];

	if (load(id, &dirfd, &st, &live) < 0)
		return 1;
	int lockfd = lock_dir(dirfd);
	if (live != OCI_CREATED) {
		error("cannot start a container that is %s", oci_status_name(live));
		goto out;
	}
	if (oci_ctl_call(dirfd, AF_START, NULL, 0, &type, reply, sizeof(reply), err, sizeof(err)) <
	    0) {
		error("cannot start container %s: %s", id, err);
		goto out;
	}
	if (type == AF_ERROR) {
		error("cannot start container %s: %s", id, reply);
		goto out;
	}
	st.status = OCI_RUNNING;
	oci_state_save(dirfd, &st);
	rc = 0;
out:
	oci_state_clear(&st);
	close(lockfd);
	close(dirfd);
	return rc;
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
	    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
	    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
	    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
	    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
	    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
	    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
	    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
	    {"PWR", SIGPWR},       {"SYS", SIGSYS},
	};
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < 65 ? (int)n : -1;
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].name, s))
			return names[i].sig;
	return -1;
}

static int kill_cmd(const char *id, const char *signame, bool all)
{
	struct oci_state st;
	enum oci_status live;
	int dirfd, rc = 1, sig = parse_signal(signame);
	uint32_t type;
	char text[32], reply[OCI_ERR_MAX], err[OCI_ERR_MAX];

	if (sig < 0) {
		error("unknown signal \"%s\"", signame);
		return 1;
	}
	if (load(id, &dirfd, &st, &live) < 0)
		return 1;
	if (live != OCI_CREATED && live != OCI_RUNNING) {
		error("container not running");
		goto out;
	}
	int n = snprintf(text, sizeof(text), "%d %d", sig, all ? 1 : 0);
	if (oci_ctl_call(dirfd, AF_SIGNAL, text, (size_t)n, &type, reply, sizeof(reply), err,
	                 sizeof(err)) < 0) {
		error("cannot signal container %s: %s", id, err);
		goto out;
	}
	rc = 0;
out:
	oci_state_clear(&st);
	close(dirfd);
	return rc;
}

/* End the host process (and with it the VM): SIGKILL, then wait up to 10 s. */
static void stop_host(const struct oci_state *st)
{
	if (st->pid <= 0 || oci_pid_start_time(st->pid) != st->start_time)
		return;
	kill(st->pid, SIGKILL);
	for (int i = 0; i < 1000 && oci_pid_start_time(st->pid) == st->start_time; i++)
		usleep(10000);
}

static int delete_cmd(const char *id, bool force)
{
	struct oci_state st;
	enum oci_status live;
	int dirfd;

	if (load(id, &dirfd, &st, &live) < 0) {
		/* runc: deleting what is not there with --force is not an error. */
		return force && oci_id_valid(id) && open_dir(id, false) < 0 ? 0 : 1;
	}
	int lockfd = lock_dir(dirfd);
	live = oci_state_status(dirfd, &st);
	if (live == OCI_RUNNING && !force) {
		error("cannot delete container %s that is not stopped: %s", id,
		      oci_status_name(live));
		oci_state_clear(&st);
		close(lockfd);
		close(dirfd);
		return 1;
	}
	if (live != OCI_STOPPED)
		stop_host(&st);
	oci_state_clear(&st);
	close(lockfd);
	close(dirfd);
	remove_dir(id);
	return 0;
}

static int state_cmd(const char *id)
{
	struct oci_state st;
	enum oci_status live;
	int dirfd;
	if (load(id, &dirfd, &st, &live) < 0)
		return 1;
	json_t *o = oci_state_json(&st, live, false);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", text);
	free(text);
	json_decref(o);
	oci_state_clear(&st);
	close(dirfd);
	return 0;
}

static int ps_cmd(const char *id, const char *format)
{
	struct oci_state st;
	enum oci_status live;
	int dirfd;
	if (load(id, &dirfd, &st, &live) < 0)
		return 1;
	bool any = live == OCI_CREATED || live == OCI_RUNNING;
	/* The container's one host process; its processes live in the guest's pid space. */
	if (!strcmp(format, "json"))
		any ? printf("[%d]\n", (int)st.pid) : printf("[]\n");
	else
		any ? printf("PID\n%d\n", (int)st.pid) : printf("PID\n");
	oci_state_clear(&st);
	close(dirfd);
	return 0;
}

static pid_t run_child = -1;

static void run_forward(int sig)
{
	if (run_child > 0)
		kill(run_child, sig);
}

static int run_cmd(const char *id, struct create_opts *o, bool keep)
{
	bool detach = o->detach;
	o->detach = detach;
	pid_t pid = create(id, o);
	if (pid < 0)
		return 1;
	if (!detach) {
		struct sigaction sa = {.sa_handler = run_forward, .sa_flags = SA_RESTART};
		run_child = pid;
		for (int sig = 1; sig < 32; sig++)
			if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sig != SIGSEGV &&
			    sig != SIGBUS && sig != SIGFPE && sig != SIGILL && sig != SIGTSTP &&
			    sig != SIGTTIN && sig != SIGTTOU)
				sigaction(sig, &sa, NULL);
	}
	if (start(id) != 0) {
		int dirfd = open_dir(id, false);
		if (dirfd >= 0) {
			struct oci_state st;
			if (oci_state_load(dirfd, &st) == 0) {
				stop_host(&st);
				oci_state_clear(&st);
			}
			close(dirfd);
		}
		if (!detach)
			waitpid(pid, NULL, 0);
		remove_dir(id);
		return 1;
	}
	if (detach)
		return 0;
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!keep)
		remove_dir(id);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* ---- exec ---- */

static int exec_relay(int s, int ready_fd)
{
	static char data[AGENT_MAX_PAYLOAD + 1];
	struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 255;
		}
		if (p[1].revents) {
			ssize_t n = read(STDIN_FILENO, data, AGENT_MAX_PAYLOAD);
			if (n <= 0) {
				oci_frame_send(s, AF_STDIN_EOF, 0, NULL, 0);
				p[1].fd = -1;
			} else {
				oci_frame_send(s, AF_STDIN, 0, data, (size_t)n);
			}
		}
		if (p[0].revents) {
			uint32_t type, id, len;
			if (oci_frame_recv(s, &type, &id, data, &len) < 0) {
				error("the container ended before the exec process reported its "
				      "exit");
				return 255;
			}
			switch (type) {
			case AF_STARTED:
				if (ready_fd >= 0) {
					if (write(ready_fd, "ok\n", 3) != 3) {
						/* exec has gone. */
					}
					close(ready_fd);
					ready_fd = -1;
				}
				p[1].fd = STDIN_FILENO;
				break;
			case AF_ERROR:
				error("exec failed: %s", data);
				if (ready_fd >= 0 && write(ready_fd, data, len) < 0) {
					/* exec has gone. */
				}
				return 255;
			case AF_STDOUT:
				if (write(STDOUT_FILENO, data, len) < 0) {
					/* Nobody reads: drop. */
				}
				break;
			case AF_STDERR:
				if (write(STDERR_FILENO, data, len) < 0) {
					/* Nobody reads: drop. */
				}
				break;
			case AF_EXIT:
				return atoi(data) & 0xff;
			}
		}
	}
}

static int exec_cmd(const char *id, const char *process_file, char **args, int nargs, bool detach,
                    const char *pid_file)
{
	struct oci_state st;
	enum oci_status live;
	struct oci_blob blob = {0};
	char err[OCI_ERR_MAX];
	json_t *proc;
	int dirfd;

	if (load(id, &dirfd, &st, &live) < 0)
		return 1;
	oci_state_clear(&st);
	if (live != OCI_RUNNING) {
		error("cannot exec in a container that is %s", oci_status_name(live));
		return 1;
	}
	if (process_file) {
		json_error_t jerr;
		proc = json_load_file(process_file, JSON_REJECT_DUPLICATES, &jerr);
		if (!proc) {
			error("cannot read the process %s: %s", process_file, jerr.text);
			return 1;
		}
	} else {
		if (nargs == 0) {
			error("exec: a command or --process is required");
			return 1;
		}
		proc =
		    json_pack("{s:[], s:[s], s:s}", "args", "env",
		              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		              "cwd", "/");
		for (int i = 0; i < nargs; i++)
			json_array_append_new(json_object_get(proc, "args"), json_string(args[i]));
	}
	if (json_is_true(json_object_get(proc, "terminal"))) {
		error("exec: process.terminal (--tty) is not supported yet");
		json_decref(proc);
		return 1;
	}
	if (oci_process_encode(proc, &blob, err, sizeof(err)) < 0) {
		error("exec: %s", err);
		json_decref(proc);
		return 1;
	}
	json_decref(proc);
	int s = oci_ctl_connect(dirfd);
	close(dirfd);
	if (s < 0 || oci_frame_send(s, AF_EXEC, 0, blob.buf, blob.len) < 0) {
		error("cannot reach container %s's host process", id);
		oci_blob_free(&blob);
		return 1;
	}
	oci_blob_free(&blob);
	if (!detach) {
		if (pid_file && write_pid_file(pid_file, getpid()) < 0)
			return 1;
		return exec_relay(s, -1);
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		_exit(exec_relay(s, pipefd[1]));
	}
	close(pipefd[1]);
	char reply[OCI_ERR_MAX] = "";
	ssize_t n = read(pipefd[0], reply, sizeof(reply) - 1);
	close(pipefd[0]);
	if (n < 3 || strncmp(reply, "ok\n", 3))
		return 1; /* the relay said why */
	if (pid_file && write_pid_file(pid_file, pid) < 0)
		return 1;
	return 0;
}

/* ---- features, spec, version ---- */

static int features_cmd(void)
{
	printf("{\n"
	       "  \"ociVersionMin\": \"1.0.0\",\n"
	       "  \"ociVersionMax\": \"%s\",\n"
	       "  \"hooks\": [],\n"
	       "  \"mountOptions\": [\"ro\", \"rw\", \"nosuid\", \"suid\", \"nodev\", \"dev\", "
	       "\"noexec\", \"exec\", \"sync\", \"async\", \"noatime\", \"atime\", \"nodiratime\", "
	       "\"relatime\", \"norelatime\", \"strictatime\"],\n"
	       "  \"linux\": {\n"
	       "    \"namespaces\": [],\n"
	       "    \"capabilities\": [],\n"
	       "    \"cgroup\": {\"v1\": false, \"v2\": false, \"systemd\": false},\n"
	       "    \"seccomp\": {\"enabled\": false},\n"
	       "    \"apparmor\": {\"enabled\": false},\n"
	       "    \"selinux\": {\"enabled\": false}\n"
	       "  },\n"
	       "  \"annotations\": {\"io.github.ember.isolation\": \"microvm\"}\n"
	       "}\n",
	       OCI_VERSION);
	return 0;
}

static int spec_cmd(const char *bundle)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/config.json", bundle ? bundle : ".");
	if (access(path, F_OK) == 0) {
		error("File %s exists. Remove it first", path);
		return 1;
	}
	FILE *f = fopen(path, "we");
	if (!f) {
		error("cannot write %s: %s", path, strerror(errno));
		return 1;
	}
	fprintf(
	    f,
	    "{\n"
	    "  \"ociVersion\": \"%s\",\n"
	    "  \"process\": {\n"
	    "    \"terminal\": false,\n"
	    "    \"user\": {\"uid\": 0, \"gid\": 0},\n"
	    "    \"args\": [\"sh\"],\n"
	    "    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
	    "\"TERM=xterm\"],\n"
	    "    \"cwd\": \"/\",\n"
	    "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
	    "    \"noNewPrivileges\": true\n"
	    "  },\n"
	    "  \"root\": {\"path\": \"rootfs\", \"readonly\": false},\n"
	    "  \"hostname\": \"ember\",\n"
	    "  \"mounts\": [\n"
	    "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
	    "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", "
	    "\"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
	    "    {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", "
	    "\"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", "
	    "\"mode=0620\"]},\n"
	    "    {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", "
	    "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
	    "    {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": "
	    "\"mqueue\", \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
	    "    {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", "
	    "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]}\n"
	    "  ],\n"
	    "  \"linux\": {\"resources\": {\"memory\": {\"limit\": 268435456}}}\n"
	    "}\n",
	    OCI_VERSION);
	return fclose(f) == 0 ? 0 : 1;
}

/* ---- the command line ---- */

static const char usage_text[] =
    "usage: ember-oci [--root DIR] [--log FILE] [--log-format text|json] [--systemd-cgroup]\n"
    "                 COMMAND [FLAGS] ID\n"
    "commands:\n"
    "  create ID [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot]\n"
    "            [--no-new-keyring]     boot the container's microVM, process not started\n"
    "  start ID                         start the container's process\n"
    "  run ID [--bundle DIR] [--detach] [--pid-file F] [--keep] ...  create and start\n"
    "  state ID                         the container's state as JSON\n"
    "  kill ID [SIGNAL] [--all]         signal the process (default SIGTERM)\n"
    "  delete ID [--force]              remove a stopped container (--force: any)\n"
    "  exec ID (--process F.json | CMD ARG...) [--detach] [--pid-file F]\n"
    "  ps ID [--format table|json]      the container's host process\n"
    "  features                         what this runtime supports, as JSON\n"
    "  spec [--bundle DIR]              write a starting config.json\n"
    "The container's process is the pid create reports: a host process that runs the\n"
    "microVM and exits with the container process's status.\n";

enum {
	OPT_BUNDLE = 'b',
	OPT_DETACH = 'd',
	OPT_FORCE = 'f',
	OPT_ALL = 'a',
	OPT_PROCESS = 'p',
	OPT_TTY = 't',
	OPT_PIDFILE = 256,
	OPT_CONSOLE,
	OPT_NOPIVOT,
	OPT_NOKEYRING,
	OPT_FORMAT,
	OPT_KEEP,
	OPT_PRESERVE_FDS,
	OPT_CWD,
	OPT_ENV,
	OPT_USER,
};

static const struct option cmd_opts[] = {
    {"bundle", required_argument, NULL, OPT_BUNDLE},
    {"pid-file", required_argument, NULL, OPT_PIDFILE},
    {"console-socket", required_argument, NULL, OPT_CONSOLE},
    {"no-pivot", no_argument, NULL, OPT_NOPIVOT},
    {"no-new-keyring", no_argument, NULL, OPT_NOKEYRING},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"force", no_argument, NULL, OPT_FORCE},
    {"all", no_argument, NULL, OPT_ALL},
    {"process", required_argument, NULL, OPT_PROCESS},
    {"tty", no_argument, NULL, OPT_TTY},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS},
    {"cwd", required_argument, NULL, OPT_CWD},
    {"env", required_argument, NULL, OPT_ENV},
    {"user", required_argument, NULL, OPT_USER},
    {NULL, 0, NULL, 0},
};

/* Which flags each command takes (by the option's value). */
static const struct {
	const char *name;
	const char *flags; /* option values as characters; 256+ mapped below */
	int min_args, max_args;
} commands[] = {
    {"create", "bPCNK", 1, 1},
    {"start", "", 1, 1},
    {"state", "", 1, 1},
    {"kill", "a", 1, 2},
    {"delete", "f", 1, 1},
    {"run", "bPCNKdE", 1, 1},
    {"exec", "pdPCtSWVU", 1, 4096},
    {"ps", "F", 1, 1},
    {"features", "", 0, 0},
    {"spec", "b", 0, 0},
};

static char opt_letter(int val)
{
	switch (val) {
	case OPT_PIDFILE:
		return 'P';
	case OPT_CONSOLE:
		return 'C';
	case OPT_NOPIVOT:
		return 'N';
	case OPT_NOKEYRING:
		return 'K';
	case OPT_FORMAT:
		return 'F';
	case OPT_KEEP:
		return 'E';
	case OPT_PRESERVE_FDS:
		return 'S';
	case OPT_CWD:
		return 'W';
	case OPT_ENV:
		return 'V';
	case OPT_USER:
		return 'U';
	default:
		return (char)val;
	}
}

int main(int argc, char **argv)
{
	static const struct option global_opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"log", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'L'},
	    {"systemd-cgroup", no_argument, NULL, 's'},
	    {"debug", no_argument, NULL, 'D'},
	    {"version", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	/* Global flags stop at the command ("+"). */
	while ((c = getopt_long(argc, argv, "+vh", global_opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root_dir = optarg;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'L':
			if (strcmp(optarg, "text") && strcmp(optarg, "json"))
				return usage_error(NULL, "invalid log format \"%s\": text or json",
				                   optarg);
			log_json = !strcmp(optarg, "json");
			break;
		case 's':
			break; /* accepted: the VM's host process is not put in any cgroup */
		case 'D':
			break;
		case 'v':
			printf("ember-oci version %s\nspec: %s\n", EMBER_VERSION, OCI_VERSION);
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error(NULL, "flag provided but not defined: %s",
			                   argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 1;
	}
	const char *cmd = argv[optind];
	size_t k;
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(commands[k].name, cmd))
			break;
	if (k == sizeof(commands) / sizeof(commands[0]))
		return usage_error(NULL, "No help topic for '%s'", cmd);

	struct create_opts co = {0};
	const char *process = NULL, *format = "table";
	bool force = false, all = false, keep = false;
	char *pos[4096];
	int npos = 0;
	argv += optind;
	argc -= optind;
	optind = 1;
	/* Flags and positionals mix, as urfave/cli allows; exec's command ends the flags. */
	for (;;) {
		if (!strcmp(cmd, "exec") && npos >= 1 && optind < argc && argv[optind][0] != '-')
			break;
		c = getopt_long(argc, argv, "+dfatp:b:", cmd_opts, NULL);
		if (c == -1) {
			if (optind < argc && npos < 4096 && strcmp(argv[optind - 1], "--")) {
				pos[npos++] = argv[optind++];
				continue;
			}
			break;
		}
		if (c == '?' || !strchr(commands[k].flags, opt_letter(c)))
			return usage_error(cmd, "flag provided but not defined: %s",
			                   argv[optind - 1]);
		switch (c) {
		case OPT_BUNDLE:
			co.bundle = optarg;
			break;
		case OPT_PIDFILE:
			co.pid_file = optarg;
			break;
		case OPT_CONSOLE:
			co.console_socket = optarg;
			break;
		case OPT_DETACH:
			co.detach = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_PROCESS:
			process = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "json") && strcmp(optarg, "table"))
				return usage_error(cmd, "invalid format option \"%s\"", optarg);
			format = optarg;
			break;
		case OPT_KEEP:
			keep = true;
			break;
		case OPT_TTY:
			return usage_error(cmd, "%s: a pty is not supported yet", "--tty");
		case OPT_CWD:
		case OPT_ENV:
		case OPT_USER:
		case OPT_PRESERVE_FDS:
			return usage_error(cmd, "%s is not supported yet", argv[optind - 1]);
		default:
			break; /* --no-pivot, --no-new-keyring: nothing to pivot or key */
		}
	}
	while (optind < argc && npos < 4096)
		pos[npos++] = argv[optind++];
	if (npos < commands[k].min_args)
		return usage_error(cmd, "\"%s\" requires a container id", cmd);
	if (npos > commands[k].max_args)
		return usage_error(cmd, "unexpected argument \"%s\"", pos[commands[k].max_args]);

	if (!strcmp(cmd, "create")) {
		co.detach = true;
		return create(pos[0], &co) < 0 ? 1 : 0;
	}
	if (!strcmp(cmd, "start"))
		return start(pos[0]);
	if (!strcmp(cmd, "state"))
		return state_cmd(pos[0]);
	if (!strcmp(cmd, "kill"))
		return kill_cmd(pos[0], npos > 1 ? pos[1] : "SIGTERM", all);
	if (!strcmp(cmd, "delete"))
		return delete_cmd(pos[0], force);
	if (!strcmp(cmd, "run"))
		return run_cmd(pos[0], &co, keep);
	if (!strcmp(cmd, "exec"))
		return exec_cmd(pos[0], process, pos + 1, npos - 1, co.detach, co.pid_file);
	if (!strcmp(cmd, "ps"))
		return ps_cmd(pos[0], format);
	if (!strcmp(cmd, "features"))
		return features_cmd();
	return spec_cmd(co.bundle);
}
