/* Ember's messages to the user: one line each, prefixed "ember: ". */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

/* Print "ember: <message>\n" to stderr. Safe from any thread (one write(2) per line). */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Same, prefixed "ember: warning: ". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
