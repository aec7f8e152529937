/*
 * Private to the API server and its tests: how a reply becomes HTTP/1.1 response bytes,
 * shared by http.c (the connection and libhttp-parser glue) and server.c (the socket loop).
 */
#ifndef EMBER_API_HTTP_H
#define EMBER_API_HTTP_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Append to out (capacity cap, *len bytes used) the response for r: "HTTP/1.1 <code>
 * <reason>", "Server: Ember", "Content-Length: N" and "Content-Type: application/json" when
 * there is a body (a 204 has neither), "Connection: close" when close is set, then the
 * body. A status outside 200..599 or a body longer than CTL_REPLY_MAX becomes a 500 with a
 * fault message: the handler broke its contract, the client still gets a well-formed answer.
 * Returns false, with out unchanged, if it does not fit (never with cap - *len >=
 * API_HTTP_RESPONSE_MAX).
 */
bool api_http_put_response(char *out, size_t cap, size_t *len, const struct ctl_reply *r,
                           bool close);

/* Tests only (server.c): the idle timeout of servers started from now on, in ms; 0 means
 * API_CLIENT_TIMEOUT_MS. */
extern int api_server_test_timeout_ms;

#endif
