/* Paths as the jailer builds them: joined with a length check, and made relative to the
 * host's root fd (which every step and the undo resolve from, even after pivot_root). */
#include "jailer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int jail_path_join(char out[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

const char *jail_host_rel(const char *abs)
{
	while (*abs == '/')
		abs++;
	return *abs ? abs : ".";
}
