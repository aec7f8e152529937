/*
 * MMDS, the microVM metadata service (Firecracker's docs/mmds): a JSON store the host
 * fills through the API (mmds_store_*), served to the guest over HTTP on a link-local
 * address of one or more virtio-net interfaces (mmds_http_*, over the minimal ARP/IPv4/TCP
 * of mmds_net_*). Everything runs on the vmm thread; nothing here locks.
 *
 * The guest is the attacker of mmds_net_* and mmds_http_*: every length and offset it
 * sends is checked before use, tables and buffers are fixed at creation, and nothing is
 * allocated per frame (rendering a JSON answer with jansson allocates, once per request).
 */
#ifndef EMBER_MMDS_H
#define EMBER_MMDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_DEFAULT_LIMIT 51200       /* bytes of the store as compact JSON (Firecracker's) */
#define MMDS_DEFAULT_IPV4  0xa9fea9feu /* 169.254.169.254, host order */
#define MMDS_TOKEN_LEN     32          /* base64 characters of a token (24 bytes) */
#define MMDS_TTL_MIN       1
#define MMDS_TTL_MAX       21600

enum mmds_version { MMDS_V1, MMDS_V2 };

struct mmds_store {
	json_t *data; /* NULL until the first PUT (Firecracker's "not initialized") */
	size_t limit; /* the compact JSON of data never exceeds it */
	enum mmds_version version;
	bool imds_compat; /* answer in IMDS format whatever the Accept header says */
	/* V2 tokens are stateless, as Firecracker's: a random nonce, the expiry hidden under
	 * a keyed pad, and a keyed MAC over both (SipHash-2-4 with these random keys). */
	uint64_t key_pad[2], key_mac[2];
};

/* ---- the store (mmds_store.c) ---- */

/* An empty, uninitialized store with the given size limit (bytes, >= 1) and new random
 * token keys. Returns 0, or -EIO when getrandom(2) fails (the store is still usable, its
 * tokens are not: the caller refuses to start). */
int mmds_store_init(struct mmds_store *s, size_t limit);

/* Drop the data. */
void mmds_store_destroy(struct mmds_store *s);

/* Replace the data with v (taken by reference: incref'd; object keys kept sorted, as
 * Firecracker shows them). Returns 0, or -EFBIG (the store unchanged) when v's compact JSON
 * is over the limit, -ENOMEM. */
int mmds_store_put(struct mmds_store *s, json_t *v);

/* RFC 7396 merge patch of the data with patch. Returns 0, -ENODATA when nothing was ever
 * PUT, -EFBIG when the result is over the limit, -ENOMEM; on error the data is unchanged. */
int mmds_store_patch(struct mmds_store *s, const json_t *patch);

/* The data as compact JSON into buf (cap bytes, NUL-terminated): "null" before the first
 * PUT, as Firecracker's GET /mmds. Returns the length, or -ENOSPC. */
long mmds_store_dump(const struct mmds_store *s, char *buf, size_t cap);

/* A new V2 session token valid for ttl_s seconds from now_ms, into out (MMDS_TOKEN_LEN + 1
 * bytes). Any number may be live. Returns 0, or -EINVAL for a ttl outside
 * MMDS_TTL_MIN..MMDS_TTL_MAX, -EIO when no randomness could be had for its nonce. */
int mmds_token_new(struct mmds_store *s, unsigned ttl_s, uint64_t now_ms, char *out);

/* Whether tok (len bytes, any content) is a token this store made, not expired at now_ms.
 * The MAC is compared in constant time. */
bool mmds_token_ok(const struct mmds_store *s, const char *tok, size_t len, uint64_t now_ms);

/* ---- HTTP for the guest (mmds_http.c) ---- */

#define MMDS_REQ_MAX 4096 /* a request's head and body; more is a 400 and the end */

/*
 * Answer the first request in req[0, len) (bytes the guest sent, any content) into
 * out[0, cap). Returns the answer's length and sets *used (the request's bytes, to drop)
 * and *close (the connection ends after the answer: HTTP/1.0, "Connection: close", or a
 * request that could not be framed). Returns 0 when req holds no whole request yet; a
 * head that does not end within MMDS_REQ_MAX is answered 400 with *close set. Statuses and
 * bodies as Firecracker's MMDS: 200, 400, 401 (V2 token missing or invalid), 404, 405
 * (with Allow), 413, 501 (a value IMDS cannot show). cap must hold at least 512 bytes;
 * an answer that does not fit is a 500.
 */
size_t mmds_http_respond(struct mmds_store *s, const char *req, size_t len, uint64_t now_ms,
                         char *out, size_t cap, size_t *used, bool *close);

/* ---- the guest-facing network stack (mmds_net.c) ---- */

#define MMDS_CONNS     8    /* TCP connections at once; a new one evicts the idlest */
#define MMDS_RSTS      8    /* RSTs waiting to be sent; more are dropped */
#define MMDS_MSS       1460 /* the largest segment we send (less if the guest asks) */
#define MMDS_FRAME_MAX (14 + 20 + 24 + MMDS_MSS)     /* the largest frame we send */
#define MMDS_IN_MAX    (14 + 60 + 60 + MMDS_REQ_MAX) /* larger frames to us are dropped */

extern const uint8_t mmds_mac[6]; /* the service's MAC (Firecracker's 06:01:23:45:67:01) */

enum mmds_tcp_state {
	MMDS_TCP_FREE,
	MMDS_TCP_SYN_RCVD,    /* SYN-ACK pending or sent */
	MMDS_TCP_ESTABLISHED, /* until both FINs are acknowledged (peer_fin, fin_sent) */
};

struct mmds_conn {
	enum mmds_tcp_state state;
	uint8_t mac[6];                 /* the guest's */
	uint32_t ip;                    /* the guest's, host order */
	uint16_t port;                  /* the guest's */
	uint16_t mss;                   /* what we send at most */
	uint32_t iss, snd_una, snd_nxt; /* ours */
	uint32_t tx_base;               /* the sequence number of tx[0] */
	uint32_t irs, rcv_nxt;          /* the guest's */
	uint32_t peer_wnd;              /* what the guest can take beyond snd_una */
	unsigned dup_acks;              /* in a row; the third sends again from snd_una */
	bool ack_due, synack_due, peer_fin, fin_sent, close_after;
	uint64_t last_ms; /* last segment from the guest, for eviction */
	size_t rx_len;    /* request bytes in rx */
	size_t tx_len;    /* answer bytes in tx, from tx_base; all acked: 0 */
	char rx[MMDS_REQ_MAX];
	char *tx; /* tx_cap bytes, part of the stack's one allocation */
};

struct mmds_rst {
	uint8_t mac[6];
	uint32_t ip, seq, ack;
	uint16_t port;     /* the guest's */
	uint16_t our_port; /* the port the guest's segment went to */
	bool ack_set;
};

struct mmds_net {
	struct mmds_store *store; /* borrowed: the controller's */
	uint32_t ip;              /* the service's address, host order */
	size_t tx_cap;            /* each connection's answer buffer */
	char *tx_mem;             /* MMDS_CONNS * tx_cap */
	/* A pending ARP reply. */
	bool arp_due;
	uint8_t arp_mac[6];
	uint32_t arp_ip;
	struct mmds_rst rsts[MMDS_RSTS];
	unsigned nrsts;
	unsigned next_conn; /* round-robin start for frames out */
	uint32_t isn_state; /* xorshift for initial sequence numbers, seeded from getrandom */
	struct mmds_conn conns[MMDS_CONNS];
	uint8_t in[MMDS_IN_MAX]; /* net.c copies a tx frame here */
	uint8_t out[MMDS_FRAME_MAX];
	/* Counters. */
	uint64_t rx_frames, rx_dropped, tx_frames, conns_evicted, bad_csum;
};

/* Set up a stack serving store at ip (host order). Returns 0 or -ENOMEM. */
int mmds_net_init(struct mmds_net *m, struct mmds_store *store, uint32_t ip);

/* Free what mmds_net_init allocated. Safe on a zeroed struct. */
void mmds_net_destroy(struct mmds_net *m);

/* Drop every connection and pending reply (the guest reset its NIC). */
void mmds_net_reset(struct mmds_net *m);

/* Whether a guest frame whose first len bytes are head (any content, any len) is for the
 * service: an ARP request for its address, or IPv4 to it. Such frames never reach the tap. */
bool mmds_net_claims(const struct mmds_net *m, const uint8_t *head, size_t len);

/* Take one frame from the guest (frame[0, len), any content; csum_trusted: the guest left
 * the TCP checksum to the device, VIRTIO_NET_HDR_F_NEEDS_CSUM), at now_ms. Malformed
 * frames are dropped and counted. */
void mmds_net_input(struct mmds_net *m, const uint8_t *frame, size_t len, bool csum_trusted,
                    uint64_t now_ms);

/* Whether a frame waits to go to the guest. */
bool mmds_net_pending(const struct mmds_net *m);

/* Write the next frame for the guest into out[0, cap) and return its length; 0 when none
 * waits or cap is under 64. Data segments are cut to fit cap. */
size_t mmds_net_output(struct mmds_net *m, uint8_t *out, size_t cap, uint64_t now_ms);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t mmds_now_ms(void);

#endif
