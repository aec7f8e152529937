/*
 * PID 1 of Ember's default guest: mounts the basics, loads the virtio modules, runs the
 * command Ember put in /ember.cmd on the serial console and powers off with its status.
 * The contract is in docs/CONTRACTS.md ("The default guest's init"). With ember_agent=1 on
 * the kernel command line it runs ember-oci's agent instead (guest/agent.c); with
 * ember_warm=1 it waits, ready, for `ember run --warm` to hand the command over after a
 * restore (src/base/handover.h).
 */
#define _GNU_SOURCE 1 /* strchrnul, environ */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/random.h>

#include "agent.h"
#include "../src/base/handover.h"

#define EXIT_PORT    0x603 /* Ember's exit-status register */
#define STATUS_INIT  125   /* the init itself could not run the command */
#define CMD_FILE     "/ember.cmd"
#define CMD_MAX_SIZE (1 << 20) /* Ember's argv is bounded by its own command line */
#define CMD_MAX_ARGS 4096
#define MODULES_FILE "/etc/ember/modules"

/* Ember's handover page, mapped at boot (map_handover; NULL if it could not be): its exit
 * register ends the VM, and a warm run's command arrives there (warm_wait). */
static volatile uint8_t *handover_page;
#ifndef TIOCM_OUT1
#define TIOCM_OUT1 0x2000 /* <asm-generic/termios.h>; glibc's headers lack it */
#endif

/* The command's whole environment: nothing of the kernel's leaks into it. */
static char *child_env[] = {"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=linux", NULL};

static char *default_argv[] = {"/bin/sh", NULL};
/* With tty=0 and no command the shell reads a script, not a terminal: busybox's ash would
 * otherwise see a tty and turn interactive (prompts, its own line editing and echo). */
static char *script_argv[] = {"/bin/sh", "/proc/self/fd/0", NULL};

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "ember-init: ");
	size_t len;

	/* Leave a byte for the newline. */
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	len = strlen(line);
	line[len++] = '\n';
	/* One write per line, so messages do not interleave with the command's output. */
	if (write(STDERR_FILENO, line, len) < 0) {
		/* No console: nowhere to report it. */
	}
}

/*
 * End the VM. For a power-off, the status goes to Ember's exit-status register first; if
 * ioperm fails Ember exits 0, which is still better than not powering off.
 */
static __attribute__((noreturn)) void shut_down(int how, int status)
{
	sync();
	/* The command's last output may still sit in the console's tty queue, which the
	 * UART driver sends from its interrupts, on any vCPU: wait until it is out, else the
	 * status below can end the VM first and those bytes are lost (seen with 4 vCPUs).
	 * Not a terminal (ENOTTY): nothing to wait for. */
	tcdrain(STDOUT_FILENO);
	tcdrain(STDERR_FILENO);
	/* Ember's exit register (map_handover), else its port. */
	if (how == RB_POWER_OFF && handover_page)
		handover_page[HANDOVER_EXIT] = (uint8_t)status;
	else if (how == RB_POWER_OFF && ioperm(EXIT_PORT, 1, 1) == 0)
		outb((unsigned char)status, EXIT_PORT);
	reboot(how);
	/* PID 1 exiting panics the kernel: a visible failure (pvpanic) rather than a hang. */
	say("reboot: %s", strerror(errno));
	_exit(STATUS_INIT);
}

static void mount_one(const char *src, const char *dir, const char *type, unsigned long flags,
                      const char *opts)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, flags, opts) < 0 && errno != EBUSY)
		say("cannot mount %s on %s: %s", type, dir, strerror(errno));
}

static void mount_basics(void)
{
	mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

/* Read a whole file of at most max bytes into a NUL-terminated buffer; -errno on error. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;
	char *buf = NULL;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* The last "key=value" word of the kernel command line with this key, copied to out. */
static bool cmdline_value(const char *line, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	bool found = false;
	for (const char *w = line; *w;) {
		size_t n = strcspn(w, " \n");
		if (n > klen && !strncmp(w, key, klen) && w[klen] == '=' && n - klen - 1 < cap) {
			memcpy(out, w + klen + 1, n - klen - 1);
			out[n - klen - 1] = 0;
			found = true;
		}
		w += n;
		w += strspn(w, " \n");
	}
	return found;
}

static bool cmdline_word(const char *line, const char *word)
{
	size_t len = strlen(word);
	for (const char *w = line; *w;) {
		size_t n = strcspn(w, " \n");
		if (n == len && !strncmp(w, word, n))
			return true;
		w += n;
		w += strspn(w, " \n");
	}
	return false;
}

/*
 * With root=/dev/... on the kernel command line (Ember adds root=/dev/vda for a drive
 * given with ",root"), mount that disk and make it the root the command runs in, the
 * basic mounts moved along. The kernel itself cannot: Debian builds virtio_blk as a module.
 */
static void enter_root_disk(void)
{
	/* /proc files report size 0, so not read_file(): one bounded read. */
	char line[4097], dev[256];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd < 0 ? -1 : read(fd, line, sizeof(line) - 1);
	if (fd >= 0)
		close(fd);
	if (got <= 0)
		return;
	line[got] = 0;
	bool want = cmdline_value(line, "root", dev, sizeof(dev)) && !strncmp(dev, "/dev/", 5);
	unsigned long flags = cmdline_word(line, "ro") && !cmdline_word(line, "rw") ? MS_RDONLY : 0;
	if (!want)
		return;
	/* The disk's node appears once virtio_blk has probed it: give it up to 5 s. */
	struct stat st;
	for (int i = 0; i < 500 && stat(dev, &st) < 0; i++)
		usleep(10000);
	mkdir("/newroot", 0755);
	if (mount(dev, "/newroot", "ext4", flags, NULL) < 0) {
		say("cannot mount the root disk %s: %s", dev, strerror(errno));
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	static const char *const moved[] = {"/proc", "/sys", "/dev", "/tmp", "/run"};
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		char to[64];
		snprintf(to, sizeof(to), "/newroot%s", moved[i]);
		if (stat(to, &st) == 0 && S_ISDIR(st.st_mode))
			mount(moved[i], to, NULL, MS_MOVE, NULL);
	}
	if (chroot("/newroot") < 0 || chdir("/") < 0) {
		say("cannot enter the root disk %s: %s", dev, strerror(errno));
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
}

/* Load each module the list names, in its order (the build put dependencies first). */
static void load_modules(void)
{
	char *list = NULL, *line, *next;
	size_t len = 0;
	int err = read_file(MODULES_FILE, 1 << 16, &list, &len);

	if (err < 0) {
		if (err != -ENOENT)
			say("cannot read " MODULES_FILE ": %s", strerror(-err));
		return;
	}
	for (line = list; line < list + len; line = next) {
		next = strchrnul(line, '\n');
		*next++ = '\0';
		if (line[0] != '/')
			continue; /* blank lines, comments */
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT)
				say("cannot load %s: %s", line, strerror(errno));
			continue;
		}
		long r = syscall(SYS_finit_module, fd, "", 0);
		int e = errno;
		close(fd);
		/* A kernel without module support (the tuned kernel has everything built in):
		 * nothing to load, and nothing to report. */
		if (r < 0 && e == ENOSYS)
			break;
		if (r < 0 && e != EEXIST)
			say("cannot load %s: %s", line, strerror(e));
	}
	free(list);
}

struct command {
	char **argv;
	int raw; /* tty=0: Ember's stdin is not a terminal: lines in, bytes out unchanged */
};

/*
 * Parse /ember.cmd: NUL-terminated key=value strings, an empty string, then argv. Ember
 * wrote it, but a truncated or corrupt initrd must not run half a command.
 */
static const char *parse_command(char *buf, size_t len, struct command *cmd)
{
	char *p = buf, *end = buf + len;
	size_t argc = 0, i;

	if (len == 0)
		return "it is empty";
	if (buf[len - 1] != '\0')
		return "it does not end with a NUL";
	for (;;) {
		if (p == end)
			return "no empty string ends the settings";
		size_t n = strlen(p);
		if (n == 0)
			break;
		if (strcmp(p, "tty=0") == 0)
			cmd->raw = 1;
		else if (strcmp(p, "tty=1") == 0)
			cmd->raw = 0;
		p += n + 1;
	}
	p++;
	for (char *q = p; q < end; q += strlen(q) + 1)
		if (++argc > CMD_MAX_ARGS)
			return "more than 4096 arguments";
	/* Settings but no command: the shell, which reads what Ember's stdin gives. */
	if (argc == 0) {
		cmd->argv = cmd->raw ? script_argv : default_argv;
		return NULL;
	}
	cmd->argv = calloc(argc + 1, sizeof(char *));
	if (!cmd->argv)
		return "out of memory";
	for (i = 0; i < argc; i++, p += strlen(p) + 1)
		cmd->argv[i] = p;
	return NULL;
}

static void read_command(struct command *cmd)
{
	char *buf = NULL;
	size_t len = 0;
	const char *why;
	int err = read_file(CMD_FILE, CMD_MAX_SIZE, &buf, &len);

	cmd->argv = default_argv;
	cmd->raw = 0;
	if (err == -ENOENT)
		return;
	if (err < 0) {
		why = err == -EFBIG ? "larger than 1 MiB or not a regular file" : strerror(-err);
		say("cannot read " CMD_FILE ": %s", why);
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	why = parse_command(buf, len, cmd);
	if (why) {
		say("malformed " CMD_FILE ": %s", why);
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
}

/* len bytes of the handover from its page (8 at a time: one exit each); dst holds len
 * rounded up to 8. */
static void handover_copy(volatile const uint8_t *page, void *dst, size_t len)
{
	uint8_t *d = dst;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = *(volatile const uint64_t *)(page + HANDOVER_DATA);
		memcpy(d + i, &v, 8);
	}
}

/*
 * Map Ember's handover page (MMIO through /dev/mem: it is outside RAM and claimed by no
 * driver) into handover_page, which shut_down then ends the VM through, rather than
 * through port 0x603: after a restore, port I/O from user mode raised a #GP in the nested
 * test rig (the TSS's I/O bitmap base and limit read back intact; cause not found), so a
 * restored guest's command could not end it. Under another monitor nothing answers there:
 * the write is lost and the power-off that follows ends the VM.
 */
static void map_handover(void)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	void *map = fd < 0 ? MAP_FAILED
	                   : mmap(NULL, HANDOVER_MMIO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	                          (off_t)HANDOVER_MMIO_BASE);
	if (fd >= 0)
		close(fd);
	if (map != MAP_FAILED)
		handover_page = map;
}

/*
 * ember_warm=1: say we are ready (Ember snapshots us now), then wait for a restored VM's
 * handover: the host's wall clock, random bytes for the RNG, and /ember.cmd's contents.
 * The command then runs as in a cold boot.
 */
static void warm_wait(struct command *cmd)
{
	struct handover_header h;
	static const char ready[] = HANDOVER_READY "\n";
	if (!handover_page) {
		say("cannot map the handover page (/dev/mem at 0x%llx)", HANDOVER_MMIO_BASE);
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	volatile const uint8_t *page = handover_page;

	if (write(STDOUT_FILENO, ready, sizeof(ready) - 1) < 0) {
		/* No console: Ember never snapshots us, and says so. */
	}
	tcdrain(STDOUT_FILENO);
	/* Polled: a restore resumes this loop with a message waiting. */
	while (page[HANDOVER_STATUS] != 1)
		usleep(1000);
	_Static_assert(sizeof(h) % 8 == 0, "the header is read 8 bytes at a time");
	handover_copy(page, &h, sizeof(h));
	if (memcmp(h.magic, HANDOVER_MAGIC, sizeof(h.magic)) || h.body_len == 0 ||
	    h.body_len > HANDOVER_MAX_BODY) {
		say("malformed handover (length %u)", h.body_len);
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	char *body = malloc(((size_t)h.body_len + 7) & ~(size_t)7);
	if (!body) {
		say("handover: out of memory");
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	handover_copy(page, body, h.body_len);

	struct timespec now = {(time_t)h.realtime_sec, (long)(h.realtime_nsec % 1000000000u)};
	if (clock_settime(CLOCK_REALTIME, &now) < 0)
		say("cannot set the clock: %s", strerror(errno));
	/* Every restore of one snapshot starts with the same RNG state: mix in the host's
	 * bytes, credited, and reseed now rather than at the next scheduled reseed. */
	struct {
		int entropy_count;
		int buf_size;
		uint8_t buf[HANDOVER_RANDOM];
	} e = {HANDOVER_RANDOM * 8, HANDOVER_RANDOM, {0}};
	memcpy(e.buf, h.random, sizeof(e.buf));
	int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &e) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
		say("cannot reseed the RNG: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	memset(&e, 0, sizeof(e));
	memset(h.random, 0, sizeof(h.random));

	const char *why = parse_command(body, h.body_len, cmd);
	if (why) {
		say("malformed handover: %s", why);
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
}

/* Make fd the standard input, output and error. */
static void use_terminal(int fd)
{
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/*
 * The serial console as the controlling terminal of a session the init leads (fd: the
 * console, kept open for the VM's life; -1 if none opened). The command must not lead the
 * session itself: when a session leader exits, the kernel hangs its terminal up, and a
 * hang-up drops whatever output the UART driver has not sent yet. The driver sends from
 * its transmit interrupt, which may wait on another vCPU, so a short command's whole output
 * was lost now and then with 4 vCPUs (1 run in 20 of `nproc` in the rig, 2026-12-07).
 */
static int console_session(void)
{
	int fd = open("/dev/ttyS0", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (setsid() < 0 && errno != EPERM)
		say("setsid: %s", strerror(errno));
	if (ioctl(fd, TIOCSCTTY, 1) < 0)
		say("cannot make the console the controlling terminal: %s", strerror(errno));
	return fd;
}

/* In the child: its own process group, in the foreground of the console (fd, from
 * console_session), then exec. Never returns. */
static void run_child(const struct command *cmd, int fd)
{
	struct termios t;
	sigset_t none;

	/* A background group's tcsetpgrp raises SIGTTOU: still blocked here (the init's mask,
	 * main), it is allowed. */
	setpgid(0, 0);
	/* The foreground group, so ^C and job control reach the command. */
	if (fd >= 0 && tcsetpgrp(fd, getpid()) < 0)
		say("cannot put the command in the console's foreground: %s", strerror(errno));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fd >= 0)
		use_terminal(dup(fd));
	if (tcgetattr(STDIN_FILENO, &t) == 0) {
		if (cmd->raw) {
			/*
			 * Ember's stdin is a pipe or a file (docs/CONTRACTS.md): output passes
			 * unchanged, input arrives as lines with no echo, and Ember ends it with
			 * ^D, which the line discipline turns into end of file; Ember sends a
			 * literal ^D or ^V after a ^V. RTS/CTS flow control lets Ember hold input
			 * while the tty's buffer is full, rather than lose it.
			 */
			cfmakeraw(&t);
			t.c_lflag |= ICANON | IEXTEN;
			t.c_cflag |= CRTSCTS | CREAD;
			for (int i = 0; i < NCCS; i++)
				t.c_cc[i] = _POSIX_VDISABLE;
			t.c_cc[VEOF] = 0x04;
			t.c_cc[VLNEXT] = 0x16;
		} else {
			/* Like `stty sane`, for an interactive shell. */
			t.c_iflag |= BRKINT | ICRNL | IXON | IMAXBEL | IUTF8;
			t.c_iflag &= ~(IGNBRK | INLCR | IGNCR | IXOFF);
			t.c_oflag |= OPOST | ONLCR;
			t.c_lflag |=
			    ISIG | ICANON | IEXTEN | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE;
			t.c_cflag |= CREAD;
		}
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
		/* OUT1, which Linux never sets itself, tells Ember the tty is ready: only
		 * then does it send what it holds. */
		if (cmd->raw) {
			int bits = TIOCM_OUT1 | TIOCM_RTS;
			ioctl(STDIN_FILENO, TIOCMBIS, &bits);
		}
	}
	environ = child_env;
	execvp(cmd->argv[0], cmd->argv);
	int err = errno;
	say("cannot run '%s': %s", cmd->argv[0], strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

int main(void)
{
	const char *mark = getenv("ember_mark");
	struct command cmd;
	sigset_t set;
	pid_t child;
	int sfd;

	/* First, before anything that takes time: the boot benchmark times this line. */
	if (mark && strcmp(mark, "1") == 0 && write(STDOUT_FILENO, "ember-init: ready\n", 18) < 0) {
		/* No console: nothing to tell. */
	}
	/*
	 * Blocked signals reach PID 1 even without handlers (unblocked default ones are
	 * dropped for it), so block them now and a poweroff during boot waits for the loop
	 * below, where a signalfd turns them into plain reads: no handler code.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The init leads the console's session but stays in the background: a background
	 * process's tcdrain (shut_down) would raise SIGTTOU, which PID 1 drops, and fail with
	 * nothing drained. Blocked, the kernel lets it through. The command's mask is its own
	 * (run_child). */
	sigset_t tty_stops;
	sigemptyset(&tty_stops);
	sigaddset(&tty_stops, SIGTTOU);
	sigaddset(&tty_stops, SIGTTIN);
	sigprocmask(SIG_BLOCK, &tty_stops, NULL);

	mount_basics();
	map_handover();
	/* Without /dev/console in the initramfs the kernel gave us no fds; take them now. */
	if (fcntl(STDERR_FILENO, F_GETFD) < 0)
		use_terminal(open("/dev/console", O_RDWR));
	/* Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting at once. */
	reboot(RB_DISABLE_CAD);
	load_modules();
	/* ember-oci's containers: the agent (guest/agent.c) instead of /ember.cmd. */
	const char *agent = getenv("ember_agent");
	if (agent && strcmp(agent, "1") == 0) {
		enter_root_disk();
		shut_down(RB_POWER_OFF, agent_main());
	}
	read_command(&cmd);
	const char *warm = getenv("ember_warm");
	if (warm && strcmp(warm, "1") == 0)
		warm_wait(&cmd);
	enter_root_disk();

	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		say("signalfd: %s", strerror(errno));
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	int console = console_session();
	child = fork();
	if (child < 0) {
		say("fork: %s", strerror(errno));
		shut_down(RB_POWER_OFF, STATUS_INIT);
	}
	if (child == 0)
		run_child(&cmd, console);
	setpgid(child, child); /* as the child does: whichever runs first */

	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		int ws;
		pid_t pid;

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			say("signalfd read: %s", n < 0 ? strerror(errno) : "short read");
			shut_down(RB_POWER_OFF, STATUS_INIT);
		}
		switch (si.ssi_signo) {
		case SIGCHLD:
			/* Signals coalesce: reap everything, orphans included. */
			while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
				if (pid != child)
					continue;
				shut_down(RB_POWER_OFF,
				          WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
			}
			break;
		case SIGUSR1: /* busybox halt */
		case SIGUSR2: /* busybox poweroff */
		case SIGINT:  /* Ctrl-Alt-Del */
			shut_down(RB_POWER_OFF, 0);
		case SIGTERM: /* busybox reboot */
			shut_down(RB_AUTOBOOT, 0);
		}
	}
}
