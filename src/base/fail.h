/*
 * The setup functions' one way out on an error (STYLE: `goto out` cleanup ending in one
 * clear message): FAIL(code, fmt, ...) writes the message into the caller's err (errlen
 * bytes), sets the caller's r to code (a -errno) and jumps to its label out.
 */
#ifndef EMBER_FAIL_H
#define EMBER_FAIL_H

#include <stdio.h>

#define FAIL(code, ...)                                                                            \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		r = (code);                                                                        \
		goto out;                                                                          \
	} while (0)

#endif
