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

int mmds_store_init(struct mmds_store *s, size_t limit)
{
	memset(s, 0, sizeof(*s));
	s->limit = limit ? limit : 1;
	if (getrandom(s->key_pad, sizeof(s->key_pad), 0) != (ssize_t)sizeof(s->key_pad) ||
	    getrandom(s->key_mac, sizeof(s->key_mac), 0) != (ssize_t)sizeof(s->key_mac))
		return -EIO;
	return 0;
}

void mmds_store_destroy(struct mmds_store *s)
{
	json_decref(s->data);
	s->data = NULL;
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

/* SipHash-2-4 (Aumasson and Bernstein) of in[0, n) under key k. */
static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                          \
		v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                             \
		v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                             \
		v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                          \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
	uint8_t last[8] = {0};
	size_t i;
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	memcpy(last, in + i, n - i);
	last[7] = (uint8_t)n;
	uint64_t m = le64(last);
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* n (a multiple of 3) bytes as base64, NUL-terminated. */
static void base64(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = b64[v & 63];
	}
	*out = '\0';
}

/* The inverse for exactly MMDS_TOKEN_LEN characters, no padding. */
static bool unbase64(const char *in, uint8_t *out)
{
	for (size_t i = 0; i < MMDS_TOKEN_LEN; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			const char *p = in[i + j] ? strchr(b64, in[i + j]) : NULL;
			if (!p)
				return false;
			v = v << 6 | (uint32_t)(p - b64);
		}
		*out++ = (uint8_t)(v >> 16);
		*out++ = (uint8_t)(v >> 8);
		*out++ = (uint8_t)v;
	}
	return true;
}

/* A token's 24 bytes: nonce, expiry ^ pad(nonce), mac(nonce, hidden expiry). */
#define TOKEN_RAW (MMDS_TOKEN_LEN / 4 * 3)
_Static_assert(TOKEN_RAW == 24, "nonce, hidden expiry and MAC, 8 bytes each");

int mmds_token_new(struct mmds_store *s, unsigned ttl_s, uint64_t now_ms, char *out)
{
	uint8_t raw[TOKEN_RAW];

	if (ttl_s < MMDS_TTL_MIN || ttl_s > MMDS_TTL_MAX)
		return -EINVAL;
	if (getrandom(raw, 8, 0) != 8)
		return -EIO;
	put_le64(raw + 8, (now_ms + (uint64_t)ttl_s * 1000u) ^ siphash(s->key_pad, raw, 8));
	put_le64(raw + 16, siphash(s->key_mac, raw, 16));
	base64(raw, sizeof(raw), out);
	return 0;
}

bool mmds_token_ok(const struct mmds_store *s, const char *tok, size_t len, uint64_t now_ms)
{
	uint8_t raw[TOKEN_RAW], mac[8];

	if (len != MMDS_TOKEN_LEN || !unbase64(tok, raw))
		return false;
	put_le64(mac, siphash(s->key_mac, raw, 16));
	unsigned diff = 0;
	for (int i = 0; i < 8; i++)
		diff |= (unsigned)(mac[i] ^ raw[16 + i]);
	if (diff)
		return false;
	return (le64(raw + 8) ^ siphash(s->key_pad, raw, 8)) > now_ms;
}
