/*
 * The default guest's agent mode (ember_agent=1 on the kernel command line), for
 * ember-oci: PID 1 has mounted the container's root; the agent connects to the host over
 * vsock, receives the container's process, runs it and relays its stdio, signals and exit
 * status. The wire is in guest/agent_proto.h.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent.h"
#include "agent_proto.h"

#define MAX_PROCS 32

struct proc {
	bool used;
	bool started;
	uint32_t id;
	pid_t pid;
	int in, out, err; /* our ends of its pipes, -1 once closed */
	char *spec;       /* id 0: kept from SPEC until START */
	size_t spec_len;
};

static struct proc procs[MAX_PROCS];
static int sock = -1;

__attribute__((format(printf, 1, 2))) static void agent_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "ember-agent: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* No console: nowhere to say it. */
	}
}

static void send_frame(uint32_t type, uint32_t id, const void *data, size_t len)
{
	struct agent_frame f = {.type = type, .id = id, .len = (uint32_t)len};
	if (agent_write_all(sock, &f, sizeof(f)) < 0 ||
	    (len && agent_write_all(sock, data, len) < 0))
		agent_say("cannot send to the host: %s", strerror(errno));
}

static void send_text(uint32_t type, uint32_t id, const char *text)
{
	send_frame(type, id, text, strlen(text));
}

static struct proc *proc_find(uint32_t id)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i].used && procs[i].id == id)
			return &procs[i];
	return NULL;
}

static struct proc *proc_new(uint32_t id)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (!procs[i].used) {
			procs[i] =
			    (struct proc){.used = true, .id = id, .in = -1, .out = -1, .err = -1};
			return &procs[i];
		}
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A parsed process spec: pointers into the frame's strings. */
struct pspec {
	char *argv[AGENT_MAX_STRINGS + 1];
	char *envp[AGENT_MAX_STRINGS + 1];
	gid_t groups[64];
	struct {
		int res;
		struct rlimit lim;
	} rl[32];
	size_t argc, envc, ngroups, nrl;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	bool nnp;
};

static const char *pspec_parse(char *buf, size_t len, struct pspec *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->cwd = "/";
	if (len == 0 || buf[len - 1] != '\0')
		return "the process spec does not end with a NUL";
	for (char *p = buf, *next; p < buf + len; p = next) {
		next = p + strlen(p) + 1; /* before the '=' below becomes a NUL */
		char *v = strchr(p, '=');
		if (!v)
			return "a process spec string has no '='";
		*v++ = '\0';
		if (!strcmp(p, "arg") && ps->argc < AGENT_MAX_STRINGS) {
			ps->argv[ps->argc++] = v;
		} else if (!strcmp(p, "env") && ps->envc < AGENT_MAX_STRINGS) {
			ps->envp[ps->envc++] = v;
		} else if (!strcmp(p, "cwd")) {
			ps->cwd = v;
		} else if (!strcmp(p, "uid")) {
			ps->uid = (uid_t)strtoul(v, NULL, 10);
		} else if (!strcmp(p, "gid")) {
			ps->gid = (gid_t)strtoul(v, NULL, 10);
		} else if (!strcmp(p, "gid+")) {
			if (ps->ngroups == sizeof(ps->groups) / sizeof(ps->groups[0]))
				return "more than 64 additional groups";
			ps->groups[ps->ngroups++] = (gid_t)strtoul(v, NULL, 10);
		} else if (!strcmp(p, "rlimit")) {
			unsigned long long soft, hard;
			int res;
			if (ps->nrl == sizeof(ps->rl) / sizeof(ps->rl[0]) ||
			    sscanf(v, "%d:%llu:%llu", &res, &soft, &hard) != 3)
				return "a malformed rlimit";
			ps->rl[ps->nrl].res = res;
			ps->rl[ps->nrl].lim.rlim_cur = soft;
			ps->rl[ps->nrl].lim.rlim_max = hard;
			ps->nrl++;
		} else if (!strcmp(p, "nnp")) {
			ps->nnp = !strcmp(v, "1");
		}
		/* hostname= and mount= belong to SPEC's container setup; ignored here. */
	}
	if (ps->argc == 0)
		return "the process has no args";
	return NULL;
}

/* In the child: never returns. Errors go to the process's own stderr, as runc's do. */
static void child_exec(struct pspec *ps, int in, int out, int err)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	const char *what = "chdir";
	if (chdir(ps->cwd) < 0)
		goto fail;
	what = "setrlimit";
	for (size_t i = 0; i < ps->nrl; i++)
		if (setrlimit(ps->rl[i].res, &ps->rl[i].lim) < 0)
			goto fail;
	what = "setgroups";
	if (setgroups(ps->ngroups, ps->groups) < 0)
		goto fail;
	what = "setgid";
	if (setgid(ps->gid) < 0)
		goto fail;
	what = "setuid";
	if (setuid(ps->uid) < 0)
		goto fail;
	what = "no_new_privs";
	if (ps->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	environ = ps->envp;
	execvp(ps->argv[0], ps->argv);
	int e = errno;
	dprintf(STDERR_FILENO, "ember-oci: exec: \"%s\": %s\n", ps->argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
fail:
	dprintf(STDERR_FILENO, "ember-oci: %s: %s\n", what, strerror(errno));
	_exit(126);
}

static const char *proc_start(struct proc *p, char *spec, size_t len)
{
	static struct pspec ps; /* large: not on the stack */
	int in[2], out[2], err[2];
	const char *why = pspec_parse(spec, len, &ps);
	if (why)
		return why;
	if (pipe2(in, O_CLOEXEC) < 0)
		return "pipe";
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return "pipe";
	}
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return "pipe";
	}
	pid_t pid = fork();
	if (pid == 0)
		child_exec(&ps, in[0], out[1], err[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		close(err[0]);
		return "fork failed";
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	p->pid = pid;
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
	p->started = true;
	return NULL;
}

/* Relay what is readable now from one of a process's pipes; false at its end. */
static bool relay_out(struct proc *p, int *fd, uint32_t type)
{
	static char buf[AGENT_MAX_PAYLOAD];
	for (;;) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			close_fd(fd);
			return false;
		}
		send_frame(type, p->id, buf, (size_t)n);
	}
}

static bool sig_terminates(int sig)
{
	return sig != SIGCHLD && sig != SIGWINCH && sig != SIGURG && sig != SIGCONT && sig != 0;
}

/* A container's mounts inside the guest (after PID 1 entered the root disk). */
static const char *apply_mounts(char *buf, size_t len, char *why, size_t cap)
{
	for (char *p = buf; p < buf + len; p += strlen(p) + 1) {
		if (!strncmp(p, "hostname=", 9)) {
			const char *h = p + 9;
			if (sethostname(h, strlen(h)) < 0) {
				snprintf(why, cap, "sethostname: %s", strerror(errno));
				return why;
			}
			continue;
		}
		if (strncmp(p, "mount=", 6))
			continue;
		char line[4096], *type = line, *flags, *dest, *data;
		snprintf(line, sizeof(line), "%s", p + 6);
		if (!(flags = strchr(type, ':')) || !(dest = strchr(flags + 1, ':')) ||
		    !(data = strchr(dest + 1, ':'))) {
			snprintf(why, cap, "malformed mount '%.256s'", p + 6);
			return why;
		}
		*flags++ = *dest++ = *data++ = '\0';
		/* devtmpfs is on /dev already, with every device node a tmpfs would lack. */
		if (!strcmp(dest, "/dev") && !strcmp(type, "tmpfs"))
			continue;
		for (char *s = dest + 1; *s; s++)
			if (*s == '/') {
				*s = '\0';
				mkdir(dest, 0755);
				*s = '/';
			}
		mkdir(dest, 0755);
		/* EBUSY: PID 1 mounted that file system there already (proc, sysfs). */
		if (mount(type, dest, type, strtoul(flags, NULL, 10), *data ? data : NULL) < 0 &&
		    errno != EBUSY) {
			snprintf(why, cap, "cannot mount %.64s on %.256s: %s", type, dest,
			         strerror(errno));
			return why;
		}
	}
	return NULL;
}

static int connect_host(void)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = AGENT_PORT};
	/* The transport probes after its module loads: retry for up to 10 s. */
	for (int i = 0; i < 1000; i++) {
		int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return s;
		if (s >= 0)
			close(s);
		usleep(10000);
	}
	return -1;
}

/* Wait (at most 3 s) for the host to close, so the last frames reach it. */
static void drain_host(void)
{
	char buf[256];
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	shutdown(sock, SHUT_WR);
	for (int i = 0; i < 30; i++) {
		if (poll(&pfd, 1, 100) > 0 && read(sock, buf, sizeof(buf)) <= 0)
			return;
	}
}

static void proc_finish(struct proc *p, int status)
{
	char text[16];
	if (p->out >= 0)
		relay_out(p, &p->out, AF_STDOUT);
	if (p->err >= 0)
		relay_out(p, &p->err, AF_STDERR);
	close_fd(&p->in);
	close_fd(&p->out);
	close_fd(&p->err);
	snprintf(text, sizeof(text), "%d", status);
	send_text(AF_EXIT, p->id, text);
	p->used = false;
}

/* One frame from the host; returns -1 when the container is over (status in *status). */
static int handle_frame(struct agent_frame *f, char *data, int *status)
{
	struct proc *p = proc_find(f->id);
	char why[512];
	const char *err;

	switch (f->type) {
	case AF_SPEC:
		if (p || f->id != 0) {
			send_text(AF_ERROR, f->id, "SPEC twice");
			return 0;
		}
		err = apply_mounts(data, f->len, why, sizeof(why));
		if (err) {
			send_text(AF_ERROR, 0, err);
			*status = 125;
			return -1;
		}
		p = proc_new(0);
		p->spec = malloc(f->len);
		memcpy(p->spec, data, f->len);
		p->spec_len = f->len;
		send_frame(AF_READY, 0, NULL, 0);
		return 0;
	case AF_START:
	case AF_EXEC:
		if (f->type == AF_EXEC) {
			if (p || f->id == 0 || !(p = proc_new(f->id))) {
				send_text(AF_ERROR, f->id, "bad or too many exec processes");
				return 0;
			}
			err = proc_start(p, data, f->len);
		} else {
			if (!p || p->started) {
				send_text(AF_ERROR, f->id, "START without SPEC, or twice");
				return 0;
			}
			err = proc_start(p, p->spec, p->spec_len);
		}
		if (err) {
			send_text(AF_ERROR, f->id, err);
			if (f->id == 0) {
				*status = 125;
				return -1;
			}
			p->used = false;
			return 0;
		}
		send_frame(AF_STARTED, f->id, NULL, 0);
		return 0;
	case AF_STDIN:
		if (p && p->in >= 0 && agent_write_all(p->in, data, f->len) < 0)
			close_fd(&p->in);
		return 0;
	case AF_STDIN_EOF:
		if (p)
			close_fd(&p->in);
		return 0;
	case AF_SIGNAL: {
		int sig = 0, all = 0;
		sscanf(data, "%d %d", &sig, &all);
		if (all && f->id == 0)
			kill(-1, sig); /* every process but PID 1 */
		else if (p && p->started)
			kill(p->pid, sig);
		else if (p && f->id == 0 && sig_terminates(sig)) {
			/* Created, never started: the container ends as if its process did. */
			*status = 128 + sig;
			snprintf(why, sizeof(why), "%d", 128 + sig);
			send_text(AF_EXIT, 0, why);
			return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

int agent_main(void)
{
	static char data[AGENT_MAX_PAYLOAD + 1];
	sigset_t set;
	int sfd, status = 125;

	sock = connect_host();
	if (sock < 0) {
		agent_say("cannot connect to the host on vsock port 1024: %s", strerror(errno));
		return 125;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		agent_say("signalfd: %s", strerror(errno));
		return 125;
	}
	for (;;) {
		struct pollfd pfd[2 + 2 * MAX_PROCS];
		struct proc *who[2 + 2 * MAX_PROCS];
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){.fd = sock, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		for (int i = 0; i < MAX_PROCS; i++) {
			struct proc *p = &procs[i];
			if (!p->used)
				continue;
			if (p->out >= 0) {
				who[n] = p;
				pfd[n++] = (struct pollfd){.fd = p->out, .events = POLLIN};
			}
			if (p->err >= 0) {
				who[n] = p;
				pfd[n++] = (struct pollfd){.fd = p->err, .events = POLLIN};
			}
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			agent_say("poll: %s", strerror(errno));
			return 125;
		}
		for (nfds_t i = 2; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			struct proc *p = who[i];
			if (pfd[i].fd == p->out)
				relay_out(p, &p->out, AF_STDOUT);
			else if (pfd[i].fd == p->err)
				relay_out(p, &p->err, AF_STDERR);
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			int ws;
			pid_t pid;
			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				return 125;
			/* Reap everything, orphans too: PID 1's duty. */
			while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
				int st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
				for (int i = 0; i < MAX_PROCS; i++) {
					struct proc *p = &procs[i];
					if (!p->used || !p->started || p->pid != pid)
						continue;
					uint32_t id = p->id;
					proc_finish(p, st);
					if (id == 0) {
						drain_host();
						return st;
					}
				}
			}
		}
		if (pfd[0].revents) {
			struct agent_frame f;
			if (agent_read_all(sock, &f, sizeof(f)) < 0 || f.len > AGENT_MAX_PAYLOAD ||
			    (f.len && agent_read_all(sock, data, f.len) < 0)) {
				agent_say("the host closed the agent's connection");
				return 125;
			}
			data[f.len] = '\0';
			if (handle_frame(&f, data, &status) < 0) {
				drain_host();
				return status;
			}
		}
	}
}
