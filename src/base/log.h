/* Ember's messages: errors and warnings to stderr, one line each, prefixed "ember: "; and,
 * once a log file is set (--log-path, PUT /logger), every message at or above its level
 * to that file too, Firecracker-style. */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdbool.h>

enum log_level { LOG_OFF, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Print "ember: <message>\n" to stderr (and the log file). Safe from any thread (one
 * write(2) per line). */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Same, prefixed "ember: warning: ". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* To the log file when one is set and its level allows; to stderr too when
 * log_stderr_level allows (not by default). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send messages up to level to fd as well (the caller opened it; -1: none), each line
 * starting with a timestamp, the instance id, and the level when show_level. Takes
 * ownership of fd (closed on the next call). */
void log_configure(int fd, enum log_level level, bool show_level, const char *instance_id);

/* Also print messages up to level on stderr (default LOG_WARNING; errors and warnings
 * always go there): `--level Debug` without a log file. */
void log_stderr_level(enum log_level level);

#endif
