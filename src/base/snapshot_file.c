/* The snapshot state file: building it in memory, and checking one whole before use. */
#include "snapshot_file.h"
#include "crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

static void reserve(struct sf_writer *w, size_t more)
{
	if (w->error)
		return;
	if (more > SF_MAX_FILE || w->len + more > SF_MAX_FILE) {
		w->error = -E2BIG;
		return;
	}
	if (w->len + more <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 64 << 10;
	while (cap < w->len + more)
		cap *= 2;
	uint8_t *b = realloc(w->buf, cap);
	if (!b) {
		w->error = -ENOMEM;
		return;
	}
	w->buf = b;
	w->cap = cap;
}

static void put(struct sf_writer *w, const void *data, size_t len)
{
	reserve(w, len);
	if (w->error || !len)
		return;
	if (data)
		memcpy(w->buf + w->len, data, len);
	else
		memset(w->buf + w->len, 0, len);
	w->len += len;
}

void sf_writer_init(struct sf_writer *w, const char *version, const uint8_t *cpu_id,
                    uint32_t nvcpus)
{
	struct sf_header h = {.format_version = SF_FORMAT_VERSION,
	                      .header_size = sizeof(struct sf_header),
	                      .nvcpus = nvcpus};
	memset(w, 0, sizeof(*w));
	memcpy(h.magic, SF_MAGIC, sizeof(h.magic));
	strncpy(h.ember_version, version, sizeof(h.ember_version) - 1);
	memcpy(h.cpu_id, cpu_id, SF_CPU_ID_BYTES);
	put(w, &h, sizeof(h));
}

void sf_begin(struct sf_writer *w, uint32_t type, uint32_t instance)
{
	struct sf_section_hdr s = {.type = type, .instance = instance};
	if (w->open && !w->error)
		w->error = -EINVAL; /* a section left open: a bug of ours */
	size_t at = w->len;
	put(w, &s, sizeof(s));
	if (!w->error)
		w->open = at;
}

void sf_append(struct sf_writer *w, const void *data, size_t len)
{
	put(w, data, len);
}

void sf_end(struct sf_writer *w)
{
	if (w->error)
		return;
	if (!w->open) {
		w->error = -EINVAL;
		return;
	}
	struct sf_section_hdr s;
	memcpy(&s, w->buf + w->open, sizeof(s));
	s.len = w->len - w->open - sizeof(s);
	memcpy(w->buf + w->open, &s, sizeof(s));
	put(w, NULL, ALIGN8(w->len) - w->len);
	w->open = 0;
	w->nsections++;
}

void sf_add(struct sf_writer *w, uint32_t type, uint32_t instance, const void *data, size_t len)
{
	sf_begin(w, type, instance);
	sf_append(w, data, len);
	sf_end(w);
}

int sf_finish(struct sf_writer *w, const uint8_t **buf, size_t *len)
{
	if (w->open && !w->error)
		w->error = -EINVAL;
	reserve(w, sizeof(struct sf_trailer));
	if (w->error)
		return w->error;
	struct sf_header h;
	memcpy(&h, w->buf, sizeof(h));
	h.file_size = w->len + sizeof(struct sf_trailer);
	h.nsections = w->nsections;
	memcpy(w->buf, &h, sizeof(h));
	struct sf_trailer t = {.crc = crc32c(0, w->buf, w->len)};
	put(w, &t, sizeof(t));
	*buf = w->buf;
	*len = w->len;
	return 0;
}

void sf_writer_free(struct sf_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* ---- reading ---- */

#define REFUSE(code, ...)                                                                          \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return (code);                                                                     \
	} while (0)

static void cpu_text(const struct sf_expect *x, const uint8_t *id, char *buf, size_t len)
{
	if (x->cpu_describe) {
		x->cpu_describe(id, buf, len);
		return;
	}
	size_t used = 0;
	for (unsigned i = 0; i < 16 && used + 3 <= len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%02x", id[i]);
}

/* Walk the sections once: each inside [header, trailer), the count as the header says. */
static int walk(const struct sf_reader *r, char *err, size_t errlen)
{
	size_t end = r->len - sizeof(struct sf_trailer);
	size_t at = sizeof(struct sf_header);
	uint32_t n = 0;
	while (at < end) {
		struct sf_section_hdr s;
		if (end - at < sizeof(s))
			REFUSE(-EINVAL,
			       "the snapshot is damaged: a section header at byte %zu runs "
			       "past the end",
			       at);
		memcpy(&s, r->buf + at, sizeof(s));
		at += sizeof(s);
		if (s.len > end - at || ALIGN8(s.len) > end - at)
			REFUSE(-EINVAL,
			       "the snapshot is damaged: section %u.%u (%llu bytes) runs "
			       "past the end",
			       s.type, s.instance, (unsigned long long)s.len);
		at += ALIGN8(s.len);
		if (++n > SF_MAX_SECTIONS)
			REFUSE(-EINVAL, "the snapshot has more than %u sections", SF_MAX_SECTIONS);
	}
	if (n != r->hdr.nsections)
		REFUSE(-EINVAL, "the snapshot is damaged: %u sections, its header says %u", n,
		       r->hdr.nsections);
	return 0;
}

int sf_open(struct sf_reader *r, const uint8_t *buf, size_t len, const struct sf_expect *x,
            char *err, size_t errlen)
{
	struct sf_header h;
	struct sf_trailer t;
	memset(r, 0, sizeof(*r));
	if (len < sizeof(h.magic) || memcmp(buf, SF_MAGIC, sizeof(h.magic)))
		REFUSE(-EINVAL, "not an Ember snapshot (no magic)");
	if (len < sizeof(h) + sizeof(t))
		REFUSE(-EINVAL, "the snapshot is truncated: %zu bytes", len);
	memcpy(&h, buf, sizeof(h));
	if (h.file_size > len)
		REFUSE(-EINVAL, "the snapshot is truncated: %zu bytes of %llu", len,
		       (unsigned long long)h.file_size);
	if (h.file_size < len)
		REFUSE(-EINVAL, "the snapshot is damaged: %zu bytes, its header says %llu", len,
		       (unsigned long long)h.file_size);
	memcpy(&t, buf + len - sizeof(t), sizeof(t));
	if (t.crc != crc32c(0, buf, len - sizeof(t)) || t.zero)
		REFUSE(-EINVAL, "the snapshot is damaged (checksum mismatch)");
	if (h.format_version != SF_FORMAT_VERSION || h.header_size != sizeof(h))
		REFUSE(-EXDEV, "the snapshot's format is version %u; this Ember reads version %u",
		       h.format_version, SF_FORMAT_VERSION);
	char version[SF_VERSION_BYTES + 1] = {0};
	memcpy(version, h.ember_version, SF_VERSION_BYTES);
	if (strncmp(version, x->version, SF_VERSION_BYTES))
		REFUSE(-EXDEV, "the snapshot was made by Ember %.16s; this is Ember %s", version,
		       x->version);
	if (memcmp(h.cpu_id, x->cpu_id, SF_CPU_ID_BYTES)) {
		char theirs[160], ours[160];
		cpu_text(x, h.cpu_id, theirs, sizeof(theirs));
		cpu_text(x, x->cpu_id, ours, sizeof(ours));
		REFUSE(-EXDEV, "the snapshot was taken on another CPU model (%s); this host is %s",
		       theirs, ours);
	}
	if (h.nvcpus == 0 || h.nvcpus > SF_MAX_VCPUS)
		REFUSE(-EINVAL, "the snapshot claims %u vCPUs", h.nvcpus);
	r->buf = buf;
	r->len = len;
	r->hdr = h;
	int rc = walk(r, err, errlen);
	if (rc)
		memset(r, 0, sizeof(*r));
	return rc;
}

const void *sf_section(const struct sf_reader *r, unsigned n, uint32_t *type, uint32_t *instance,
                       size_t *len)
{
	if (!r->buf)
		return NULL;
	size_t end = r->len - sizeof(struct sf_trailer);
	size_t at = sizeof(struct sf_header);
	for (unsigned i = 0; at < end; i++) {
		struct sf_section_hdr s;
		memcpy(&s, r->buf + at, sizeof(s)); /* bounds checked by sf_open's walk */
		at += sizeof(s);
		if (i == n) {
			*type = s.type;
			*instance = s.instance;
			*len = (size_t)s.len;
			return r->buf + at;
		}
		at += ALIGN8(s.len);
	}
	return NULL;
}

const void *sf_find(const struct sf_reader *r, uint32_t type, uint32_t instance, size_t *len)
{
	uint32_t t, i;
	const void *p;
	for (unsigned n = 0; (p = sf_section(r, n, &t, &i, len)); n++)
		if (t == type && i == instance)
			return p;
	return NULL;
}

unsigned sf_count(const struct sf_reader *r, uint32_t type)
{
	uint32_t t, i;
	size_t len;
	unsigned c = 0;
	for (unsigned n = 0; sf_section(r, n, &t, &i, &len); n++)
		c += t == type;
	return c;
}

int sf_get(const struct sf_reader *r, uint32_t type, uint32_t instance, void *out, size_t size,
           const char *what, char *err, size_t errlen)
{
	size_t len;
	const void *p = sf_find(r, type, instance, &len);
	if (!p)
		REFUSE(-EINVAL, "the snapshot has no %s", what);
	if (len != size)
		REFUSE(-EINVAL, "the snapshot's %s is %zu bytes, expected %zu", what, len, size);
	memcpy(out, p, size);
	return 0;
}
