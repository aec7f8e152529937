/* What every unit test needs: cmocka (whose header wants these includes first) and a
 * couple of helpers shared between test files. */
#ifndef EMBER_UNIT_H
#define EMBER_UNIT_H

/* memfd_create, strcasestr, pipe2: the Makefile defines this, but `make asan` replaces
 * CFLAGS wholesale, so the tests ask for it themselves (unit.h is always included first). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Call first in main(): cmocka writes progress to stdout and failures to stderr; with stdout
 * unbuffered the two stay in order in a log, and nothing is lost if a sanitizer aborts. */
static inline void unit_init(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
}

/* An anonymous in-memory file holding exactly len bytes of buf, positioned at 0. Fails the
 * running test if the host cannot make one. */
static inline int unit_memfd(const void *buf, size_t len)
{
	int fd = memfd_create("ember-unit", MFD_CLOEXEC);
	assert_true(fd >= 0);
	const uint8_t *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p += n;
		left -= (size_t)n;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Whether s contains needle, ignoring case: error messages are checked for the word that
 * names the problem, not for their exact wording. */
static inline int unit_mentions(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

/* Assert that err is a non-empty message mentioning needle, printing it if not. */
#define assert_err_mentions(err, needle)                                                           \
	do {                                                                                       \
		if (!(err)[0] || !unit_mentions((err), (needle)))                                  \
			print_error("message '%s' does not mention '%s'\n", (err), (needle));      \
		assert_true((err)[0] != '\0');                                                     \
		assert_true(unit_mentions((err), (needle)));                                       \
	} while (0)

/* Little-endian loads from guest memory, as the guest would read its boot data. */
static inline uint64_t unit_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	while (n--)
		v = v << 8 | p[n];
	return v;
}

#endif
