/* The jailer's one kind of message: which step failed, on what, and why. */
#include "jailer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int jail_err(const char *step, int err, const char *fmt, ...)
{
	char what[512], line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err < 0)
		err = -err;
	int n = err ? snprintf(line, sizeof(line), JAIL_PROG ": %s: %s: %s\n", step, what,
	                       strerror(err))
	            : snprintf(line, sizeof(line), JAIL_PROG ": %s: %s\n", step, what);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	/* One write, so lines from the jailer and a jailed child never interleave. */
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
	return JAIL_EXIT_FAIL;
}
