/* The initrd and the guest-command archive appended to it, placed high in guest RAM. */
#include "initrd.h"
#include "../base/file_io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE         4096ULL
#define CPIO_HDR_LEN 110 /* "070701" and thirteen 8-digit hex fields */

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* One newc entry: the header, the name padded so the data starts 4-byte aligned, the
 * data padded likewise. Returns the bytes written to out (which must be large enough). */
static size_t cpio_entry(uint8_t *out, const char *name, unsigned mode, const void *data,
                         size_t data_len, unsigned ino)
{
	size_t name_len = strlen(name) + 1;
	char hdr[CPIO_HDR_LEN + 1];
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
	         ino, mode, 0u, 0u, 1u, 0u, (unsigned)data_len, 0u, 0u, 0u, 0u, (unsigned)name_len,
	         0u);
	size_t off = 0;
	memcpy(out, hdr, CPIO_HDR_LEN);
	off += CPIO_HDR_LEN;
	memcpy(out + off, name, name_len);
	off = pad4(off + name_len);
	if (data_len)
		memcpy(out + off, data, data_len);
	return pad4(off + data_len);
}

uint8_t *cmd_body_build(char *const *argv, unsigned argc, bool tty, size_t *len)
{
	const char *keys = tty ? "tty=1" : "tty=0";
	size_t body = strlen(keys) + 2; /* the key's NUL, then the empty string */
	for (unsigned i = 0; i < argc; i++)
		body += strlen(argv[i]) + 1;
	uint8_t *data = malloc(body);
	if (!data)
		return NULL;
	size_t off = strlen(keys) + 1;
	memcpy(data, keys, off);
	data[off++] = 0;
	for (unsigned i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;
		memcpy(data + off, argv[i], n);
		off += n;
	}
	*len = body;
	return data;
}

uint8_t *cmd_archive_build(char *const *argv, unsigned argc, bool tty, size_t *len)
{
	size_t body;
	uint8_t *data = cmd_body_build(argv, argc, tty, &body);
	/* Two entries and the trailer, each at most header + name + 3 + data + 3. */
	uint8_t *out = data ? calloc(1, 3 * (CPIO_HDR_LEN + 16 + 6) + body) : NULL;
	if (!out) {
		free(data);
		return NULL;
	}
	size_t n = cpio_entry(out, "ember.cmd", 0100400, data, body, 1);
	n += cpio_entry(out + n, "TRAILER!!!", 0, NULL, 0, 0);
	free(data);
	*len = n;
	return out;
}

int initrd_load(const struct guest_mem *gm, int fd, uint64_t size, const uint8_t *extra,
                size_t extra_len, gpa_t low, gpa_t limit, gpa_t *at, uint64_t *total, char *err,
                size_t errlen)
{
	uint64_t extra_off = extra_len ? (size + 3) & ~3ULL : size;
	uint64_t need = extra_off + extra_len;
	gpa_t best = 0;
	bool found = false;

	if (need == 0) {
		*at = 0;
		*total = 0;
		return 0;
	}
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *g = &gm->regions[i];
		uint64_t end = g->gpa + g->size < limit ? g->gpa + g->size : limit;
		uint64_t floor = g->gpa > low ? g->gpa : low;
		if (end < need || end - need < floor)
			continue;
		gpa_t start = (end - need) & ~(PAGE - 1);
		if (start >= floor && (!found || start > best)) {
			best = start;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, errlen,
		         "no room for the %" PRIu64 " KiB initrd between the kernel "
		         "(ends at 0x%" PRIx64 ") and 0x%" PRIx64
		         "; give the guest more memory (--mem)",
		         need >> 10, low, limit);
		return -ENOSPC;
	}
	uint8_t *dst = gm_ptr(gm, best, need);
	int r = size ? file_read_exact(fd, dst, size, 0) : 0;
	if (r < 0) {
		snprintf(err, errlen, "cannot read the initrd: %s", strerror(-r));
		return r;
	}
	memset(dst + size, 0, extra_off - size);
	if (extra_len)
		memcpy(dst + extra_off, extra, extra_len);
	*at = best;
	*total = need;
	return 0;
}
