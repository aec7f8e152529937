/* The jail becomes the process's whole file system: a private mount namespace whose root is
 * the jail directory, the host's tree detached from it, and (without --copy-exec) the exec
 * file mounted read-only in it. */
#include "jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MNT_OLD_ROOT ".old_root" /* no exec file's name starts with a dot */

/* pivot_root(2) refuses to move the initial ramfs (it is the namespace's root mount, with no
 * parent), which is where a system that never left its initramfs runs (the test rig does). */
static bool root_is_initramfs(void)
{
	struct statfs sf;
	return statfs("/", &sf) == 0 && (sf.f_type == RAMFS_MAGIC || sf.f_type == TMPFS_MAGIC);
}

/* A detached copy of the exec file's mount, taken from j->exec_fd while still in the host's
 * namespace: mount(2) binds only from the caller's own namespace, so after unshare the open
 * fd (through /proc/self/fd) could no longer be the source, and a path might by then name
 * another file than the one checked. -1 after the message. */
static int exec_tree(struct jail *j)
{
	int t = open_tree(j->exec_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (t < 0)
		jail_err("mount", errno, "cannot clone the mount of '%s'%s", j->args.exec_file,
		         errno == ENOSYS ? " (Linux 5.2 or later, or use --copy-exec)" : "");
	return t;
}

/* The tree onto the empty file NAME in the working directory (the jail's root), then
 * read-only, nosuid and nodev, whatever the exec file's own mount allows. */
static int exec_mount(struct jail *j, int tree)
{
	if (move_mount(tree, "", AT_FDCWD, j->name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return jail_err("mount", errno, "cannot mount '%s' on '%s/%s'", j->args.exec_file,
		                j->fs.root, j->name);
	if (mount(NULL, j->name, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
	          NULL) < 0)
		return jail_err("mount", errno, "cannot make '%s/%s' read-only", j->fs.root,
		                j->name);
	return 0;
}

/* In the new namespace: nothing done from here on may propagate back to the host's mounts.
 * The jail's root is made a mount point (pivot_root needs one) and entered. */
static int mount_root(const char *root)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_err("mount", errno, "cannot make / private");
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		return jail_err("mount", errno, "cannot bind-mount '%s' onto itself", root);
	if (chdir(root) < 0)
		return jail_err("mount", errno, "cannot enter '%s'", root);
	return 0;
}

int mnt_enter_jail(struct jail *j)
{
	const char *root = j->fs.root;
	int tree = -1;
	if (!j->args.copy_exec && (tree = exec_tree(j)) < 0)
		return JAIL_EXIT_FAIL;
	int r = 0;
	if (unshare(CLONE_NEWNS) < 0) {
		r = jail_err("mount", errno, "unshare(CLONE_NEWNS)");
	} else {
		j->left_host_mnt_ns = true;
		r = mount_root(root);
		/* After the root's own mount, so the exec file's is inside it and moves with
		 * it. */
		if (!r && tree >= 0)
			r = exec_mount(j, tree);
	}
	if (tree >= 0)
		close(tree);
	if (r)
		return r;
	if (mkdir(MNT_OLD_ROOT, 0700) < 0)
		return jail_err("mount", errno, "cannot create '%s/" MNT_OLD_ROOT "'", root);
	j->fs.made_old_root = true;

	if (syscall(SYS_pivot_root, ".", MNT_OLD_ROOT) == 0) {
		if (umount2("/" MNT_OLD_ROOT, MNT_DETACH) < 0)
			return jail_err("mount", errno, "cannot detach the old root");
		if (rmdir("/" MNT_OLD_ROOT) < 0)
			return jail_err("mount", errno, "cannot remove /" MNT_OLD_ROOT);
		j->fs.made_old_root = false;
	} else {
		int e = errno;
		if (e != EINVAL || !root_is_initramfs())
			return jail_err("mount", e, "pivot_root into '%s'", root);
		/* The initramfs fallback (as switch_root does): move the jail's mount over "/".
		 * The host's tree stays under it, out of reach: getting back needs chroot or
		 * umount, and the jailed process will hold no capability at all. */
		if (rmdir(MNT_OLD_ROOT) < 0)
			return jail_err("mount", errno, "cannot remove '%s/" MNT_OLD_ROOT "'",
			                root);
		j->fs.made_old_root = false;
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			return jail_err("mount", errno,
			                "cannot move '%s' onto / (the root is an "
			                "initramfs, where pivot_root cannot work)",
			                root);
	}
	if (chroot(".") < 0)
		return jail_err("mount", errno, "chroot into '%s'", root);
	if (chdir("/") < 0)
		return jail_err("mount", errno, "chdir /");
	return 0;
}

void mnt_leave_jail(struct jail *j)
{
	if (!j->left_host_mnt_ns)
		return;
	if (setns(j->host_mnt_ns, CLONE_NEWNS) < 0)
		jail_err("undo", errno, "cannot go back to the host's mount namespace");
	else
		j->left_host_mnt_ns = false;
}
