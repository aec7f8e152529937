/*
 * The initrd in guest memory: the file's bytes, and after them (when the guest is to run
 * a command) a small cpio archive carrying the command to the default guest's init.
 * docs/CONTRACTS.md defines the archive.
 */
#ifndef EMBER_INITRD_H
#define EMBER_INITRD_H

#include "../base/guest_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* /ember.cmd's contents for argv[0..argc-1] and the tty flag: "tty=0" or "tty=1", an
 * empty string, the arguments, each NUL-terminated (also the body of `ember run --warm`'s
 * handover). Returns a malloc'd buffer with its length in *len, or NULL (out of memory). */
uint8_t *cmd_body_build(char *const *argv, unsigned argc, bool tty, size_t *len);

/*
 * Build the newc cpio archive holding /ember.cmd for argv[0..argc-1] (argc >= 1) and the
 * tty flag, ending with the TRAILER!!! entry. Returns a malloc'd buffer with its length in
 * *len, or NULL when out of memory.
 */
uint8_t *cmd_archive_build(char *const *argv, unsigned argc, bool tty, size_t *len);

/*
 * Load size bytes of the initrd in fd, then (when extra_len > 0) extra at the next 4-byte
 * boundary, at the highest page-aligned guest address where the whole lies in one RAM
 * region inside [low, limit). Writes the address to *at and the total length to *total.
 * Returns 0; -ENOSPC with a message in err when no such place exists; -errno on a read
 * error.
 */
int initrd_load(const struct guest_mem *gm, int fd, uint64_t size, const uint8_t *extra,
                size_t extra_len, gpa_t low, gpa_t limit, gpa_t *at, uint64_t *total, char *err,
                size_t errlen);

#endif
