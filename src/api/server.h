/*
 * The API server: HTTP/1.1 on a Unix socket, on its own thread. It accepts clients (up to
 * API_MAX_CLIENTS at once; one request at a time each, keep-alive, several clients served
 * in turn), parses requests with Debian's libhttp-parser, caps the header block and the
 * body, times out slow clients without blocking the others, and hands each complete
 * request to a handler; the handler's reply is written back. Nothing here knows the routes.
 */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include "api.h"

#include <pthread.h>
#include <stddef.h>

#define API_DEFAULT_MAX_PAYLOAD 51200 /* Firecracker's --http-api-max-payload-size default */
#define API_MAX_HEADER_BYTES    8192  /* request line and headers */
#define API_CLIENT_TIMEOUT_MS   10000 /* a client that sends nothing for this long is closed */
#define API_MAX_CLIENTS         16

/* One complete request. method and path are NUL-terminated; body has body_len bytes. */
struct api_http_request {
	const char *method;
	const char *path; /* the URL's path, query string removed */
	const char *body;
	size_t body_len;
};

/* Called on the API thread for every well-formed request; must fill reply. It may block
 * (waiting for the vmm thread): the other clients wait meanwhile. */
typedef void (*api_handler_fn)(void *ctx, const struct api_http_request *req,
                               struct ctl_reply *reply);

struct api_server;

/*
 * Create the socket at path (mode 0600, set before bind so it never exists with a wider
 * mode; refuses with EADDRINUSE if something accepts connections there, removes a stale
 * socket file, refuses any other file), and start the API thread serving it (signals
 * blocked: they stay with the thread that handles them). max_payload caps request bodies:
 * a larger Content-Length gets 400 "request body is N bytes; the limit is M
 * (--http-api-max-payload-size)" before the body is read, as Firecracker answers. Returns
 * the server, or NULL with errno set and a message naming the path in err.
 */
struct api_server *api_server_start(const char *path, size_t max_payload, api_handler_fn fn,
                                    void *ctx, char *err, size_t errlen);

/* Stop the thread, close every client, unlink the socket (if it is still ours), free. The
 * handler must not be waiting on the caller meanwhile (close what it waits on first, e.g.
 * ctl_channel_close), or this waits for ever. */
void api_server_stop(struct api_server *s);

/* Room a caller of api_http_conn_feed keeps free in out: the largest response (the
 * status line and headers, at most 256 bytes, and an CTL_REPLY_MAX body). */
#define API_HTTP_RESPONSE_MAX (CTL_REPLY_MAX + 256)

/*
 * The HTTP layer alone (the server runs one per client; tests and the fuzzer use it
 * directly): feed the bytes of one connection, get the bytes to send back. Each complete
 * request in data (pipelined ones too, in order) is handed to fn and its response appended
 * to out (capacity out_cap; *out_len updated), the request's body in memory the connection
 * allocated when it was made: nothing is allocated per request.
 *
 * *used says how much of data was consumed. Feeding stops early when out has less than
 * API_HTTP_RESPONSE_MAX bytes free: send out, then feed data + *used again. With that much
 * free, a call consumes at least one byte or returns 1, so a caller that empties out always
 * progresses. A partial request is kept (its request line and headers, its body) until the
 * rest arrives.
 *
 * Returns 0 while the connection may continue, 1 when it must be closed once out is sent:
 * after a request's 400 (a malformed request, binary garbage, a header block over
 * API_MAX_HEADER_BYTES, a bad or duplicated Content-Length, a body over max_payload,
 * chunked transfer coding, an HTTP version other than 1.x) or after the response to a
 * request that asked to close ("Connection: close", HTTP/1.0 without keep-alive). The
 * rest of data is then ignored, and so is anything fed later. A method other than GET,
 * PUT or PATCH gets a 400 and the connection continues. "Expect: 100-continue" gets
 * "100 Continue" once the headers have been accepted.
 */
struct api_http_conn;
/* NULL if out of memory. */
struct api_http_conn *api_http_conn_new(size_t max_payload);
void api_http_conn_free(struct api_http_conn *c);
int api_http_conn_feed(struct api_http_conn *c, const char *data, size_t len, size_t *used,
                       api_handler_fn fn, void *ctx, char *out, size_t out_cap, size_t *out_len);

#endif
