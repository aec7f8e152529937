/* Ember's messages: errors and warnings to stderr, one line each, prefixed "ember: "; and,
 * once a log file is set (--log-path, PUT /logger), every message at or above its level
 * to that file too, in Firecracker's line format:
 *   2026-12-07T01:02:03.123456789 [ID:THREAD:LEVEL:FILE:LINE] message
 * (":LEVEL" with show_level, ":FILE:LINE" with show_log_origin). */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_OFF, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* One message from file:line (the caller's __FILE__, "src/DIR/NAME.c"). Safe from any
 * thread (one write(2) per line). Use the macros. */
void log_at(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print "ember: <message>\n" to stderr (and the log file). */
#define log_err(...) log_at(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
/* Same, prefixed "ember: warning: ". */
#define log_warn(...) log_at(LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
/* To the log file when one is set and its level allows; to stderr too when
 * log_stderr_level allows (not by default). */
#define log_info(...)  log_at(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* What log_configure changes; a NULL or absent member keeps the current setting. */
#define LOG_KEEP_FD (-2)
struct log_settings {
	int fd; /* the log file (the caller opened it; owned from now), -1: none, LOG_KEEP_FD */
	bool has_level;
	enum log_level level;
	bool has_show_level, show_level;
	bool has_show_origin, show_origin;
	const char *module;      /* only messages from this module (log_module_ok); "": all */
	const char *instance_id; /* the id in each line */
};

/* Change the log file's settings: the first call sets them, later ones (PUT /logger again,
 * as Firecracker allows) change what they name. A replaced fd is closed. */
void log_configure(const struct log_settings *s);

/* Also print messages up to level on stderr (default LOG_WARNING; errors and warnings
 * always go there): `--level Debug` without a log file. */
void log_stderr_level(enum log_level level);

/* The calling thread's name in log lines ("vmm" unless set): "api", "vcpu 0". Copied. */
void log_thread_name(const char *name);

/* Whether module names one of Ember's log modules: the source folders (api, vmm, virtio,
 * devices, arch, base, seccomp, acpi) or main (the files directly in src), with an optional "/FILE"
 * part (virtio/blk); Firecracker's "api_server" stands for api. */
bool log_module_ok(const char *module);

/* Whether a message from file (__FILE__) passes the module filter module ("" passes all). */
bool log_module_match(const char *module, const char *file);

/* Lines the log file lost (a full pipe, a failed write): the metrics' missed_log_count. */
uint64_t log_missed_count(void);

/* The line's prefix up to "] " for the given parts, into buf (pure; for the unit test).
 * Returns its length. */
int log_format_prefix(char *buf, unsigned len, long long sec, long nsec, const char *id,
                      const char *thread, const char *level, const char *file, int line);

#endif
