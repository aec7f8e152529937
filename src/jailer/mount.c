/* The jail becomes the process's whole file system: a private mount namespace whose root is
 * the jail directory, the host's tree detached from it. */
#include "jailer.h"

#include <errno.h>
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

int mnt_enter_jail(struct jail *j)
{
	const char *root = j->fs.root;
	if (unshare(CLONE_NEWNS) < 0)
		return jail_err("mount", errno, "unshare(CLONE_NEWNS)");
	/* Nothing done from here on may propagate back to the host's mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_err("mount", errno, "cannot make / private");
	/* pivot_root needs the new root to be a mount point. */
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		return jail_err("mount", errno, "cannot bind-mount '%s' onto itself", root);
	if (chdir(root) < 0)
		return jail_err("mount", errno, "cannot enter '%s'", root);
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
