/* The jail on disk: <base>/<name>/<id>/root with the exec file's copy or the empty file it
 * is mounted on, and inside the jail only the three device nodes a microVM needs. Undone
 * through the host's root fd, so a failure after pivot_root still removes exactly what this
 * start made, and nothing else. */
#include "jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The device nodes, and the only files /dev will hold. */
static const struct {
	const char *path;
	unsigned major, minor;
	mode_t mode;
} fs_nodes[] = {
    {"/dev/kvm", 10, 232, 0660},
    {"/dev/net/tun", 10, 200, 0660},
    {"/dev/urandom", 1, 9, 0666},
};

/* mkdir -p of the base directory, counting the trailing components it made. */
static int make_base(struct jail_fs *fs, const char *base)
{
	char p[PATH_MAX];
	size_t len = strlen(base);
	if (len >= sizeof(p))
		return jail_err("jail", ENAMETOOLONG, "'%s'", base);
	memcpy(p, base, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		if (p[i - 1] == '/')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, 0755) == 0) {
			fs->made_levels++;
		} else if (errno == EEXIST) {
			/* Made by someone else meanwhile: what came before is not ours alone. */
			fs->made_levels = 0;
		} else {
			return jail_err("jail", errno, "cannot create '%s'", p);
		}
		p[i] = c;
	}
	return 0;
}

/* A directory this start may use but did not make: a real one, not a link, and root's
 * alone (as sshd's StrictModes asks), so nobody else can rename or replace what is under it
 * while the jailer works there as root. */
static int expect_dir(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return jail_err("jail", errno, "'%s'", path);
	if (!S_ISDIR(st.st_mode))
		return jail_err("jail", 0, "'%s' is not a directory", path);
	if (st.st_uid != 0 || (st.st_mode & 022))
		return jail_err("jail", 0,
		                "'%s' must be root's and not writable by its group or others "
		                "(owner %u, mode %04o)",
		                path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* In a root the caller made: neither the exec file nor its pid file (another jail's,
 * running or done) nor a /dev (the jail's holds only what the jailer makes). */
static int check_given_root(struct jail *j)
{
	char pidfile[JAIL_NAME_MAX + 8];
	snprintf(pidfile, sizeof(pidfile), "%s.pid", j->name);
	const char *const taken[] = {j->name, pidfile, "dev"};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		char p[PATH_MAX];
		struct stat st;
		if (jail_path_join(p, j->fs.root, taken[i]) < 0)
			return jail_err("jail", ENAMETOOLONG, "'%s'", j->fs.root);
		if (lstat(p, &st) == 0)
			return i == 2 ? jail_err("jail", 0,
			                         "'%s' exists: the jailer makes /dev itself", p)
			              : jail_err("jail", 0,
			                         "'%s' exists: another jail has the id '%s'", p,
			                         j->args.id);
		if (errno != ENOENT)
			return jail_err("jail", errno, "'%s'", p);
	}
	return 0;
}

/* A root the caller made (with the guest's files in it): a real directory, not writable by
 * its group or others, made root's while the jailer works in it (fs_give_root hands it to
 * the jailed uid last, the undo gives it back), and holding nothing the jailer makes. */
static int take_given_root(struct jail *j)
{
	struct jail_fs *fs = &j->fs;
	struct stat st;
	if (lstat(fs->root, &st) < 0)
		return jail_err("jail", errno, "'%s'", fs->root);
	if (!S_ISDIR(st.st_mode))
		return jail_err("jail", 0, "'%s' is not a directory", fs->root);
	if (st.st_mode & 022)
		return jail_err("jail", 0, "'%s' is writable by its group or others (mode %04o)",
		                fs->root, (unsigned)(st.st_mode & 07777));
	/* id_dir is root's alone (checked), so the name cannot be swapped for a link now. */
	if (fchownat(AT_FDCWD, fs->root, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
		return jail_err("jail", errno, "cannot chown '%s' to root", fs->root);
	fs->root_uid = st.st_uid;
	fs->root_gid = st.st_gid;
	fs->chowned_root = true;
	return check_given_root(j);
}

int fs_make_jail(struct jail *j)
{
	struct jail_fs *fs = &j->fs;
	struct stat st;
	int r = 0;
	/* Usually there already: one stat instead of a mkdir per component. */
	if (stat(j->args.base_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		r = make_base(fs, j->args.base_dir);
	if (r)
		return r;
	/* Resolved once, so every later path (and the undo after pivot_root, which resolves
	 * from the host's root fd) names the same directories without following links. */
	if (!realpath(j->args.base_dir, fs->base))
		return jail_err("jail", errno, "cannot resolve '%s'", j->args.base_dir);
	if ((r = expect_dir(fs->base)))
		return r;
	if (jail_path_join(fs->exec_dir, fs->base, j->name) < 0 ||
	    jail_path_join(fs->id_dir, fs->exec_dir, j->args.id) < 0 ||
	    jail_path_join(fs->root, fs->id_dir, "root") < 0)
		return jail_err("jail", ENAMETOOLONG, "'%s/%s/%s/root'", fs->base, j->name,
		                j->args.id);

	const struct {
		const char *path;
		bool *made;
		mode_t mode;
	} dirs[] = {
	    {fs->exec_dir, &fs->made_exec_dir, 0755},
	    {fs->id_dir, &fs->made_id_dir, 0755},
	    /* The jailed process's "/": its own, so it can make its API socket there; closed
	     * to everyone else. */
	    {fs->root, &fs->made_root, 0700},
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (mkdir(dirs[i].path, dirs[i].mode) == 0)
			*dirs[i].made = true;
		else if (errno != EEXIST)
			return jail_err("jail", errno, "cannot create '%s'", dirs[i].path);
		else if (i < 2 && (r = expect_dir(dirs[i].path)))
			return r;
	}
	if (!fs->made_root)
		return take_given_root(j);
	return 0;
}

int fs_give_root(struct jail *j)
{
	/* Inside the jail: "/" is the root, which nobody else could replace. */
	if (chown("/", j->args.uid, j->args.gid) < 0)
		return jail_err("jail", errno, "cannot chown '%s' to %u:%u", j->fs.root,
		                (unsigned)j->args.uid, (unsigned)j->args.gid);
	return 0;
}

/* <root>/NAME, new (never another's), recorded for the undo: its fd, or -1 after the
 * message. */
static int exec_create(struct jail *j, const char *step, char dst[PATH_MAX])
{
	if (jail_path_join(dst, j->fs.root, j->name) < 0) {
		jail_err(step, ENAMETOOLONG, "'%s/%s'", j->fs.root, j->name);
		return -1;
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) {
		jail_err(step, errno, "cannot create '%s'", dst);
		return -1;
	}
	j->fs.made_exec = true;
	return fd;
}

/* Root's file, the jailed group's to run: the process can execute its binary but not change
 * it. Closes fd; r is the status so far. */
static int exec_finish(struct jail *j, const char *step, int fd, const char *dst, int r)
{
	if (!r && (fchown(fd, 0, j->args.gid) < 0 || fchmod(fd, 0550) < 0))
		r = jail_err(step, errno, "cannot set owner and mode of '%s'", dst);
	if (close(fd) < 0 && !r)
		r = jail_err(step, errno, "'%s'", dst);
	return r;
}

/* size bytes of in to out: copy_file_range where the file systems allow, else sendfile.
 * 0 or an errno. */
static int copy_fd(int in, int out, off_t size)
{
	off_t off = 0;
	bool use_sendfile = false;
	while (off < size) {
		size_t left = (size_t)(size - off);
		ssize_t n;
		if (!use_sendfile) {
			n = copy_file_range(in, &off, out, NULL, left, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			              errno == EOPNOTSUPP)) {
				use_sendfile = true;
				continue;
			}
		} else {
			n = sendfile(out, in, &off, left);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
	}
	return 0;
}

int fs_copy_exec(struct jail *j)
{
	char dst[PATH_MAX];
	struct stat st;
	if (fstat(j->exec_fd, &st) < 0)
		return jail_err("copy", errno, "'%s'", j->args.exec_file);
	int out = exec_create(j, "copy", dst);
	if (out < 0)
		return JAIL_EXIT_FAIL;
	int r = 0, e = copy_fd(j->exec_fd, out, st.st_size);
	if (e)
		r = jail_err("copy", e, "'%s' to '%s'", j->args.exec_file, dst);
	return exec_finish(j, "copy", out, dst, r);
}

int fs_make_exec_mount_point(struct jail *j)
{
	char dst[PATH_MAX];
	int fd = exec_create(j, "jail", dst);
	if (fd < 0)
		return JAIL_EXIT_FAIL;
	return exec_finish(j, "jail", fd, dst, 0);
}

int fs_make_devices(struct jail *j)
{
	/* umask is 0 while the jailer works: these modes are exact. */
	if (mkdir("/dev", 0755) < 0)
		return jail_err("devices", errno, "cannot create /dev");
	j->fs.made_dev = true;
	if (mkdir("/dev/net", 0755) < 0)
		return jail_err("devices", errno, "cannot create /dev/net");
	for (size_t i = 0; i < sizeof(fs_nodes) / sizeof(fs_nodes[0]); i++) {
		const char *p = fs_nodes[i].path;
		if (mknod(p, S_IFCHR | fs_nodes[i].mode,
		          makedev(fs_nodes[i].major, fs_nodes[i].minor)) < 0)
			return jail_err("devices", errno, "cannot create %s (%u:%u)", p,
			                fs_nodes[i].major, fs_nodes[i].minor);
		if (chown(p, j->args.uid, j->args.gid) < 0)
			return jail_err("devices", errno, "cannot chown %s", p);
	}
	/* Firecracker's jail has it too: its default API socket is /run/firecracker.socket. */
	if (mkdir("/run", 0755) < 0) {
		if (errno == EEXIST)
			return 0; /* the caller's, in a root it made: left as it is */
		return jail_err("jail", errno, "cannot create /run");
	}
	j->fs.made_run = true;
	if (chown("/run", j->args.uid, j->args.gid) < 0)
		return jail_err("jail", errno, "cannot chown /run");
	return 0;
}

int fs_write_pid(struct jail *j, pid_t pid)
{
	char path[JAIL_NAME_MAX + 8];
	snprintf(path, sizeof(path), "/%s.pid", j->name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return jail_err("pid file", errno, "cannot create %s", path);
	j->fs.made_pid = true;
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) != n) {
		int e = errno;
		close(fd);
		return jail_err("pid file", e, "cannot write %s", path);
	}
	if (close(fd) < 0)
		return jail_err("pid file", errno, "%s", path);
	return 0;
}

/* Remove dir/rel on the host (rel "" is dir itself); missing is fine. */
static void undo_remove(int host_root, const char *dir, const char *rel, bool is_dir)
{
	char p[PATH_MAX];
	if (rel[0]) {
		if (jail_path_join(p, dir, rel) < 0)
			return;
	} else {
		snprintf(p, sizeof(p), "%s", dir);
	}
	/* Canonical absolute paths: relative to the host's "/" they name the host's files. */
	const char *q = jail_host_rel(p);
	if (strcmp(q, ".") != 0) /* never the host's root itself */
		unlinkat(host_root, q, is_dir ? AT_REMOVEDIR : 0);
}

void fs_undo(struct jail *j)
{
	struct jail_fs *fs = &j->fs;
	int hr = j->host_root;
	if (fs->made_dev) {
		for (size_t i = sizeof(fs_nodes) / sizeof(fs_nodes[0]); i-- > 0;)
			undo_remove(hr, fs->root, fs_nodes[i].path + 1, false);
		undo_remove(hr, fs->root, "dev/net", true);
		undo_remove(hr, fs->root, "dev", true);
	}
	if (fs->made_run)
		undo_remove(hr, fs->root, "run", true);
	if (fs->made_old_root)
		undo_remove(hr, fs->root, ".old_root", true);
	if (fs->made_pid) {
		char pidfile[JAIL_NAME_MAX + 8];
		snprintf(pidfile, sizeof(pidfile), "%s.pid", j->name);
		undo_remove(hr, fs->root, pidfile, false);
	}
	if (fs->made_exec)
		undo_remove(hr, fs->root, j->name, false);
	if (fs->made_root)
		undo_remove(hr, fs->root, "", true);
	else if (fs->chowned_root &&
	         fchownat(hr, fs->root + 1, fs->root_uid, fs->root_gid, AT_SYMLINK_NOFOLLOW) < 0)
		jail_err("undo", errno, "cannot give '%s' back its owner", fs->root);
	if (fs->made_id_dir)
		undo_remove(hr, fs->id_dir, "", true);
	/* Shared with other jails of the same exec file: removed only when empty. */
	if (fs->made_exec_dir)
		undo_remove(j->host_root, fs->exec_dir, "", true);
	if (fs->made_levels) {
		/* The base directory's components this start made, deepest first; the resolved
		 * path once there is one (the made components are plain directories, so they are
		 * its last ones). */
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s", fs->base[0] ? fs->base : j->args.base_dir);
		for (unsigned k = 0; k < fs->made_levels; k++) {
			size_t n = strlen(p);
			while (n > 1 && p[n - 1] == '/')
				p[--n] = '\0';
			undo_remove(j->host_root, p, "", true);
			char *slash = strrchr(p, '/');
			if (!slash || slash == p)
				break;
			*slash = '\0';
		}
	}
}
