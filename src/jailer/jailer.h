/* ember-jailer: builds a jail for one monitor process and execs it there, in the manner of
 * Firecracker's jailer (which copies the exec file in; here a read-only bind mount of it is
 * the default, and --copy-exec copies). This header is the contract between the jailer's parts: the
 * parsed command line, the record of what a start has made so far, and each step in order. */
#ifndef EMBER_JAILER_H
#define EMBER_JAILER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define JAIL_PROG          "ember-jailer"
#define JAIL_DEFAULT_BASE  "/srv/jailer"
#define JAIL_ID_MAX        64 /* Firecracker's limit */
#define JAIL_NAME_MAX      64 /* the exec file's name, which names the jail's directory */
#define JAIL_CGROUPS_MAX   16
#define JAIL_CG_FILE_MAX   64
#define JAIL_CG_VALUE_MAX  256
#define JAIL_PARENT_CG_MAX 256
/* Firecracker's default when no --resource-limit no-file is given. */
#define JAIL_DEFAULT_NOFILE 2048

/* Exit statuses: a step failed (and what it had made was taken back), or the command
 * line was wrong (and nothing was made). */
#define JAIL_EXIT_FAIL  1
#define JAIL_EXIT_USAGE 2

enum jail_res { JAIL_RES_FSIZE, JAIL_RES_NOFILE, JAIL_RES_COUNT };

struct jail_cgroup {
	char file[JAIL_CG_FILE_MAX];       /* "pids.max" */
	char controller[JAIL_CG_FILE_MAX]; /* the part before the first dot: "pids" */
	char value[JAIL_CG_VALUE_MAX];     /* written as given */
};

/* The command line, every value checked for its form (args.c). Strings point into argv. */
struct jail_args {
	const char *id;
	const char *exec_file;
	uid_t uid;
	gid_t gid;
	const char *base_dir; /* absolute, no "." or ".." components */
	const char *netns;    /* NULL: stay in the jailer's network namespace */
	int cgroup_version;   /* 1 or 2 */
	struct jail_cgroup cgroups[JAIL_CGROUPS_MAX];
	unsigned n_cgroups;
	bool rlimit_set[JAIL_RES_COUNT];
	uint64_t rlimit[JAIL_RES_COUNT];
	bool daemonize;
	bool new_pid_ns;
	/* --copy-exec: the jail gets its own copy of the exec file, as Firecracker's does.
	 * Otherwise the checked file itself is bind-mounted read-only onto an empty file in the
	 * jail's root, in the jail's mount namespace only: nothing is copied, and the jailed
	 * process runs the same pages as every other start of that file. */
	bool copy_exec;
	/* --parent-cgroup: the jail's cgroups are <hierarchy>/<parent>/<ID> instead of
	 * <hierarchy>/<exec file's name>/<ID>; a relative path, checked for its form. */
	const char *parent_cgroup;
	/* --no-monitor-args: ARGS go to the exec file as given, without the --id and start
	 * times Firecracker's jailer puts first (for running something that is not a monitor). */
	bool no_monitor_args;
	char **exec_argv; /* the words after "--", exec_argc of them (NULL-terminated) */
	int exec_argc;
	bool help;
	bool version;
};

/* --- args.c: the command line (pure: no system calls) --- */

/* 1 to JAIL_ID_MAX of [A-Za-z0-9-]. */
bool jail_id_valid(const char *id);
/* An exec file's name: 1 to JAIL_NAME_MAX of [A-Za-z0-9._-], not starting with a dot. */
bool jail_name_valid(const char *name);
/* A uid or gid: decimal digits only, 0 to 4294967294 (-1 means "unchanged" to the kernel). */
int jail_parse_id_number(const char *s, uint32_t *out);
/* A decimal 64-bit count, digits only. */
int jail_parse_u64(const char *s, uint64_t *out);
/* An absolute directory path without "." or ".." components, shorter than PATH_MAX / 2. */
int jail_check_dir_path(const char *path, char *err, size_t errlen);
/* "FILE=VALUE" of --cgroup: FILE of [a-z0-9_.] naming a known controller before its first
 * dot; VALUE of 1 to 255 printable characters. */
int jail_parse_cgroup(const char *arg, struct jail_cgroup *out, char *err, size_t errlen);
/* Whether controller exists in cgroup version 1 or 2. */
bool jail_controller_known(const char *controller, int version);
/* "RESOURCE=N" of --resource-limit: fsize or no-file. */
int jail_parse_rlimit(const char *arg, enum jail_res *res, uint64_t *value, char *err,
                      size_t errlen);
/* --parent-cgroup's value: 1 to JAIL_PARENT_CG_MAX bytes of components of [A-Za-z0-9._-],
 * separated by single slashes, none "." or "..", no leading or trailing slash. */
bool jail_parent_cgroup_valid(const char *path);
/* What the jailed process runs with, as Firecracker's jailer passes it: prog, then (unless
 * no_monitor_args) "--id ID --start-time-us T --start-time-cpu-us C --parent-cpu-time-us P",
 * then the user's ARGS; NULL-terminated. out has room for exec_argc + 10 words; the numbers
 * are written into nums (JAIL_NUM_MAX bytes each, three of them). Returns the word count. */
#define JAIL_NUM_MAX 24
int jail_exec_argv(const struct jail_args *a, char *prog, uint64_t start_us, uint64_t start_cpu_us,
                   uint64_t parent_cpu_us, char nums[3][JAIL_NUM_MAX], char **out);
/* The whole command line (argv[0] is the program). Returns 0, or -EINVAL with a message in
 * err. Sets help or version when asked (then nothing else is checked). */
int jail_args_parse(struct jail_args *a, int argc, char **argv, char *err, size_t errlen);

/* --- elf.c: the exec file must run alone in an empty jail --- */

/* Check that buf, the first len bytes of a file of file_size bytes, is an x86-64 ELF
 * executable with no program interpreter (static or static-pie) whose program headers lie
 * within buf. Returns 0, or -ENOEXEC with *why saying what is wrong. */
int elf_check_static(const unsigned char *buf, size_t len, uint64_t file_size, const char **why);

/* --- path.c --- */

/* dir/name into out (dir "/" gives "/name"). 0, or -ENAMETOOLONG. */
int jail_path_join(char out[PATH_MAX], const char *dir, const char *name);
/* An absolute path relative to the host's root fd: its leading slashes dropped; "/" is ".". */
const char *jail_host_rel(const char *abs);

/* --- msg.c --- */

/* "ember-jailer: STEP: WHAT: strerror(err)\n" on stderr (without ": strerror" when err is 0).
 * err may be negative. Always returns JAIL_EXIT_FAIL, so a step can `return jail_err(...)`. */
int jail_err(const char *step, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- what a start has made: enough to take it back, also from inside the jail --- */

/* The jail's root may exist already, made by the caller with the guest's files in it (as
 * Firecracker's users do for --config-file); then only what this start adds is taken back,
 * and the root gets its owner back. A root holding the exec file or a /dev is another
 * jail's, and refused. */
struct jail_fs {
	char base[PATH_MAX];     /* the base directory, resolved */
	unsigned made_levels;    /* how many of base's last components this start created */
	char exec_dir[PATH_MAX]; /* base/NAME */
	char id_dir[PATH_MAX];   /* base/NAME/ID */
	char root[PATH_MAX];     /* base/NAME/ID/root */
	bool made_exec_dir, made_id_dir, made_root;
	bool chowned_root; /* a root that existed: its owner to restore */
	uid_t root_uid;
	gid_t root_gid;
	bool made_exec; /* the copy, or the empty file the exec file is mounted on */
	bool made_dev, made_run, made_old_root, made_pid;
};

struct cg_hier {
	char mount[PATH_MAX];        /* where this hierarchy is mounted */
	char orig[PATH_MAX];         /* the jailer's cgroup in it before, to move back to */
	char leaf[PATH_MAX];         /* mount/PARENT/ID (PARENT: --parent-cgroup, or NAME) */
	unsigned made_parent_levels; /* PARENT's last components this start made */
	bool made_leaf;
	bool joined;
};

struct jail_cg {
	struct cg_hier hier[JAIL_CGROUPS_MAX];
	unsigned n;
};

struct jail {
	struct jail_args args;
	char name[JAIL_NAME_MAX + 1]; /* the exec file's name */
	int exec_fd;                  /* the exec file, opened once and checked */
	int netns_fd;                 /* -1 without --netns */
	int null_fd;                  /* /dev/null for --daemonize, else -1 */
	/* The host's "/": every undo goes through it, so it still works after pivot_root. */
	int host_root;
	/* The host's mount namespace, and whether this process has left it: the undo goes
	 * back into it, where the jail's mount points (the exec file's empty file, the root
	 * before pivot_root) are plain files and directories that unlink and rmdir do not
	 * refuse as busy. */
	int host_mnt_ns;
	bool left_host_mnt_ns;
	mode_t umask; /* the caller's, restored for the jailed process */
	/* For the monitor's --start-time-us and --parent-cpu-time-us: the jailer's start on
	 * CLOCK_MONOTONIC, and its own CPU time, in microseconds. */
	uint64_t start_us, start_cpu_us, jailer_cpu_us;
	bool rlimits_set;
	struct rlimit rlimit_saved[JAIL_RES_COUNT];
	struct jail_fs fs;
	struct jail_cg cg;
};

/* --- the steps, in main's order: each prints its one failure line ("ember-jailer: STEP:
 * ...") and returns 0 or an exit status; each records in struct jail what it made --- */

/* proc.c: the process's own state. */
int proc_close_fds(void);  /* every fd above 2 */
int proc_stdio_open(void); /* 0, 1 and 2 open (on /dev/null if they were not) */
/* The --resource-limit values (no-file 2048 when not given), set last, just before the
 * privileges go, so they bind the jailed process and not the jailer's work. saved gets the
 * jailer's own limits before anything is set; proc_restore_rlimits puts them back for an
 * undo (which needs descriptors a small no-file would not leave). */
int proc_set_rlimits(const struct jail_args *a, struct rlimit saved[JAIL_RES_COUNT]);
void proc_restore_rlimits(const struct rlimit saved[JAIL_RES_COUNT]);
int proc_join_netns(int fd, const char *path);
int proc_daemonize(int null_fd); /* setsid, then stdio onto null_fd */

/* fs.c: the jail's directory, the exec file's copy or mount point, the device nodes. */
/* <base>/NAME/ID/root, made root's (0700), or a given root taken over (made root's until
 * fs_give_root); every directory it did not make must be root's and not writable by its
 * group or others, so nobody can swap a path under the jailer. */
int fs_make_jail(struct jail *j);
/* <root>/NAME, root's and the jailed group's to run (0550): a copy of the exec file
 * (--copy-exec), or an empty file for mnt_enter_jail to mount the exec file on. */
int fs_copy_exec(struct jail *j);
int fs_make_exec_mount_point(struct jail *j);
/* Inside the jail: /dev/{kvm,net/tun,urandom}, and /run (the jailed uid's, 0755) for the
 * usual "--api-sock /run/NAME.socket". */
int fs_make_devices(struct jail *j);
/* Inside the jail, last before the privileges go: the root becomes the jailed uid's (its API
 * socket goes there). Until then it is root's alone, so nobody can change what the jailer
 * makes, runs or undoes in it. */
int fs_give_root(struct jail *j);
int fs_write_pid(struct jail *j, pid_t pid); /* inside the jail: /NAME.pid */
void fs_undo(struct jail *j);

/* cgroup.c: a cgroup NAME/ID per hierarchy the --cgroup files need (v1: each controller's
 * own mount, as /proc/self/mounts says; v2: the cgroup2 mount, with the controllers enabled
 * in the subtree_control of the root and of NAME), the values written, the jailer moved in.
 * A file the kernel does not have is a usage error (JAIL_EXIT_USAGE); an existing NAME/ID
 * is another jail's. cg_undo moves the jailer back and removes what cg_setup made. */
int cg_setup(struct jail *j);
void cg_undo(struct jail *j);
/* Pure parsers (unit-tested). From /proc/self/mounts text, where version's hierarchy holding
 * controller (any cgroup2 mount for version 2) is mounted, unescaped. 0, -ENOENT, or
 * -ENAMETOOLONG. */
int cg_mounts_find(const char *mounts, int version, const char *controller, char *out,
                   size_t outlen);
/* From /proc/self/cgroup text, the path of the process's cgroup in that hierarchy. */
int cg_self_find(const char *self, int version, const char *controller, char *out, size_t outlen);
/* Whether word is one of the sep-separated items of list. */
bool cg_list_has(const char *list, char sep, const char *word);

/* mount.c: a private mount namespace whose root is the jail: pivot_root, or where "/" is
 * the initial ramfs (which pivot_root cannot move) the jail's mount moved over "/". Without
 * --copy-exec, the exec file (j->exec_fd, the very file that was checked) is bind-mounted
 * onto <root>/NAME first, read-only, nosuid, nodev; the host's mounts never see it. The
 * working directory ends at the new "/". */
int mnt_enter_jail(struct jail *j);
/* For an undo: back into the host's mount namespace, if this process left it. The jail's
 * namespace, with its mounts, ends with its last process. */
void mnt_leave_jail(struct jail *j);

/* privs.c: the capability bounding set, groups, gid, uid, every capability, then
 * no_new_privs; checked afterwards. */
int priv_drop(uid_t uid, gid_t gid);

#endif
