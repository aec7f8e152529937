/*
 * Snapshots of a whole VM (docs/SNAPSHOT.md): its state into a state file and its RAM into
 * a memory file, and a new VM built from the two instead of from a kernel.
 */
#ifndef EMBER_SNAPSHOT_H
#define EMBER_SNAPSHOT_H

#include "vm.h"

struct mmds_store;

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Write vm's state to state_fd and its RAM to mem_fd (both empty, writable: -EEXIST
 * otherwise). The VM must be paused (vm_pause; -EBUSY otherwise) and this runs on the vmm
 * thread. Uses only calls the locked-down vmm thread may make (write, pwritev,
 * fdatasync, fstat, the KVM_GET_* ioctls). Returns 0, or -errno with a message in err.
 */
int vm_snapshot_write(struct vm *vm, int state_fd, int mem_fd, char *err, size_t errlen);

/* As vm_snapshot_write, or, with diff, a Diff snapshot: the memory file holds only the
 * pages written since the last snapshot (or since boot or load): KVM's dirty log and the
 * pages Ember's devices wrote (guest_mem's device bitmap), at their offsets in a file of
 * RAM's size, holes elsewhere. Needs track_dirty_pages (-EINVAL otherwise). Any snapshot
 * with track_dirty_pages on starts the next diff; a failed one does not. */
int vm_snapshot_write_kind(struct vm *vm, bool diff, int state_fd, int mem_fd, char *err,
                           size_t errlen);

/* Layer the Diff memory file diff_path on the memory file base_path, in place: every data
 * extent of the diff (SEEK_DATA / SEEK_HOLE) written at its offset in the base. Both must
 * be regular files of the same size. *pages gets the 4 KiB pages copied. Returns 0, or
 * -errno with one line in err (the base may be partly written on an I/O error). */
int vm_snapshot_merge(const char *base_path, const char *diff_path, uint64_t *pages, char *err,
                      size_t errlen);

/* A snapshot's two files, created (or truncated) write-only, mode 0600, with exactly the
 * flags the locked-down vmm thread's seccomp filter allows (SC_SNAPSHOT_OPEN_FLAGS), as
 * Firecracker's vmm thread opens them: the API thread, which faces the client, opens
 * nothing. Returns 0, or -errno with one line in err and nothing left.
 * vm_snapshot_files_close closes them (fds set to -1) and, if remove, removes them (a
 * failed or unused snapshot). */
int vm_snapshot_files_open(const char *state_path, const char *mem_path, int *state_fd, int *mem_fd,
                           char *err, size_t errlen);
void vm_snapshot_files_close(const char *state_path, const char *mem_path, int *state_fd,
                             int *mem_fd, bool remove);

/* Firecracker's --describe-snapshot: the Ember version that made the state file at path
 * ("v0.1.0") on the first line, then its format, CPU, vCPUs and machine, to out. Checks
 * the file's integrity (not whether this Ember or CPU can load it). Returns 0, or -errno
 * with one line in err. */
int vm_snapshot_describe(const char *path, FILE *out, char *err, size_t errlen);

/* Whether the state file at path is a snapshot this Ember on this CPU would load: magic,
 * size, checksum, format and Ember version, CPU identity (no KVM object is made). Returns
 * 0, or -errno with one line in err. */
int vm_snapshot_check(const char *path, char *err, size_t errlen);

/* What a restore may change (Firecracker's snapshot/load overrides). */
struct vm_restore_opts {
	unsigned vcpus;         /* 0: as the snapshot; else it must be the snapshot's count */
	bool clock_realtime;    /* the guest's clock catches up with the time since the snapshot */
	bool track_dirty_pages; /* KVM logs the restored guest's writes (Diff snapshots) */
	bool no_seccomp;        /* as --no-seccomp (the snapshot's configuration is not asked) */
	bool print_stats;
	struct {
		const char *iface_id; /* an interface of the snapshot's */
		const char *tap;      /* the host tap it uses now */
	} nets[CONFIG_MAX_NETS];
	unsigned nnets;
	const char *vsock_uds;         /* NULL: the snapshot's path */
	unsigned huge_pages;           /* 0: the snapshot's; else 1 + enum huge_pages */
	const char *serial_out_path;   /* NULL or "": the console on stdout (PUT /serial) */
	struct mmds_store *mmds_store; /* gets the snapshot's MMDS data; NULL: MMDS is off */
	/* `ember run --warm`: stdin is not a terminal (the init's console contract), and the
	 * message the init reads at handover (base/handover.h; borrowed, NULL: none). */
	bool console_piped;
	const uint8_t *handover;
	size_t handover_len;
};

/*
 * Build vm from the snapshot in state_path and mem_path: the same devices (drives
 * re-opened, taps and the vsock socket as saved or overridden), RAM mapped MAP_PRIVATE
 * from the memory file, every vCPU and device in its saved state. No guest instruction
 * runs yet (vm_run resumes it). Refuses, with one line in err and nothing left behind, a
 * file that is not a snapshot, damaged, truncated, from another Ember version or CPU
 * model, a memory file of the wrong size, and vcpus other than the snapshot's. Returns 0,
 * -EINVAL / -EXDEV for a refusal, or another -errno.
 */
int vm_restore(struct vm *vm, const struct vm_restore_opts *o, const char *state_path,
               const char *mem_path, char *err, size_t errlen);

#endif
