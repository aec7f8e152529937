/*
 * MMDS's HTTP/1.x for the guest: one request at a time from a connection's bytes, answered
 * as Firecracker's MMDS answers (statuses, bodies, V1 and V2 token rules, IMDS or JSON).
 * Every byte comes from the guest: lengths are checked against the buffer before use.
 */
#include "mmds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HEAD_ROOM  256 /* the status line and headers we write before a body */
#define TOKEN_PATH "/latest/api/token"

struct req {
	char method[16];
	char path[512]; /* NUL-terminated, "//" collapsed, query dropped */
	bool http10, json, close;
	const char *token;
	size_t token_len;
	bool has_token;
	const char *ttl, *ttl_name;
	size_t ttl_len, ttl_name_len;
	bool forwarded;
};

/* The value of header line [p, end) if its name is name (any case), else NULL. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	if ((size_t)(end - p) <= n || strncasecmp(p, name, n) || p[n] != ':')
		return NULL;
	p += n + 1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *e = end;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*vlen = (size_t)(e - p);
	return p;
}

static bool has_ci(const char *p, size_t n, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= n; i++)
		if (!strncasecmp(p + i, word, w))
			return true;
	return false;
}

/* Parse the head [req, head_end) (head_end at the blank line). Returns false on a request
 * line we cannot read; *clen gets Content-Length (0 without), *bad a header problem. */
static bool parse_head(const char *req, const char *head_end, struct req *r, size_t *clen,
                       bool *bad_len)
{
	const char *p = req, *eol = memchr(p, '\r', (size_t)(head_end - p));
	if (!eol)
		eol = head_end;
	/* METHOD SP TARGET SP HTTP/1.x */
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(r->method))
		return false;
	memcpy(r->method, p, (size_t)(sp1 - p));
	r->method[sp1 - p] = '\0';
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || (size_t)(eol - sp2) != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return false;
	r->http10 = sp2[8] == '0';
	r->close = r->http10;
	/* An absolute form names a host first: keep its path. */
	if ((size_t)(sp2 - t) > 7 && !strncasecmp(t, "http://", 7)) {
		const char *s = memchr(t + 7, '/', (size_t)(sp2 - t - 7));
		t = s ? s : sp2;
	}
	if (t == sp2 || *t != '/')
		return false;
	size_t o = 0;
	for (const char *c = t; c < sp2 && *c != '?' && *c != '#'; c++) {
		if (*c == '/' && o && r->path[o - 1] == '/')
			continue;
		if ((unsigned char)*c <= ' ' || *c == 0x7f || o + 1 >= sizeof(r->path))
			return false;
		r->path[o++] = *c;
	}
	r->path[o] = '\0';

	*clen = 0;
	for (p = eol + 2; p < head_end;) {
		const char *e = memchr(p, '\r', (size_t)(head_end - p));
		if (!e)
			e = head_end;
		size_t vl;
		const char *v;
		if ((v = header_value(p, e, "Accept", &vl)))
			r->json = has_ci(v, vl, "application/json");
		else if ((v = header_value(p, e, "X-metadata-token", &vl)) ||
		         (v = header_value(p, e, "X-aws-ec2-metadata-token", &vl))) {
			r->token = v;
			r->token_len = vl;
			r->has_token = true;
		} else if ((v = header_value(p, e, "X-metadata-token-ttl-seconds", &vl)) ||
		           (v = header_value(p, e, "X-aws-ec2-metadata-token-ttl-seconds", &vl))) {
			r->ttl = v;
			r->ttl_len = vl;
			r->ttl_name = p; /* header_value found the ':' */
			r->ttl_name_len =
			    (size_t)((const char *)memchr(p, ':', (size_t)(e - p)) - p);
		} else if ((v = header_value(p, e, "X-Forwarded-For", &vl)))
			r->forwarded = true;
		else if ((v = header_value(p, e, "Connection", &vl)))
			r->close =
			    has_ci(v, vl, "close") || (r->http10 && !has_ci(v, vl, "keep-alive"));
		else if ((v = header_value(p, e, "Transfer-Encoding", &vl)))
			*bad_len = true;
		else if ((v = header_value(p, e, "Content-Length", &vl))) {
			size_t n = 0;
			if (!vl)
				*bad_len = true;
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9' || n > MMDS_REQ_MAX) {
					*bad_len = true;
					break;
				}
				n = n * 10 + (size_t)(v[i] - '0');
			}
			*clen = n;
		}
		p = e + 2;
	}
	return true;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 501:
		return "Not Implemented";
	}
	return "Internal Server Error";
}

/* Put the status line and headers before the body at out + HEAD_ROOM (blen bytes). */
static size_t finish(const struct req *r, int status, bool json, const char *extra, char *out,
                     size_t cap, size_t blen)
{
	char head[HEAD_ROOM];
	int h = snprintf(head, sizeof(head),
	                 "HTTP/1.%c %d %s\r\nServer: Firecracker API\r\nConnection: %s\r\n%s"
	                 "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
	                 r && r->http10 ? '0' : '1', status, reason(status),
	                 r && !r->close ? "keep-alive" : "close", extra ? extra : "",
	                 json ? "application/json" : "text/plain", blen);
	if (h < 0 || (size_t)h >= sizeof(head) || (size_t)h + blen > cap)
		return 0;
	memmove(out + h, out + HEAD_ROOM, blen);
	memcpy(out, head, (size_t)h);
	return (size_t)h + blen;
}

/* A plain-text answer with a printf body. */
__attribute__((format(printf, 7, 8))) static size_t answer(const struct req *r, int status,
                                                           const char *extra, char *out, size_t cap,
                                                           size_t unused, const char *fmt, ...)
{
	(void)unused;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + HEAD_ROOM, cap - HEAD_ROOM, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - HEAD_ROOM)
		n = 0;
	return finish(r, status, false, extra, out, cap, (size_t)n);
}

/* JSON pointer segment [s, s + n) (RFC 6901: ~1 is '/', ~0 is '~') into v. */
static const json_t *step(const json_t *v, const char *s, size_t n)
{
	char key[512];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '~') {
			if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
				return NULL;
			c = s[++i] == '0' ? '~' : '/';
		}
		if (k + 1 >= sizeof(key))
			return NULL;
		key[k++] = c;
	}
	key[k] = '\0';
	if (json_is_object(v))
		return json_object_get(v, key);
	if (!json_is_array(v) || !k || (k > 1 && key[0] == '0'))
		return NULL;
	size_t idx = 0;
	for (size_t i = 0; i < k; i++) {
		if (key[i] < '0' || key[i] > '9' || idx > 1000000)
			return NULL;
		idx = idx * 10 + (size_t)(key[i] - '0');
	}
	return json_array_get(v, idx);
}

static size_t respond_get(struct mmds_store *s, const struct req *r, char *out, size_t cap)
{
	static const json_t *null_value;
	if (!null_value)
		null_value = json_null();
	const json_t *v = s->data ? s->data : null_value;
	size_t plen = strlen(r->path);
	if (plen > 1 && r->path[plen - 1] == '/')
		plen--;
	/* "/a/b": each segment after a '/'. */
	for (size_t i = 1; plen > 1 && i <= plen && v;) {
		const char *seg = r->path + i, *e = memchr(seg, '/', plen - i);
		size_t n = e ? (size_t)(e - seg) : plen - i;
		v = step(v, seg, n);
		i += n + 1;
	}
	if (!v)
		return answer(r, 404, NULL, out, cap, 0, "Resource not found: %s.", r->path);
	char *body = out + HEAD_ROOM;
	size_t room = cap - HEAD_ROOM, blen = 0;
	bool json = r->json && !s->imds_compat;
	if (json) {
		blen = json_dumpb(v, body, room, JSON_COMPACT | JSON_ENCODE_ANY);
		if (blen > room)
			return answer(r, 500, NULL, out, cap, 0, "The answer is too large.");
	} else if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			size_t kl = strlen(k),
			       need = kl + (json_is_object(m) ? 1 : 0) + (blen ? 1 : 0);
			if (need > room - blen)
				return answer(r, 500, NULL, out, cap, 0,
				              "The answer is too large.");
			if (blen)
				body[blen++] = '\n';
			memcpy(body + blen, k, kl);
			blen += kl;
			if (json_is_object(m))
				body[blen++] = '/';
		}
	} else if (json_is_string(v)) {
		blen = json_string_length(v);
		if (blen > room)
			return answer(r, 500, NULL, out, cap, 0, "The answer is too large.");
		memcpy(body, json_string_value(v), blen);
	} else {
		return answer(r, 501, NULL, out, cap, 0,
		              "Cannot retrieve value. The value has an unsupported type.");
	}
	return finish(r, 200, json, NULL, out, cap, blen);
}

static size_t respond_put(struct mmds_store *s, const struct req *r, uint64_t now_ms, char *out,
                          size_t cap)
{
	if (r->forwarded)
		return answer(
		    r, 400, NULL, out, cap, 0,
		    "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
	if (strcmp(r->path, TOKEN_PATH))
		return answer(r, 404, NULL, out, cap, 0, "Resource not found: %s.", r->path);
	if (!r->ttl)
		return answer(
		    r, 400, NULL, out, cap, 0,
		    "Token time to live value not found. Use `X-metadata-token-ttl-seconds` "
		    "or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the "
		    "token's lifetime.");
	uint64_t ttl = 0;
	bool ok = r->ttl_len > 0 && r->ttl_len <= 10;
	for (size_t i = 0; ok && i < r->ttl_len; i++) {
		ok = r->ttl[i] >= '0' && r->ttl[i] <= '9';
		ttl = ttl * 10 + (uint64_t)(r->ttl[i] - '0');
	}
	if (!ok || ttl > UINT32_MAX)
		return answer(r, 400, NULL, out, cap, 0, "Invalid value. Key:%.*s; Value:%.*s",
		              (int)r->ttl_name_len, r->ttl_name,
		              (int)(r->ttl_len > 64 ? 64 : r->ttl_len), r->ttl);
	char tok[MMDS_TOKEN_LEN + 1];
	int rc = mmds_token_new(s, (unsigned)ttl, now_ms, tok);
	if (rc == -EINVAL)
		return answer(
		    r, 400, NULL, out, cap, 0,
		    "Invalid time to live value provided for token: %llu. Please provide a "
		    "value between %d and %d.",
		    (unsigned long long)ttl, MMDS_TTL_MIN, MMDS_TTL_MAX);
	if (rc < 0)
		return answer(r, 500, NULL, out, cap, 0, "Failed to generate a key");
	char extra[96];
	snprintf(extra, sizeof(extra), "%.*s: %llu\r\n", (int)r->ttl_name_len, r->ttl_name,
	         (unsigned long long)ttl);
	return answer(r, 200, extra, out, cap, 0, "%s", tok);
}

size_t mmds_http_respond(struct mmds_store *s, const char *req, size_t len, uint64_t now_ms,
                         char *out, size_t cap, size_t *used, bool *close)
{
	struct req r;
	size_t clen = 0;
	bool bad_len = false;

	memset(&r, 0, sizeof(r));
	*used = 0;
	*close = false;
	if (cap < 2 * HEAD_ROOM)
		return 0;
	size_t scan = len < MMDS_REQ_MAX ? len : MMDS_REQ_MAX;
	const char *end = memmem(req, scan, "\r\n\r\n", 4);
	if (!end) {
		if (len < MMDS_REQ_MAX)
			return 0;
		*used = len;
		*close = true;
		return answer(NULL, 400, NULL, out, cap, 0, "Request head too long.");
	}
	size_t head = (size_t)(end - req) + 4;
	if (!parse_head(req, end, &r, &clen, &bad_len) || bad_len || clen > MMDS_REQ_MAX - head) {
		*used = len;
		*close = true;
		r.close = true;
		return answer(&r, 400, NULL, out, cap, 0, "Invalid request.");
	}
	if (len < head + clen)
		return 0; /* the body is still coming; the caller's buffer can hold it */
	*used = head + clen;

	size_t n;
	if (!strcmp(r.method, "GET")) {
		if (s->version == MMDS_V2 && !r.has_token)
			n = answer(
			    &r, 401, NULL, out, cap, 0,
			    "No MMDS token provided. Use `X-metadata-token` or "
			    "`X-aws-ec2-metadata-token` header to specify the session token.");
		else if (s->version == MMDS_V2 && !mmds_token_ok(s, r.token, r.token_len, now_ms))
			n = answer(&r, 401, NULL, out, cap, 0, "MMDS token not valid.");
		else
			n = respond_get(s, &r, out, cap);
	} else if (!strcmp(r.method, "PUT")) {
		n = respond_put(s, &r, now_ms, out, cap);
	} else {
		n = answer(&r, 405, "Allow: GET, PUT\r\n", out, cap, 0, "Not allowed HTTP method.");
	}
	*close = r.close;
	return n;
}
