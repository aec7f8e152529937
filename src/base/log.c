/* One-line messages to stderr and the optional log file, each written with a single
 * write(2) so threads do not interleave; the log file's lines in Firecracker's format. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODULE_MAX 32

static struct {
	pthread_mutex_t lock; /* guards the settings, not the writes */
	int fd;
	enum log_level level;
	bool show_level, show_origin;
	char module[MODULE_MAX];
	char id[65];
} file = {PTHREAD_MUTEX_INITIALIZER, -1, LOG_OFF, false, false, "", ""};

static _Atomic enum log_level stderr_level = LOG_WARNING;
static atomic_ullong missed;
static __thread char thread_name[16] = "vmm";

/* Rust's log::Level names, as Firecracker's lines show them. */
static const char *const level_names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

/* Ember's modules: its source folders, main for the files directly in src. */
static const char *const modules[] = {"api",  "vmm",  "virtio",  "devices", "arch",
                                      "base", "acpi", "seccomp", "main"};

void log_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
}

uint64_t log_missed_count(void)
{
	return atomic_load(&missed);
}

/* file's module part: "virtio/blk.c" for "src/virtio/blk.c", "main/cli.c" for "src/cli.c". */
static void module_of(const char *path, char *out, size_t len)
{
	const char *p = strstr(path, "src/");
	p = p ? p + 4 : path;
	snprintf(out, len, strchr(p, '/') ? "%s" : "main/%s", p);
}

bool log_module_ok(const char *module)
{
	if (!strcmp(module, "api_server"))
		return true;
	size_t n = strcspn(module, "/");
	if (module[n] == '/' && (!module[n + 1] || strchr(module + n + 1, '/')))
		return false;
	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
		if (strlen(modules[i]) == n && !strncmp(module, modules[i], n))
			return strlen(module) < MODULE_MAX;
	return false;
}

bool log_module_match(const char *module, const char *path)
{
	char m[256];
	if (!module[0])
		return true;
	if (!strcmp(module, "api_server"))
		module = "api";
	module_of(path, m, sizeof(m));
	size_t n = strlen(module);
	/* "virtio" matches virtio/blk.c, "virtio/blk" matches virtio/blk.c only. */
	return !strncmp(m, module, n) && (m[n] == '/' || m[n] == '.');
}

int log_format_prefix(char *buf, unsigned len, long long sec, long nsec, const char *id,
                      const char *thread, const char *level, const char *path, int line)
{
	struct tm tm;
	time_t t = (time_t)sec;
	/* UTC: local time would need /etc/localtime, which a jail lacks and a locked-down
	 * thread may not open. */
	gmtime_r(&t, &tm);
	int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s%s%s",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, nsec, id, thread, level ? ":" : "", level ? level : "");
	if (n < 0 || (unsigned)n >= len)
		return n;
	int m = path ? snprintf(buf + n, len - (unsigned)n, ":%s:%d] ", path, line)
	             : snprintf(buf + n, len - (unsigned)n, "] ");
	return m < 0 ? m : n + m;
}

static void to_file(enum log_level level, const char *path, int line, const char *msg)
{
	pthread_mutex_lock(&file.lock);
	if (file.fd >= 0 && level <= file.level && log_module_match(file.module, path)) {
		char buf[1400];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int n =
		    log_format_prefix(buf, sizeof(buf), (long long)ts.tv_sec, ts.tv_nsec, file.id,
		                      thread_name, file.show_level ? level_names[level] : NULL,
		                      file.show_origin ? path : NULL, line);
		if (n > 0 && (size_t)n < sizeof(buf))
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s\n", msg);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
			if (len == sizeof(buf) - 1)
				buf[len - 1] = '\n';
			/* A full pipe drops the line, as Firecracker's logger does; counted. */
			if (write(file.fd, buf, len) != (ssize_t)len)
				atomic_fetch_add(&missed, 1);
		}
	}
	pthread_mutex_unlock(&file.lock);
}

void log_at(enum log_level level, const char *path, int line, const char *fmt, ...)
{
	static const char *const prefix[] = {"", "", "warning: ", "", "", ""};
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level <= LOG_WARNING ||
	    (level <= stderr_level && log_module_match(file.module, path))) {
		char out[1100];
		int n = snprintf(out, sizeof(out), "ember: %s%s\n", prefix[level], msg);
		size_t len = n < 0 ? 0 : (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1;
		if (len == sizeof(out) - 1)
			out[len - 1] = '\n';
		ssize_t r = write(STDERR_FILENO, out, len);
		(void)r;
	}
	to_file(level, path, line, msg);
}

void log_stderr_level(enum log_level level)
{
	stderr_level = level > LOG_WARNING ? level : LOG_WARNING;
}

void log_configure(const struct log_settings *s)
{
	pthread_mutex_lock(&file.lock);
	if (s->fd != LOG_KEEP_FD) {
		if (file.fd >= 0)
			close(file.fd);
		file.fd = s->fd;
	}
	if (s->has_level)
		file.level = s->level;
	if (s->has_show_level)
		file.show_level = s->show_level;
	if (s->has_show_origin)
		file.show_origin = s->show_origin;
	if (s->module)
		snprintf(file.module, sizeof(file.module), "%s", s->module);
	if (s->instance_id)
		snprintf(file.id, sizeof(file.id), "%s", s->instance_id);
	pthread_mutex_unlock(&file.lock);
}
