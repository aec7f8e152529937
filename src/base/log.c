/* One-line messages to stderr and the optional log file, each written with a single
 * write(2) so threads do not interleave. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock; /* guards the settings, not the writes */
	int fd;
	enum log_level level;
	bool show_level;
	char id[65];
} file = {PTHREAD_MUTEX_INITIALIZER, -1, LOG_OFF, false, ""};

static _Atomic enum log_level stderr_level = LOG_WARNING;

static const char *const level_names[] = {"Off", "Error", "Warning", "Info", "Debug", "Trace"};

static void to_file(enum log_level level, const char *msg)
{
	pthread_mutex_lock(&file.lock);
	if (file.fd >= 0 && level <= file.level) {
		char line[1200];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int n =
		    snprintf(line, sizeof(line), "%lld.%06ld [%s%s%s] %s\n", (long long)ts.tv_sec,
		             ts.tv_nsec / 1000, file.id, file.show_level ? ":" : "",
		             file.show_level ? level_names[level] : "", msg);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
			if (len == sizeof(line) - 1)
				line[len - 1] = '\n';
			ssize_t r = write(file.fd, line, len);
			(void)r; /* a full pipe drops the line, as Firecracker's logger does */
		}
	}
	pthread_mutex_unlock(&file.lock);
}

__attribute__((format(printf, 3, 0))) static void log_line(enum log_level level, const char *prefix,
                                                           const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (level <= LOG_WARNING || level <= stderr_level) {
		char line[1100];
		int n = snprintf(line, sizeof(line), "ember: %s%s\n", prefix, msg);
		size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
		if (len == sizeof(line) - 1)
			line[len - 1] = '\n';
		ssize_t r = write(STDERR_FILENO, line, len);
		(void)r;
	}
	to_file(level, msg);
}

#define DEFINE_LOG(name, level, prefix)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_line(level, prefix, fmt, ap);                                                  \
		va_end(ap);                                                                        \
	}

DEFINE_LOG(log_err, LOG_ERROR, "")
DEFINE_LOG(log_warn, LOG_WARNING, "warning: ")
DEFINE_LOG(log_info, LOG_INFO, "")
DEFINE_LOG(log_debug, LOG_DEBUG, "")

void log_stderr_level(enum log_level level)
{
	stderr_level = level > LOG_WARNING ? level : LOG_WARNING;
}

void log_configure(int fd, enum log_level level, bool show_level, const char *instance_id)
{
	pthread_mutex_lock(&file.lock);
	if (file.fd >= 0)
		close(file.fd);
	file.fd = fd;
	file.level = level;
	file.show_level = show_level;
	snprintf(file.id, sizeof(file.id), "%s", instance_id ? instance_id : "");
	pthread_mutex_unlock(&file.lock);
}
