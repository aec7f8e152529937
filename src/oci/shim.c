/*
 * The host process of one container: the pid `create` reports. It runs `ember` with the
 * default guest in agent mode, hands the agent the container's process over vsock, relays
 * the process's stdio to its own, serves start, kill and exec on ROOT/ID/ctl.sock, and
 * exits with the process's status (writing it to ROOT/ID/exit first).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "oci.h"
#include "../../guest/agent_proto.h"

#define MAX_CLIENTS  32
#define BOOT_TIMEOUT 120 /* s: the rig boots a guest in 2-3 s, but is often busy */

int oci_frame_send(int fd, uint32_t type, uint32_t id, const void *data, size_t len)
{
	struct agent_frame f = {.type = type, .id = id, .len = (uint32_t)len};
	if (len > AGENT_MAX_PAYLOAD)
		return -1;
	if (agent_write_all(fd, &f, sizeof(f)) < 0 || (len && agent_write_all(fd, data, len) < 0))
		return -1;
	return 0;
}

int oci_frame_recv(int fd, uint32_t *type, uint32_t *id, char *data, uint32_t *len)
{
	struct agent_frame f;
	if (agent_read_all(fd, &f, sizeof(f)) < 0 || f.len > AGENT_MAX_PAYLOAD ||
	    (f.len && agent_read_all(fd, data, f.len) < 0))
		return -1;
	data[f.len] = '\0';
	*type = f.type;
	*id = f.id;
	*len = f.len;
	return 0;
}

static int listen_at(int dirfd, const char *name)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char path[64];
	int s;
	/* Short paths through /proc/self/fd: ROOT/ID may be longer than sun_path. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	unlinkat(dirfd, name, 0);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 16) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

int oci_ctl_connect(int dirfd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/ctl.sock", dirfd);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

int oci_ctl_call(int dirfd, uint32_t type, const void *data, size_t len, uint32_t *reply_type,
                 char *reply, size_t reply_cap, char *err, size_t errlen)
{
	static char buf[AGENT_MAX_PAYLOAD + 1];
	uint32_t id, n;
	int s = oci_ctl_connect(dirfd);
	if (s < 0) {
		snprintf(err, errlen, "cannot reach the container's host process: %s",
		         strerror(-s));
		return -1;
	}
	if (oci_frame_send(s, type, 0, data, len) < 0 ||
	    oci_frame_recv(s, reply_type, &id, buf, &n) < 0) {
		snprintf(err, errlen, "the container's host process did not answer");
		close(s);
		return -1;
	}
	close(s);
	snprintf(reply, reply_cap, "%s", buf);
	return 0;
}

/* The shim's whole state: one per process, so globals. */
static struct {
	int dirfd;
	int agent; /* the vsock stream from the guest agent */
	int ctl;   /* listening on ctl.sock */
	int sigfd;
	pid_t ember;
	bool started;
	bool stdin_open;
	int start_client; /* the client waiting for STARTED, -1 */
	struct client {
		int fd;      /* -1: free */
		uint32_t id; /* an exec process's id, 0 for a one-shot command */
	} clients[MAX_CLIENTS];
	uint32_t next_id;
} sh;

static void record_exit(int status)
{
	char text[16];
	int fd = openat(sh.dirfd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int n = snprintf(text, sizeof(text), "%d\n", status);
		if (write(fd, text, (size_t)n) != n) {
			/* The status is also this process's exit status. */
		}
		close(fd);
		renameat(sh.dirfd, "exit.tmp", sh.dirfd, "exit");
	}
}

static __attribute__((noreturn)) void shim_exit(int status)
{
	record_exit(status);
	if (sh.ember > 0) {
		/* The agent powers off after EXIT; give ember 10 s, then end it. */
		for (int i = 0; i < 100; i++) {
			if (waitpid(sh.ember, NULL, WNOHANG) == sh.ember) {
				sh.ember = 0;
				break;
			}
			usleep(100000);
		}
		if (sh.ember > 0) {
			kill(sh.ember, SIGKILL);
			waitpid(sh.ember, NULL, 0);
		}
	}
	unlinkat(sh.dirfd, "ctl.sock", 0);
	unlinkat(sh.dirfd, "vsock_1024", 0);
	unlinkat(sh.dirfd, "rootfs.img", 0);
	_exit(status & 0xff);
}

static pid_t spawn_ember(const struct oci_shim_args *a)
{
	char mem[16], vcpus[16], drive[256], vsock[64], append[64];
	int log = openat(a->dirfd, "console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t parent = getpid(), pid;

	snprintf(mem, sizeof(mem), "%u", a->spec->mem_mib);
	snprintf(vcpus, sizeof(vcpus), "%u", a->spec->vcpus);
	snprintf(drive, sizeof(drive), "path=%s,root%s", a->image,
	         a->spec->root_readonly ? ",ro" : "");
	snprintf(vsock, sizeof(vsock), "cid=3,uds=vsock");
	snprintf(append, sizeof(append), "ember_agent=1%s", a->spec->root_readonly ? " ro" : "");
	pid = fork();
	if (pid != 0) {
		if (log >= 0)
			close(log);
		return pid;
	}
	/* The VM ends with this process, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	int null = open("/dev/null", O_RDONLY);
	dup2(null, STDIN_FILENO);
	if (log >= 0) {
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* ember's vsock paths are relative: the state directory is its working directory. */
	if (fchdir(a->dirfd) < 0)
		_exit(2);
	execl(a->ember, "ember", "run", "--mem", mem, "--vcpus", vcpus, "--drive", drive, "--vsock",
	      vsock, "--append", append, (char *)NULL);
	dprintf(STDERR_FILENO, "ember-oci: cannot run %s: %s\n", a->ember, strerror(errno));
	_exit(127);
}

static void ready(int fd, const char *msg)
{
	if (fd < 0)
		return;
	if (agent_write_all(fd, msg, strlen(msg)) < 0 || agent_write_all(fd, "\n", 1) < 0) {
		/* create has gone: nobody to tell. */
	}
	close(fd);
}

/* The last lines the guest printed, for an error message. */
static void console_tail(char *out, size_t cap)
{
	char buf[4096];
	int fd = openat(sh.dirfd, "console.log", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	out[0] = '\0';
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	char *last = strrchr(buf, '\n');
	last = last ? last + 1 : buf;
	size_t len = strlen(last) < cap ? strlen(last) : cap - 1;
	memcpy(out, last, len);
	out[len] = '\0';
}

/* Wait for the agent's connection and its answer to SPEC. */
static int boot(const struct oci_shim_args *a, int vsl, char *err, size_t errlen)
{
	static char data[AGENT_MAX_PAYLOAD + 1];
	uint32_t type, id, len;
	char tail[256];
	for (int i = 0; i < BOOT_TIMEOUT * 10; i++) {
		struct pollfd p = {.fd = vsl, .events = POLLIN};
		int st;
		if (poll(&p, 1, 100) > 0) {
			sh.agent = accept4(vsl, NULL, NULL, SOCK_CLOEXEC);
			if (sh.agent >= 0)
				break;
		}
		if (waitpid(sh.ember, &st, WNOHANG) == sh.ember) {
			sh.ember = 0;
			console_tail(tail, sizeof(tail));
			snprintf(err, errlen,
			         "the microVM ended before its agent started (ember %s %d%s%s)",
			         WIFEXITED(st) ? "exit status" : "signal",
			         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
			         tail[0] ? ": " : "", tail);
			return -1;
		}
	}
	if (sh.agent < 0) {
		snprintf(err, errlen, "the microVM's agent did not connect within %d s",
		         BOOT_TIMEOUT);
		return -1;
	}
	if (oci_frame_send(sh.agent, AF_SPEC, 0, a->spec->agent.buf, a->spec->agent.len) < 0 ||
	    oci_frame_recv(sh.agent, &type, &id, data, &len) < 0) {
		snprintf(err, errlen, "the microVM's agent closed its connection");
		return -1;
	}
	if (type == AF_ERROR) {
		snprintf(err, errlen, "in the microVM: %.400s", data);
		return -1;
	}
	if (type != AF_READY) {
		snprintf(err, errlen, "the microVM's agent answered %u to SPEC", type);
		return -1;
	}
	return 0;
}

static struct client *client_by_id(uint32_t id)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (sh.clients[i].fd >= 0 && sh.clients[i].id == id && id != 0)
			return &sh.clients[i];
	return NULL;
}

static void client_close(struct client *c)
{
	if (c->fd == sh.start_client)
		sh.start_client = -1;
	close(c->fd);
	c->fd = -1;
	c->id = 0;
}

static void to_agent(uint32_t type, uint32_t id, const void *data, size_t len)
{
	if (oci_frame_send(sh.agent, type, id, data, len) < 0) {
		/* The agent is gone; ember's exit ends us. */
	}
}

/* A frame from the agent. */
static void from_agent(uint32_t type, uint32_t id, char *data, uint32_t len)
{
	struct client *c = client_by_id(id);
	if (id == 0) {
		switch (type) {
		case AF_STDOUT:
			if (agent_write_all(STDOUT_FILENO, data, len) < 0) {
				/* Nobody reads the container's output: drop it, as a closed pipe
				 * would. */
			}
			return;
		case AF_STDERR:
			if (agent_write_all(STDERR_FILENO, data, len) < 0) {
				/* As above. */
			}
			return;
		case AF_STARTED:
			sh.started = true;
			sh.stdin_open = true;
			/* fall through */
		case AF_ERROR:
			if (sh.start_client >= 0)
				oci_frame_send(sh.start_client, type, 0, data, len);
			return;
		case AF_EXIT:
			if (sh.start_client >= 0)
				oci_frame_send(sh.start_client, type, 0, data, len);
			shim_exit(atoi(data));
		}
		return;
	}
	if (!c)
		return;
	if (oci_frame_send(c->fd, type, 0, data, len) < 0 || type == AF_EXIT || type == AF_ERROR)
		client_close(c);
}

/* A frame from a ctl.sock client. */
static void from_client(struct client *c, uint32_t type, char *data, uint32_t len)
{
	switch (type) {
	case AF_START:
		if (sh.started || sh.start_client >= 0) {
			oci_frame_send(c->fd, AF_ERROR, 0, "already started", 15);
			client_close(c);
			return;
		}
		sh.start_client = c->fd;
		to_agent(AF_START, 0, NULL, 0);
		return;
	case AF_SIGNAL:
		to_agent(AF_SIGNAL, c->id, data, len);
		if (c->id == 0) {
			oci_frame_send(c->fd, AF_READY, 0, NULL, 0);
			client_close(c);
		}
		return;
	case AF_EXEC:
		if (c->id != 0)
			return;
		c->id = ++sh.next_id;
		to_agent(AF_EXEC, c->id, data, len);
		return;
	case AF_STDIN:
	case AF_STDIN_EOF:
		if (c->id)
			to_agent(type, c->id, data, len);
		return;
	default:
		client_close(c);
	}
}

static void forward_signal(int sig)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d 0", sig);
	to_agent(AF_SIGNAL, 0, text, (size_t)n);
}

void oci_shim_run(struct oci_shim_args *a)
{
	static char data[AGENT_MAX_PAYLOAD + 1];
	char err[OCI_ERR_MAX];
	sigset_t set;
	int vsl;

	sh.dirfd = a->dirfd;
	sh.agent = sh.ctl = -1;
	sh.start_client = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		sh.clients[i].fd = -1;
	sigemptyset(&set);
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV && sig != SIGBUS &&
		    sig != SIGFPE && sig != SIGILL && sig != SIGTSTP && sig != SIGTTIN &&
		    sig != SIGTTOU)
			sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sh.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	vsl = listen_at(a->dirfd, "vsock_"
	                          "1024");
	sh.ctl = listen_at(a->dirfd, "ctl.sock");
	if (sh.sigfd < 0 || vsl < 0 || sh.ctl < 0) {
		snprintf(err, sizeof(err), "cannot make the container's sockets: %s",
		         strerror(vsl < 0      ? -vsl
		                  : sh.ctl < 0 ? -sh.ctl
		                               : errno));
		ready(a->ready_fd, err);
		shim_exit(125);
	}
	sh.ember = spawn_ember(a);
	if (sh.ember < 0 || boot(a, vsl, err, sizeof(err)) < 0) {
		if (sh.ember < 0)
			snprintf(err, sizeof(err), "cannot fork: %s", strerror(errno));
		ready(a->ready_fd, err);
		if (sh.ember > 0)
			kill(sh.ember, SIGKILL);
		shim_exit(125);
	}
	close(vsl);
	ready(a->ready_fd, "ok");

	for (;;) {
		struct pollfd p[4 + MAX_CLIENTS];
		nfds_t n = 0;
		p[n++] = (struct pollfd){.fd = sh.agent, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = sh.sigfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = sh.ctl, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = sh.started && sh.stdin_open ? STDIN_FILENO : -1,
		                         .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++)
			p[n++] = (struct pollfd){.fd = sh.clients[i].fd, .events = POLLIN};
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			shim_exit(125);
		}
		if (p[0].revents) {
			uint32_t type, id, len;
			if (oci_frame_recv(sh.agent, &type, &id, data, &len) < 0) {
				/* The VM is gone without an EXIT: it crashed or was killed. */
				int st = 0;
				waitpid(sh.ember, &st, 0);
				sh.ember = 0;
				shim_exit(WIFEXITED(st) && WEXITSTATUS(st) ? 255 : 128 + SIGKILL);
			}
			from_agent(type, id, data, len);
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sh.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					int st;
					if (waitpid(sh.ember, &st, WNOHANG) == sh.ember) {
						/* ember ended before the agent's EXIT arrived. */
						sh.ember = 0;
						shim_exit(255);
					}
				} else if (si.ssi_signo != SIGPIPE && si.ssi_signo != SIGWINCH) {
					forward_signal((int)si.ssi_signo);
				}
			}
		}
		if (p[2].revents) {
			int fd = accept4(sh.ctl, NULL, NULL, SOCK_CLOEXEC);
			int i;
			for (i = 0; fd >= 0 && i < MAX_CLIENTS; i++)
				if (sh.clients[i].fd < 0) {
					sh.clients[i] = (struct client){.fd = fd, .id = 0};
					break;
				}
			if (fd >= 0 && i == MAX_CLIENTS)
				close(fd);
		}
		if (p[3].revents) {
			ssize_t r = read(STDIN_FILENO, data, AGENT_MAX_PAYLOAD);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				sh.stdin_open = false;
				to_agent(AF_STDIN_EOF, 0, NULL, 0);
			} else {
				to_agent(AF_STDIN, 0, data, (size_t)r);
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &sh.clients[i];
			uint32_t type, id, len;
			if (c->fd < 0 || !p[4 + i].revents || p[4 + i].fd != c->fd)
				continue;
			if (oci_frame_recv(c->fd, &type, &id, data, &len) < 0) {
				client_close(c);
				continue;
			}
			from_client(c, type, data, len);
		}
	}
}
