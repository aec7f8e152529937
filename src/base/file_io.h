/* Reading files whole-range or not at all; copying a sparse file's data. */
#ifndef EMBER_FILE_IO_H
#define EMBER_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read exactly len bytes at offset off of fd into buf, retrying short reads and EINTR.
 * Returns 0, -EIO if the file ends first (it shrank under us), or -errno.
 */
int file_read_exact(int fd, void *buf, size_t len, uint64_t off);

/*
 * Copy every data extent of src_fd (found with SEEK_DATA / SEEK_HOLE; holes are skipped)
 * to the same offsets in dst_fd, then fsync dst_fd. *bytes gets the bytes copied. On a
 * file system without holes the whole file is data. Returns 0 or -errno (dst may be
 * partly written).
 */
int file_copy_data(int dst_fd, int src_fd, uint64_t *bytes);

#endif
