/* Cgroups for the jailed process: <hierarchy>/<name>/<id> in every hierarchy (v1: one per
 * controller's mount, found in /proc/self/mounts; v2: the cgroup2 mount) that a --cgroup file
 * needs, each value written, the jailer moved in. Every file is reached through the host's
 * root fd, so the undo works from inside the jail too. */
#include "jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cg_list_has(const char *list, char sep, const char *word)
{
	size_t wlen = strlen(word);
	for (const char *p = list; *p;) {
		const char *end = p;
		while (*end && *end != sep && *end != '\n')
			end++;
		if ((size_t)(end - p) == wlen && strncmp(p, word, wlen) == 0)
			return true;
		if (!*end || *end == '\n')
			break;
		p = end + 1;
	}
	return false;
}

/* The next space-separated field of a /proc/self/mounts line. */
static const char *field(const char *p, const char *eol, const char **end)
{
	while (p < eol && *p == ' ')
		p++;
	const char *e = p;
	while (e < eol && *e != ' ')
		e++;
	*end = e;
	return p;
}

/* A mount point as /proc/self/mounts escapes it (space, tab, newline, backslash as \ooo). */
static int unescape(const char *p, const char *end, char *out, size_t outlen)
{
	size_t n = 0;
	while (p < end) {
		char c = *p++;
		if (c == '\\' && end - p >= 3 && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' &&
		    p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
			c = (char)((p[0] - '0') << 6 | (p[1] - '0') << 3 | (p[2] - '0'));
			p += 3;
		}
		if (n + 1 >= outlen)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

int cg_mounts_find(const char *mounts, int version, const char *controller, char *out,
                   size_t outlen)
{
	for (const char *line = mounts; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		const char *e, *mnt, *mnt_end, *type, *type_end, *opts, *opts_end;
		field(line, eol, &e);
		mnt = field(e, eol, &mnt_end);
		type = field(mnt_end, eol, &type_end);
		opts = field(type_end, eol, &opts_end);
		size_t tlen = (size_t)(type_end - type);
		bool match;
		if (version == 2) {
			match = tlen == 7 && strncmp(type, "cgroup2", 7) == 0;
		} else {
			char o[1024];
			size_t olen = (size_t)(opts_end - opts);
			match = tlen == 6 && strncmp(type, "cgroup", 6) == 0 && olen < sizeof(o);
			if (match) {
				memcpy(o, opts, olen);
				o[olen] = '\0';
				match = cg_list_has(o, ',', controller);
			}
		}
		if (match && mnt < mnt_end)
			return unescape(mnt, mnt_end, out, outlen);
		line = *eol ? eol + 1 : eol;
	}
	return -ENOENT;
}

int cg_self_find(const char *self, int version, const char *controller, char *out, size_t outlen)
{
	for (const char *line = self; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(eol - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
		if (c2) {
			char ctrls[1024];
			size_t clen = (size_t)(c2 - c1 - 1);
			bool match;
			if (version == 2) {
				match = c1 - line == 1 && line[0] == '0' && clen == 0;
			} else {
				match = clen < sizeof(ctrls);
				if (match) {
					memcpy(ctrls, c1 + 1, clen);
					ctrls[clen] = '\0';
					match = cg_list_has(ctrls, ',', controller);
				}
			}
			size_t plen = (size_t)(eol - c2 - 1);
			if (match && plen > 0 && c2[1] == '/') {
				if (plen >= outlen)
					return -ENAMETOOLONG;
				memcpy(out, c2 + 1, plen);
				out[plen] = '\0';
				return 0;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return -ENOENT;
}

/* --- files, relative to the host's root --- */

/* Write value to dir/file in one write(2), as cgroup files want. 0 or -errno. */
static int cg_write(int host_root, const char *dir, const char *file, const char *value)
{
	char p[PATH_MAX];
	if (jail_path_join(p, dir, file) < 0)
		return -ENAMETOOLONG;
	int fd = openat(host_root, jail_host_rel(p), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	int r = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return r;
}

/* Read dir/file, without its trailing newline. 0 or -errno. */
static int cg_read(int host_root, const char *dir, const char *file, char *buf, size_t len)
{
	char p[PATH_MAX];
	if (jail_path_join(p, dir, file) < 0)
		return -ENAMETOOLONG;
	int fd = openat(host_root, jail_host_rel(p), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

/* A whole /proc file (they have no size to ask for), NUL-terminated; NULL with errno. */
static char *read_text(const char *path)
{
	size_t cap = 16384, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		if (len + 1 == cap) {
			char *nb = cap < (4u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				errno = cap < (4u << 20) ? ENOMEM : EFBIG;
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:;
	int e = errno;
	free(buf);
	close(fd);
	errno = e;
	return NULL;
}

/* A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and no process can join
 * it so: give it its parent's, unless a --cgroup value sets them afterwards. */
static int cpuset_inherit(int host_root, const char *dir, const char *parent)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	for (size_t i = 0; i < 2; i++) {
		char cur[4096] = "";
		int r = cg_read(host_root, dir, files[i], cur, sizeof(cur));
		if (r == -ENOENT)
			return 0; /* no cpuset in this hierarchy */
		if (r < 0)
			return jail_err("cgroup", r, "cannot read %s/%s", dir, files[i]);
		if (cur[0])
			continue;
		r = cg_read(host_root, parent, files[i], cur, sizeof(cur));
		if (r == 0)
			r = cg_write(host_root, dir, files[i], cur);
		if (r < 0)
			return jail_err("cgroup", r, "cannot copy %s from %s to %s", files[i],
			                parent, dir);
	}
	return 0;
}

/* Make dir if it is missing; *made says whether this call made it. */
static int make_dir(int host_root, const char *dir, bool *made)
{
	if (mkdirat(host_root, jail_host_rel(dir), 0755) == 0) {
		*made = true;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

/* v2: controllers are enabled for a cgroup's children in its cgroup.subtree_control. */
static int enable_controllers(const struct jail *j, const char *dir)
{
	const struct jail_args *a = &j->args;
	for (unsigned k = 0; k < a->n_cgroups; k++) {
		char op[JAIL_CG_FILE_MAX + 1];
		snprintf(op, sizeof(op), "+%s", a->cgroups[k].controller);
		int r = cg_write(j->host_root, dir, "cgroup.subtree_control", op);
		if (r < 0)
			return jail_err("cgroup", r,
			                "cannot enable '%s' in %s/cgroup.subtree_control",
			                a->cgroups[k].controller, dir);
	}
	return 0;
}

/* Move the jailer, which has one thread, into the cgroup at dir. In v1, "0" written to
 * tasks moves the calling thread, which the kernel does without taking its global
 * threadgroup lock for writing: that costs an RCU grace period, tens of milliseconds on a
 * slow machine. v2 moves a process between domains only through cgroup.procs. */
static int cg_enter(const struct jail *j, const char *dir)
{
	if (j->args.cgroup_version == 1)
		return cg_write(j->host_root, dir, "tasks", "0");
	char pid[24];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return cg_write(j->host_root, dir, "cgroup.procs", pid);
}

static const char *parent_name(const struct jail *j)
{
	return j->args.parent_cgroup ? j->args.parent_cgroup : j->name;
}

/* The directory that holds path (a static copy: one at a time). */
static const char *dirname_of(const char *path)
{
	static char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s", path);
	char *slash = strrchr(d, '/');
	if (slash && slash != d)
		*slash = '\0';
	return d;
}

/* mount/PARENT, each missing level made (counted, for the undo) and readied: v2 enables the
 * controllers for its children, v1's cpuset gets its parent's CPUs and nodes. Then
 * hi->leaf is mount/PARENT/ID. */
static int make_parent(struct jail *j, struct cg_hier *hi)
{
	const struct jail_args *a = &j->args;
	const char *parent = parent_name(j);
	char dir[PATH_MAX], up[PATH_MAX];
	snprintf(up, sizeof(up), "%s", hi->mount);
	for (const char *p = parent; *p;) {
		size_t n = strcspn(p, "/");
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%.*s", up, (int)n, p) >= sizeof(dir))
			return jail_err("cgroup", ENAMETOOLONG, "%s/%s", hi->mount, parent);
		bool made = false;
		int r = make_dir(j->host_root, dir, &made);
		if (r < 0)
			return jail_err("cgroup", r, "cannot create %s", dir);
		/* Levels are made only below existing ones: the made ones are the last. */
		hi->made_parent_levels += made;
		int status = a->cgroup_version == 2 ? enable_controllers(j, dir)
		                                    : cpuset_inherit(j->host_root, dir, up);
		if (status)
			return status;
		memcpy(up, dir, sizeof(up));
		p += n;
		p += *p == '/';
	}
	if (jail_path_join(hi->leaf, up, a->id) < 0)
		return jail_err("cgroup", ENAMETOOLONG, "%s/%s", up, a->id);
	return 0;
}

/* --parent-cgroup with no --cgroup under v2: the jailer (and so the monitor) joins that
 * cgroup if it exists, as Firecracker's does; nothing is made, so nothing is undone. */
static int join_parent_only(struct jail *j)
{
	char *mounts = read_text("/proc/self/mounts");
	char mnt[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int status = 0;
	if (!mounts)
		return jail_err("cgroup", errno, "cannot read /proc/self/mounts");
	if (cg_mounts_find(mounts, 2, "", mnt, sizeof(mnt)) == 0 &&
	    jail_path_join(dir, mnt, j->args.parent_cgroup) == 0 &&
	    fstatat(j->host_root, jail_host_rel(dir), &st, 0) == 0 && S_ISDIR(st.st_mode)) {
		int r = cg_enter(j, dir);
		if (r < 0)
			status = jail_err("cgroup", r, "cannot move the jailer into %s", dir);
	}
	free(mounts);
	return status;
}

int cg_setup(struct jail *j)
{
	const struct jail_args *a = &j->args;
	struct jail_cg *cg = &j->cg;
	unsigned which[JAIL_CGROUPS_MAX] = {0}; /* --cgroup k lives in hierarchy which[k] */
	char mnt[PATH_MAX];
	int status = 0, r;
	if (!a->n_cgroups)
		return a->parent_cgroup && a->cgroup_version == 2 ? join_parent_only(j) : 0;

	char *mounts = read_text("/proc/self/mounts");
	char *self = read_text("/proc/self/cgroup");
	if (!mounts || !self) {
		status = jail_err("cgroup", errno, "cannot read %s",
		                  mounts ? "/proc/self/cgroup" : "/proc/self/mounts");
		goto out;
	}
	for (unsigned k = 0; k < a->n_cgroups; k++) {
		const char *ctl = a->cgroups[k].controller;
		r = cg_mounts_find(mounts, a->cgroup_version, ctl, mnt, sizeof(mnt));
		if (r < 0) {
			status =
			    a->cgroup_version == 1
			        ? jail_err("cgroup", r == -ENOENT ? 0 : r,
			                   "no cgroup v1 hierarchy with the '%s' controller is "
			                   "mounted",
			                   ctl)
			        : jail_err("cgroup", r == -ENOENT ? 0 : r,
			                   "no cgroup v2 hierarchy is mounted");
			goto out;
		}
		unsigned h;
		for (h = 0; h < cg->n && strcmp(cg->hier[h].mount, mnt) != 0; h++)
			;
		which[k] = h;
		if (h < cg->n)
			continue;
		struct cg_hier *hi = &cg->hier[cg->n];
		memset(hi, 0, sizeof(*hi));
		memcpy(hi->mount, mnt, sizeof(mnt));
		r = cg_self_find(self, a->cgroup_version, ctl, hi->orig, sizeof(hi->orig));
		if (r < 0) {
			status = jail_err("cgroup", r,
			                  "cannot find the jailer's own cgroup under %s", mnt);
			goto out;
		}
		cg->n++;
	}

	if (a->cgroup_version == 2) {
		/* Only controllers the root offers can be enabled below it; one bound to a v1
		 * hierarchy is not offered here. */
		char offered[1024] = "";
		const char *root = cg->hier[0].mount;
		r = cg_read(j->host_root, root, "cgroup.controllers", offered, sizeof(offered));
		if (r < 0) {
			status = jail_err("cgroup", r, "cannot read %s/cgroup.controllers", root);
			goto out;
		}
		for (unsigned k = 0; k < a->n_cgroups; k++) {
			if (!cg_list_has(offered, ' ', a->cgroups[k].controller)) {
				status = jail_err(
				    "cgroup", 0,
				    "the cgroup v2 hierarchy at %s has no '%s' controller "
				    "(it offers: %s)",
				    root, a->cgroups[k].controller, offered[0] ? offered : "none");
				goto out;
			}
		}
		if ((status = enable_controllers(j, root)))
			goto out;
	}

	for (unsigned h = 0; h < cg->n; h++) {
		struct cg_hier *hi = &cg->hier[h];
		if ((status = make_parent(j, hi)))
			goto out;
		if (mkdirat(j->host_root, jail_host_rel(hi->leaf), 0755) < 0) {
			status =
			    errno == EEXIST
			        ? jail_err("cgroup", 0, "%s exists: another jail has the id '%s'",
			                   hi->leaf, a->id)
			        : jail_err("cgroup", errno, "cannot create %s", hi->leaf);
			goto out;
		}
		hi->made_leaf = true;
		if (a->cgroup_version == 1 &&
		    (status = cpuset_inherit(j->host_root, hi->leaf, dirname_of(hi->leaf))))
			goto out;
	}

	for (unsigned k = 0; k < a->n_cgroups; k++) {
		const struct jail_cgroup *c = &a->cgroups[k];
		const char *leaf = cg->hier[which[k]].leaf;
		r = cg_write(j->host_root, leaf, c->file, c->value);
		if (r == -ENOENT) {
			/* The kernel's list of files is the only complete one. */
			jail_err("cgroup", 0,
			         "unknown cgroup file '%s' (cgroup v%d has no such file in %s)",
			         c->file, a->cgroup_version, leaf);
			status = JAIL_EXIT_USAGE;
			goto out;
		}
		if (r < 0) {
			status = jail_err("cgroup", r, "cannot write '%s' to %s/%s", c->value, leaf,
			                  c->file);
			goto out;
		}
	}

	for (unsigned h = 0; h < cg->n; h++) {
		r = cg_enter(j, cg->hier[h].leaf);
		if (r < 0) {
			status = jail_err("cgroup", r, "cannot move the jailer into %s",
			                  cg->hier[h].leaf);
			goto out;
		}
		cg->hier[h].joined = true;
	}
out:
	free(mounts);
	free(self);
	return status;
}

void cg_undo(struct jail *j)
{
	struct jail_cg *cg = &j->cg;
	char dir[PATH_MAX];
	for (unsigned h = cg->n; h-- > 0;) {
		struct cg_hier *hi = &cg->hier[h];
		/* Back where the jailer came from, or to the hierarchy's root if that went. */
		if (hi->joined &&
		    (jail_path_join(dir, hi->mount, hi->orig) < 0 || cg_enter(j, dir) < 0))
			cg_enter(j, hi->mount);
		if (hi->made_leaf)
			unlinkat(j->host_root, jail_host_rel(hi->leaf), AT_REMOVEDIR);
		/* Shared with the other jails of the same parent: removed only when empty, the
		 * levels this start made, deepest first. */
		if (hi->made_parent_levels && jail_path_join(dir, hi->mount, parent_name(j)) == 0)
			for (unsigned k = 0; k < hi->made_parent_levels; k++) {
				unlinkat(j->host_root, jail_host_rel(dir), AT_REMOVEDIR);
				snprintf(dir, sizeof(dir), "%s", dirname_of(dir));
			}
	}
}
