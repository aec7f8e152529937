/* Reading files whole-range or not at all; copying a sparse file's data. */
#include "file_io.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

int file_read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_exact(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, len -= (size_t)n, off += n;
	}
	return 0;
}

int file_copy_data(int dst_fd, int src_fd, uint64_t *bytes)
{
	enum { CHUNK = 1 << 20 };
	int r = 0;
	uint8_t *buf = malloc(CHUNK);
	*bytes = 0;
	if (!buf)
		return -ENOMEM;
	off_t end = lseek(src_fd, 0, SEEK_END), off = 0;
	if (end < 0)
		r = -errno;
	while (!r && off < end) {
		off_t data = lseek(src_fd, off, SEEK_DATA);
		if (data < 0) {
			r = errno == ENXIO ? 0 : -errno; /* ENXIO: only a hole is left */
			break;
		}
		off_t hole = lseek(src_fd, data, SEEK_HOLE);
		if (hole < 0) {
			r = -errno;
			break;
		}
		for (off_t at = data; !r && at < hole;) {
			size_t n = hole - at < CHUNK ? (size_t)(hole - at) : CHUNK;
			r = file_read_exact(src_fd, buf, n, (uint64_t)at);
			if (!r)
				r = write_exact(dst_fd, buf, n, at);
			at += (off_t)n;
		}
		*bytes += (uint64_t)(hole - data);
		off = hole;
	}
	if (!r && fsync(dst_fd) < 0)
		r = -errno;
	free(buf);
	return r;
}
