/* The user's terminal: raw mode for a serial console, always restored. */
#ifndef EMBER_TERM_H
#define EMBER_TERM_H

#include <stdbool.h>

/* If fd is a terminal, switch its input to raw mode (no echo, no line editing, no
 * signals from keys) and arrange for term_restore() at exit. Returns true if it did. */
bool term_raw(int fd);

/* Put back the terminal settings term_raw() changed. Idempotent; async-signal-safe. */
void term_restore(void);

#endif
