/*
 * `ember run --warm`: the cache of ready default guests (one snapshot per configuration,
 * built on first use under a lock, renamed into place whole) and the handover message.
 */
#define _GNU_SOURCE 1 /* pipe2 */
#include "warm.h"
#include "base/exit_status.h"
#include "base/handover.h"
#include "base/log.h"
#include "vmm/initrd.h"
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

#define BUILD_TIMEOUT_MS (600 * 1000) /* a cold boot in a slow nested rig, with margin */
#define OUTPUT_TAIL      2048         /* the build's last output, shown when it fails */

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EINVAL;                                                                    \
	} while (0)

int warm_refuse(const struct vm_config *cfg, char *err, size_t errlen)
{
	const char *what = cfg->kernel_path[0]      ? "--kernel"
	                   : cfg->initrd_path[0]    ? "--initrd"
	                   : cfg->ndrives           ? "--drive"
	                   : cfg->nnets             ? "--net"
	                   : cfg->vsock.enabled     ? "--vsock"
	                   : cfg->snapshot_state[0] ? "--snapshot-to"
	                                            : NULL;
	if (what)
		FAIL("--warm restores the default guest without devices of one's own: not with %s",
		     what);
	return 0;
}

/* ---- the cache's place and names ---- */

/* A directory we may keep snapshots in: ours, a directory, writable by nobody else. */
static int dir_safe(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		FAIL("warm cache '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		FAIL("warm cache '%s' is not a directory", path);
	if (st.st_uid != geteuid())
		FAIL("warm cache '%s' belongs to user %u, not to this one (%u): refused", path,
		     (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		FAIL("warm cache '%s' is writable by others (mode %03o): refused", path,
		     (unsigned)(st.st_mode & 0777));
	return 0;
}

/* $XDG_CACHE_HOME/ember, else $HOME/.cache/ember: made 0700 if missing, then checked. */
static int cache_dir(char *out, size_t cap, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char base[PATH_MAX];
	struct stat st;

	if (xdg && xdg[0] == '/')
		snprintf(base, sizeof(base), "%s", xdg);
	else if (home && home[0] == '/')
		snprintf(base, sizeof(base), "%s/.cache", home);
	else
		FAIL("--warm needs a cache directory: set XDG_CACHE_HOME or HOME to an absolute "
		     "path");
	if (mkdir(base, 0700) < 0 && errno != EEXIST)
		FAIL("cannot make the cache directory '%s': %s", base, strerror(errno));
	/* Someone else could move our directory out of a shared one that is not sticky. */
	if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		FAIL("the cache directory '%s' is not a directory", base);
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		FAIL("the cache directory '%s' is writable by everyone and not sticky: refused",
		     base);
	if ((size_t)snprintf(out, cap, "%s/ember", base) >= cap)
		FAIL("the cache directory '%s' has too long a path", base);
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		FAIL("cannot make the warm cache '%s': %s", out, strerror(errno));
	return dir_safe(out, err, errlen);
}

static void fnv1a(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ULL;
	}
}

/* A file's identity: changing, replacing or rebuilding it changes the key. */
static int file_id(const char *what, const char *path, char *out, size_t cap, char *err,
                   size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0)
		FAIL("--warm: cannot stat the %s '%s': %s", what, path, strerror(errno));
	snprintf(out, cap, "%s %s %ju:%ju %jd %jd.%09ld %jd.%09ld", what, path,
	         (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size,
	         (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec,
	         st.st_ctim.tv_nsec);
	return 0;
}

/* The entry's name: everything that shapes the guest the snapshot holds, hashed, with the
 * version, memory and vCPUs readable. */
static int entry_name(const struct vm_config *cfg, char *out, size_t cap, char *err, size_t errlen)
{
	char exe[PATH_MAX + 128], kernel[PATH_MAX + 128], initrd[PATH_MAX + 128];
	uint64_t h = 0xcbf29ce484222325ULL;
	if (file_id("ember", "/proc/self/exe", exe, sizeof(exe), err, errlen) < 0 ||
	    file_id("kernel", cfg->kernel_path, kernel, sizeof(kernel), err, errlen) < 0 ||
	    file_id("initrd", cfg->initrd_path, initrd, sizeof(initrd), err, errlen) < 0)
		return -EINVAL;
	char misc[128];
	snprintf(misc, sizeof(misc), "v %s|boot %d|rng %d|huge %d", EMBER_VERSION, (int)cfg->boot,
	         (int)cfg->entropy, (int)cfg->huge_pages);
	/* Each part with its NUL, so no two configurations run together alike. */
	const char *parts[] = {misc, exe, kernel, initrd, cfg->cmdline, cfg->append};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		fnv1a(&h, parts[i], strlen(parts[i]) + 1);
	snprintf(out, cap, "warm-%s-%" PRIu64 "m-%uc-%016" PRIx64, EMBER_VERSION, cfg->mem_mib,
	         cfg->vcpus, h);
	return 0;
}

/* ---- an entry: check, build ---- */

/* Both files there, ours, the memory file of the right size, the state file one this Ember
 * loads on this CPU. Returns 0, -ENOENT (not built yet), or -EINVAL with why in err. */
static int entry_check(const char *state, const char *mem, uint64_t mem_mib, char *err,
                       size_t errlen)
{
	struct stat ss, ms;
	bool have_state = lstat(state, &ss) == 0, have_mem = lstat(mem, &ms) == 0;
	if (!have_state && !have_mem)
		return -ENOENT;
	if (!have_state || !have_mem)
		FAIL("'%s' is missing", have_state ? mem : state);
	if (!S_ISREG(ss.st_mode) || !S_ISREG(ms.st_mode) || ss.st_uid != geteuid() ||
	    ms.st_uid != geteuid())
		FAIL("its files are not regular files of this user's");
	if ((uint64_t)ms.st_size != mem_mib << 20)
		FAIL("'%s' is %jd bytes, not %" PRIu64 " MiB", mem, (intmax_t)ms.st_size, mem_mib);
	return vm_snapshot_check(state, err, errlen) < 0 ? -EINVAL : 0;
}

/* Read the build's output until it ends, signalling it to snapshot once the init says it is
 * ready. Keeps the output's tail in tail. Returns whether the init was ready. */
static bool build_watch(pid_t pid, int fd, char tail[OUTPUT_TAIL])
{
	const size_t cap = OUTPUT_TAIL;
	static const char ready[] = HANDOVER_READY;
	size_t have = 0;
	bool seen = false;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tail[0] = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = BUILD_TIMEOUT_MS -
		            ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0) {
			kill(pid, SIGKILL);
			snprintf(tail, OUTPUT_TAIL, "(no ready init after %d s)",
			         BUILD_TIMEOUT_MS / 1000);
			return false;
		}
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		char buf[OUTPUT_TAIL / 4];
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return seen;
		/* Keep the last cap - 1 bytes (a read is a quarter of that at most). */
		size_t g = (size_t)got;
		if (have + g > cap - 1) {
			memmove(tail, tail + (have + g - (cap - 1)), cap - 1 - g);
			have = cap - 1 - g;
		}
		memcpy(tail + have, buf, g);
		have += g;
		tail[have] = 0;
		/* The whole line, its newline too: else the snapshot holds the rest of it in the
		 * console's queue, and a warm run prints it first. */
		const char *at = seen ? NULL : memmem(tail, have, ready, sizeof(ready) - 1);
		if (at && memchr(at, '\n', (size_t)(tail + have - at))) {
			seen = true;
			kill(pid, SIGUSR2); /* --snapshot-to's signal */
		}
	}
}

/* Boot cfg's guest in warm mode in a child and snapshot it into tmp_state/tmp_mem once
 * its init is ready; then rename them to state/mem (memory first: a state file in place
 * means its memory file is too). Under the entry's lock. */
static int entry_build(const struct vm_config *cfg, int (*build)(const struct vm_config *),
                       const char *tmp_state, const char *tmp_mem, const char *state,
                       const char *mem, char *err, size_t errlen)
{
	static struct vm_config b;
	char tail[OUTPUT_TAIL];
	int pfd[2], ws = 0;

	b = *cfg;
	b.warm = false;
	b.cmd_argv = NULL;
	b.cmd_argc = 0;
	b.cmd_init = true;
	b.cmd_tty = false;
	/* The init's warm mode; the guest's other words stay the cold run's. */
	if (snprintf(b.append, sizeof(b.append), "%s%sember_warm=1", cfg->append,
	             cfg->append[0] ? " " : "") >= (int)sizeof(b.append) ||
	    CONFIG_SET(b.snapshot_state, tmp_state) < 0 || CONFIG_SET(b.snapshot_mem, tmp_mem) < 0)
		FAIL("--warm: the command line or the cache's path is too long");
	if (pipe2(pfd, O_CLOEXEC) < 0)
		FAIL("--warm: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		FAIL("--warm: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(pfd[1], STDOUT_FILENO) < 0 ||
		    dup2(pfd[1], STDERR_FILENO) < 0)
			_exit(EXIT_USAGE);
		_exit(build(&b));
	}
	close(pfd[1]);
	bool ready = build_watch(pid, pfd[0], tail);
	close(pfd[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	/* The old state file goes first: a reader between the two renames must not pair it
	 * with the new memory file; missing, it sends the reader to wait on the lock. */
	bool ok = ready && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
	          (unlink(state) == 0 || errno == ENOENT) && rename(tmp_mem, mem) == 0 &&
	          rename(tmp_state, state) == 0;
	if (ok)
		return 0;
	unlink(tmp_state);
	unlink(tmp_mem);
	snprintf(err, errlen,
	         "--warm: cannot build the warm snapshot (%s, status %d); the guest's output "
	         "ended with:\n%s",
	         ready ? "snapshot failed" : "its init was never ready",
	         WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), tail);
	return -EIO;
}

/* The handover: the header, then /ember.cmd's body for cfg's command. */
static uint8_t *handover_build(const struct vm_config *cfg, size_t *len)
{
	struct handover_header h = {.magic = HANDOVER_MAGIC};
	size_t body_len;
	uint8_t *body = cmd_body_build(cfg->cmd_argv, cfg->cmd_argc, cfg->cmd_tty, &body_len);
	uint8_t *msg = body ? malloc(sizeof(h) + body_len) : NULL;
	if (!msg || body_len > HANDOVER_MAX_BODY) {
		free(body);
		free(msg);
		return NULL;
	}
	/* Up to 256 bytes come whole (getrandom(2)): only an interrupted wait for the pool
	 * to be ready is tried again. */
	_Static_assert(HANDOVER_RANDOM <= 256, "getrandom gives up to 256 bytes whole");
	ssize_t n;
	while ((n = getrandom(h.random, sizeof(h.random), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(h.random)) {
		free(body);
		free(msg);
		return NULL;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	h.body_len = (uint32_t)body_len;
	h.realtime_sec = (uint64_t)now.tv_sec;
	h.realtime_nsec = (uint32_t)now.tv_nsec;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), body, body_len);
	free(body);
	*len = sizeof(h) + body_len;
	return msg;
}

int warm_prepare(const struct vm_config *cfg, int (*build)(const struct vm_config *),
                 struct ctl_snapshot_load *load, char *err, size_t errlen)
{
	char dir[PATH_MAX], name[128], why[1024];
	char state[PATH_MAX + 160], mem[PATH_MAX + 160], lock[PATH_MAX + 160];
	char tmp_state[PATH_MAX + 200], tmp_mem[PATH_MAX + 200];
	int r;

	if ((r = cache_dir(dir, sizeof(dir), err, errlen)) < 0 ||
	    (r = entry_name(cfg, name, sizeof(name), err, errlen)) < 0)
		return r;
	snprintf(state, sizeof(state), "%s/%s.state", dir, name);
	snprintf(mem, sizeof(mem), "%s/%s.mem", dir, name);
	snprintf(lock, sizeof(lock), "%s/%s.lock", dir, name);
	snprintf(tmp_state, sizeof(tmp_state), "%s/.%s.%ld.state", dir, name, (long)getpid());
	snprintf(tmp_mem, sizeof(tmp_mem), "%s/.%s.%ld.mem", dir, name, (long)getpid());
	if (strlen(tmp_state) >= CONFIG_PATH_MAX)
		FAIL("--warm: the cache's path '%s' is too long", dir);

	/* Readers take no lock: an entry only ever appears whole, by rename. */
	r = entry_check(state, mem, cfg->mem_mib, why, sizeof(why));
	if (r < 0) {
		int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			FAIL("--warm: cannot open '%s': %s", lock, strerror(errno));
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
		/* Another run may have built it while we waited. */
		r = entry_check(state, mem, cfg->mem_mib, why, sizeof(why));
		if (r == -EINVAL)
			log_warn("the warm snapshot %s/%s is unusable (%s): rebuilding", dir, name,
			         why);
		if (r < 0)
			r = entry_build(cfg, build, tmp_state, tmp_mem, state, mem, err, errlen);
		close(fd);
		if (r < 0)
			return r;
		if (entry_check(state, mem, cfg->mem_mib, why, sizeof(why)) < 0)
			FAIL("--warm: the warm snapshot just built is unusable: %s", why);
	}
	memset(load, 0, sizeof(*load));
	if (CONFIG_SET(load->snapshot_path, state) < 0 || CONFIG_SET(load->mem_file_path, mem) < 0)
		FAIL("--warm: the cache's path '%s' is too long", dir);
	load->vcpus = cfg->vcpus;
	load->resume_vm = true;
	load->console_piped = !cfg->cmd_tty;
	load->handover = handover_build(cfg, &load->handover_len);
	if (!load->handover)
		FAIL("--warm: cannot build the handover (out of memory or entropy)");
	return 0;
}

void warm_release(struct ctl_snapshot_load *load)
{
	free((void *)load->handover);
	load->handover = NULL;
}
