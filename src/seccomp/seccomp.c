/*
 * Building the per-thread seccomp filters (filters.c's tables) with libseccomp, installing
 * one on a thread, the SIGSYS handler that names a forbidden call, and the report.
 */
#include "seccomp.h"
#include "../exit_status.h"
#include "../log.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NAMES     512 /* above every x86_64 system call number */
#define NAME_LEN  32
#define MAX_RULES 128 /* per table, for the report's sort */

/* What a filter does with a call no rule allows. A build with -DEMBER_SECCOMP_LOG_ONLY lets
 * it run and logs it to the kernel's audit log ("audit: type=1326 ... comm=<thread>
 * syscall=<nr>" in dmesg): run the tests on such a build to find what a new feature needs. */
#ifdef EMBER_SECCOMP_LOG_ONLY
#define DEFAULT_ACTION SCMP_ACT_LOG
#else
#define DEFAULT_ACTION SCMP_ACT_TRAP
#endif

static const char *const kind_names[SC_KINDS] = {"vmm", "api", "vcpu"};

static struct {
	enum { STATE_UNSET, STATE_OFF, STATE_ON } state;
	struct sock_fprog prog[SC_KINDS];
	/* System call names by number, resolved at setup: the SIGSYS handler cannot allocate. */
	char names[NAMES][NAME_LEN];
#ifdef EMBER_TEST_HOOKS
	int violate; /* 1 + the kind that makes a forbidden call after locking down; 0: none */
#endif
} sc;

/* The calling thread's kind once it locked down, for the SIGSYS handler; -1 before. */
static __thread int thread_kind = -1;

const char *sc_kind_name(enum sc_kind kind)
{
	return (unsigned)kind < SC_KINDS ? kind_names[kind] : "unknown";
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

	put_str(line, &n, cap, "ember: seccomp: thread ");
	put_str(line, &n, cap, thread_kind >= 0 ? kind_names[thread_kind] : "unknown");
	put_str(line, &n, cap, " made a forbidden system call ");
	if (si->si_arch != AUDIT_ARCH_X86_64)
		put_str(line, &n, cap, "through a foreign ABI");
	else if (nr >= 0 && nr < NAMES && sc.names[nr][0])
		put_str(line, &n, cap, sc.names[nr]);
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

/* --- Building --- */

static int add_rules(scmp_filter_ctx ctx, const struct sc_table *t, pid_t pid, char *err,
                     size_t errlen)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct sc_rule *rule = &t->rules[i];
		struct scmp_arg_cmp cmp[SC_MAX_ARGS];
		for (unsigned k = 0; k < rule->nargs; k++) {
			const struct sc_arg *a = &rule->args[k];
			cmp[k] = (struct scmp_arg_cmp){
			    .arg = a->arg,
			    .op = (enum scmp_compare)a->op,
			    .datum_a = a->pid ? (uint64_t)pid : a->a,
			    .datum_b = a->b,
			};
		}
		int r = seccomp_rule_add_exact_array(
		    ctx, rule->deny ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_ALLOW, rule->nr, rule->nargs,
		    cmp);
		if (r < 0) {
			snprintf(err, errlen, "libseccomp refused the rule for %s: %s", rule->name,
			         strerror(-r));
			return r;
		}
	}
	return 0;
}

/* libseccomp writes the BPF program to a file descriptor: read it back from a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("ember-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	off_t len = r < 0 ? 0 : lseek(fd, 0, SEEK_END);
	struct sock_filter *f = NULL;
	if (r >= 0 &&
	    (len <= 0 || len % (off_t)sizeof(*f) || len / (off_t)sizeof(*f) > BPF_MAXINSNS))
		r = -E2BIG;
	if (r >= 0 && !(f = malloc((size_t)len)))
		r = -ENOMEM;
	if (r >= 0 && pread(fd, f, (size_t)len, 0) != (ssize_t)len)
		r = -EIO;
	close(fd);
	if (r < 0) {
		free(f);
		return r;
	}
	prog->len = (unsigned short)(len / (off_t)sizeof(*f));
	prog->filter = f;
	return 0;
}

static int build(enum sc_kind kind, pid_t pid, struct sock_fprog *prog, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(DEFAULT_ACTION);
	int r;
	if (!ctx) {
		snprintf(err, errlen, "libseccomp cannot start a filter");
		return -ENOMEM;
	}
	/* A call through the i386 or x32 ABI is forbidden too, and logged the same way. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) {
		snprintf(err, errlen, "libseccomp: %s", strerror(-r));
		goto out;
	}
	/* A binary tree over the call numbers: a few comparisons on every exit path. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if ((r = add_rules(ctx, &sc_tables[kind], pid, err, errlen)) < 0 ||
	    (r = add_rules(ctx, &sc_sanitizer_tables[kind], pid, err, errlen)) < 0)
		goto out;
	if ((r = export_bpf(ctx, prog)) < 0)
		snprintf(err, errlen, "cannot export the filter: %s", strerror(-r));
out:
	seccomp_release(ctx);
	return r;
}

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

static int build_all(struct sock_fprog prog[SC_KINDS], char *err, size_t errlen)
{
	pid_t pid = getpid();
	for (unsigned k = 0; k < SC_KINDS; k++) {
		char why[256];
		int r = build((enum sc_kind)k, pid, &prog[k], why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen,
			         "cannot build the seccomp filter of the %s thread: %s",
			         kind_names[k], why);
			while (k--)
				free(prog[k].filter);
			return r;
		}
	}
	return 0;
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
	if (r < 0 || (r = build_all(sc.prog, err, errlen)) < 0)
		return r;
	for (int nr = 0; nr < NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name)
			snprintf(sc.names[nr], NAME_LEN, "%s", name);
		free(name);
	}
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
		log_err("seccomp: cannot lock the %s thread down: %s", kind_names[kind],
		        strerror(e));
		exit(EXIT_USAGE);
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
		if (!strcmp(kind, kind_names[k])) {
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
	struct sock_fprog prog[SC_KINDS];
	char err[512];
	int r = build_all(prog, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
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
		fprintf(out, "\n%s thread: %u system calls", kind_names[k], calls);
		if (with != calls)
			fprintf(out, " (+%u [sanitizer])", with - calls);
		fprintf(out, ", %u ioctl requests; Firecracker's: %u; %u BPF instructions\n",
		        count_ioctls(t), t->firecracker, prog[k].len);
		print_sorted(out, t, "");
		print_sorted(out, &sc_sanitizer_tables[k], "[sanitizer] ");
		free(prog[k].filter);
	}
	fprintf(out,
	        "\ntotal: vmm %u (Firecracker 50), api %u (Firecracker 31), vcpu %u "
	        "(Firecracker 27)\n",
	        sc_count(SC_VMM), sc_count(SC_API), sc_count(SC_VCPU));
	return fflush(out) == 0 ? 0 : -EIO;
}
