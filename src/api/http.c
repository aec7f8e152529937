/*
 * One API connection's HTTP/1.1. Debian's libhttp-parser parses; this file keeps what a
 * request needs (its URL, one header, its body) in memory the connection owns, enforces the
 * limits, and turns each reply into response bytes.
 */
#include "http.h"
#include "server.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The parser pauses itself at these two points so every decision is taken here, between
 * two runs, knowing exactly how many bytes came before it. */
enum http_stop { STOP_NONE, STOP_HEADERS, STOP_MESSAGE };

/* Longest header name and value we need to recognise ("expect", "100-continue"). */
#define HDR_KEEP 16

struct api_http_conn {
	http_parser parser;
	size_t max_payload;
	bool dead;    /* 1 was returned: nothing more is parsed */
	bool in_body; /* the headers were accepted; now the body (bounded by max_payload) */
	bool refused; /* a method we do not serve: 400 once the request is read */
	enum http_stop stop;
	size_t head_bytes; /* request line and headers of the request being read */
	size_t url_len;
	char url[API_MAX_HEADER_BYTES + 1]; /* then, once the headers are in, the path */
	/* The header being read: its first HDR_KEEP bytes, lowercased, and its full length. */
	char field[HDR_KEEP], value[HDR_KEEP];
	size_t field_len, value_len;
	bool in_value;
	bool expect_continue;
	struct ctl_reply reply;
	size_t body_len;
	char body[]; /* max_payload + 1: a NUL follows the body */
};

static void keep_lower(char *dst, size_t *dlen, const char *at, size_t len)
{
	size_t have = *dlen;
	if (have < HDR_KEEP) {
		size_t k = len < HDR_KEEP - have ? len : HDR_KEEP - have;
		for (size_t i = 0; i < k; i++) {
			char ch = at[i];
			dst[have + i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
	}
	*dlen = have > SIZE_MAX - len ? SIZE_MAX : have + len;
}

static bool kept_is(const char *kept, size_t len, const char *want)
{
	size_t n = strlen(want);
	return len == n && n <= HDR_KEEP && memcmp(kept, want, n) == 0;
}

/* A header is complete: the only one the parser leaves to us is Expect. */
static void header_done(struct api_http_conn *c)
{
	while (c->value_len > 0 && c->value_len <= HDR_KEEP &&
	       (c->value[c->value_len - 1] == ' ' || c->value[c->value_len - 1] == '\t'))
		c->value_len--;
	if (kept_is(c->field, c->field_len, "expect") &&
	    kept_is(c->value, c->value_len, "100-continue"))
		c->expect_continue = true;
	c->field_len = c->value_len = 0;
	c->in_value = false;
}

static int on_message_begin(http_parser *p)
{
	struct api_http_conn *c = p->data;
	c->url_len = c->body_len = 0;
	c->field_len = c->value_len = 0;
	c->in_value = c->expect_continue = c->refused = false;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct api_http_conn *c = p->data;
	/* Cannot happen while the header block is capped at the same size; fail closed. */
	if (len > API_MAX_HEADER_BYTES - c->url_len)
		return -1;
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct api_http_conn *c = p->data;
	if (c->in_value)
		header_done(c);
	keep_lower(c->field, &c->field_len, at, len);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct api_http_conn *c = p->data;
	c->in_value = true;
	keep_lower(c->value, &c->value_len, at, len);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct api_http_conn *c = p->data;
	if (c->in_value || c->field_len)
		header_done(c);
	c->stop = STOP_HEADERS;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct api_http_conn *c = p->data;
	/* Content-Length was checked against max_payload before the first body byte. */
	if (len > c->max_payload - c->body_len)
		return -1;
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct api_http_conn *c = p->data;
	c->stop = STOP_MESSAGE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

bool api_http_put_response(char *out, size_t cap, size_t *len, const struct ctl_reply *r,
                           bool close)
{
	static const char broken[] =
	    "{\"fault_message\": \"internal error: the API handler gave a malformed reply\"}";
	int status = r->status;
	const char *body = r->body;
	size_t body_len = r->len;

	if (status < 200 || status > 599 || body_len > CTL_REPLY_MAX) {
		status = 500;
		body = broken;
		body_len = sizeof(broken) - 1;
	}
	if (status == 204)
		body_len = 0;
	/* libhttp-parser names the codes it knows; the reason phrase may be empty. */
	const char *reason = http_status_str((enum http_status)status);
	if (reason[0] == '<')
		reason = "";

	char head[256];
	const char *conn = close ? "Connection: close\r\n" : "";
	int n;
	if (status == 204) /* RFC 9110 8.6: no Content-Length in a 204 */
		n = snprintf(head, sizeof(head), "HTTP/1.1 204 %s\r\nServer: Ember\r\n%s\r\n",
		             reason, conn);
	else
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 %d %s\r\nServer: Ember\r\nContent-Length: %zu\r\n%s%s\r\n",
		             status, reason, body_len,
		             body_len ? "Content-Type: application/json\r\n" : "", conn);
	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	if (*len > cap || cap - *len < (size_t)n + body_len)
		return false;
	memcpy(out + *len, head, (size_t)n);
	memcpy(out + *len + (size_t)n, body, body_len);
	*len += (size_t)n + body_len;
	return true;
}

struct api_http_conn *api_http_conn_new(size_t max_payload)
{
	if (max_payload > SIZE_MAX - sizeof(struct api_http_conn) - 1)
		return NULL;
	struct api_http_conn *c = calloc(1, sizeof(*c) + max_payload + 1);
	if (!c)
		return NULL;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->max_payload = max_payload;
	return c;
}

void api_http_conn_free(struct api_http_conn *c)
{
	free(c);
}

/* Answer c->reply and, if close, refuse everything after it. Returns what feed returns. */
static int respond(struct api_http_conn *c, char *out, size_t out_cap, size_t *out_len, bool close)
{
	/* The caller made sure of API_HTTP_RESPONSE_MAX bytes of room. */
	if (!api_http_put_response(out, out_cap, out_len, &c->reply, close))
		close = true;
	if (close)
		c->dead = true;
	return close;
}

/* A malformed or refused request: a 400 saying why, then close. */
#define refuse(c, out, cap, len, ...)                                                              \
	(ctl_reply_fault(&(c)->reply, __VA_ARGS__), respond((c), (out), (cap), (len), true))

/* The request line and headers are in (the parser is paused just before their final LF):
 * check them before any body byte is read. Returns 1 to close, 0 to go on. */
static int headers_done(struct api_http_conn *c, char *out, size_t out_cap, size_t *out_len)
{
	http_parser *p = &c->parser;

	if (p->http_major != 1)
		return refuse(c, out, out_cap, out_len, "HTTP/%u.%u is not supported; use HTTP/1.1",
		              p->http_major, p->http_minor);
	if (p->flags & F_CHUNKED)
		return refuse(c, out, out_cap, out_len,
		              "chunked transfer encoding is not supported; send a Content-Length");
	/* Without a Content-Length (flag clear) there is no body. */
	uint64_t body = (p->flags & F_CONTENTLENGTH) ? p->content_length : 0;
	if (body > c->max_payload)
		return refuse(c, out, out_cap, out_len,
		              "request body is %llu bytes; the limit is %zu "
		              "(--http-api-max-payload-size)",
		              (unsigned long long)body, c->max_payload);
	if (p->upgrade)
		return refuse(c, out, out_cap, out_len, "protocol upgrades are not supported");

	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)))
		return refuse(c, out, out_cap, out_len, "the request target is not a path");
	/* Keep only the path: the query string and fragment go. */
	memmove(c->url, c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
	c->url[u.field_data[UF_PATH].len] = '\0';

	switch (p->method) {
	case HTTP_GET:
	case HTTP_PUT:
	case HTTP_PATCH:
		break;
	case HTTP_HEAD: /* a body in our 400 would be taken for the next response */
		return refuse(c, out, out_cap, out_len,
		              "HTTP method HEAD is not supported; use GET, PUT or PATCH");
	default: /* answered once the request is read; the connection stays open */
		c->refused = true;
		break;
	}

	if (c->expect_continue && body > 0 && p->http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		memcpy(out + *out_len, cont, sizeof(cont) - 1);
		*out_len += sizeof(cont) - 1;
	}
	c->in_body = true;
	return 0;
}

/* A whole request is in: hand it over and answer. */
static int message_done(struct api_http_conn *c, api_handler_fn fn, void *ctx, char *out,
                        size_t out_cap, size_t *out_len)
{
	http_parser *p = &c->parser;
	const char *method = http_method_str((enum http_method)p->method);
	bool keep = http_should_keep_alive(p);

	c->in_body = false;
	c->head_bytes = 0;
	if (c->refused) {
		ctl_reply_fault(&c->reply, "HTTP method %s is not supported; use GET, PUT or PATCH",
		                method);
	} else {
		c->body[c->body_len] = '\0';
		struct api_http_request req = {
		    .method = method,
		    .path = c->url,
		    .body = c->body,
		    .body_len = c->body_len,
		};
		/* A handler that forgets its reply sends a 500, not stale bytes. */
		c->reply.status = 0;
		c->reply.len = 0;
		fn(ctx, &req, &c->reply);
	}
	return respond(c, out, out_cap, out_len, !keep);
}

static int parse_error(struct api_http_conn *c, char *out, size_t out_cap, size_t *out_len)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

	switch (e) {
	case HPE_INVALID_CONTENT_LENGTH:
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return refuse(c, out, out_cap, out_len, "bad Content-Length header: %s",
		              http_errno_description(e));
	case HPE_HEADER_OVERFLOW:
		return refuse(c, out, out_cap, out_len,
		              "the request line and headers exceed %d bytes", API_MAX_HEADER_BYTES);
	default:
		return refuse(c, out, out_cap, out_len, "malformed HTTP request: %s",
		              http_errno_description(e));
	}
}

int api_http_conn_feed(struct api_http_conn *c, const char *data, size_t len, size_t *used,
                       api_handler_fn fn, void *ctx, char *out, size_t out_cap, size_t *out_len)
{
	*used = 0;
	if (c->dead)
		return 1;
	while (*used < len) {
		/* One run answers at most once (the parser pauses at each request's end). */
		if (*out_len > out_cap || out_cap - *out_len < API_HTTP_RESPONSE_MAX)
			return 0;
		size_t n = len - *used;
		/* Hand the parser no more than the header block may still grow by: it cannot
		 * then read past the cap before we look. */
		if (!c->in_body && n > API_MAX_HEADER_BYTES - c->head_bytes)
			n = API_MAX_HEADER_BYTES - c->head_bytes;

		c->stop = STOP_NONE;
		size_t done = http_parser_execute(&c->parser, &http_settings, data + *used, n);
		*used += done;
		if (!c->in_body)
			c->head_bytes += done;

		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		int rc;
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			if (c->stop == STOP_HEADERS)
				rc = headers_done(c, out, out_cap, out_len);
			else if (c->stop == STOP_MESSAGE)
				rc = message_done(c, fn, ctx, out, out_cap, out_len);
			else
				rc = refuse(c, out, out_cap, out_len, "internal HTTP parser error");
			if (rc)
				return rc;
			continue;
		}
		if (e != HPE_OK)
			return parse_error(c, out, out_cap, out_len);
		if (done < n) /* it stopped without saying why: never spin on it */
			return refuse(c, out, out_cap, out_len, "malformed HTTP request");
		if (!c->in_body && c->head_bytes >= API_MAX_HEADER_BYTES)
			return refuse(c, out, out_cap, out_len,
			              "the request line and headers exceed %d bytes",
			              API_MAX_HEADER_BYTES);
	}
	return 0;
}
