/*
 * Installing the per-thread seccomp filters (compiled at build time from filters.c's tables
 * by gen.c) on a thread, the SIGSYS handler that names a forbidden call, and the report.
 */
#include "seccomp.h"
#include "../base/exit_status.h"
#include "../base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RULES 128 /* per table, for the report's sort */

/* si_code of a SIGSYS a seccomp filter raised (the kernel's asm-generic/siginfo.h; glibc's
 * headers do not name it). */
#define SIGSYS_BY_SECCOMP 1

static struct {
	enum { STATE_UNSET, STATE_OFF, STATE_ON } state;
	struct sock_fprog prog[SC_KINDS];
#ifdef EMBER_TEST_HOOKS
	int violate; /* 1 + the kind that makes a forbidden call after locking down; 0: none */
#endif
} sc;

/* The calling thread's kind once it locked down, for the SIGSYS handler; -1 before. */
static __thread int thread_kind = -1;

const char *sc_kind_name(enum sc_kind kind)
{
	return (unsigned)kind < SC_KINDS ? sc_kind_names[kind] : "unknown";
}

/* --- The SIGSYS handler: async-signal-safe calls only (write, exit_group) --- */

static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n < cap)
		buf[(*n)++] = *s++;
}

static void put_num(char *buf, size_t *n, size_t cap, unsigned long v)
{
	char digits[24];
	unsigned i = 0;
	do
		digits[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < sizeof(digits));
	while (i && *n < cap)
		buf[(*n)++] = digits[--i];
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[192];
	size_t n = 0, cap = sizeof(line) - 1;
	int nr = si->si_syscall;
	(void)sig, (void)uc;

	if (si->si_code != SIGSYS_BY_SECCOMP) {
		/* Sent, not raised by a filter: say so, and end as the signal would have. */
		put_str(line, &n, cap, "ember: SIGSYS sent by process ");
		put_num(line, &n, cap, (unsigned long)si->si_pid);
		put_str(line, &n, cap, ", not a forbidden system call\n");
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
		syscall(SYS_exit_group, EXIT_SIGNAL_BASE + SIGSYS);
	}
	put_str(line, &n, cap, "ember: seccomp: thread ");
	put_str(line, &n, cap, thread_kind >= 0 ? sc_kind_names[thread_kind] : "unknown");
	put_str(line, &n, cap, " made a forbidden system call ");
	if (si->si_arch != AUDIT_ARCH_X86_64)
		put_str(line, &n, cap, "through a foreign ABI");
	else if (nr >= 0 && nr < SC_NAMES && sc_syscall_names[nr])
		put_str(line, &n, cap, sc_syscall_names[nr]);
	else
		put_str(line, &n, cap, "unknown");
	put_str(line, &n, cap, " (");
	put_num(line, &n, cap, (unsigned)nr);
	put_str(line, &n, cap, ")");
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	/* The system call itself: a sanitizer's _exit makes calls of its own first. */
	syscall(SYS_exit_group, EXIT_SECCOMP);
}

/* --- Installing --- */

static int check_kernel(char *err, size_t errlen)
{
	uint32_t trap = SECCOMP_RET_TRAP;
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		snprintf(err, errlen, "this kernel has no seccomp (CONFIG_SECCOMP): %s",
		         strerror(errno));
		return -errno;
	}
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &trap) < 0) {
		snprintf(err, errlen,
		         "this kernel's seccomp cannot filter or trap (CONFIG_SECCOMP_FILTER): %s",
		         strerror(errno));
		return -errno;
	}
	return 0;
}

/* The ready-made programs, copied with this process's pid where the rules compare with it. */
static int load_programs(char *err, size_t errlen)
{
	uint32_t pid = (uint32_t)getpid();
	int r = 0;
	unsigned k;
	for (k = 0; k < SC_KINDS && !r; k++) {
		const struct sc_bpf *b = &sc_bpf[k];
		struct sock_filter *f = malloc(b->len * sizeof(*f));
		unsigned patched = 0;
		if (!f) {
			snprintf(err, errlen, "no memory for the seccomp filters");
			r = -ENOMEM;
			break;
		}
		memcpy(f, b->insns, b->len * sizeof(*f));
		for (unsigned i = 0; i < b->len; i++)
			if (sc_bpf_is_pid_slot(&f[i])) {
				f[i].k = pid;
				patched++;
			}
		sc.prog[k] = (struct sock_fprog){.len = b->len, .filter = f};
		/* seccomp-gen counted the same instructions; a mismatch is a broken build. */
		if (patched != b->pid_slots) {
			snprintf(err, errlen, "the %s thread's seccomp filter is damaged",
			         sc_kind_names[k]);
			r = -EINVAL;
		}
	}
	if (r)
		for (unsigned i = 0; i < k && i < SC_KINDS; i++) {
			free(sc.prog[i].filter);
			sc.prog[i] = (struct sock_fprog){0};
		}
	return r;
}

int sc_setup(bool off, char *err, size_t errlen)
{
	/* One malloc arena for every thread: glibc's per-thread arenas open
	 * /proc/sys/vm/overcommit_memory the first time they shrink, which a locked-down
	 * thread may not. (The same with seccomp off, so debugging changes nothing else.) */
	mallopt(M_ARENA_MAX, 1);
	if (off) {
		if (sc.state != STATE_OFF)
			log_warn("seccomp is off (--no-seccomp): the guest is not contained");
		sc.state = STATE_OFF;
		return 0;
	}
	if (sc.state == STATE_ON)
		return 0;
	int r = check_kernel(err, errlen);
	if (r < 0 || (r = load_programs(err, errlen)) < 0)
		return r;
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigfillset(&sa.sa_mask); /* nothing else runs inside the handler */
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot install the SIGSYS handler: %s", strerror(errno));
		return r;
	}
	sc.state = STATE_ON;
	return 0;
}

int sc_parse_file(const uint8_t *buf, size_t len, struct sock_fprog out[SC_KINDS], char *err,
                  size_t errlen)
{
	size_t at = 8;
	memset(out, 0, SC_KINDS * sizeof(*out));
	if (len > SC_FILE_MAX) {
		snprintf(err, errlen, "it is %zu bytes; at most %d", len, SC_FILE_MAX);
		return -EINVAL;
	}
	if (len < 8 || memcmp(buf, SC_FILE_MAGIC, 8)) {
		snprintf(err, errlen, "it does not start with \"%s\" (docs/SECCOMP.md)",
		         SC_FILE_MAGIC);
		return -EINVAL;
	}
	for (unsigned sec = 0; sec < SC_KINDS; sec++) {
		char name[9] = "";
		unsigned k;
		if (len - at < 12) {
			snprintf(err, errlen, "it ends inside section %u (three are needed)",
			         sec + 1);
			goto bad;
		}
		memcpy(name, buf + at, 8);
		for (k = 0; k < SC_KINDS && strcmp(name, sc_kind_names[k]); k++)
			;
		/* The name's padding must be NULs: "vmm" and nothing else. */
		for (size_t i = strlen(name); i < 8 && k < SC_KINDS; i++)
			if (buf[at + i])
				k = SC_KINDS;
		if (k == SC_KINDS) {
			snprintf(err, errlen, "section %u names no thread kind (vmm, api or vcpu)",
			         sec + 1);
			goto bad;
		}
		if (out[k].filter) {
			snprintf(err, errlen, "the %s thread's program is there twice", name);
			goto bad;
		}
		uint32_t n = (uint32_t)buf[at + 8] | (uint32_t)buf[at + 9] << 8 |
		             (uint32_t)buf[at + 10] << 16 | (uint32_t)buf[at + 11] << 24;
		at += 12;
		if (n < 1 || n > BPF_MAXINSNS) {
			snprintf(err, errlen,
			         "the %s thread's program has %u instructions; 1 to %d", name, n,
			         BPF_MAXINSNS);
			goto bad;
		}
		if ((len - at) / 8 < n) {
			snprintf(err, errlen, "the %s thread's program is cut short", name);
			goto bad;
		}
		struct sock_filter *f = malloc(n * sizeof(*f));
		if (!f) {
			snprintf(err, errlen, "no memory");
			goto bad;
		}
		for (uint32_t i = 0; i < n; i++, at += 8) {
			const uint8_t *b = buf + at;
			f[i] =
			    (struct sock_filter){.code = (uint16_t)(b[0] | b[1] << 8),
			                         .jt = b[2],
			                         .jf = b[3],
			                         .k = (uint32_t)b[4] | (uint32_t)b[5] << 8 |
			                              (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24};
		}
		out[k] = (struct sock_fprog){.len = (unsigned short)n, .filter = f};
	}
	if (at != len) {
		snprintf(err, errlen, "%zu bytes follow the third section", len - at);
		goto bad;
	}
	return 0;
bad:
	for (unsigned k = 0; k < SC_KINDS; k++) {
		free(out[k].filter);
		out[k] = (struct sock_fprog){0};
	}
	return -EINVAL;
}

/* Whether the kernel takes prog: a child installs it and reports. A program it accepted may
 * then forbid the child's own exit, so a child killed by a signal also means "accepted"; a
 * refusal happens before anything is installed, and the child says so with its status. */
static int try_program(const struct sock_fprog *prog)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			syscall(SYS_exit_group, 2);
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
			syscall(SYS_exit_group, errno == EINVAL ? 1 : 2);
		syscall(SYS_exit_group, 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		return -EINVAL;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
		return -EPERM;
	return 0;
}

int sc_setup_file(const char *path, char *err, size_t errlen)
{
	static uint8_t buf[SC_FILE_MAX + 1];
	struct sock_fprog progs[SC_KINDS];
	char why[256];
	size_t len = 0;
	ssize_t n;
	int r;

	mallopt(M_ARENA_MAX, 1); /* as sc_setup */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "--seccomp-filter: cannot open '%s': %s", path,
		         strerror(errno));
		return r;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if ((r = check_kernel(err, errlen)) < 0)
		return r;
	if (sc_parse_file(buf, len, progs, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--seccomp-filter '%s': %s", path, why);
		return -EINVAL;
	}
	for (unsigned k = 0; k < SC_KINDS; k++) {
		r = try_program(&progs[k]);
		if (r < 0) {
			snprintf(err, errlen,
			         "--seccomp-filter '%s': the kernel refuses the %s "
			         "thread's program: %s",
			         path, sc_kind_names[k], strerror(-r));
			for (unsigned i = 0; i < SC_KINDS; i++)
				free(progs[i].filter);
			return r;
		}
	}
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot install the SIGSYS handler: %s", strerror(errno));
		for (unsigned i = 0; i < SC_KINDS; i++)
			free(progs[i].filter);
		return r;
	}
	memcpy(sc.prog, progs, sizeof(progs));
	sc.state = STATE_ON;
	return 0;
}

void sc_lockdown(enum sc_kind kind)
{
	if (sc.state != STATE_ON)
		return;
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	thread_kind = (int)kind;
	int e = pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (!e && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	           syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sc.prog[kind]) < 0))
		e = errno;
	if (e) {
		log_err("seccomp: cannot lock the %s thread down: %s", sc_kind_names[kind],
		        strerror(e));
		_exit(EXIT_USAGE); /* other threads run: no atexit handlers, no stdio flush */
	}
#ifdef EMBER_TEST_HOOKS
	if (sc.violate == (int)kind + 1)
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
#endif
}

#ifdef EMBER_TEST_HOOKS
int sc_test_violate(const char *kind)
{
	for (unsigned k = 0; k < SC_KINDS; k++)
		if (!strcmp(kind, sc_kind_names[k])) {
			sc.violate = (int)k + 1;
			return 0;
		}
	return -EINVAL;
}
#endif

/* --- Counting and the report --- */

/* Whether rule i is the first allowing rule of its call in t (distinct calls are counted). */
static bool first_of_call(const struct sc_table *t, unsigned i)
{
	if (t->rules[i].deny)
		return false;
	for (unsigned j = 0; j < i; j++)
		if (!t->rules[j].deny && t->rules[j].nr == t->rules[i].nr)
			return false;
	return true;
}

static unsigned count_calls(const struct sc_table *t, const struct sc_table *also)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->n; i++)
		n += first_of_call(t, i);
	for (unsigned i = 0; also && i < also->n; i++) {
		bool seen = !first_of_call(also, i);
		for (unsigned j = 0; j < t->n && !seen; j++)
			seen = !t->rules[j].deny && t->rules[j].nr == also->rules[i].nr;
		n += !seen;
	}
	return n;
}

unsigned sc_count(enum sc_kind kind)
{
	return count_calls(&sc_tables[kind], NULL);
}

static unsigned count_ioctls(const struct sc_table *t)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->n; i++)
		n += !t->rules[i].deny && t->rules[i].nr == SCMP_SYS(ioctl);
	return n;
}

static void print_rule(FILE *out, const struct sc_rule *rule, const char *tag)
{
	char args[160] = "";
	size_t len = 0;
	for (unsigned k = 0; k < rule->nargs && len < sizeof(args); k++)
		len += (size_t)snprintf(args + len, sizeof(args) - len, "%s%s", k ? ", " : "",
		                        rule->args[k].text);
	fprintf(out, "  %-15s %-44s %s%s%s\n", rule->name, args, rule->deny ? "[EPERM] " : "", tag,
	        rule->why);
}

/* The rules of t, ordered by call name (then as listed). */
static void print_sorted(FILE *out, const struct sc_table *t, const char *tag)
{
	bool done[MAX_RULES] = {false};
	for (unsigned printed = 0; printed < t->n && printed < MAX_RULES; printed++) {
		unsigned best = t->n;
		for (unsigned i = 0; i < t->n && i < MAX_RULES; i++)
			if (!done[i] &&
			    (best == t->n || strcmp(t->rules[i].name, t->rules[best].name) < 0))
				best = i;
		done[best] = true;
		print_rule(out, &t->rules[best], tag);
	}
}

int sc_report(FILE *out)
{
	fprintf(out,
	        "Ember's seccomp filters (x86_64): what each thread may call once it is locked "
	        "down.\nAnything else ends Ember with status %d and a line naming the call.\n",
	        EXIT_SECCOMP);
	if (sc_sanitizer_tables[SC_VMM].n)
		fprintf(out, "This is a sanitizer build: the rules marked [sanitizer] are for its "
		             "runtime and exist only here.\n");
	for (unsigned k = 0; k < SC_KINDS; k++) {
		const struct sc_table *t = &sc_tables[k];
		unsigned calls = count_calls(t, NULL);
		unsigned with = count_calls(t, &sc_sanitizer_tables[k]);
		fprintf(out, "\n%s thread: %u system calls", sc_kind_names[k], calls);
		if (with != calls)
			fprintf(out, " (+%u [sanitizer])", with - calls);
		fprintf(out, ", %u ioctl requests; Firecracker's: %u; %u BPF instructions\n",
		        count_ioctls(t), t->firecracker, sc_bpf[k].len);
		print_sorted(out, t, "");
		print_sorted(out, &sc_sanitizer_tables[k], "[sanitizer] ");
	}
	fprintf(out,
	        "\ntotal: vmm %u (Firecracker 50), api %u (Firecracker 31), vcpu %u "
	        "(Firecracker 27)\n",
	        sc_count(SC_VMM), sc_count(SC_API), sc_count(SC_VCPU));
	return fflush(out) == 0 ? 0 : -EIO;
}
