/* The API's HTTP layer fed bytes directly (api_http_conn_feed), then the server over a real
 * Unix socket: limits, keep-alive, pipelining, slow and stalled clients, the socket file. */
#include "unit.h"

#include "api/http.h"
#include "api/server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

/* ---- A handler that says what it saw ---- */

struct echo {
	atomic_uint calls;
	char method[16];
	char path[API_MAX_HEADER_BYTES + 1];
	char body[API_DEFAULT_MAX_PAYLOAD + 1];
	size_t body_len;
	int status;       /* what to answer: 0 for 200, 204, or anything to test the writer */
	size_t reply_len; /* 0: the usual JSON; else a reply this long (even if invalid) */
};

static void echo(void *ctx, const struct api_http_request *req, struct ctl_reply *reply)
{
	struct echo *e = ctx;
	unsigned n = ++e->calls;

	snprintf(e->method, sizeof(e->method), "%s", req->method);
	snprintf(e->path, sizeof(e->path), "%s", req->path);
	e->body_len = req->body_len < sizeof(e->body) ? req->body_len : sizeof(e->body) - 1;
	memcpy(e->body, req->body, e->body_len);
	e->body[e->body_len] = '\0';
	if (e->status == 204) {
		ctl_reply_no_content(reply);
		return;
	}
	reply->status = e->status ? e->status : 200;
	reply->len = (size_t)snprintf(reply->body, sizeof(reply->body),
	                              "{\"n\": %u, \"path\": \"%s\", \"len\": %zu}", n, req->path,
	                              req->body_len);
	if (e->reply_len)
		reply->len = e->reply_len;
	if (!strcmp(req->path, "/hog")) /* a big answer */
		reply->len = 60000;
	if (!strcmp(req->path, "/block")) /* as if waiting for the vmm thread */
		usleep(700 * 1000);
}

/* ---- Reading responses back ---- */

struct resp {
	int status;
	bool has_len, has_type, close, server;
	size_t len; /* Content-Length */
	char body[CTL_REPLY_MAX + 1];
	size_t size; /* the whole response */
};

/* Parse the response at buf (len bytes); false if it is not all there. */
static bool resp_parse(const char *buf, size_t len, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return false;
	size_t head = (size_t)(end - buf) + 4;
	char *h = strndup(buf, head);
	assert_non_null(h);
	assert_memory_equal(h, "HTTP/1.1 ", 9);
	r->status = atoi(h + 9);
	for (char *line = strstr(h, "\r\n") + 2; *line && line[0] != '\r';
	     line = strstr(line, "\r\n") + 2) {
		if (!strncasecmp(line, "Content-Length: ", 16)) {
			assert_false(r->has_len);
			r->has_len = true;
			r->len = strtoul(line + 16, NULL, 10);
		} else if (!strncasecmp(line, "Content-Type: application/json\r\n", 32)) {
			r->has_type = true;
		} else if (!strncasecmp(line, "Connection: close\r\n", 19)) {
			r->close = true;
		} else if (!strncasecmp(line, "Server: Ember\r\n", 15)) {
			r->server = true;
		} else {
			print_error("unexpected header: %s\n", line);
			fail();
		}
	}
	free(h);
	if (len - head < r->len)
		return false;
	memcpy(r->body, buf + head, r->len);
	r->body[r->len] = '\0';
	r->size = head + r->len;
	return true;
}

/* ---- Feeding a connection ---- */

static char out[4 << 20];

struct feed {
	struct api_http_conn *c;
	struct echo e;
	size_t out_len, out_off; /* responses so far; how many were taken */
	size_t out_cap;
	int rc;
};

static struct feed *feed_new(size_t max_payload)
{
	struct feed *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = api_http_conn_new(max_payload);
	assert_non_null(f->c);
	f->out_cap = sizeof(out);
	return f;
}

static void feed_free(struct feed *f)
{
	api_http_conn_free(f->c);
	free(f);
}

/* Feed all of data (draining out when it fills), as the server does; returns feed's rc. */
static int feed_bytes(struct feed *f, const char *data, size_t len)
{
	size_t off = 0;
	do {
		size_t used = 99999999;
		size_t cap = f->out_cap;
		f->rc = api_http_conn_feed(f->c, data + off, len - off, &used, echo, &f->e, out,
		                           cap, &f->out_len);
		assert_true(used <= len - off);
		assert_true(f->out_len <= cap);
		off += used;
		if (f->rc)
			return f->rc;
		if (off < len) {
			/* Only a full out stops it early. */
			assert_true(cap - f->out_len < API_HTTP_RESPONSE_MAX);
			assert_true(f->out_cap < sizeof(out) / 2);
			f->out_cap += API_HTTP_RESPONSE_MAX; /* "sent": more room */
		}
	} while (off < len);
	return f->rc;
}

static int feed_str(struct feed *f, const char *s)
{
	return feed_bytes(f, s, strlen(s));
}

/* The next response; fails if there is none (whole). */
static void next(struct feed *f, struct resp *r)
{
	if (!resp_parse(out + f->out_off, f->out_len - f->out_off, r)) {
		print_error("no whole response in: '%.*s'\n", (int)(f->out_len - f->out_off),
		            out + f->out_off);
		fail();
	}
	assert_true(r->server);
	f->out_off += r->size;
}

static void no_more(struct feed *f)
{
	assert_int_equal(f->out_len, f->out_off);
}

/* A 400 with a fault message mentioning needle, and the connection closing. */
static void expect_refusal(struct feed *f, int rc, const char *needle)
{
	struct resp r;
	assert_int_equal(rc, 1);
	next(f, &r);
	assert_int_equal(r.status, 400);
	assert_true(r.has_type && r.close);
	assert_memory_equal(r.body, "{\"fault_message\":", 17);
	assert_err_mentions(r.body, needle);
	no_more(f);
	assert_int_equal(f->e.calls, 0);
	/* Dead: nothing more is parsed or answered. */
	size_t used = 7;
	assert_int_equal(api_http_conn_feed(f->c, "GET / HTTP/1.1\r\n\r\n", 18, &used, echo, &f->e,
	                                    out, f->out_cap, &f->out_len),
	                 1);
	no_more(f);
	assert_int_equal(f->e.calls, 0);
}

static void expect_ok(struct feed *f, const char *method, const char *path, const char *body)
{
	struct resp r;
	next(f, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.has_len && r.has_type);
	assert_false(r.close);
	assert_string_equal(f->e.method, method);
	assert_string_equal(f->e.path, path);
	assert_string_equal(f->e.body, body);
	assert_int_equal(f->e.body_len, strlen(body));
}

static void simple_get(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	assert_int_equal(feed_str(f, "GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
	assert_int_equal(f->e.calls, 1);
	expect_ok(f, "GET", "/version", "");
	struct resp r;
	resp_parse(out, f->out_len, &r);
	assert_string_equal(r.body, "{\"n\": 1, \"path\": \"/version\", \"len\": 0}");
	no_more(f);
	feed_free(f);
}

static const char put_req[] = "PUT /drives/rootfs HTTP/1.1\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 32\r\n\r\n"
                              "{\"drive_id\": \"rootfs\", \"x\": 1}\r\n";

static void put_with_body(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	assert_int_equal(feed_str(f, put_req), 0);
	assert_int_equal(f->e.calls, 1);
	expect_ok(f, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"x\": 1}\r\n");
	no_more(f);
	/* PATCH too, and a body of exactly max_payload bytes. */
	feed_free(f);
	f = feed_new(5);
	assert_int_equal(feed_str(f, "PATCH /vm HTTP/1.1\r\nContent-Length: 5\r\n\r\n12345"), 0);
	expect_ok(f, "PATCH", "/vm", "12345");
	feed_free(f);
}

/* Any split gives the same answer, and nothing is answered before the last byte. */
static void split_byte_by_byte(void **state)
{
	(void)state;
	size_t len = strlen(put_req);
	for (size_t step = 1; step <= 7; step++) {
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;
			assert_int_equal(f->e.calls, 0);
			assert_int_equal(f->out_len, 0);
			assert_int_equal(feed_bytes(f, put_req + off, n), 0);
		}
		assert_int_equal(f->e.calls, 1);
		expect_ok(f, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"x\": 1}\r\n");
		no_more(f);
		feed_free(f);
	}
}

/* A truncated body waits for the rest, however long it takes to come. */
static void truncated_body_waits(void **state)
{
	(void)state;
	struct feed *f = feed_new(100);
	assert_int_equal(feed_str(f, "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234"), 0);
	assert_int_equal(f->e.calls, 0);
	assert_int_equal(f->out_len, 0);
	assert_int_equal(feed_str(f, ""), 0);
	assert_int_equal(feed_str(f, "56789"), 0);
	expect_ok(f, "PUT", "/x", "0123456789");
	feed_free(f);
}

static const char pipeline[] = "GET /a HTTP/1.1\r\n\r\n"
                               "PUT /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                               "\r\n" /* tolerated between requests */
                               "PATCH /c?q=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                               "GET /d HTTP/1.1\r\n\r\n";

static void check_pipeline(struct feed *f)
{
	static const char *paths[] = {"/a", "/b", "/c", "/d"};
	assert_int_equal(f->e.calls, 4);
	for (unsigned i = 0; i < 4; i++) {
		struct resp r;
		char want[64];
		next(f, &r);
		assert_int_equal(r.status, 200);
		snprintf(want, sizeof(want), "{\"n\": %u, \"path\": \"%s\", \"len\": %d}", i + 1,
		         paths[i], i == 1 ? 3 : 0);
		assert_string_equal(r.body, want);
	}
	no_more(f);
}

static void pipelined_in_one_feed(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	assert_int_equal(feed_str(f, pipeline), 0);
	check_pipeline(f);
	feed_free(f);

	/* With room for one response at a time, feed stops after each and resumes. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	f->out_cap = API_HTTP_RESPONSE_MAX;
	assert_int_equal(feed_str(f, pipeline), 0);
	check_pipeline(f);
	feed_free(f);

	/* With less room than one response, nothing is consumed. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	size_t used = 1;
	assert_int_equal(api_http_conn_feed(f->c, pipeline, strlen(pipeline), &used, echo, &f->e,
	                                    out, API_HTTP_RESPONSE_MAX - 1, &f->out_len),
	                 0);
	assert_int_equal(used, 0);
	assert_int_equal(f->e.calls, 0);
	feed_free(f);
}

static void keep_alive(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	for (unsigned i = 0; i < 50; i++) {
		assert_int_equal(
		    feed_str(f, i % 2 ? "GET /machine-config HTTP/1.1\r\n\r\n" : put_req), 0);
		assert_int_equal(f->e.calls, i + 1);
		expect_ok(f, i % 2 ? "GET" : "PUT", i % 2 ? "/machine-config" : "/drives/rootfs",
		          i % 2 ? "" : "{\"drive_id\": \"rootfs\", \"x\": 1}\r\n");
	}
	/* HTTP/1.0 asking for keep-alive gets it too. */
	assert_int_equal(feed_str(f, "GET /v HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
	expect_ok(f, "GET", "/v", "");
	no_more(f);
	feed_free(f);
}

static void connection_close(void **state)
{
	(void)state;
	static const char *const reqs[] = {
	    "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
	    "GET /a HTTP/1.1\r\nconnection: CLOSE\r\n\r\n",
	    "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.1\r\n\r\n", /* 1.0: closes by default */
	};
	for (unsigned i = 0; i < 3; i++) {
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		struct resp r;
		assert_int_equal(feed_str(f, reqs[i]), 1);
		assert_int_equal(f->e.calls, 1);
		assert_string_equal(f->e.path, "/a");
		next(f, &r);
		assert_int_equal(r.status, 200);
		assert_true(r.close);
		no_more(f);
		/* Nothing after it is parsed. */
		assert_int_equal(feed_str(f, "GET /c HTTP/1.1\r\n\r\n"), 1);
		assert_int_equal(f->e.calls, 1);
		no_more(f);
		feed_free(f);
	}
}

/* A header block of n bytes (request line, padding header, final CRLF). */
static char *header_block(size_t n)
{
	static const char start[] = "GET /h HTTP/1.1\r\nX-Pad: ";
	char *s = malloc(n + 1);
	assert_non_null(s);
	assert_true(n > sizeof(start) + 4);
	memcpy(s, start, sizeof(start) - 1);
	memset(s + sizeof(start) - 1, 'p', n - (sizeof(start) - 1) - 4);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

static void oversized_headers(void **state)
{
	(void)state;
	/* Exactly the cap passes, fed whole or byte by byte. */
	for (unsigned bytewise = 0; bytewise < 2; bytewise++) {
		char *s = header_block(API_MAX_HEADER_BYTES);
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		for (size_t off = 0; bytewise && off < API_MAX_HEADER_BYTES; off++)
			assert_int_equal(feed_bytes(f, s + off, 1), 0);
		if (!bytewise)
			assert_int_equal(feed_str(f, s), 0);
		expect_ok(f, "GET", "/h", "");
		free(s);
		feed_free(f);
	}
	/* One byte more is refused, as is a far larger block: not a byte past the cap is read. */
	size_t sizes[] = {API_MAX_HEADER_BYTES + 1, 10 * API_MAX_HEADER_BYTES};
	for (unsigned i = 0; i < 2; i++) {
		char *s = header_block(sizes[i]);
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		size_t used = 0;
		int rc = api_http_conn_feed(f->c, s, sizes[i], &used, echo, &f->e, out, f->out_cap,
		                            &f->out_len);
		assert_true(used <= API_MAX_HEADER_BYTES);
		expect_refusal(f, rc, "8192");
		free(s);
		feed_free(f);
	}
	/* The cap is per request: many requests' headers add up to more than it. */
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	char *s = header_block(API_MAX_HEADER_BYTES - 100);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(feed_str(f, s), 0);
		expect_ok(f, "GET", "/h", "");
	}
	free(s);
	feed_free(f);
	/* Endless blank lines between requests are a header block too. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	int rc = 0;
	for (unsigned i = 0; i < API_MAX_HEADER_BYTES && !rc; i++)
		rc = feed_str(f, "\r\n");
	expect_refusal(f, rc, "exceed");
	feed_free(f);
}

static void oversized_content_length(void **state)
{
	(void)state;
	struct feed *f = feed_new(1000);
	static const char head[] = "PUT /x HTTP/1.1\r\nContent-Length: 1001\r\n\r\n";
	char req[sizeof(head) + 1001];
	memcpy(req, head, sizeof(head) - 1);
	memset(req + sizeof(head) - 1, 'b', 1001);
	size_t used = 0;
	int rc = api_http_conn_feed(f->c, req, sizeof(req) - 1, &used, echo, &f->e, out, f->out_cap,
	                            &f->out_len);
	/* Refused on the headers: the body was never read. */
	assert_true(used < sizeof(head));
	struct resp r;
	assert_true(resp_parse(out, f->out_len, &r));
	assert_err_mentions(r.body, "request body is 1001 bytes; the limit is 1000 "
	                            "(--http-api-max-payload-size)");
	expect_refusal(f, rc, "1001");
	feed_free(f);

	/* A length far over the limit (but within 64 bits) is refused the same way. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	rc = feed_str(f, "PUT /x HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n");
	expect_refusal(f, rc, "limit");
	feed_free(f);
}

static void bad_content_length(void **state)
{
	(void)state;
	static const char *const cls[] = {
	    "Content-Length: -1\r\n",
	    "Content-Length: abc\r\n",
	    "Content-Length: 12a\r\n",
	    "Content-Length: 1 2\r\n",
	    "Content-Length: 99999999999999999999999\r\n",
	    "Content-Length: 5\r\nContent-Length: 6\r\n",
	    "Content-Length: 5\r\nContent-Length: 5\r\n", /* a repeat is refused as well */
	};
	for (unsigned i = 0; i < sizeof(cls) / sizeof(cls[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req), "PUT /x HTTP/1.1\r\n%s\r\nhello", cls[i]);
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		int rc = feed_str(f, req);
		/* The number too large for 64 bits is refused by the parser as malformed. */
		expect_refusal(f, rc, "content-length");
		feed_free(f);
	}
}

static void chunked_refused(void **state)
{
	(void)state;
	static const char *const tes[] = {"chunked", "gzip, chunked"};
	for (unsigned i = 0; i < 2; i++) {
		char req[256];
		snprintf(req, sizeof(req),
		         "PUT /x HTTP/1.1\r\nTransfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		         tes[i]);
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		expect_refusal(f, feed_str(f, req), "chunked");
		feed_free(f);
	}
	/* Another coding alone cannot be framed at all (RFC 9112 6.3): refused too. */
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f, feed_str(f, "PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx"),
	               "transfer-encoding");
	feed_free(f);
	/* Both Content-Length and chunked: refused. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f,
	               feed_str(f, "PUT /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
	                           "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
	               "");
	feed_free(f);
}

static void unknown_method(void **state)
{
	(void)state;
	/* A method HTTP knows but the API does not serve: 400, its body skipped, keep-alive. */
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	struct resp r;
	assert_int_equal(feed_str(f, "DELETE /drives/x HTTP/1.1\r\nContent-Length: 4\r\n\r\nGET "
	                             "POST /y HTTP/1.1\r\n\r\n"
	                             "GET /z HTTP/1.1\r\n\r\n"),
	                 0);
	next(f, &r);
	assert_int_equal(r.status, 400);
	assert_false(r.close);
	assert_err_mentions(r.body, "DELETE");
	next(f, &r);
	assert_int_equal(r.status, 400);
	assert_err_mentions(r.body, "POST");
	assert_int_equal(f->e.calls, 1);
	expect_ok(f, "GET", "/z", "");
	no_more(f);
	feed_free(f);

	/* HEAD would take our 400's body for the next response: closed. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f, feed_str(f, "HEAD / HTTP/1.1\r\n\r\n"), "HEAD");
	feed_free(f);
	/* Not a method at all. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f, feed_str(f, "FETCH / HTTP/1.1\r\n\r\n"), "method");
	feed_free(f);
	/* CONNECT and an Upgrade are not followed into another protocol. */
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f, feed_str(f, "CONNECT host:80 HTTP/1.1\r\n\r\n"), "");
	feed_free(f);
	f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	expect_refusal(f,
	               feed_str(f, "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
	               "upgrade");
	feed_free(f);
}

static void garbage(void **state)
{
	(void)state;
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	static const char nul[] = "GET /\0x HTTP/1.1\r\n\r\n";
	static const struct {
		const char *data;
		size_t len;
	} junk[] = {
	    {tls, sizeof(tls) - 1},
	    {nul, sizeof(nul) - 1},
	    {"\x00\x00\x00\x00", 4},
	    {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 31},
	    {"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 27},
	    {"GET / HTTP/9.9\r\n\r\n", 18},
	    {"GET / FTP/1.1\r\n\r\n", 17},
	    {"GET /\r\n\r\n", 9}, /* HTTP/0.9 */
	    {"{\"action_type\": \"InstanceStart\"}", 32},
	};
	for (unsigned i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		expect_refusal(f, feed_bytes(f, junk[i].data, junk[i].len), "");
		feed_free(f);
	}
	/* Random bytes: never a handler call, always at most one 400 and a close. */
	srand(1234);
	for (unsigned i = 0; i < 2000; i++) {
		char buf[512];
		size_t len = 1 + (size_t)rand() % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (char)rand();
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		int rc = feed_bytes(f, buf, len);
		if (rc) {
			struct resp r;
			next(f, &r);
			assert_int_equal(r.status, 400);
		}
		no_more(f);
		assert_int_equal(f->e.calls, 0);
		feed_free(f);
	}
}

static void no_path(void **state)
{
	(void)state;
	static const char *const reqs[] = {
	    "GET HTTP/1.1\r\n\r\n",
	    "GET  HTTP/1.1\r\n\r\n",
	    "GET http://host HTTP/1.1\r\n\r\n",
	    "GET ?x=1 HTTP/1.1\r\n\r\n",
	};
	for (unsigned i = 0; i < 4; i++) {
		struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
		expect_refusal(f, feed_str(f, reqs[i]), "");
		feed_free(f);
	}
}

static void query_stripped(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	assert_int_equal(feed_str(f, "GET /machine-config?pretty=1&x=%20 HTTP/1.1\r\n\r\n"), 0);
	expect_ok(f, "GET", "/machine-config", "");
	assert_int_equal(feed_str(f, "GET /vm/config#frag HTTP/1.1\r\n\r\n"), 0);
	expect_ok(f, "GET", "/vm/config", "");
	assert_int_equal(feed_str(f, "GET /? HTTP/1.1\r\n\r\n"), 0);
	expect_ok(f, "GET", "/", "");
	/* The absolute form (RFC 9112 3.2.2) gives its path. */
	assert_int_equal(feed_str(f, "GET http://localhost/version?a HTTP/1.1\r\n\r\n"), 0);
	expect_ok(f, "GET", "/version", "");
	/* The path is passed as sent: no decoding, the trailing '/' kept for the router. */
	assert_int_equal(feed_str(f, "GET /drives/a%2Fb/ HTTP/1.1\r\n\r\n"), 0);
	expect_ok(f, "GET", "/drives/a%2Fb/", "");
	no_more(f);
	feed_free(f);
}

static void forgetful(void *ctx, const struct api_http_request *req, struct ctl_reply *reply)
{
	(void)ctx;
	(void)req;
	(void)reply;
}

/* 204 has neither Content-Length nor Content-Type; a broken reply becomes a 500. */
static void response_format(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	struct resp r;
	f->e.status = 204;
	assert_int_equal(feed_str(f, put_req), 0);
	assert_memory_equal(out, "HTTP/1.1 204 No Content\r\nServer: Ember\r\n\r\n", f->out_len);
	f->out_off = f->out_len;
	f->e.status = 404;
	assert_int_equal(feed_str(f, "GET /nothing HTTP/1.1\r\n\r\n"), 0);
	assert_memory_equal(out + f->out_off, "HTTP/1.1 404 Not Found\r\n", 24);
	next(f, &r);
	assert_int_equal(r.status, 404);
	/* Statuses outside 200..599 and over-long bodies are the handler's bug: a 500. */
	static const struct {
		int status;
		size_t len;
	} broken[] = {{99, 0},        {100, 0}, {199, 0},
	              {600, 0},       {-1, 0},  {200, CTL_REPLY_MAX + 1},
	              {200, SIZE_MAX}};
	for (unsigned i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		f->e.status = broken[i].status;
		f->e.reply_len = broken[i].len;
		assert_int_equal(feed_str(f, "GET /x HTTP/1.1\r\n\r\n"), 0);
		next(f, &r);
		assert_int_equal(r.status, 500);
		assert_true(r.has_type);
		assert_err_mentions(r.body, "internal");
	}
	/* A handler that fills nothing in: a 500, not the last request's reply. */
	size_t used;
	assert_int_equal(api_http_conn_feed(f->c, "GET /y HTTP/1.1\r\n\r\n", 19, &used, forgetful,
	                                    NULL, out, f->out_cap, &f->out_len),
	                 0);
	next(f, &r);
	assert_int_equal(r.status, 500);
	/* A body of exactly CTL_REPLY_MAX bytes fits. */
	f->e.status = 200;
	f->e.reply_len = CTL_REPLY_MAX;
	assert_int_equal(feed_str(f, "GET /x HTTP/1.1\r\n\r\n"), 0);
	next(f, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, CTL_REPLY_MAX);
	feed_free(f);
}

static void expect_continue(void **state)
{
	(void)state;
	struct feed *f = feed_new(API_DEFAULT_MAX_PAYLOAD);
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	assert_int_equal(
	    feed_str(f, "PUT /x HTTP/1.1\r\nExpect:  100-Continue \r\nContent-Length: 2\r\n\r\n"),
	    0);
	assert_int_equal(f->out_len, sizeof(cont) - 1);
	assert_memory_equal(out, cont, sizeof(cont) - 1);
	f->out_off = f->out_len;
	assert_int_equal(feed_str(f, "ab"), 0);
	expect_ok(f, "PUT", "/x", "ab");
	/* Not for a request without a body, nor for a refused one. */
	assert_int_equal(feed_str(f, "GET /y HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"), 0);
	expect_ok(f, "GET", "/y", "");
	no_more(f);
	feed_free(f);
	f = feed_new(1);
	expect_refusal(
	    f, feed_str(f, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
	    "limit");
	feed_free(f);
}

/* ---- The server over a real socket ---- */

static char dir[48];
static char sock_path[96];

static int server_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ember-api-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
	api_server_test_timeout_ms = 400;
	return 0;
}

static int server_teardown(void **state)
{
	(void)state;
	unlink(sock_path);
	rmdir(dir);
	api_server_test_timeout_ms = 0;
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* No test waits forever. */
	struct timeval tv = {.tv_sec = 5};
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t len = strlen(s);
	assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Read one whole response into r; false at end of file. */
static bool recv_resp(int fd, struct resp *r)
{
	static char buf[API_HTTP_RESPONSE_MAX];
	size_t len = 0;
	while (!resp_parse(buf, len, r)) {
		ssize_t n = recv(fd, buf + len, 1, 0); /* never past this response */
		if (n == 0 && len == 0)
			return false;
		assert_true(n == 1);
		len++;
	}
	return true;
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At end of file within ms milliseconds. */
static void expect_eof(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, ms), 1);
	char b;
	assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), 0);
}

static void server_socket_file(void **state)
{
	(void)state;
	struct echo e = {0};
	char err[256] = "";
	mode_t old = umask(0);
	struct api_server *s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	umask(old);
	assert_non_null(s);
	struct stat st;
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A second server on the same path: refused, the first one untouched. */
	errno = 0;
	assert_null(api_server_start(sock_path, 1024, echo, &e, err, sizeof(err)));
	assert_int_equal(errno, EADDRINUSE);
	assert_err_mentions(err, sock_path);
	int fd = connect_to(sock_path);
	struct resp r;
	send_str(fd, "GET /still-here HTTP/1.1\r\n\r\n");
	assert_true(recv_resp(fd, &r));
	assert_int_equal(r.status, 200);
	close(fd);

	api_server_stop(s);
	assert_int_equal(lstat(sock_path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* A stale socket (its server gone) is replaced. */
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof(a)), 0);
	close(stale);
	s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	assert_non_null(s);
	api_server_stop(s);

	/* Any other file is left alone. */
	int file = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(file >= 0);
	close(file);
	errno = 0;
	assert_null(api_server_start(sock_path, 1024, echo, &e, err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	assert_err_mentions(err, "not a socket");
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(sock_path);

	/* A path too long for sun_path. */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_null(api_server_start(longp, 1024, echo, &e, err, sizeof(err)));
	assert_int_equal(errno, ENAMETOOLONG);
}

/* One client stalls half-way through a request; the other is served meanwhile, and the
 * stalled one is closed once silent for the timeout. */
static void server_slow_client(void **state)
{
	(void)state;
	static struct echo e;
	char err[256] = "";
	memset(&e, 0, sizeof(e));
	struct api_server *s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	assert_non_null(s);

	int slow = connect_to(sock_path);
	int64_t stalled_at = ms_now();
	send_str(slow, "PUT /slow HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");

	int fast = connect_to(sock_path);
	for (unsigned i = 0; i < 5; i++) {
		struct resp r;
		send_str(fast, "GET /fast HTTP/1.1\r\n\r\n");
		assert_true(recv_resp(fast, &r));
		assert_int_equal(r.status, 200);
		assert_err_mentions(r.body, "/fast");
	}
	/* Pipelined and keep-alive on the same connection. */
	send_str(fast, "GET /p1 HTTP/1.1\r\n\r\nPUT /p2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	struct resp r;
	assert_true(recv_resp(fast, &r));
	assert_err_mentions(r.body, "/p1");
	assert_true(recv_resp(fast, &r));
	assert_err_mentions(r.body, "/p2");
	assert_int_equal(e.calls, 7);
	assert_true(ms_now() - stalled_at < 400); /* served well within the slow one's timeout */

	/* The stalled client: closed after ~400 ms of silence, its request never handled,
	 * while the other, which keeps talking, is not. */
	struct pollfd p = {.fd = slow, .events = POLLIN};
	unsigned rounds = 0;
	while (poll(&p, 1, 100) == 0) {
		assert_true(++rounds < 30);
		send_str(fast, "GET /again HTTP/1.1\r\n\r\n");
		assert_true(recv_resp(fast, &r));
		assert_int_equal(r.status, 200);
	}
	expect_eof(slow, 0);
	int64_t waited = ms_now() - stalled_at;
	assert_true(waited >= 350);
	assert_int_equal(e.calls, 7 + rounds);
	close(slow);
	for (unsigned i = 0; i < 4; i++) {
		usleep(150 * 1000);
		send_str(fast, "GET /again HTTP/1.1\r\n\r\n");
		assert_true(recv_resp(fast, &r));
		assert_int_equal(r.status, 200);
	}
	/* A malformed request: 400, then end of file. */
	send_str(fast, "GARBAGE\r\n\r\n");
	assert_true(recv_resp(fast, &r));
	assert_int_equal(r.status, 400);
	assert_true(r.close);
	expect_eof(fast, 1000);
	close(fast);
	api_server_stop(s);
}

/* A client that sends many requests and never reads the answers stops being read; the
 * others are still served. */
static void server_client_not_reading(void **state)
{
	(void)state;
	static struct echo e;
	char err[256] = "";
	memset(&e, 0, sizeof(e));
	struct api_server *s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	assert_non_null(s);

	int hog = connect_to(sock_path);
	int bufsz = 4096;
	setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	assert_int_equal(fcntl(hog, F_SETFL, O_NONBLOCK), 0);
	/* Its answers are 60000 bytes: the socket's buffer fills fast. */
	static const char req[] = "GET /hog HTTP/1.1\r\n\r\n";
	size_t sent = 0;
	for (unsigned i = 0; i < 20000; i++) {
		ssize_t n = send(hog, req, sizeof(req) - 1, MSG_NOSIGNAL);
		if (n < 0)
			break; /* its send buffer is full too: the server stopped reading it */
		sent += (size_t)n;
	}
	assert_true(sent < 20000 * (sizeof(req) - 1));

	int other = connect_to(sock_path);
	struct resp r;
	send_str(other, "GET /other HTTP/1.1\r\n\r\n");
	assert_true(recv_resp(other, &r));
	assert_int_equal(r.status, 200);
	close(other);
	close(hog);
	api_server_stop(s);
}

/* While a handler blocks (longer than the timeout), the others wait, and are served after
 * it rather than timed out. */
static void server_handler_blocks(void **state)
{
	(void)state;
	static struct echo e;
	char err[256] = "";
	memset(&e, 0, sizeof(e));
	struct api_server *s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	assert_non_null(s);
	int a = connect_to(sock_path), b = connect_to(sock_path);
	struct resp r;
	send_str(a, "GET /block HTTP/1.1\r\n\r\n");
	usleep(100 * 1000);
	send_str(b, "GET /after HTTP/1.1\r\n\r\n");
	assert_true(recv_resp(a, &r));
	assert_err_mentions(r.body, "/block");
	assert_true(recv_resp(b, &r));
	assert_err_mentions(r.body, "/after");
	close(a);
	close(b);
	api_server_stop(s);
}

/* More clients than API_MAX_CLIENTS: the extra one is told 503 and closed at once. */
static void server_too_many_clients(void **state)
{
	(void)state;
	static struct echo e;
	char err[256] = "";
	memset(&e, 0, sizeof(e));
	api_server_test_timeout_ms = 5000;
	struct api_server *s = api_server_start(sock_path, 1024, echo, &e, err, sizeof(err));
	assert_non_null(s);
	int fds[API_MAX_CLIENTS];
	struct resp r;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		fds[i] = connect_to(sock_path);
		send_str(fds[i], "GET /n HTTP/1.1\r\n\r\n"); /* answered: it holds a slot */
		assert_true(recv_resp(fds[i], &r));
	}
	int extra = connect_to(sock_path);
	assert_true(recv_resp(extra, &r));
	assert_int_equal(r.status, 503);
	assert_err_mentions(r.body, "too many");
	expect_eof(extra, 1000);
	close(extra);
	/* A slot freed is a slot for the next client. */
	close(fds[0]);
	usleep(100 * 1000);
	fds[0] = connect_to(sock_path);
	send_str(fds[0], "GET /again HTTP/1.1\r\n\r\n");
	assert_true(recv_resp(fds[0], &r));
	assert_int_equal(r.status, 200);
	/* Stop with clients connected, one in the middle of a request. */
	send_str(fds[1], "PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
	api_server_stop(s);
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		expect_eof(fds[i], 1000);
		close(fds[i]);
	}
	api_server_test_timeout_ms = 400;
}

int main(void)
{
	unit_init();
	const struct CMUnitTest http[] = {
	    cmocka_unit_test(simple_get),
	    cmocka_unit_test(put_with_body),
	    cmocka_unit_test(split_byte_by_byte),
	    cmocka_unit_test(truncated_body_waits),
	    cmocka_unit_test(pipelined_in_one_feed),
	    cmocka_unit_test(keep_alive),
	    cmocka_unit_test(connection_close),
	    cmocka_unit_test(oversized_headers),
	    cmocka_unit_test(oversized_content_length),
	    cmocka_unit_test(bad_content_length),
	    cmocka_unit_test(chunked_refused),
	    cmocka_unit_test(unknown_method),
	    cmocka_unit_test(garbage),
	    cmocka_unit_test(no_path),
	    cmocka_unit_test(query_stripped),
	    cmocka_unit_test(response_format),
	    cmocka_unit_test(expect_continue),
	};
	const struct CMUnitTest server[] = {
	    cmocka_unit_test_setup_teardown(server_socket_file, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(server_slow_client, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(server_client_not_reading, server_setup,
	                                    server_teardown),
	    cmocka_unit_test_setup_teardown(server_handler_blocks, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(server_too_many_clients, server_setup, server_teardown),
	};
	int failed = cmocka_run_group_tests_name("api_http", http, NULL, NULL);
	failed += cmocka_run_group_tests_name("api_server", server, NULL, NULL);
	return failed;
}
