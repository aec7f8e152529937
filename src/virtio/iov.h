/* Scatter-gather copies over a popped chain's iovecs, shared by the virtio devices. Each
 * works on the bytes the iovecs hold and never past them. */
#ifndef EMBER_VIRTIO_IOV_H
#define EMBER_VIRTIO_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Copy len bytes from offset off of iov[0, n) to dst; returns the bytes copied (fewer when
 * the iovecs end first). */
size_t iov_read(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);

/* Copy len bytes from src to offset off of iov[0, n); returns the bytes copied. */
size_t iov_write(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);

/* Describe bytes [off, off + len) of iov[0, n) in out, which has room for n entries;
 * returns the entries used. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out);

#endif
