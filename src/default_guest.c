/* Finding the default guest from the location of the running executable. */
#include "default_guest.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int try_dir(struct default_guest *g, const char *dir)
{
	int a = snprintf(g->kernel, sizeof(g->kernel), "%s/vmlinux", dir);
	int b = snprintf(g->initrd, sizeof(g->initrd), "%s/initrd.cpio", dir);
	if (a < 0 || b < 0 || (size_t)a >= sizeof(g->kernel) || (size_t)b >= sizeof(g->initrd))
		return -ENAMETOOLONG;
	if (access(g->kernel, R_OK) < 0 || access(g->initrd, R_OK) < 0)
		return -ENOENT;
	return 0;
}

int default_guest_find(struct default_guest *g, char *err, size_t errlen)
{
	char exe[PATH_MAX];
	char built[PATH_MAX + 16], installed[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(err, errlen,
		         "no --kernel given, and cannot find the default guest: "
		         "readlink /proc/self/exe: %s",
		         strerror(errno));
		return -ENOENT;
	}
	exe[n] = '\0';
	const char *dir = dirname(exe);
	snprintf(built, sizeof(built), "%s/guest", dir);
	snprintf(installed, sizeof(installed), "%s/../share/ember", dir);
	if (try_dir(g, built) == 0 || try_dir(g, installed) == 0)
		return 0;
	snprintf(err, errlen,
	         "no --kernel given and no default guest in %s or %s "
	         "(build it with 'make guest')",
	         built, installed);
	return -ENOENT;
}
