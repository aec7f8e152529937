/*
 * MMDS without a guest: the store (PUT, merge PATCH, limit), the guest's HTTP, and the
 * network stack driven with hand-built Ethernet frames (ARP, TCP handshakes, requests,
 * bad checksums, oversized requests, RSTs, garbage), every frame it answers checked.
 */
#include "unit.h"

#include "mmds/mmds.h"

#include <stdlib.h>

#define MMDS_IP  0xa9fea9feu /* 169.254.169.254 */
#define GUEST_IP 0xa9fe0002u /* 169.254.0.2 */
#define NOW      1000000u

static const uint8_t guest_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

static struct mmds_store store;
static struct mmds_net net;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t pseudo(uint32_t s, uint32_t d, size_t len)
{
	return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + 6 + (uint32_t)len;
}

/* A guest TCP segment to MMDS, checksums right. */
static size_t tcp(uint8_t *f, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                  uint8_t flags, const void *data, size_t dlen)
{
	size_t thl = (flags & 0x02) ? 24 : 20, tlen = thl + dlen;
	memcpy(f, mmds_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *t = ip + 20;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + tlen));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, MMDS_IP);
	put16(ip + 10, csum(0, ip, 20));
	memset(t, 0, thl);
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	if (thl == 24) {
		t[20] = 2, t[21] = 4;
		put16(t + 22, 1460);
	}
	if (dlen)
		memcpy(t + thl, data, dlen);
	put16(t + 16, csum(pseudo(GUEST_IP, MMDS_IP, tlen), t, tlen));
	return 14 + 20 + tlen;
}

struct seg {
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t wnd, sport, dport;
	const uint8_t *data;
	size_t dlen;
};

static uint8_t outbuf[2048];

/* The next frame MMDS sends, which must be a well-formed TCP segment to the guest. */
static bool next_seg(struct seg *s)
{
	size_t n = mmds_net_output(&net, outbuf, sizeof(outbuf), NOW);
	if (!n)
		return false;
	assert_true(n >= 54 && n <= MMDS_FRAME_MAX);
	assert_memory_equal(outbuf, guest_mac, 6);
	assert_memory_equal(outbuf + 6, mmds_mac, 6);
	const uint8_t *ip = outbuf + 14, *t = ip + 20;
	assert_int_equal(get16(ip + 2), n - 14);
	assert_int_equal(csum(0, ip, 20), 0);
	assert_int_equal(get32(ip + 12), MMDS_IP);
	size_t tlen = n - 34;
	assert_int_equal(csum(pseudo(MMDS_IP, GUEST_IP, tlen), t, tlen), 0);
	s->sport = get16(t);
	s->dport = get16(t + 2);
	s->seq = get32(t + 4);
	s->ack = get32(t + 8);
	s->flags = t[13];
	s->wnd = get16(t + 14);
	size_t thl = (size_t)(t[12] >> 4) * 4;
	s->data = t + thl;
	s->dlen = tlen - thl;
	return true;
}

static void in(const uint8_t *f, size_t n)
{
	assert_true(mmds_net_claims(&net, f, n));
	mmds_net_input(&net, f, n, false, NOW);
}

/* A guest connection: connect, send, read an answer to the FIN or a byte count. */
struct client {
	uint16_t port;
	uint32_t snd, rcv;
	char got[65536];
	size_t len;
	bool fin;
};

static void client_connect(struct client *c, uint16_t port)
{
	uint8_t f[128];
	struct seg s;
	memset(c, 0, sizeof(*c));
	c->port = port;
	c->snd = 1000;
	in(f, tcp(f, port, 80, c->snd, 0, 0x02, NULL, 0));
	assert_true(next_seg(&s));
	assert_int_equal(s.flags, 0x12); /* SYN|ACK */
	assert_int_equal(s.ack, c->snd + 1);
	c->snd++;
	c->rcv = s.seq + 1;
	in(f, tcp(f, port, 80, c->snd, c->rcv, 0x10, NULL, 0));
	assert_false(next_seg(&s));
}

static void client_send(struct client *c, const char *data, size_t n, uint8_t extra)
{
	uint8_t f[2048];
	assert_true(n <= 1400);
	in(f, tcp(f, c->port, 80, c->snd, c->rcv, 0x18 | extra, data, n));
	c->snd += (uint32_t)n + ((extra & 1) ? 1u : 0u);
}

/* Take every segment MMDS has, acking as a guest would. */
static void client_drain(struct client *c)
{
	struct seg s;
	uint8_t f[128];
	while (next_seg(&s)) {
		assert_int_equal(s.sport, 80);
		assert_int_equal(s.dport, c->port);
		if (s.flags & 0x04)
			return;
		if (s.dlen) {
			assert_int_equal(s.seq, c->rcv);
			assert_true(c->len + s.dlen <= sizeof(c->got));
			memcpy(c->got + c->len, s.data, s.dlen);
			c->len += s.dlen;
			c->rcv += (uint32_t)s.dlen;
		}
		if (s.flags & 0x01) {
			c->fin = true;
			c->rcv++;
		}
		if (s.dlen || (s.flags & 0x01))
			in(f, tcp(f, c->port, 80, c->snd, c->rcv, 0x10, NULL, 0));
	}
}

/* One request on a fresh connection; returns the status, *body points into c->got. */
static int request(struct client *c, const char *req, const char **body)
{
	static uint16_t port = 40000;
	client_connect(c, port++);
	client_send(c, req, strlen(req), 0);
	client_drain(c);
	c->got[c->len] = '\0';
	assert_true(c->len > 12);
	char *e = strstr(c->got, "\r\n\r\n");
	assert_non_null(e);
	*body = e + 4;
	return atoi(c->got + 9);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(mmds_store_init(&store, MMDS_DEFAULT_LIMIT), 0);
	json_t *v = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"n\":5,"
	                       "\"zone\":{\"a\":\"b\"}}},\"big\":\"\"}",
	                       0, NULL);
	assert_int_equal(mmds_store_put(&store, v), 0);
	json_decref(v);
	assert_int_equal(mmds_net_init(&net, &store, MMDS_IP), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmds_net_destroy(&net);
	mmds_store_destroy(&store);
	return 0;
}

static void store_put_patch_limit(void **state)
{
	(void)state;
	struct mmds_store s;
	char buf[256];
	assert_int_equal(mmds_store_init(&s, 40), 0);
	json_t *p = json_loads("{\"a\":1}", 0, NULL);
	assert_int_equal(mmds_store_patch(&s, p), -ENODATA);
	assert_int_equal(mmds_store_dump(&s, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "null");
	json_t *v = json_loads("{\"z\":{\"y\":1,\"x\":2},\"a\":[1]}", 0, NULL);
	assert_int_equal(mmds_store_put(&s, v), 0);
	mmds_store_dump(&s, buf, sizeof(buf));
	assert_string_equal(buf, "{\"a\":[1],\"z\":{\"x\":2,\"y\":1}}"); /* keys sorted */
	json_t *q = json_loads("{\"z\":{\"y\":null,\"w\":{\"k\":\"v\"}},\"a\":null}", 0, NULL);
	assert_int_equal(mmds_store_patch(&s, q), 0);
	mmds_store_dump(&s, buf, sizeof(buf));
	assert_string_equal(buf, "{\"z\":{\"w\":{\"k\":\"v\"},\"x\":2}}");
	json_t *big = json_loads("{\"z\":\"0123456789012345678901234567890123456789\"}", 0, NULL);
	assert_int_equal(mmds_store_patch(&s, big), -EFBIG);
	assert_int_equal(mmds_store_put(&s, big), -EFBIG);
	mmds_store_dump(&s, buf, sizeof(buf));
	assert_string_equal(buf, "{\"z\":{\"w\":{\"k\":\"v\"},\"x\":2}}"); /* unchanged */
	json_decref(p), json_decref(v), json_decref(q), json_decref(big);
	mmds_store_destroy(&s);
}

static void arp_reply(void **state)
{
	(void)state;
	uint8_t f[60] = {0};
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	uint8_t *a = f + 14;
	put16(a, 1), put16(a + 2, 0x0800), a[4] = 6, a[5] = 4, put16(a + 6, 1);
	memcpy(a + 8, guest_mac, 6);
	put32(a + 14, GUEST_IP);
	put32(a + 24, MMDS_IP);
	assert_true(mmds_net_claims(&net, f, sizeof(f)));
	mmds_net_input(&net, f, sizeof(f), false, NOW);
	size_t n = mmds_net_output(&net, outbuf, sizeof(outbuf), NOW);
	assert_int_equal(n, 42);
	assert_memory_equal(outbuf, guest_mac, 6);
	assert_int_equal(get16(outbuf + 12), 0x0806);
	assert_int_equal(get16(outbuf + 14 + 6), 2);
	assert_memory_equal(outbuf + 14 + 8, mmds_mac, 6);
	assert_int_equal(get32(outbuf + 14 + 14), MMDS_IP);
	assert_int_equal(get32(outbuf + 14 + 24), GUEST_IP);
	assert_false(mmds_net_pending(&net));
	/* Another address: not ours, it goes to the tap. */
	put32(a + 24, MMDS_IP + 1);
	assert_false(mmds_net_claims(&net, f, sizeof(f)));
}

static void get_v1_nested(void **state)
{
	(void)state;
	struct client c;
	const char *body;
	assert_int_equal(request(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", &body), 200);
	assert_string_equal(body, "ami-1");
	assert_false(c.fin); /* keep-alive */
	assert_int_equal(request(&c, "GET /latest/meta-data/ HTTP/1.1\r\n\r\n", &body), 200);
	assert_string_equal(body, "ami-id\nn\nzone/");
	assert_int_equal(request(&c,
	                         "GET //latest//meta-data HTTP/1.1\r\nAccept: application/json"
	                         "\r\n\r\n",
	                         &body),
	                 200);
	assert_string_equal(body, "{\"ami-id\":\"ami-1\",\"n\":5,\"zone\":{\"a\":\"b\"}}");
	assert_int_equal(request(&c, "GET /latest/meta-data/n HTTP/1.1\r\n\r\n", &body), 501);
	assert_int_equal(request(&c, "GET /nothing HTTP/1.1\r\n\r\n", &body), 404);
	assert_string_equal(body, "Resource not found: /nothing.");
	assert_int_equal(request(&c, "POST / HTTP/1.1\r\n\r\n", &body), 405);
	assert_non_null(strstr(c.got, "Allow: GET, PUT\r\n"));
	/* HTTP/1.0 closes. */
	assert_int_equal(request(&c, "GET /latest/meta-data/zone/a HTTP/1.0\r\n\r\n", &body), 200);
	assert_string_equal(body, "b");
	assert_true(c.fin);
	store.imds_compat = true;
	assert_int_equal(
	    request(&c, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", &body), 200);
	assert_string_equal(body, "meta-data/");
	store.imds_compat = false;
}

static void token_flow_v2(void **state)
{
	(void)state;
	struct client c;
	const char *body;
	char req[512], tok[64];
	store.version = MMDS_V2;
	assert_int_equal(request(&c, "GET /latest HTTP/1.1\r\n\r\n", &body), 401);
	assert_int_equal(request(&c, "PUT /latest/api/token HTTP/1.1\r\n\r\n", &body), 400);
	assert_int_equal(request(&c,
	                         "PUT /latest/api/token HTTP/1.1\r\n"
	                         "X-metadata-token-ttl-seconds: 0\r\n\r\n",
	                         &body),
	                 400);
	assert_int_equal(request(&c,
	                         "PUT /latest/api/token HTTP/1.1\r\n"
	                         "X-metadata-token-ttl-seconds: 21601\r\n\r\n",
	                         &body),
	                 400);
	assert_int_equal(request(&c,
	                         "PUT /latest/api/token HTTP/1.1\r\n"
	                         "X-metadata-token-ttl-seconds: 1\r\nX-Forwarded-For: a\r\n\r\n",
	                         &body),
	                 400);
	assert_int_equal(request(&c,
	                         "PUT /latest/api/token HTTP/1.1\r\n"
	                         "x-METADATA-token-ttl-seconds: 1\r\n\r\n",
	                         &body),
	                 200);
	assert_int_equal(strlen(body), MMDS_TOKEN_LEN);
	snprintf(tok, sizeof(tok), "%s", body);
	snprintf(req, sizeof(req),
	         "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	assert_int_equal(request(&c, req, &body), 200);
	assert_string_equal(body, "ami-1");
	/* A wrong token, and the right one once expired (1 s later). */
	tok[0] ^= 1;
	snprintf(req, sizeof(req), "GET /latest HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	assert_int_equal(request(&c, req, &body), 401);
	assert_string_equal(body, "MMDS token not valid.");
	tok[0] ^= 1;
	assert_true(mmds_token_ok(&store, tok, strlen(tok), NOW + 999));
	assert_false(mmds_token_ok(&store, tok, strlen(tok), NOW + 1000));
	store.version = MMDS_V1;
}

/* Tokens are stateless: any number stay valid; a changed byte, a token of another store
 * (other keys), a wrong length or alphabet are refused. */
static void tokens_forged(void **state)
{
	(void)state;
	static char toks[200][MMDS_TOKEN_LEN + 1];
	struct mmds_store other;
	char t[MMDS_TOKEN_LEN + 1];
	for (int i = 0; i < 200; i++)
		assert_int_equal(mmds_token_new(&store, 60, NOW, toks[i]), 0);
	for (int i = 0; i < 200; i++)
		assert_true(mmds_token_ok(&store, toks[i], MMDS_TOKEN_LEN, NOW + 59999));
	assert_false(mmds_token_ok(&store, toks[0], MMDS_TOKEN_LEN, NOW + 60000));
	for (int i = 0; i < MMDS_TOKEN_LEN; i++) {
		memcpy(t, toks[1], sizeof(t));
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_false(mmds_token_ok(&store, t, MMDS_TOKEN_LEN, NOW));
	}
	memcpy(t, toks[1], sizeof(t));
	t[5] = '*';
	assert_false(mmds_token_ok(&store, t, MMDS_TOKEN_LEN, NOW));
	assert_false(mmds_token_ok(&store, toks[1], MMDS_TOKEN_LEN - 1, NOW));
	assert_false(mmds_token_ok(&store, "", 0, NOW));
	assert_int_equal(mmds_store_init(&other, 100), 0);
	assert_int_equal(mmds_token_new(&other, 60, NOW, t), 0);
	assert_false(mmds_token_ok(&store, t, MMDS_TOKEN_LEN, NOW));
	assert_int_equal(mmds_token_new(&store, 0, NOW, t), -EINVAL);
	assert_int_equal(mmds_token_new(&store, 21601, NOW, t), -EINVAL);
	assert_int_equal(mmds_token_new(&store, 21600, NOW, t), 0);
	mmds_store_destroy(&other);
}

static void bad_checksums(void **state)
{
	(void)state;
	uint8_t f[128];
	size_t n = tcp(f, 5000, 80, 1, 0, 0x02, NULL, 0);
	f[14 + 20 + 16] ^= 0x55; /* TCP checksum */
	mmds_net_input(&net, f, n, false, NOW);
	assert_false(mmds_net_pending(&net));
	assert_int_equal(net.bad_csum, 1);
	/* The guest may leave the TCP checksum to the device (NEEDS_CSUM). */
	mmds_net_input(&net, f, n, true, NOW);
	assert_true(mmds_net_pending(&net));
	mmds_net_reset(&net);
	n = tcp(f, 5000, 80, 1, 0, 0x02, NULL, 0);
	f[14 + 10] ^= 1; /* IP header checksum */
	mmds_net_input(&net, f, n, true, NOW);
	assert_false(mmds_net_pending(&net));
}

static void oversized_request(void **state)
{
	(void)state;
	struct client c;
	char chunk[1024];
	memset(chunk, 'a', sizeof(chunk));
	memcpy(chunk, "GET /", 5);
	client_connect(&c, 6000);
	/* Four whole KiB and no end of the head: 400, and the connection closes. */
	for (int i = 0; i < 4; i++)
		client_send(&c, chunk, sizeof(chunk), 0);
	client_drain(&c);
	c.got[c.len] = '\0';
	assert_int_equal(atoi(c.got + 9), 400);
	assert_true(c.fin);
	/* Beyond the window: cut to it. */
	struct seg s;
	uint8_t f[2048];
	client_connect(&c, 6001);
	for (int i = 0; i < 5; i++) {
		in(f, tcp(f, c.port, 80, c.snd, c.rcv, 0x10, chunk, 1000));
		assert_true(next_seg(&s));
		if (s.ack != c.snd + 1000)
			break;
		c.snd += 1000;
	}
	assert_int_equal(s.ack, c.snd + 96); /* 4096 taken in all, then a 400 */
	assert_int_equal(s.dlen ? atoi((const char *)s.data + 9) : 0, 400);
}

static void resets(void **state)
{
	(void)state;
	struct client c;
	struct seg s;
	uint8_t f[128];
	/* Another port: RST|ACK. */
	in(f, tcp(f, 7000, 81, 55, 0, 0x02, NULL, 0));
	assert_true(next_seg(&s));
	assert_int_equal(s.flags, 0x14);
	assert_int_equal(s.ack, 56);
	assert_int_equal(s.sport, 81); /* from the port the guest tried */
	assert_int_equal(s.dport, 7000);
	/* An ACK for no connection: RST with its ack as our seq. */
	in(f, tcp(f, 7001, 80, 55, 777, 0x10, NULL, 0));
	assert_true(next_seg(&s));
	assert_int_equal(s.flags, 0x04);
	assert_int_equal(s.seq, 777);
	/* The guest's RST ends its connection: a later ACK gets a RST. */
	client_connect(&c, 7002);
	in(f, tcp(f, c.port, 80, c.snd, 0, 0x04, NULL, 0));
	in(f, tcp(f, c.port, 80, c.snd, c.rcv, 0x10, NULL, 0));
	assert_true(next_seg(&s));
	assert_int_equal(s.flags, 0x04);
	/* A RST outside the window is ignored. */
	client_connect(&c, 7003);
	in(f, tcp(f, c.port, 80, c.snd + 5000, 0, 0x04, NULL, 0));
	const char *body;
	client_send(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", 41, 0);
	client_drain(&c);
	c.got[c.len] = '\0';
	body = strstr(c.got, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "ami-1");
}

static void close_and_eviction(void **state)
{
	(void)state;
	struct client c, d;
	const char *body;
	/* The guest closes after its request: the answer, then our FIN. */
	client_connect(&c, 8000);
	client_send(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", 41, 0x01);
	client_drain(&c);
	assert_true(c.fin);
	for (unsigned i = 0; i < MMDS_CONNS; i++)
		assert_int_equal(net.conns[i].state, MMDS_TCP_FREE);
	/* More connections than slots: the idlest goes, the newest is served. */
	for (unsigned i = 0; i < MMDS_CONNS + 3; i++)
		client_connect(&d, (uint16_t)(8100 + i));
	assert_int_equal(net.conns_evicted, 3);
	assert_int_equal(request(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", &body), 200);
}

static void large_answer(void **state)
{
	(void)state;
	struct client c;
	const char *body;
	static char text[20001];
	memset(text, 'x', 20000);
	json_t *p = json_pack("{s:s}", "big", text);
	assert_int_equal(mmds_store_patch(&store, p), 0);
	json_decref(p);
	assert_int_equal(request(&c, "GET /big HTTP/1.1\r\n\r\n", &body), 200);
	assert_int_equal(strlen(body), 20000);
}

/* Three duplicate ACKs send again from the first byte not acknowledged, the FIN too. */
static void dup_acks_go_back(void **state)
{
	(void)state;
	struct client c;
	struct seg s;
	uint8_t f[128];
	static char text[4001];
	memset(text, 'y', 4000);
	json_t *p = json_pack("{s:s}", "big", text);
	assert_int_equal(mmds_store_patch(&store, p), 0);
	json_decref(p);
	client_connect(&c, 9100);
	client_send(&c, "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n", 40, 0);
	assert_true(next_seg(&s) && s.dlen && s.seq == c.rcv); /* the first segment: "lost" */
	uint32_t first = s.seq;
	while (next_seg(&s)) /* the rest of the answer and the FIN */
		;
	assert_true(s.flags & 0x01);
	for (int i = 0; i < 2; i++) {
		in(f, tcp(f, c.port, 80, c.snd, first, 0x10, NULL, 0));
		assert_false(next_seg(&s));
	}
	in(f, tcp(f, c.port, 80, c.snd, first, 0x10, NULL, 0));
	assert_int_equal(c.rcv, first);
	client_drain(&c); /* everything again from `first` (it checks), acked, up to the FIN */
	c.got[c.len] = '\0';
	assert_int_equal(atoi(c.got + 9), 200);
	assert_true(c.fin);
	assert_true(c.len > 4000);
}

static void pipelined(void **state)
{
	(void)state;
	struct client c;
	const char two[] = "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n"
	                   "GET /latest/meta-data/zone/a HTTP/1.1\r\nConnection: close\r\n\r\n";
	client_connect(&c, 9000);
	client_send(&c, two, sizeof(two) - 1, 0);
	client_drain(&c);
	c.got[c.len] = '\0';
	assert_non_null(strstr(c.got, "\r\n\r\nami-1HTTP/1.1 200"));
	assert_true(c.len > 5 && strcmp(c.got + c.len - 5, "\r\n\r\nb") == 0);
	assert_true(c.fin);
}

/* Garbage, and every header field of a valid segment mangled: nothing breaks, and the
 * service answers afterwards. */
static void garbage(void **state)
{
	(void)state;
	uint8_t f[MMDS_IN_MAX];
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)rand_r(&seed) % sizeof(f);
		if (i & 1) {
			n = tcp(f, (uint16_t)(10000 + (i & 7)), 80, (uint32_t)rand_r(&seed),
			        (uint32_t)rand_r(&seed), (uint8_t)rand_r(&seed),
			        "GET / HTTP/1.1\r\n\r\n", (size_t)(i % 19));
			f[(size_t)rand_r(&seed) % n] ^= (uint8_t)rand_r(&seed);
		} else {
			for (size_t j = 0; j < n; j++)
				f[j] = (uint8_t)rand_r(&seed);
			if (n > 34) {
				put16(f + 12, (i & 2) ? 0x0800 : 0x0806);
				f[14] = 0x45;
				put32(f + 30, MMDS_IP);
			}
		}
		mmds_net_input(&net, f, n, (i & 4) != 0, NOW);
		while (mmds_net_output(&net, outbuf, (size_t)(64 + i % 1500), NOW))
			;
	}
	struct client c;
	const char *body;
	assert_int_equal(request(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", &body), 200);
	assert_string_equal(body, "ami-1");
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(store_put_patch_limit),
	    cmocka_unit_test_setup_teardown(arp_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(get_v1_nested, setup, teardown),
	    cmocka_unit_test_setup_teardown(token_flow_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(tokens_forged, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_checksums, setup, teardown),
	    cmocka_unit_test_setup_teardown(oversized_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(resets, setup, teardown),
	    cmocka_unit_test_setup_teardown(close_and_eviction, setup, teardown),
	    cmocka_unit_test_setup_teardown(large_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(dup_acks_go_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(garbage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
