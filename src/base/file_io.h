/* Reading files whole-range or not at all. */
#ifndef EMBER_FILE_IO_H
#define EMBER_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read exactly len bytes at offset off of fd into buf, retrying short reads and EINTR.
 * Returns 0, -EIO if the file ends first (it shrank under us), or -errno.
 */
int file_read_exact(int fd, void *buf, size_t len, uint64_t off);

#endif
