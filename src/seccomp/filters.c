/*
 * The seccomp rules, one table per thread kind: every system call a thread may make once
 * it is locked down, with an argument rule where the argument decides the danger, and why
 * it is there. Anything else ends Ember (seccomp.c). Measured, not guessed: each call was
 * seen under strace in the integration suite (or is a teardown or error path read from
 * the code); see `ember seccomp-report`.
 */
#include "seccomp.h"
#include "../base/signals.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#define ALLOW(sys, reason)                                                                         \
	{                                                                                          \
		.nr = SCMP_SYS(sys), .name = #sys, .why = (reason)                                 \
	}
#define ALLOW_IF(sys, reason, ...)                                                                 \
	{                                                                                          \
		.nr = SCMP_SYS(sys), .name = #sys, .why = (reason),                                \
		.nargs = sizeof((struct sc_arg[]){__VA_ARGS__}) / sizeof(struct sc_arg),           \
		.args = {__VA_ARGS__},                                                             \
	}
/* Refused with EPERM, not fatal: teardown's calls whose failure it ignores. */
#define DENY_IF(sys, reason, ...)                                                                  \
	{                                                                                          \
		.nr = SCMP_SYS(sys), .name = #sys, .why = (reason), .deny = true,                  \
		.nargs = sizeof((struct sc_arg[]){__VA_ARGS__}) / sizeof(struct sc_arg),           \
		.args = {__VA_ARGS__},                                                             \
	}

/* Argument n equals v. */
#define EQ(n, v)                                                                                   \
	{                                                                                          \
		.arg = (n), .op = SCMP_CMP_EQ, .a = (v), .text = "arg" #n " == " #v                \
	}
/* Argument n has none of the bits in m. */
#define NONE_OF(n, m)                                                                              \
	{                                                                                          \
		.arg = (n), .op = SCMP_CMP_MASKED_EQ, .a = (m), .b = 0,                            \
		.text = "arg" #n " & " #m " == 0"                                                  \
	}
/* Argument n, less the bits outside m, equals v. */
#define MASKED(n, m, v, txt)                                                                       \
	{                                                                                          \
		.arg = (n), .op = SCMP_CMP_MASKED_EQ, .a = (m), .b = (v), .text = txt              \
	}
/* Argument n is this process's pid. */
#define IS_PID(n)                                                                                  \
	{                                                                                          \
		.arg = (n), .op = SCMP_CMP_EQ, .pid = true, .text = "arg" #n " == getpid()"        \
	}

/* futex: the operation without its PRIVATE and CLOCK_REALTIME modifiers. */
#define FUTEX_OP_BITS (0xffffffffu & ~(unsigned)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME))
#define FUTEX_IS(op)  MASKED(1, FUTEX_OP_BITS, op, "arg1 op == " #op)
#define FUTEX_WHY     "locks and condition variables (glibc's mutexes, pthread_join)"
#define FUTEX_VCPU    "locks; the condition a vCPU sleeps on while paused or waiting for device work"

/* mmap: malloc's large blocks (one arena, grown with brk, so no mprotect), never executable. */
#define NO_EXEC "malloc's large blocks, never executable"

#define TABLE(t, fc)                                                                               \
	{                                                                                          \
		t, sizeof(t) / sizeof(t[0]), fc                                                    \
	}

/* The vCPU threads: KVM_RUN and the exits it returns (port I/O, MMIO: the devices' register
 * handlers). Everything else is the vmm thread's: a virtio Status write hands activation or
 * reset to it through an eventfd, and a stop wakes it to signal the other vCPUs. */
static const struct sc_rule vcpu_rules[] = {
    ALLOW_IF(ioctl, "run the guest", EQ(1, KVM_RUN)),
    ALLOW_IF(ioctl, "the guest's RIP for a fault's message", EQ(1, KVM_GET_REGS)),
    ALLOW_IF(ioctl, "the serial port's and keyboard's interrupts, raised by port writes",
             EQ(1, KVM_IRQ_LINE)),
    ALLOW(write, "the serial console (stdout), log lines; eventfds: interrupts, kicks, the "
                 "device work and stop that wake the vmm thread"),
    ALLOW_IF(futex, FUTEX_VCPU, FUTEX_IS(FUTEX_WAIT)),
    ALLOW_IF(futex, FUTEX_VCPU, FUTEX_IS(FUTEX_WAKE)),
    ALLOW_IF(futex, FUTEX_VCPU, FUTEX_IS(FUTEX_WAIT_BITSET)),
    ALLOW(rt_sigreturn, "return from the kick signal's handler"),
    ALLOW(rt_sigprocmask, "thread exit blocks signals"),
    ALLOW_IF(madvise, "glibc frees the thread's stack as it ends", EQ(2, MADV_DONTNEED)),
    ALLOW(clock_gettime, "log-file timestamps, where the vDSO cannot serve them"),
    ALLOW(exit, "the thread ends when the VM stops"),
    ALLOW(exit_group, "the SIGSYS handler ends the process"),
};

/* The API thread: HTTP on the Unix socket, requests handed to the vmm thread. */
static const struct sc_rule api_rules[] = {
    ALLOW(epoll_wait, "the API thread's loop"),
    ALLOW(epoll_ctl, "watch clients for input or output"),
    ALLOW(accept4, "new clients"),
    ALLOW(recvfrom, "requests (recv)"),
    ALLOW(sendto, "responses (send)"),
    ALLOW(close, "clients that leave"),
    ALLOW(write, "the channel's eventfd that wakes the vmm thread"),
    ALLOW(clock_gettime, "client deadlines, where the vDSO cannot serve them"),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAIT)),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAKE)),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAIT_BITSET)),
    ALLOW_IF(mmap, NO_EXEC, NONE_OF(2, PROT_EXEC)),
    ALLOW(munmap, "malloc gives large blocks back (a client's body buffer)"),
    ALLOW(brk, "malloc's arena (one for every thread: seccomp.c)"),
    ALLOW_IF(madvise, "glibc frees the thread's stack as it ends", EQ(2, MADV_DONTNEED)),
    ALLOW(rt_sigprocmask, "thread exit blocks signals"),
    ALLOW(exit, "the thread ends when Ember stops"),
    ALLOW(exit_group, "the SIGSYS handler ends the process"),
};

/* The vmm thread: the event loop over every device's fds, the API's commands after
 * InstanceStart, and the teardown after the guest stops. */
static const struct sc_rule vmm_rules[] = {
    ALLOW(epoll_wait, "the event loop"),
    ALLOW(epoll_ctl, "devices watch and unwatch their fds (activation, reset)"),
    ALLOW(read, "eventfds (kicks, device work, io_uring, stop, API channel), stdin, signalfd, "
                "timerfd"),
    ALLOW(write, "eventfds (interrupts, requeues), log lines, metrics"),
    ALLOW(readv, "virtio-net receives from its tap"),
    ALLOW(writev, "virtio-net sends to its tap"),
    ALLOW(preadv, "virtio-blk's synchronous engine reads"),
    ALLOW(pwritev, "virtio-blk's synchronous engine writes"),
    ALLOW(fdatasync, "virtio-blk's synchronous engine flushes"),
    ALLOW(fallocate, "virtio-blk's synchronous engine discards and zeroes"),
    ALLOW(io_uring_enter, "virtio-blk's io_uring engine (a ring restricted to its four ops); "
                          "a reset waits for requests in flight"),
    ALLOW(getrandom, "virtio-rng"),
    ALLOW(timerfd_settime, "rate limiters park a throttled queue on their timerfd (made "
                           "before lock-down) and disarm it at reset or PATCH"),
    ALLOW_IF(socket, "virtio-vsock connects guest connections to <uds>_<port>", EQ(0, AF_UNIX),
             MASKED(1, 0xf, SOCK_STREAM, "arg1 type == SOCK_STREAM")),
    ALLOW(connect, "virtio-vsock: guest connections to host sockets"),
    ALLOW(accept4, "virtio-vsock: host connections to the guest"),
    ALLOW(recvmsg, "virtio-vsock relays host to guest and reads a host connection's CONNECT "
                   "line"),
    ALLOW(sendmsg, "virtio-vsock relays guest to host"),
    ALLOW(shutdown, "virtio-vsock: the guest shut its side"),
    ALLOW(poll, "virtio-vsock confirms a hang-up epoll reported"),
    ALLOW(close, "devices close connections (virtio-vsock's at reset); teardown"),
    ALLOW_IF(ioctl, "console input and SendCtrlAltDel raise serial and keyboard interrupts",
             EQ(1, KVM_IRQ_LINE)),
    ALLOW_IF(ioctl, "virtio-net's offloads, set at activation and cleared at reset",
             EQ(1, TUNSETOFFLOAD)),
    ALLOW_IF(ioctl, "the console's terminal mode, restored at exit (stdin only)", EQ(0, 0),
             EQ(1, TCSETS)),
    ALLOW_IF(ioctl, "snapshot: the guest's CPUID", EQ(1, KVM_GET_CPUID2)),
    ALLOW_IF(ioctl, "snapshot: the MSRs to save", EQ(1, KVM_GET_MSR_INDEX_LIST)),
    ALLOW_IF(ioctl, "snapshot: the MSRs", EQ(1, KVM_GET_MSRS)),
    ALLOW_IF(ioctl, "snapshot: the registers", EQ(1, KVM_GET_REGS)),
    ALLOW_IF(ioctl, "snapshot: the system registers", EQ(1, KVM_GET_SREGS)),
    ALLOW_IF(ioctl, "snapshot: the XSAVE area's size", EQ(1, KVM_CHECK_EXTENSION)),
    ALLOW_IF(ioctl, "snapshot: the XSAVE area (KVM_CAP_XSAVE2)", EQ(1, KVM_GET_XSAVE2)),
    ALLOW_IF(ioctl, "snapshot: the XSAVE area (legacy)", EQ(1, KVM_GET_XSAVE)),
    ALLOW_IF(ioctl, "snapshot: XCR0", EQ(1, KVM_GET_XCRS)),
    ALLOW_IF(ioctl, "snapshot: the debug registers", EQ(1, KVM_GET_DEBUGREGS)),
    ALLOW_IF(ioctl, "snapshot: the LAPIC", EQ(1, KVM_GET_LAPIC)),
    ALLOW_IF(ioctl, "snapshot: the MP state", EQ(1, KVM_GET_MP_STATE)),
    ALLOW_IF(ioctl, "snapshot: pending events", EQ(1, KVM_GET_VCPU_EVENTS)),
    ALLOW_IF(ioctl, "snapshot: the TSC rate", EQ(1, KVM_GET_TSC_KHZ)),
    ALLOW_IF(ioctl, "snapshot: PIC and IOAPIC", EQ(1, KVM_GET_IRQCHIP)),
    ALLOW_IF(ioctl, "snapshot: the PIT", EQ(1, KVM_GET_PIT2)),
    ALLOW_IF(ioctl, "snapshot: kvmclock", EQ(1, KVM_GET_CLOCK)),
    ALLOW_IF(ioctl, "Diff snapshot: the pages the guest wrote (and a Full one clears them)",
             EQ(1, KVM_GET_DIRTY_LOG)),
    DENY_IF(ioctl, "teardown deassigns virtio's irqfds; closing the VM does it anyway",
            EQ(1, KVM_IRQFD)),
    DENY_IF(ioctl, "teardown deassigns virtio's ioeventfds; closing the VM does it anyway",
            EQ(1, KVM_IOEVENTFD)),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAIT)),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAKE)),
    ALLOW_IF(futex, FUTEX_WHY, FUTEX_IS(FUTEX_WAIT_BITSET)),
    ALLOW_IF(tgkill, "kick vCPUs out of KVM_RUN (stop, including one a vCPU asked; pause)",
             IS_PID(0), EQ(2, VCPU_KICK_SIGNAL)),
    ALLOW(getpid, "pthread_kill's tgkill names the process"),
    ALLOW(rt_sigprocmask, "pthread_kill blocks signals for a moment"),
    ALLOW_IF(mmap, NO_EXEC, NONE_OF(2, PROT_EXEC)),
    ALLOW(munmap, "malloc gives large blocks back; teardown unmaps guest RAM and rings"),
    ALLOW(brk, "malloc's arena (one for every thread: seccomp.c)"),
    ALLOW_IF(madvise,
             "virtio-vsock returns a closed connection's buffer; virtio-balloon gives the "
             "guest's inflated and reported pages back to the host",
             EQ(2, MADV_DONTNEED)),
    ALLOW(clock_gettime, "log and metrics timestamps, where the vDSO cannot serve them"),
    ALLOW(getrusage, "--stats at exit"),
    ALLOW(mincore, "--stats at exit: guest RAM the guest touched"),
    ALLOW(newfstatat, "teardown checks the API socket is still ours before removing it"),
    ALLOW_IF(openat,
             "PUT /snapshot/create's two files, created write-only (as Firecracker's vmm "
             "thread does; the API thread, which faces the client, opens nothing)",
             EQ(2, SC_SNAPSHOT_OPEN_FLAGS)),
    ALLOW_IF(openat,
             "PATCH /drives after boot: the drive's new backing file, read-only (as Firecracker's "
             "vmm thread opens it; never created or truncated)",
             EQ(2, SC_DRIVE_OPEN_RO)),
    ALLOW_IF(openat, "PATCH /drives after boot: the drive's new backing file, read-write",
             EQ(2, SC_DRIVE_OPEN_RW)),
    ALLOW_IF(ioctl, "PATCH /drives after boot: the size of a new backing block device",
             EQ(1, BLKGETSIZE64)),
    ALLOW(unlink, "teardown removes the API and vsock sockets; a failed snapshot's files"),
    ALLOW(exit_group, "the end of Ember"),
};

const char *const sc_kind_names[SC_KINDS] = {"vmm", "api", "vcpu"};

const struct sc_table sc_tables[SC_KINDS] = {
    [SC_VMM] = TABLE(vmm_rules, 50),
    [SC_API] = TABLE(api_rules, 31),
    [SC_VCPU] = TABLE(vcpu_rules, 27),
};

#if defined(__SANITIZE_ADDRESS__)
/*
 * Sanitizer builds only (make asan): ASan's and UBSan's runtime makes calls of its own, in
 * every thread: its allocator maps memory, a thread's end frees its signal stack, and a
 * report reads /proc/self/maps and the binaries' symbols. None of these exist in a normal
 * build, whose tables above are what `ember seccomp-report` counts.
 */
#define SANITIZER_RULES                                                                            \
	ALLOW_IF(mmap, "the runtime's allocator and symbolizer", NONE_OF(2, PROT_EXEC)),           \
	    ALLOW(munmap, "the runtime's allocator and symbolizer"),                               \
	    ALLOW_IF(mprotect, "LeakSanitizer's tracer stack guard", NONE_OF(2, PROT_EXEC)),       \
	    ALLOW_IF(madvise, "the runtime's allocator", EQ(2, MADV_NOHUGEPAGE)),                  \
	    ALLOW_IF(madvise, "the runtime's allocator", EQ(2, MADV_DONTDUMP)),                    \
	    ALLOW(sigaltstack, "a thread's end frees the runtime's signal stack"),                 \
	    ALLOW_IF(open, "a report reads /proc/self/maps (read-only)",                           \
	             MASKED(1, O_ACCMODE, O_RDONLY, "arg1 mode == O_RDONLY")),                     \
	    ALLOW_IF(openat, "a report reads the binaries' symbols (read-only)",                   \
	             MASKED(2, O_ACCMODE, O_RDONLY, "arg2 mode == O_RDONLY")),                     \
	    ALLOW(read, "a report reads what it opened"), ALLOW(close, "a report"),                \
	    ALLOW(lseek, "a report"), ALLOW(newfstatat, "a report finds the binaries"),            \
	    ALLOW(readlink, "a report finds the binaries"),                                        \
	    ALLOW_IF(fcntl, "a report", EQ(1, F_SETFD)),                                           \
	    ALLOW(pipe2, "a report checks memory is readable"),                                    \
	    ALLOW_IF(ioctl, "a report: is stderr a terminal", EQ(0, 2), EQ(1, TCGETS)),            \
	    ALLOW(getpid, "a report names the process")

static const struct sc_rule sanitizer_rules[] = {SANITIZER_RULES};

/* The vmm thread is the main thread: LeakSanitizer's check runs on it at exit, stopping the
 * other threads with ptrace from a thread it clones. */
static const struct sc_rule sanitizer_vmm_rules[] = {
    SANITIZER_RULES,
    ALLOW_IF(clone, "LeakSanitizer's tracer thread",
             EQ(0, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)),
    ALLOW(ptrace, "LeakSanitizer stops and reads the threads"),
    ALLOW_IF(prctl, "LeakSanitizer", EQ(0, PR_SET_PDEATHSIG)),
    ALLOW_IF(prctl, "LeakSanitizer", EQ(0, PR_GET_DUMPABLE)),
    ALLOW_IF(prctl, "LeakSanitizer", EQ(0, PR_SET_DUMPABLE)),
    ALLOW_IF(prctl, "LeakSanitizer", EQ(0, PR_SET_PTRACER)),
    ALLOW(wait4, "LeakSanitizer waits for its tracer and the stopped threads"),
    ALLOW(getdents, "LeakSanitizer lists /proc/self/task"),
    ALLOW(gettid, "LeakSanitizer"),
    ALLOW(getppid, "LeakSanitizer's tracer checks its parent"),
    ALLOW(rt_sigaction, "LeakSanitizer's tracer handles its own faults"),
    ALLOW(sched_yield, "LeakSanitizer waits for its tracer"),
    ALLOW(exit, "LeakSanitizer's tracer ends"),
};

const struct sc_table sc_sanitizer_tables[SC_KINDS] = {
    [SC_VMM] = TABLE(sanitizer_vmm_rules, 0),
    [SC_API] = TABLE(sanitizer_rules, 0),
    [SC_VCPU] = TABLE(sanitizer_rules, 0),
};
#else
const struct sc_table sc_sanitizer_tables[SC_KINDS];
#endif
