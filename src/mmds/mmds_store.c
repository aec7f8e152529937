/*
 * MMDS's store: the host's JSON (PUT, RFC 7396 PATCH, size-limited) and the V2 session
 * tokens. On the vmm thread only.
 */
#include "mmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

uint64_t mmds_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	memset(s, 0, sizeof(*s));
	s->limit = limit ? limit : 1;
}

void mmds_store_destroy(struct mmds_store *s)
{
	json_decref(s->data);
	s->data = NULL;
	memset(s->tokens, 0, sizeof(s->tokens));
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A deep copy of v whose objects hold their keys in byte order: jansson keeps insertion
 * order, and Firecracker (serde_json's map) shows keys sorted. */
static json_t *sorted_copy(const json_t *v)
{
	json_t *out;
	if (json_is_array(v)) {
		out = json_array();
		for (size_t i = 0; out && i < json_array_size(v); i++)
			if (json_array_append_new(out, sorted_copy(json_array_get(v, i)))) {
				json_decref(out);
				return NULL;
			}
		return out;
	}
	if (!json_is_object(v))
		return json_deep_copy(v);
	size_t n = json_object_size(v);
	const char **keys = malloc((n ? n : 1) * sizeof(*keys));
	out = json_object();
	if (!keys || !out)
		goto fail;
	size_t i = 0;
	const char *k;
	json_t *m;
	json_object_foreach((json_t *)v, k, m) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++) {
		json_t *c = sorted_copy(json_object_get(v, keys[i]));
		if (!c || json_object_set_new(out, keys[i], c))
			goto fail;
	}
	free(keys);
	return out;
fail:
	free(keys);
	json_decref(out);
	return NULL;
}

static size_t compact_size(const json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Take v (a reference the caller gives up) as the data if it fits. */
static int store_take(struct mmds_store *s, json_t *v)
{
	if (!v)
		return -ENOMEM;
	if (compact_size(v) > s->limit) {
		json_decref(v);
		return -EFBIG;
	}
	json_decref(s->data);
	s->data = v;
	return 0;
}

int mmds_store_put(struct mmds_store *s, json_t *v)
{
	return store_take(s, sorted_copy(v));
}

/* RFC 7396, section 2: target is changed in place (a reference the caller holds); returns
 * the result, which may be a new value (the caller's reference moves to it). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
		if (!target)
			return NULL;
	}
	const char *k;
	json_t *pv;
	json_object_foreach((json_t *)patch, k, pv)
	{
		if (json_is_null(pv)) {
			json_object_del(target, k);
			continue;
		}
		json_t *old = json_object_get(target, k);
		json_t *nv = merge_patch(old ? json_incref(old) : json_null(), pv);
		if (!nv || json_object_set_new(target, k, nv)) {
			json_decref(target);
			return NULL;
		}
	}
	return target;
}

int mmds_store_patch(struct mmds_store *s, const json_t *patch)
{
	if (!s->data)
		return -ENODATA;
	json_t *work = merge_patch(json_deep_copy(s->data), patch);
	if (!work)
		return -ENOMEM;
	json_t *sorted = sorted_copy(work);
	json_decref(work);
	return store_take(s, sorted);
}

long mmds_store_dump(const struct mmds_store *s, char *buf, size_t cap)
{
	size_t n = s->data ? json_dumpb(s->data, buf, cap, JSON_COMPACT | JSON_ENCODE_ANY) : 4;
	if (!cap || n >= cap)
		return -ENOSPC;
	if (!s->data)
		memcpy(buf, "null", 4);
	buf[n] = '\0';
	return (long)n;
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = a[v >> 18];
		*out++ = a[(v >> 12) & 63];
		*out++ = a[(v >> 6) & 63];
		*out++ = a[v & 63];
	}
	*out = '\0';
}

int mmds_token_new(struct mmds_store *s, unsigned ttl_s, uint64_t now_ms, char *out)
{
	uint8_t raw[MMDS_TOKEN_LEN / 4 * 3];
	_Static_assert(MMDS_TOKEN_LEN % 4 == 0, "whole base64 quads");

	if (ttl_s < MMDS_TTL_MIN || ttl_s > MMDS_TTL_MAX)
		return -EINVAL;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	/* A free or expired slot, else the one that expires first. */
	struct mmds_token *t = &s->tokens[0];
	for (unsigned i = 0; i < MMDS_TOKENS; i++) {
		struct mmds_token *c = &s->tokens[i];
		if (c->expiry_ms <= now_ms) {
			t = c;
			break;
		}
		if (c->expiry_ms < t->expiry_ms)
			t = c;
	}
	base64(raw, sizeof(raw), t->text);
	t->expiry_ms = now_ms + (uint64_t)ttl_s * 1000u;
	memcpy(out, t->text, MMDS_TOKEN_LEN + 1);
	return 0;
}

bool mmds_token_ok(const struct mmds_store *s, const char *tok, size_t len, uint64_t now_ms)
{
	bool ok = false;
	if (len != MMDS_TOKEN_LEN)
		return false;
	for (unsigned i = 0; i < MMDS_TOKENS; i++) {
		const struct mmds_token *t = &s->tokens[i];
		unsigned diff = 0;
		for (size_t j = 0; j < MMDS_TOKEN_LEN; j++)
			diff |= (unsigned char)(t->text[j] ^ tok[j]);
		ok |= diff == 0 && t->expiry_ms > now_ms;
	}
	return ok;
}
