/*
 * Where the embedded default guest (a Debian kernel and Ember's initramfs, built by
 * `make guest`) lives: beside a built ember in the build tree (<dir>/guest/), or under
 * the install prefix of an installed one (<prefix>/share/ember/).
 */
#ifndef EMBER_DEFAULT_GUEST_H
#define EMBER_DEFAULT_GUEST_H

#include <stddef.h>

struct default_guest {
	char kernel[4096]; /* .../vmlinux */
	char initrd[4096]; /* .../initrd.cpio */
};

/*
 * Find the default guest relative to this executable (/proc/self/exe): first
 * <exe dir>/guest/, then <exe dir>/../share/ember/; both files must be readable.
 * Returns 0, or -ENOENT with a message in err naming the places looked at.
 */
int default_guest_find(struct default_guest *g, char *err, size_t errlen);

#endif
