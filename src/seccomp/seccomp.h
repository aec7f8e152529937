/*
 * Seccomp: one system-call allowlist per thread kind (vmm, api, vcpu), the rules in one
 * place (filters.c), compiled to BPF at build time with Debian's libseccomp (gen.c writes
 * seccomp_bpf.c; Ember links no libseccomp). Acquire, lock down, run: each thread
 * installs its own filter on itself once every resource it needs exists, before the first
 * guest instruction or the first API byte. A forbidden call raises SIGSYS; the handler
 * writes "ember: seccomp: thread <kind> made a forbidden system call <name> (<nr>)" and
 * ends the process with EXIT_SECCOMP.
 */
#ifndef EMBER_SECCOMP_H
#define EMBER_SECCOMP_H

#include <fcntl.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sc_kind { SC_VMM, SC_API, SC_VCPU, SC_KINDS };

/*
 * Once per process, single-threaded, before any thread locks down: off (--no-seccomp)
 * prints "ember: warning: seccomp is off (--no-seccomp): the guest is not contained" and
 * makes sc_lockdown do nothing. On, it checks that the kernel has seccomp filters, copies
 * the three ready-made programs with this process's pid put in (so a thread's lockdown is
 * one system call and allocates nothing), and installs the SIGSYS handler. Returns 0, or
 * -errno with a message in err.
 */
int sc_setup(bool off, char *err, size_t errlen);

/*
 * sc_setup with the programs of a user's file (--seccomp-filter) instead of Ember's own:
 * read, parsed (sc_parse_file), and each program tried in a child process first, so a
 * program the kernel refuses is refused here, with its thread kind named, and never when a
 * thread locks down. Returns 0, or -errno with a message in err.
 */
int sc_setup_file(const char *path, char *err, size_t errlen);

/*
 * --seccomp-filter's format (docs/SECCOMP.md), all numbers little-endian:
 *   "EMBRBPF1"                               8 bytes
 *   three sections, one per thread kind, in any order:
 *     the kind's name, NUL-padded            8 bytes ("vmm", "api", "vcpu")
 *     n, the program's instruction count     4 bytes, 1 to 4096
 *     n struct sock_filter                   8 bytes each (code u16, jt u8, jf u8, k u32)
 *   nothing after the third; the file at most SC_FILE_MAX bytes.
 * The programs are installed as they are (no pid is patched in); what they let a thread do
 * is the user's choice.
 */
#define SC_FILE_MAGIC "EMBRBPF1"
#define SC_FILE_MAX   100000
/* Parse the len bytes at buf into out[kind] (filter arrays malloc'd, freed by the caller
 * with free()). Returns 0, or -EINVAL with a message in err and nothing allocated. */
int sc_parse_file(const uint8_t *buf, size_t len, struct sock_fprog out[SC_KINDS], char *err,
                  size_t errlen);

/*
 * Lock the calling thread down with kind's filter: NO_NEW_PRIVS, SIGSYS unblocked (so the
 * handler, not the kernel's default, sees a violation), the filter. Only this thread is
 * filtered (threads it creates later inherit the filter). Before sc_setup (a unit test
 * running one thread's code alone) it does nothing. It cannot fail after sc_setup's checks
 * short of the kernel running out of memory; if it does, it logs and ends the process with
 * EXIT_USAGE: no thread runs unconfined.
 */
void sc_lockdown(enum sc_kind kind);

/* "vmm", "api", "vcpu". */
const char *sc_kind_name(enum sc_kind kind);

/* Print, per thread kind, every allowed call with its argument rule and reason, and the
 * totals beside Firecracker's (`ember seccomp-report`). Returns 0 or -errno. */
int sc_report(FILE *out);

/* Distinct system calls kind's filter allows (what sc_report totals). */
unsigned sc_count(enum sc_kind kind);

#ifdef EMBER_TEST_HOOKS
/* Test builds only: right after locking down, a thread of the named kind ("vmm", "api",
 * "vcpu") makes a forbidden call, socket(AF_INET, SOCK_STREAM, 0). Returns 0 or -EINVAL. */
int sc_test_violate(const char *kind);
#endif

/* --- The compiled programs (seccomp_bpf.c, written by seccomp-gen at build time) --- */

/* Rules comparing an argument with Ember's pid are compiled against this value, above any
 * pid (pid_max is at most 2^22); sc_setup patches each such comparison (a BPF_JEQ|BPF_K
 * with this k) to the real pid. No other rule constant may equal it (seccomp-gen checks). */
/* The only open(2) a locked-down thread may make: the vmm thread's, for PUT
 * /snapshot/create's two files, created or truncated, write-only (its filter compares the
 * flags exactly). */
#define SC_SNAPSHOT_OPEN_FLAGS (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)

/* The opens of a drive's backing file, at boot and at PATCH /drives after it (the vmm
 * thread's filter compares the flags exactly: no O_CREAT, no O_TRUNC). */
#define SC_DRIVE_OPEN_RO (O_RDONLY | O_CLOEXEC)
#define SC_DRIVE_OPEN_RW (O_RDWR | O_CLOEXEC)

#define SC_PID_PLACEHOLDER 0x7ee1d000u

struct sc_bpf {
	const struct sock_filter *insns;
	unsigned short len;
	unsigned pid_slots; /* instructions that compare with SC_PID_PLACEHOLDER */
};
extern const struct sc_bpf sc_bpf[SC_KINDS];

/* Whether insn compares the accumulator with the pid placeholder. */
static inline bool sc_bpf_is_pid_slot(const struct sock_filter *insn)
{
	return insn->code == (BPF_JMP | BPF_JEQ | BPF_K) && insn->k == SC_PID_PLACEHOLDER;
}

/* x86_64 system call names by number (NULL where there is none), for the SIGSYS handler. */
#define SC_NAMES 512
extern const char *const sc_syscall_names[SC_NAMES];

/* --- The rule tables (filters.c) --- */

#define SC_MAX_ARGS 3

/* One comparison of argument arg: op as libseccomp's (SCMP_CMP_EQ: arg == a;
 * SCMP_CMP_MASKED_EQ: (arg & a) == b). With pid set, a is this process's pid. */
struct sc_arg {
	unsigned arg;
	int op; /* enum scmp_compare */
	uint64_t a, b;
	bool pid;
	const char *text; /* the rule as the report prints it */
};

/* One allowed call: nr (SCMP_SYS), allowed when all of its comparisons hold; several
 * rules for one call allow it when any holds. deny: refused with EPERM instead of
 * allowed (calls teardown makes and may fail), and not counted. */
struct sc_rule {
	int nr;
	const char *name;
	unsigned nargs;
	struct sc_arg args[SC_MAX_ARGS];
	bool deny;
	const char *why;
};

struct sc_table {
	const struct sc_rule *rules;
	unsigned n;
	unsigned firecracker; /* Firecracker's count for the same thread on x86_64 */
};

extern const struct sc_table sc_tables[SC_KINDS];

/* "vmm", "api", "vcpu": the kinds' names, as the report, the SIGSYS line and seccomp-gen's
 * array names use them. */
extern const char *const sc_kind_names[SC_KINDS];

/* Rules added to each kind in sanitizer builds (the runtime's own calls); empty else. */
extern const struct sc_table sc_sanitizer_tables[SC_KINDS];

#endif
