/*
 * libFuzzer target for the API's HTTP layer (src/api/http.c): bytes split at a point the
 * input chooses and fed to one connection whose handler echoes the request, with the
 * output drained as the server drains it. Fails on a crash or a sanitizer report, on a
 * feed that neither progresses nor closes (a hang in the server), and on output that does
 * not parse as HTTP/1.1 responses.
 *
 * Input: byte 0 picks the split point (len * b0 / 256), byte 1 the settings (bit 0: a
 * 64-byte max_payload instead of the default; bit 1: output room for one response only),
 * the rest is what the client sends.
 *
 * Run it (needs clang and, for libFuzzer's runtime, Debian's libclang-rt-14-dev):
 *   make fuzz                  # 30 s (FUZZ_TIME=600 for longer) from tests/fuzz/corpus_http
 * which builds build/fuzz/fuzz_api_http with -fsanitize=fuzzer,address,undefined and runs
 *   build/fuzz/fuzz_api_http -max_total_time=30 -max_len=20000 -dict=tests/fuzz/http.dict \
 *       -artifact_prefix=build/fuzz/ build/fuzz/corpus_http tests/fuzz/corpus_http
 * New inputs go to build/fuzz/corpus_http (the checked-in seeds stay as they are); a
 * failure leaves build/fuzz/crash-<sha1> (or leak-, timeout-): replay it with
 *   build/fuzz/fuzz_api_http build/fuzz/crash-<sha1>
 * -max_len=20000 lets inputs grow past the API_MAX_HEADER_BYTES cap (seed big_header).
 * libhttp_parser itself is Debian's uninstrumented build: the fuzzer sees coverage in our
 * glue only, so the dictionary does the work of guiding it to the parser's keywords.
 */
#include "api/server.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned calls;

static void echo(void *ctx, const struct api_http_request *req, struct ctl_reply *reply)
{
	(void)ctx;
	calls++;
	if (strlen(req->method) == 0 || req->path[0] == '\0')
		abort();
	if (req->body_len == 0 && req->path[1] == 'n') {
		ctl_reply_no_content(reply);
		return;
	}
	int n =
	    snprintf(reply->body, sizeof(reply->body), "{\"m\": \"%s\", \"p\": \"", req->method);
	size_t len = (size_t)n;
	size_t plen = strlen(req->path);
	if (plen > sizeof(reply->body) - len)
		plen = sizeof(reply->body) - len;
	memcpy(reply->body + len, req->path, plen);
	len += plen;
	size_t blen =
	    req->body_len < sizeof(reply->body) - len ? req->body_len : sizeof(reply->body) - len;
	memcpy(reply->body + len, req->body, blen); /* reads every body byte */
	reply->len = len + blen;
	reply->status = 200 + (int)(req->body_len % 300);
}

/* Our output, checked by libhttp-parser as a client would read it. */
static http_parser check;
static unsigned answers;

static int count_answer(http_parser *p)
{
	if (p->status_code >= 200)
		answers++;
	return 0;
}

static const http_parser_settings check_settings = {.on_message_complete = count_answer};

static char out[API_HTTP_RESPONSE_MAX * 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t split = (size - 2) * data[0] / 256;
	size_t max_payload = (data[1] & 1) ? 64 : API_DEFAULT_MAX_PAYLOAD;
	size_t cap = (data[1] & 2) ? API_HTTP_RESPONSE_MAX : sizeof(out);
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	struct api_http_conn *c = api_http_conn_new(max_payload);
	if (!c)
		abort();
	http_parser_init(&check, HTTP_RESPONSE);
	calls = answers = 0;

	int rc = 0;
	const size_t parts[2][2] = {{0, split}, {split, len}};
	for (unsigned i = 0; i < 2 && !rc; i++) {
		size_t off = parts[i][0], end = parts[i][1];
		do {
			size_t used = 0, out_len = 0;
			rc = api_http_conn_feed(c, in + off, end - off, &used, echo, NULL, out, cap,
			                        &out_len);
			if (used > end - off || out_len > cap)
				abort();
			/* Out was empty: it must have progressed or closed. */
			if (!rc && used == 0 && end > off)
				abort();
			if (out_len &&
			    http_parser_execute(&check, &check_settings, out, out_len) != out_len)
				abort();
			off += used;
		} while (!rc && off < end);
	}
	if (HTTP_PARSER_ERRNO(&check) != HPE_OK)
		abort();
	/* Every request handed over got exactly one answer (refusals add their own). */
	if (answers < calls)
		abort();
	api_http_conn_free(c);
	return 0;
}
