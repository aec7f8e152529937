/* The seccomp filters on this host, no KVM needed: each test forks a child that locks down
 * as one thread kind and then makes a call; the parent checks how the child ended and what
 * it printed. Also the tables' shape and the report. */
#include "unit.h"

#include "base/exit_status.h"
#include "seccomp/seccomp.h"
#include "base/signals.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct outcome {
	int status; /* exit status, or 128 + the signal that ended the child */
	char err[4096];
};

/* Run fn(arg) in a child with stderr captured; the child exits 0 if fn returns. */
static void run_child(void (*fn)(void *), void *arg, struct outcome *o)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka in the child: its crashes are plain signals, its output silent. */
		int fault_signals[] = {SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGABRT};
		for (unsigned i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
			signal(fault_signals[i], SIG_DFL);
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO); /* never a terminal: TCSETS on fd 0 changes nothing */
		dup2(null, STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(o->err) - 1 &&
	       (n = read(p[0], o->err + len, sizeof(o->err) - 1 - len)) > 0)
		len += (size_t)n;
	o->err[len] = 0;
	close(p[0]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	o->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The child's pid and tid, and a page of its memory, made before it locks down. */
static pid_t my_pid, my_tid;
static void *my_page;

static void lock_or_die(enum sc_kind kind)
{
	char err[512];
	my_pid = getpid();
	my_tid = gettid();
	my_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sc_setup(false, err, sizeof(err)) < 0) {
		fprintf(stderr, "sc_setup: %s\n", err);
		_exit(99);
	}
	sc_lockdown(kind);
}

/* What the child does after locking down; ret is checked when expect_ret is set. */
struct call {
	enum sc_kind kind;
	const char *what;
	long (*fn)(void);
};

static void call_child(void *arg)
{
	const struct call *c = arg;
	lock_or_die(c->kind);
	c->fn();
}

/* The child ends with EXIT_SECCOMP and the line naming thread kind and call. */
static void expect_forbidden(enum sc_kind kind, long (*fn)(void), const char *name)
{
	struct call c = {kind, name, fn};
	struct outcome o;
	char line[128];
	run_child(call_child, &c, &o);
	snprintf(line, sizeof(line), "ember: seccomp: thread %s made a forbidden system call %s (",
	         sc_kind_name(kind), name);
	if (o.status != EXIT_SECCOMP || !strstr(o.err, line))
		print_error("%s thread, %s: status %d, stderr '%s'\n", sc_kind_name(kind), name,
		            o.status, o.err);
	assert_int_equal(o.status, EXIT_SECCOMP);
	assert_non_null(strstr(o.err, line));
}

/* The child survives the call (which may fail with an errno; it is not killed). */
static void expect_allowed(enum sc_kind kind, long (*fn)(void), const char *name)
{
	struct call c = {kind, name, fn};
	struct outcome o;
	run_child(call_child, &c, &o);
	if (o.status != 0)
		print_error("%s thread, %s: status %d, stderr '%s'\n", sc_kind_name(kind), name,
		            o.status, o.err);
	assert_int_equal(o.status, 0);
}

/* --- The calls --- */

static long do_socket_inet(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static long do_socket_unix(void)
{
	long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		_exit(10);
	return close((int)fd);
}

static long do_socket_unix_dgram(void)
{
	return syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
}

static long do_openat(void)
{
	return syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
}

static long do_execve(void)
{
	char *const argv[] = {"/bin/true", NULL};
	return syscall(SYS_execve, "/bin/true", argv, NULL);
}

static long do_mmap_exec(void)
{
	return (long)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC,
	                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static long do_mmap_rw(void)
{
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(10);
	memset(p, 1, 1 << 20);
	if (madvise(p, 1 << 20, MADV_DONTNEED) < 0)
		_exit(11);
	return munmap(p, 1 << 20);
}

static long do_mprotect_exec(void)
{
	return syscall(SYS_mprotect, my_page, 4096, PROT_READ | PROT_EXEC);
}

static long do_madvise_dontneed(void)
{
	return syscall(SYS_madvise, my_page, 4096, MADV_DONTNEED);
}

static long do_madvise_remove(void)
{
	return syscall(SYS_madvise, my_page, 4096, MADV_REMOVE);
}

static long do_malloc(void)
{
	/* Small and large blocks: the arena (brk) and mmap'd chunks, and back. */
	for (int i = 0; i < 64; i++) {
		void *small = malloc(100 + (size_t)i * 1000), *large = malloc(1 << 20);
		if (!small || !large)
			_exit(10);
		memset(large, 1, 1 << 20);
		free(small);
		free(large);
	}
	void *huge = malloc(64 << 20);
	free(huge);
	return 0;
}

static long do_futex_requeue(void)
{
	static uint32_t a, b;
	return syscall(SYS_futex, &a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &b, 0);
}

static long do_futex_wake(void)
{
	static uint32_t a;
	return syscall(SYS_futex, &a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static long do_ioctl_kvm_run(void)
{
	return syscall(SYS_ioctl, -1, KVM_RUN, 0); /* EBADF: allowed, not killed */
}

static long do_ioctl_kvm_set_regs(void)
{
	return syscall(SYS_ioctl, -1, KVM_SET_REGS, 0);
}

static long do_ioctl_tcgets_stdin(void)
{
	struct termios t;
	return syscall(SYS_ioctl, 0, TCGETS, &t);
}

static long do_ioctl_tcsets_stdin(void)
{
	struct termios t;
	memset(&t, 0, sizeof(t));
	return syscall(SYS_ioctl, 0, TCSETS, &t); /* ENOTTY on /dev/null, not killed */
}

static long do_ioctl_tcsets_other(void)
{
	struct termios t;
	memset(&t, 0, sizeof(t));
	return syscall(SYS_ioctl, 1, TCSETS, &t);
}

static long do_ioctl_irqfd(void)
{
	/* Teardown's deassign: refused quietly with EPERM. */
	long r = syscall(SYS_ioctl, -1, KVM_IRQFD, 0);
	if (r != -1 || errno != EPERM)
		_exit(10);
	return 0;
}

static long do_ioctl_tunsetiff(void)
{
	return syscall(SYS_ioctl, -1, TUNSETIFF, 0);
}

static long do_ioctl_tunsetoffload(void)
{
	return syscall(SYS_ioctl, -1, TUNSETOFFLOAD, 0);
}

static long do_epoll_ctl(void)
{
	return syscall(SYS_epoll_ctl, -1, 2 /* EPOLL_CTL_DEL */, -1, NULL);
}

static long do_io_uring_enter(void)
{
	return syscall(SYS_io_uring_enter, -1, 0, 1, 1 /* IORING_ENTER_GETEVENTS */, NULL, 0);
}

#if !defined(__SANITIZE_ADDRESS__) /* the sanitizer's rules allow both (its reports) */
static long do_read(void)
{
	char c;
	return syscall(SYS_read, -1, &c, 1);
}

static long do_close(void)
{
	return syscall(SYS_close, -1);
}
#endif

static long do_tgkill_kick(void)
{
	/* As vm_stop kicks a vCPU (glibc: signals blocked around getpid, tgkill); blocked
	 * here, so tgkill succeeds and nothing happens. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	if (syscall(SYS_tgkill, my_pid, my_tid, VCPU_KICK_SIGNAL) < 0)
		_exit(10);
	return 0;
}

static long do_tgkill_term(void)
{
	return syscall(SYS_tgkill, my_pid, my_tid, SIGTERM);
}

static long do_tgkill_other_process(void)
{
	return syscall(SYS_tgkill, 1, 1, VCPU_KICK_SIGNAL);
}

static long do_kill(void)
{
	return syscall(SYS_kill, my_pid, 0);
}

static long do_write(void)
{
	return write(STDERR_FILENO, "", 0);
}

#if !defined(__SANITIZE_ADDRESS__) /* a sanitizer's report names the process */
static long do_getpid(void)
{
	return getpid();
}
#endif

static long do_setuid(void)
{
	return syscall(SYS_setuid, 0);
}

static long do_i386_call(void)
{
	/* getpid through the i386 ABI (int 0x80, 20): a foreign ABI is refused as such. */
	long r = 20;
	__asm__ volatile("int $0x80" : "+a"(r)::"memory");
	return r;
}

static void forbidden_everywhere(void **state)
{
	(void)state;
	for (unsigned k = 0; k < SC_KINDS; k++) {
		expect_forbidden((enum sc_kind)k, do_socket_inet, "socket");
		expect_forbidden((enum sc_kind)k, do_openat, "openat");
		expect_forbidden((enum sc_kind)k, do_execve, "execve");
		expect_forbidden((enum sc_kind)k, do_setuid, "setuid");
		expect_forbidden((enum sc_kind)k, do_kill, "kill");
		expect_forbidden((enum sc_kind)k, do_tgkill_term, "tgkill");
		expect_forbidden((enum sc_kind)k, do_tgkill_other_process, "tgkill");
		expect_forbidden((enum sc_kind)k, do_futex_requeue, "futex");
		expect_forbidden((enum sc_kind)k, do_madvise_remove, "madvise");
		expect_forbidden((enum sc_kind)k, do_mprotect_exec, "mprotect");
		expect_forbidden((enum sc_kind)k, do_ioctl_tunsetiff, "ioctl");
		expect_forbidden((enum sc_kind)k, do_ioctl_kvm_set_regs, "ioctl");
		expect_allowed((enum sc_kind)k, do_write, "write");
		expect_allowed((enum sc_kind)k, do_futex_wake, "futex");
		expect_allowed((enum sc_kind)k, do_madvise_dontneed, "madvise");
	}
}

static void i386_child(void *arg)
{
	(void)arg;
	do_i386_call();
}

static void foreign_abi_refused(void **state)
{
	struct call c = {SC_VCPU, "int 0x80", do_i386_call};
	struct outcome o;
	(void)state;
	run_child(i386_child, NULL, &o);
	if (o.status != 0) {
		print_message("this kernel runs no i386 code (status %d): skipped\n", o.status);
		skip();
	}
	run_child(call_child, &c, &o);
	if (!strstr(o.err, "thread vcpu made a forbidden system call through a foreign ABI (20)"))
		print_error("status %d: %s\n", o.status, o.err);
	assert_int_equal(o.status, EXIT_SECCOMP);
	assert_non_null(strstr(o.err, "thread vcpu made a forbidden system call through a "
	                              "foreign ABI (20)"));
}

static void vcpu_rules(void **state)
{
	(void)state;
	expect_allowed(SC_VCPU, do_ioctl_kvm_run, "ioctl KVM_RUN");
	expect_allowed(SC_VCPU, do_write, "write");
	expect_allowed(SC_VCPU, do_futex_wake, "futex wake");
	/* Device activation and reset, and signalling the other vCPUs, are the vmm
	 * thread's. */
	expect_forbidden(SC_VCPU, do_tgkill_kick, "tgkill");
	expect_forbidden(SC_VCPU, do_epoll_ctl, "epoll_ctl");
	expect_forbidden(SC_VCPU, do_io_uring_enter, "io_uring_enter");
	expect_forbidden(SC_VCPU, do_ioctl_tunsetoffload, "ioctl");
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizer's allocator maps memory anywhere */
	expect_forbidden(SC_VCPU, do_mmap_rw, "mmap"); /* a vCPU thread allocates nothing */
	/* The sanitizer's reports read, close and name the process. */
	expect_forbidden(SC_VCPU, do_getpid, "getpid");
	expect_forbidden(SC_VCPU, do_read, "read");
	expect_forbidden(SC_VCPU, do_close, "close");
#endif
	expect_forbidden(SC_VCPU, do_socket_unix, "socket");
	expect_forbidden(SC_VCPU, do_ioctl_tcgets_stdin, "ioctl");
}

static void vmm_rules(void **state)
{
	(void)state;
	expect_allowed(SC_VMM, do_socket_unix, "socket AF_UNIX");
	expect_forbidden(SC_VMM, do_socket_unix_dgram, "socket");
	expect_forbidden(SC_VMM, do_mmap_exec, "mmap");
	expect_allowed(SC_VMM, do_mmap_rw, "mmap rw");
	expect_allowed(SC_VMM, do_malloc, "malloc");
	expect_allowed(SC_VMM, do_ioctl_tcsets_stdin, "ioctl TCSETS on stdin");
	expect_forbidden(SC_VMM, do_ioctl_tcsets_other, "ioctl");
	expect_forbidden(SC_VMM, do_ioctl_tcgets_stdin, "ioctl"); /* read before lockdown */
	expect_allowed(SC_VMM, do_ioctl_irqfd, "ioctl KVM_IRQFD (EPERM)");
	expect_forbidden(SC_VMM, do_ioctl_kvm_run, "ioctl");
	expect_allowed(SC_VMM, do_tgkill_kick, "tgkill kick");
}

static void api_rules(void **state)
{
	(void)state;
	expect_allowed(SC_API, do_malloc, "malloc");
	expect_forbidden(SC_API, do_mmap_exec, "mmap");
	expect_forbidden(SC_API, do_socket_unix, "socket");
	expect_forbidden(SC_API, do_ioctl_kvm_run, "ioctl");
#if !defined(__SANITIZE_ADDRESS__) /* a sanitizer's report names the process */
	expect_forbidden(SC_API, do_getpid, "getpid");
#endif
}

/* A SIGSYS sent from outside is not reported as a forbidden call. */
static void sent_sigsys_child(void *arg)
{
	char err[256];
	(void)arg;
	if (sc_setup(false, err, sizeof(err)) < 0)
		_exit(99);
	kill(getpid(), SIGSYS); /* not locked down: kill is allowed */
	_exit(98);
}

static void sent_sigsys_not_a_violation(void **state)
{
	struct outcome o;
	(void)state;
	run_child(sent_sigsys_child, NULL, &o);
	assert_int_equal(o.status, 128 + SIGSYS);
	assert_non_null(strstr(o.err, "ember: SIGSYS sent by process "));
	assert_null(strstr(o.err, "forbidden system call "));
}

/* The handler runs even where the thread had every signal blocked (the API thread). */
static void blocked_sigsys_child(void *arg)
{
	sigset_t all;
	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	lock_or_die(SC_API);
	do_openat();
}

static void handler_despite_blocked_signals(void **state)
{
	struct outcome o;
	(void)state;
	run_child(blocked_sigsys_child, NULL, &o);
	assert_int_equal(o.status, EXIT_SECCOMP);
	assert_non_null(strstr(o.err, "thread api made a forbidden system call openat (257)"));
}

/* A thread locks itself, not its siblings; its kind is named. */
static void *vcpu_thread(void *arg)
{
	(void)arg;
	sc_lockdown(SC_VCPU);
	do_openat();
	return NULL;
}

static void per_thread_child(void *arg)
{
	char err[256];
	pthread_t t;
	(void)arg;
	if (sc_setup(false, err, sizeof(err)) < 0)
		_exit(99);
	/* The main thread is not locked: it may open files. */
	pthread_create(&t, NULL, vcpu_thread, NULL);
	pthread_join(t, NULL);
	_exit(98); /* not reached: the thread's openat ended the process */
}

static void per_thread_filters(void **state)
{
	struct outcome o;
	(void)state;
	run_child(per_thread_child, NULL, &o);
	assert_int_equal(o.status, EXIT_SECCOMP);
	assert_non_null(strstr(o.err, "thread vcpu made a forbidden system call openat"));
}

static int status_field(const char *status, const char *field)
{
	const char *p = strstr(status, field);
	return p ? atoi(p + strlen(field)) : -1;
}

static void read_own_status(char *buf, size_t len)
{
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

/* --no-seccomp: warned once, and lockdown installs nothing (openat still works after). */
static void off_child(void *arg)
{
	char buf[4096], err[256];
	(void)arg;
	read_own_status(buf, sizeof(buf));
	int before = status_field(buf, "Seccomp_filters:\t");
	if (sc_setup(true, err, sizeof(err)) < 0 || sc_setup(true, err, sizeof(err)) < 0)
		_exit(99);
	sc_lockdown(SC_VMM);
	read_own_status(buf, sizeof(buf));
	_exit(status_field(buf, "Seccomp_filters:\t") == before ? 0 : 20);
}

static void seccomp_status_and_off(void **state)
{
	struct outcome o;
	(void)state;
	run_child(off_child, NULL, &o);
	assert_int_equal(o.status, 0);
	/* The warning, exactly once although sc_setup ran twice. */
	const char *w =
	    "ember: warning: seccomp is off (--no-seccomp): the guest is not contained\n";
	char *first = strstr(o.err, w);
	assert_non_null(first);
	assert_null(strstr(first + 1, w));
}

/* Locked down: Seccomp 2 and NO_NEW_PRIVS, read through a descriptor opened before. */
static void locked_status_child(void *arg)
{
	char buf[4096], err[256];
	(void)arg;
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sc_setup(false, err, sizeof(err)) < 0)
		_exit(99);
	sc_lockdown(SC_VMM);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		_exit(98);
	buf[n] = 0;
	_exit(status_field(buf, "Seccomp:\t") == 2 && status_field(buf, "NoNewPrivs:\t") == 1 ? 0
	                                                                                      : 20);
}

static void locked_thread_status(void **state)
{
	struct outcome o;
	(void)state;
	run_child(locked_status_child, NULL, &o);
	if (o.status)
		print_error("status %d: %s\n", o.status, o.err);
	assert_int_equal(o.status, 0);
}

/* --- The tables --- */

static bool rule_has(const struct sc_rule *r, unsigned arg, int op)
{
	for (unsigned k = 0; k < r->nargs; k++)
		if (r->args[k].arg == arg && r->args[k].op == op)
			return true;
	return false;
}

static void tables_well_formed(void **state)
{
	/* Calls no thread of Ember may make once locked down, whatever a table says. */
	static const char *const never[] = {
	    "execve",
	    "execveat",
	    "fork",
	    "vfork",
	    "clone",
	    "clone3",
	    "ptrace",
	    "open",
	    "openat",
	    "openat2",
	    "creat",
	    "mount",
	    "chmod",
	    "fchmod",
	    "chown",
	    "setuid",
	    "setgid",
	    "init_module",
	    "finit_module",
	    "bpf",
	    "perf_event_open",
	    "process_vm_writev",
	    "kill",
	    "seccomp",
	    "prctl",
	    "personality",
	    "io_uring_setup",
	    "io_uring_register",
	    "memfd_create",
	    "symlink",
	    "rename",
	    "mkdir",
	    "bind",
	    "listen",
	};
	(void)state;
	for (unsigned k = 0; k < SC_KINDS; k++) {
		const struct sc_table *t = &sc_tables[k];
		assert_true(t->n > 0);
		assert_true(sc_count((enum sc_kind)k) < t->firecracker);
		for (unsigned i = 0; i < t->n; i++) {
			const struct sc_rule *r = &t->rules[i];
			assert_true(r->why && r->why[0]);
			assert_true(r->nr >= 0);
			assert_true(r->nargs <= SC_MAX_ARGS);
			/* The one exception: PUT /snapshot/create's files, created write-only
			 * by the vmm thread with exactly SC_SNAPSHOT_OPEN_FLAGS (nothing is ever
			 * opened for reading once locked down), as Firecracker's vmm thread
			 * opens them. */
			if (k == SC_VMM && !strcmp(r->name, "openat")) {
				assert_true(rule_has(r, 2, SCMP_CMP_EQ));
				continue;
			}
			for (unsigned n = 0; n < sizeof(never) / sizeof(never[0]); n++)
				if (!strcmp(r->name, never[n]))
					fail_msg("the %s table allows %s", sc_kind_name(k),
					         r->name);
			/* Where the argument decides the danger, there is an argument rule. */
			if (!strcmp(r->name, "ioctl"))
				assert_true(rule_has(r, 1, SCMP_CMP_EQ));
			if (!strcmp(r->name, "mmap") || !strcmp(r->name, "mprotect"))
				assert_true(rule_has(r, 2, SCMP_CMP_MASKED_EQ) &&
				            r->args[0].a == PROT_EXEC);
			if (!strcmp(r->name, "socket"))
				assert_true(rule_has(r, 0, SCMP_CMP_EQ) && r->args[0].a == AF_UNIX);
			if (!strcmp(r->name, "futex"))
				assert_true(rule_has(r, 1, SCMP_CMP_MASKED_EQ));
			if (!strcmp(r->name, "madvise"))
				assert_true(rule_has(r, 2, SCMP_CMP_EQ));
			if (!strcmp(r->name, "tgkill"))
				assert_true(r->nargs == 2 && r->args[0].pid);
		}
	}
	/* The targets: fewer than Firecracker's 50, 31 and 27. */
	assert_int_equal(sc_tables[SC_VMM].firecracker, 50);
	assert_int_equal(sc_tables[SC_API].firecracker, 31);
	assert_int_equal(sc_tables[SC_VCPU].firecracker, 27);
	/* And ours, which may only shrink: a vCPU hands everything but running the guest to
	 * the vmm thread (device activation and reset, signalling the other vCPUs). */
	/* 37: timerfd_settime, the rate limiters' parked queues and the balloon's statistics
	 * timer (issue 15; the balloon's madvise shares vsock's rule). */
	assert_true(sc_count(SC_VMM) <= 37);
	assert_true(sc_count(SC_API) <= 16);
	assert_true(sc_count(SC_VCPU) <= 10);
}

static void report_lists_three_tables(void **state)
{
	char *text = NULL;
	size_t len = 0;
	(void)state;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(sc_report(f), 0);
	fclose(f);
	for (unsigned k = 0; k < SC_KINDS; k++) {
		char head[64];
		snprintf(head, sizeof(head), "\n%s thread: %u system calls", sc_kind_name(k),
		         sc_count((enum sc_kind)k));
		assert_non_null(strstr(text, head));
	}
	assert_non_null(strstr(text, "KVM_RUN"));
	assert_non_null(strstr(text, "arg2 & PROT_EXEC == 0"));
	assert_non_null(strstr(text, "\ntotal: vmm "));
	free(text);
}

#if defined(__SANITIZE_ADDRESS__)
/* In a sanitizer build a bug found after lockdown still gets the sanitizer's report. */
static void overflow_child(void *arg)
{
	(void)arg;
	lock_or_die(SC_VCPU);
	char *p = malloc(16);
	volatile char *volatile alias = p; /* hidden from the compiler's use-after-free check */
	free(p);
	alias[0] = 1; /* ASan's to find, not UBSan's */
}

static void sanitizer_report_after_lockdown(void **state)
{
	struct outcome o;
	(void)state;
	run_child(overflow_child, NULL, &o);
	if (o.status == EXIT_SECCOMP || !strstr(o.err, "AddressSanitizer"))
		print_error("status %d: %s\n", o.status, o.err);
	assert_true(o.status != 0 && o.status != EXIT_SECCOMP);
	assert_non_null(strstr(o.err, "AddressSanitizer: heap-use-after-free"));
}
#endif

/* ---- --seccomp-filter files ---- */

/* A file image: the magic, then sections "name:insns" (insns as struct sock_filter). */
struct sc_image {
	uint8_t b[4096];
	size_t len;
};

static void img_put(struct sc_image *im, const void *p, size_t n)
{
	assert_true(im->len + n <= sizeof(im->b));
	memcpy(im->b + im->len, p, n);
	im->len += n;
}

static void img_section(struct sc_image *im, const char *name, const struct sock_filter *f,
                        uint32_t n, uint32_t claimed)
{
	char nm[8] = {0};
	memcpy(nm, name, strlen(name) < 8 ? strlen(name) : 8);
	img_put(im, nm, 8);
	uint8_t le[4] = {claimed & 0xff, claimed >> 8 & 0xff, claimed >> 16 & 0xff, claimed >> 24};
	img_put(im, le, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t b[8] = {
		    f[i].code & 0xff,   f[i].code >> 8,      f[i].jt,     f[i].jf, f[i].k & 0xff,
		    f[i].k >> 8 & 0xff, f[i].k >> 16 & 0xff, f[i].k >> 24};
		img_put(im, b, 8);
	}
}

static const struct sock_filter allow_all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
static const struct sock_filter trap_all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP)};
/* getppid traps, everything else is allowed (the SIGSYS handler must still write and exit). */
static const struct sock_filter trap_getppid[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
/* Jumps past its end: the kernel refuses it. */
static const struct sock_filter broken[] = {BPF_STMT(BPF_JMP | BPF_JA, 5),
                                            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};

/* vmm and vcpu allow all; api's program is api (n instructions). */
static void img_three(struct sc_image *im, const struct sock_filter *api, uint32_t n)
{
	im->len = 0;
	img_put(im, SC_FILE_MAGIC, 8);
	img_section(im, "vcpu", allow_all, 1, 1);
	img_section(im, "api", api, n, n);
	img_section(im, "vmm", allow_all, 1, 1);
}

static void expect_parse_error(const struct sc_image *im, const char *words)
{
	struct sock_fprog p[SC_KINDS];
	char err[256] = "";
	assert_int_equal(sc_parse_file(im->b, im->len, p, err, sizeof(err)), -EINVAL);
	if (!strstr(err, words))
		fail_msg("'%s' does not say '%s'", err, words);
	for (unsigned k = 0; k < SC_KINDS; k++)
		assert_null(p[k].filter);
}

static void filter_file_parse(void **state)
{
	(void)state;
	static struct sc_image im;
	struct sock_fprog p[SC_KINDS];
	char err[256];

	img_three(&im, trap_all, 1);
	assert_int_equal(sc_parse_file(im.b, im.len, p, err, sizeof(err)), 0);
	assert_int_equal(p[SC_API].len, 1);
	assert_int_equal(p[SC_API].filter[0].k, SECCOMP_RET_TRAP);
	assert_int_equal(p[SC_VMM].filter[0].k, SECCOMP_RET_ALLOW);
	assert_int_equal(p[SC_VCPU].filter[0].code, BPF_RET | BPF_K);
	for (unsigned k = 0; k < SC_KINDS; k++)
		free(p[k].filter);

	im.len = 0;
	img_put(&im, "EMBRBPF0", 8);
	expect_parse_error(&im, "does not start with");
	img_three(&im, trap_all, 1);
	im.len -= 3; /* cut inside the last program */
	expect_parse_error(&im, "cut short");
	img_three(&im, trap_all, 1);
	img_put(&im, "x", 1);
	expect_parse_error(&im, "1 bytes follow");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_section(&im, "vmm", allow_all, 1, 1);
	img_section(&im, "api", allow_all, 1, 1);
	expect_parse_error(&im, "ends inside section 3");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_section(&im, "vmm", allow_all, 1, 1);
	img_section(&im, "vmm", allow_all, 1, 1);
	img_section(&im, "api", allow_all, 1, 1);
	expect_parse_error(&im, "vmm thread's program is there twice");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_section(&im, "vmmx", allow_all, 1, 1);
	expect_parse_error(&im, "section 1 names no thread kind");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_put(&im, "vmm\0\0\0\0z\1\0\0\0", 12); /* the padding must be NULs */
	expect_parse_error(&im, "section 1 names no thread kind");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_section(&im, "api", allow_all, 0, 0);
	expect_parse_error(&im, "has 0 instructions");
	im.len = 0;
	img_put(&im, SC_FILE_MAGIC, 8);
	img_section(&im, "api", allow_all, 1, 4097);
	expect_parse_error(&im, "has 4097 instructions");
	expect_parse_error(&(struct sc_image){.len = 3}, "does not start with");
	assert_int_equal(sc_parse_file(im.b, SC_FILE_MAX + 1, p, err, sizeof(err)), -EINVAL);
}

static char filter_path[64];

static void write_image(const struct sc_image *im)
{
	snprintf(filter_path, sizeof(filter_path), "/tmp/ember-sc-XXXXXX");
	int fd = mkstemp(filter_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, im->b, im->len), (ssize_t)im->len);
	close(fd);
}

/* The user's api program (getppid traps) is what the api thread gets. */
static void user_filter_child(void *arg)
{
	char err[512];
	(void)arg;
	if (sc_setup_file(filter_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		_exit(99);
	}
	sc_lockdown(SC_API);
	syscall(SYS_getppid);
	_exit(98); /* not reached: getppid traps */
}

static void filter_file_applied(void **state)
{
	(void)state;
	static struct sc_image im;
	struct outcome o;
	img_three(&im, trap_getppid, 4);
	write_image(&im);
	run_child(user_filter_child, NULL, &o);
	unlink(filter_path);
	if (o.status != EXIT_SECCOMP)
		print_error("status %d: %s\n", o.status, o.err);
	assert_int_equal(o.status, EXIT_SECCOMP);
	assert_non_null(strstr(o.err, "thread api made a forbidden system call getppid"));
}

static void filter_file_refused(void **state)
{
	(void)state;
	static struct sc_image im;
	char err[512];
	img_three(&im, broken, 2);
	write_image(&im);
	assert_int_equal(sc_setup_file(filter_path, err, sizeof(err)), -EINVAL);
	unlink(filter_path);
	assert_non_null(strstr(err, "the kernel refuses the api thread's program"));
	assert_int_equal(sc_setup_file("/nonexistent/filter", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open '/nonexistent/filter'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tables_well_formed),
		cmocka_unit_test(report_lists_three_tables),
		cmocka_unit_test(forbidden_everywhere),
		cmocka_unit_test(foreign_abi_refused),
		cmocka_unit_test(vcpu_rules),
		cmocka_unit_test(vmm_rules),
		cmocka_unit_test(api_rules),
		cmocka_unit_test(handler_despite_blocked_signals),
		cmocka_unit_test(sent_sigsys_not_a_violation),
		cmocka_unit_test(per_thread_filters),
		cmocka_unit_test(seccomp_status_and_off),
		cmocka_unit_test(locked_thread_status),
		cmocka_unit_test(filter_file_parse),
		cmocka_unit_test(filter_file_applied),
		cmocka_unit_test(filter_file_refused),
#if defined(__SANITIZE_ADDRESS__)
		cmocka_unit_test(sanitizer_report_after_lockdown),
#endif
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
