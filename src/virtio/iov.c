/* Copying to and from a chain's scattered buffers (iov.h). */
#include "iov.h"

#include <stdint.h>
#include <string.h>

/* Copy len bytes from offset off of iov[0, n) to dst; returns the bytes copied. */
size_t iov_read(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

/* Copy len bytes from src to offset off of iov[0, n); returns the bytes copied. */
size_t iov_write(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)src + done, k);
		done += k;
		off = 0;
	}
	return done;
}

/* Describe bytes [off, off + len) of iov[0, n) in out, which has room for n entries. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	return k;
}
