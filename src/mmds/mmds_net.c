/*
 * MMDS's network stack, the guest's side of it: ARP for the service's address, and a
 * minimal TCP server on port 80 (SYN/ACK, in-order data, FIN, RST; no options but MSS, no
 * window scaling, go-back-N on a third duplicate ACK) with a fixed table of connections.
 * virtio-net hands it the guest's frames for the address and asks it for frames to give
 * back; the link between them loses nothing, so there are no timers.
 */
#include "mmds.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const uint8_t mmds_mac[6] = {0x06, 0x01, 0x23, 0x45, 0x67, 0x01};

#define ETH_HLEN  14
#define ETH_P_IP  0x0800
#define ETH_P_ARP 0x0806
#define IP_HLEN   20
#define TCP_HLEN  20
#define MMDS_PORT 80
#define TCP_FIN   0x01
#define TCP_SYN   0x02
#define TCP_RST   0x04
#define TCP_PSH   0x08
#define TCP_ACK   0x10
#define DUP_ACKS  3

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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

/* The ones' complement sum of [p, p + n), added to sum (not folded). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < n; i += 2)
		sum += be16(p + i);
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The TCP pseudo-header's sum. */
static uint32_t csum_pseudo(uint32_t src, uint32_t dst, size_t tcp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6u + (uint32_t)tcp_len;
}

/* a < b in sequence space. */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static uint32_t isn_next(struct mmds_net *m)
{
	uint32_t x = m->isn_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->isn_state = x ? x : 0x9e3779b9u;
	return x;
}

int mmds_net_init(struct mmds_net *m, struct mmds_store *store, uint32_t ip)
{
	memset(m, 0, sizeof(*m));
	m->store = store;
	m->ip = ip;
	/* The largest answer: the whole store as JSON, and room for the status and headers. */
	m->tx_cap = store->limit + 1024;
	m->tx_mem = calloc(MMDS_CONNS, m->tx_cap);
	if (!m->tx_mem)
		return -ENOMEM;
	for (unsigned i = 0; i < MMDS_CONNS; i++)
		m->conns[i].tx = m->tx_mem + i * m->tx_cap;
	if (getrandom(&m->isn_state, sizeof(m->isn_state), 0) != sizeof(m->isn_state) ||
	    !m->isn_state)
		m->isn_state = 0x9e3779b9u;
	return 0;
}

void mmds_net_destroy(struct mmds_net *m)
{
	free(m->tx_mem);
	m->tx_mem = NULL;
}

static void conn_free(struct mmds_conn *c)
{
	char *tx = c->tx;
	memset(c, 0, offsetof(struct mmds_conn, rx));
	c->tx = tx;
}

void mmds_net_reset(struct mmds_net *m)
{
	m->arp_due = false;
	m->nrsts = 0;
	for (unsigned i = 0; i < MMDS_CONNS; i++)
		conn_free(&m->conns[i]);
}

bool mmds_net_claims(const struct mmds_net *m, const uint8_t *head, size_t len)
{
	if (len < ETH_HLEN + IP_HLEN)
		return false;
	uint16_t type = be16(head + 12);
	if (type == ETH_P_ARP)
		return len >= ETH_HLEN + 28 && be16(head + ETH_HLEN + 6) == 1 &&
		       be32(head + ETH_HLEN + 24) == m->ip;
	return type == ETH_P_IP && (head[ETH_HLEN] >> 4) == 4 &&
	       be32(head + ETH_HLEN + 16) == m->ip;
}

static void arp_input(struct mmds_net *m, const uint8_t *a, size_t len)
{
	/* htype Ethernet, ptype IPv4, 6- and 4-byte addresses, a request for us. */
	if (len < 28 || be16(a) != 1 || be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4 ||
	    be16(a + 6) != 1 || be32(a + 24) != m->ip || (a[8] & 1)) {
		m->rx_dropped++;
		return;
	}
	memcpy(m->arp_mac, a + 8, 6);
	m->arp_ip = be32(a + 14);
	m->arp_due = true;
}

static void rst_queue(struct mmds_net *m, const uint8_t *mac, uint32_t ip, uint16_t port,
                      uint16_t our_port, uint32_t seq, uint32_t ack, bool ack_set)
{
	if (m->nrsts == MMDS_RSTS) {
		m->rx_dropped++;
		return;
	}
	struct mmds_rst *r = &m->rsts[m->nrsts++];
	memcpy(r->mac, mac, 6);
	r->ip = ip;
	r->port = port;
	r->our_port = our_port;
	r->seq = seq;
	r->ack = ack;
	r->ack_set = ack_set;
}

static struct mmds_conn *conn_find(struct mmds_net *m, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &m->conns[i];
		if (c->state != MMDS_TCP_FREE && c->ip == ip && c->port == port)
			return c;
	}
	return NULL;
}

/* A free slot, else the one the guest has been silent on longest. */
static struct mmds_conn *conn_alloc(struct mmds_net *m)
{
	struct mmds_conn *old = &m->conns[0];
	for (unsigned i = 0; i < MMDS_CONNS; i++) {
		struct mmds_conn *c = &m->conns[i];
		if (c->state == MMDS_TCP_FREE)
			return c;
		if (c->last_ms < old->last_ms)
			old = c;
	}
	m->conns_evicted++;
	conn_free(old);
	return old;
}

/* The MSS option of a SYN's options [o, o + n), or 536 (RFC 9293's default). */
static uint16_t syn_mss(const uint8_t *o, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || o[i + 1] > n - i)
			break;
		if (o[i] == 2 && o[i + 1] == 4)
			return be16(o + i + 2);
		i += o[i + 1];
	}
	return 536;
}

/* Answer the next whole request in rx once the last answer is all acknowledged. */
static void conn_serve(struct mmds_net *m, struct mmds_conn *c, uint64_t now_ms)
{
	if (c->state != MMDS_TCP_ESTABLISHED || c->tx_len || c->close_after || !c->rx_len)
		return;
	size_t used = 0;
	bool close = false;
	size_t n =
	    mmds_http_respond(m->store, c->rx, c->rx_len, now_ms, c->tx, m->tx_cap, &used, &close);
	if (!n && !used)
		return; /* not whole yet */
	if (used > c->rx_len)
		used = c->rx_len;
	memmove(c->rx, c->rx + used, c->rx_len - used);
	c->rx_len -= used;
	c->tx_len = n;
	c->tx_base = c->snd_nxt;
	c->close_after = close || !n;
}

/* Whether conn c has its FIN to send: the answers are all sent, and it closes, or the guest
 * closed and left no whole request. */
static bool fin_due(const struct mmds_conn *c)
{
	if (c->state != MMDS_TCP_ESTABLISHED || c->fin_sent || c->snd_nxt != c->tx_base + c->tx_len)
		return false;
	if (c->close_after)
		return true;
	return c->peer_fin && c->tx_len == 0;
}

static void tcp_input(struct mmds_net *m, const uint8_t *mac, uint32_t src, const uint8_t *t,
                      size_t tlen, uint64_t now_ms)
{
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > tlen) {
		m->rx_dropped++;
		return;
	}
	uint16_t sport = be16(t), dport = be16(t + 2);
	uint32_t seq = be32(t + 4), ack = be32(t + 8);
	uint8_t fl = t[13];
	uint16_t wnd = be16(t + 14);
	const uint8_t *data = t + doff;
	size_t dlen = tlen - doff;

	if (fl & TCP_RST) {
		struct mmds_conn *c = conn_find(m, src, sport);
		/* Only a RST at the edge of what we expect ends a connection (RFC 5961's check,
		 * without its challenge ACK). */
		if (c &&
		    (seq == c->rcv_nxt || (c->state == MMDS_TCP_SYN_RCVD && seq == c->irs + 1)))
			conn_free(c);
		return;
	}
	if (dport != MMDS_PORT) {
		rst_queue(m, mac, src, sport, dport, (fl & TCP_ACK) ? ack : 0,
		          seq + (uint32_t)dlen + ((fl & TCP_SYN) ? 1u : 0u) +
		              ((fl & TCP_FIN) ? 1u : 0u),
		          !(fl & TCP_ACK));
		return;
	}
	struct mmds_conn *c = conn_find(m, src, sport);
	if (fl & TCP_SYN) {
		if (fl & TCP_ACK) {
			rst_queue(m, mac, src, sport, dport, ack, 0, false);
			return;
		}
		if (c && c->state == MMDS_TCP_SYN_RCVD && seq == c->irs) {
			c->synack_due = true; /* a repeated SYN: our SYN-ACK again */
			return;
		}
		if (c)
			conn_free(c);
		c = conn_alloc(m);
		c->state = MMDS_TCP_SYN_RCVD;
		memcpy(c->mac, mac, 6);
		c->ip = src;
		c->port = sport;
		c->irs = seq;
		c->rcv_nxt = seq + 1;
		c->iss = isn_next(m);
		c->snd_una = c->snd_nxt = c->iss;
		c->tx_base = c->iss + 1;
		uint16_t mss = syn_mss(t + TCP_HLEN, doff - TCP_HLEN);
		c->mss = mss < 64 ? 64 : mss > MMDS_MSS ? MMDS_MSS : mss;
		c->peer_wnd = wnd;
		c->synack_due = true;
		c->last_ms = now_ms;
		return;
	}
	if (!c) {
		/* Not ours (an old connection, or a guest probing): RFC 9293's reset. */
		if (fl & TCP_ACK)
			rst_queue(m, mac, src, sport, dport, ack, 0, false);
		else
			rst_queue(m, mac, src, sport, dport, 0,
			          seq + (uint32_t)dlen + ((fl & TCP_FIN) ? 1u : 0u), true);
		return;
	}
	if (!(fl & TCP_ACK))
		return; /* every segment after the SYN carries an ACK */
	c->last_ms = now_ms;

	if (c->state == MMDS_TCP_SYN_RCVD) {
		if (ack != c->iss + 1 || c->synack_due) {
			rst_queue(m, mac, src, sport, dport, ack, 0, false);
			return;
		}
		c->state = MMDS_TCP_ESTABLISHED;
		c->snd_una = ack;
	}
	/* The acknowledgment: what we sent, up to snd_nxt. */
	if (seq_lt(c->snd_nxt, ack)) {
		c->ack_due = true; /* acks what we never sent: tell it where we are, drop */
		return;
	}
	if (seq_lt(c->snd_una, ack)) {
		c->snd_una = ack;
		c->dup_acks = 0;
	} else if (ack == c->snd_una && c->snd_una != c->snd_nxt && !dlen && !(fl & TCP_FIN) &&
	           ++c->dup_acks >= DUP_ACKS) {
		/* Lost on the way (not by virtio-net, but by a guest short of memory): go back. */
		c->dup_acks = 0;
		c->snd_nxt = c->snd_una;
		if (c->fin_sent && seq_lt(c->snd_una, c->tx_base + (uint32_t)c->tx_len + 1))
			c->fin_sent = false;
	}
	c->peer_wnd = wnd;

	/* Data and FIN, in order only. */
	if (dlen || (fl & TCP_FIN)) {
		uint32_t off = c->rcv_nxt - seq;
		if (seq_lt(c->rcv_nxt, seq) || off > dlen) {
			c->ack_due = true; /* out of order, or all old: say what we expect */
		} else {
			data += off;
			dlen -= off;
			size_t room = MMDS_REQ_MAX - c->rx_len;
			size_t take = c->peer_fin ? 0 : dlen < room ? dlen : room;
			memcpy(c->rx + c->rx_len, data, take);
			c->rx_len += take;
			c->rcv_nxt += (uint32_t)take;
			if ((fl & TCP_FIN) && take == dlen && !c->peer_fin) {
				c->peer_fin = true;
				c->rcv_nxt++;
			}
			c->ack_due = true;
		}
	}
	/* All of the last answer acknowledged: the buffer is free for the next. */
	if (c->tx_len && !seq_lt(c->snd_una, c->tx_base + (uint32_t)c->tx_len)) {
		c->tx_base += (uint32_t)c->tx_len;
		c->tx_len = 0;
	}
	conn_serve(m, c, now_ms);
	/* Our FIN acknowledged and the guest's received: done once it has our last ACK. */
	if (c->fin_sent && c->peer_fin && c->snd_una == c->snd_nxt && !c->ack_due)
		conn_free(c);
}

void mmds_net_input(struct mmds_net *m, const uint8_t *f, size_t len, bool csum_trusted,
                    uint64_t now_ms)
{
	m->rx_frames++;
	if (len < ETH_HLEN) {
		m->rx_dropped++;
		return;
	}
	if (be16(f + 12) == ETH_P_ARP) {
		arp_input(m, f + ETH_HLEN, len - ETH_HLEN);
		return;
	}
	const uint8_t *ip = f + ETH_HLEN;
	size_t iplen = len - ETH_HLEN;
	if (be16(f + 12) != ETH_P_IP || iplen < IP_HLEN || (ip[0] >> 4) != 4) {
		m->rx_dropped++;
		return;
	}
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = be16(ip + 2);
	/* Whole, unfragmented, for us, TCP, and a header that sums to zero. */
	if (ihl < IP_HLEN || tot < ihl || tot > iplen || (be16(ip + 6) & 0x3fff) ||
	    be32(ip + 16) != m->ip || ip[9] != 6) {
		m->rx_dropped++;
		return;
	}
	if (csum_fold(csum_add(0, ip, ihl))) {
		m->bad_csum++;
		return;
	}
	const uint8_t *t = ip + ihl;
	size_t tlen = tot - ihl;
	uint32_t src = be32(ip + 12);
	if (tlen < TCP_HLEN) {
		m->rx_dropped++;
		return;
	}
	if (!csum_trusted && csum_fold(csum_add(csum_pseudo(src, m->ip, tlen), t, tlen))) {
		m->bad_csum++;
		return;
	}
	/* A source the guest cannot own: never answered. */
	if ((f[6] & 1) || src == 0 || src == 0xffffffffu || (src >> 28) == 0xe) {
		m->rx_dropped++;
		return;
	}
	tcp_input(m, f + 6, src, t, tlen, now_ms);
}

/* ---- frames out ---- */

enum out_kind { OUT_NONE, OUT_SYNACK, OUT_DATA, OUT_FIN, OUT_ACK };

/* What conn c sends next, and for data how many bytes at most (before cap). */
static enum out_kind conn_next(const struct mmds_conn *c, size_t *avail)
{
	*avail = 0;
	if (c->state == MMDS_TCP_SYN_RCVD)
		return c->synack_due ? OUT_SYNACK : OUT_NONE;
	if (c->state == MMDS_TCP_FREE)
		return OUT_NONE;
	uint32_t end = c->tx_base + (uint32_t)c->tx_len;
	/* snd_nxt never falls behind tx_base (only acked bytes move it); should it, the
	 * copy from tx must not go below its start. */
	if (c->state == MMDS_TCP_ESTABLISHED && seq_lt(c->snd_nxt, end) &&
	    c->snd_nxt - c->tx_base < c->tx_len) {
		uint32_t inflight = c->snd_nxt - c->snd_una;
		size_t left = c->peer_wnd > inflight ? c->peer_wnd - inflight : 0;
		size_t want = end - c->snd_nxt;
		*avail = want < left ? want : left;
		if (*avail > c->mss)
			*avail = c->mss;
		if (*avail)
			return OUT_DATA;
	}
	if (fin_due(c))
		return OUT_FIN;
	return c->ack_due ? OUT_ACK : OUT_NONE;
}

bool mmds_net_pending(const struct mmds_net *m)
{
	size_t a;
	if (m->arp_due || m->nrsts)
		return true;
	for (unsigned i = 0; i < MMDS_CONNS; i++)
		if (conn_next(&m->conns[i], &a) != OUT_NONE)
			return true;
	return false;
}

/* Ethernet, IPv4 and TCP headers around the payload already at out + 54 (+ 4 with the MSS
 * option of a SYN-ACK). Returns the frame's length. */
static size_t tcp_frame(const struct mmds_net *m, uint8_t *out, const uint8_t *mac, uint32_t ip,
                        uint16_t sport, uint16_t port, uint32_t seq, uint32_t ack, uint8_t fl,
                        uint16_t wnd, uint16_t mss_opt, size_t plen)
{
	size_t thl = TCP_HLEN + (mss_opt ? 4 : 0), tlen = thl + plen;
	uint8_t *iph = out + ETH_HLEN, *t = iph + IP_HLEN;

	memcpy(out, mac, 6);
	memcpy(out + 6, mmds_mac, 6);
	put16(out + 12, ETH_P_IP);
	memset(iph, 0, IP_HLEN);
	iph[0] = 0x45;
	put16(iph + 2, (uint16_t)(IP_HLEN + tlen));
	put16(iph + 6, 0x4000); /* DF */
	iph[8] = 64;
	iph[9] = 6;
	put32(iph + 12, m->ip);
	put32(iph + 16, ip);
	put16(iph + 10, csum_fold(csum_add(0, iph, IP_HLEN)));
	put16(t, sport);
	put16(t + 2, port);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = fl;
	put16(t + 14, wnd);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (mss_opt) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, mss_opt);
	}
	put16(t + 16, csum_fold(csum_add(csum_pseudo(m->ip, ip, tlen), t, tlen)));
	return ETH_HLEN + IP_HLEN + tlen;
}

static size_t arp_frame(struct mmds_net *m, uint8_t *out)
{
	uint8_t *a = out + ETH_HLEN;
	memcpy(out, m->arp_mac, 6);
	memcpy(out + 6, mmds_mac, 6);
	put16(out + 12, ETH_P_ARP);
	put16(a, 1);
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);
	memcpy(a + 8, mmds_mac, 6);
	put32(a + 14, m->ip);
	memcpy(a + 18, m->arp_mac, 6);
	put32(a + 24, m->arp_ip);
	m->arp_due = false;
	return ETH_HLEN + 28;
}

size_t mmds_net_output(struct mmds_net *m, uint8_t *out, size_t cap, uint64_t now_ms)
{
	const size_t hdrs = ETH_HLEN + IP_HLEN + TCP_HLEN;
	(void)now_ms;
	if (cap < 64)
		return 0;
	if (m->arp_due) {
		m->tx_frames++;
		return arp_frame(m, out);
	}
	if (m->nrsts) {
		struct mmds_rst r = m->rsts[--m->nrsts];
		m->tx_frames++;
		return tcp_frame(m, out, r.mac, r.ip, r.our_port, r.port, r.seq, r.ack,
		                 TCP_RST | (r.ack_set ? TCP_ACK : 0), 0, 0, 0);
	}
	for (unsigned k = 0; k < MMDS_CONNS; k++) {
		unsigned i = (m->next_conn + k) % MMDS_CONNS;
		struct mmds_conn *c = &m->conns[i];
		size_t avail;
		enum out_kind kind = conn_next(c, &avail);
		if (kind == OUT_NONE)
			continue;
		uint16_t wnd = (uint16_t)(MMDS_REQ_MAX - c->rx_len);
		size_t len = 0;
		m->next_conn = i + 1;
		m->tx_frames++;
		switch (kind) {
		case OUT_SYNACK:
			c->synack_due = false;
			c->snd_nxt = c->iss + 1;
			return tcp_frame(m, out, c->mac, c->ip, MMDS_PORT, c->port, c->iss,
			                 c->rcv_nxt, TCP_SYN | TCP_ACK, wnd, MMDS_MSS, 0);
		case OUT_DATA:
			if (avail > cap - hdrs)
				avail = cap - hdrs;
			memcpy(out + hdrs, c->tx + (c->snd_nxt - c->tx_base), avail);
			len = tcp_frame(m, out, c->mac, c->ip, MMDS_PORT, c->port, c->snd_nxt,
			                c->rcv_nxt, TCP_ACK | TCP_PSH, wnd, 0, avail);
			c->snd_nxt += (uint32_t)avail;
			c->ack_due = false;
			return len;
		case OUT_FIN:
			len = tcp_frame(m, out, c->mac, c->ip, MMDS_PORT, c->port, c->snd_nxt,
			                c->rcv_nxt, TCP_FIN | TCP_ACK, wnd, 0, 0);
			c->snd_nxt++;
			c->fin_sent = true;
			c->ack_due = false;
			return len;
		case OUT_ACK:
			len = tcp_frame(m, out, c->mac, c->ip, MMDS_PORT, c->port, c->snd_nxt,
			                c->rcv_nxt, TCP_ACK, wnd, 0, 0);
			c->ack_due = false;
			/* The last ACK of a connection both sides closed. */
			if (c->fin_sent && c->peer_fin && c->snd_una == c->snd_nxt)
				conn_free(c);
			return len;
		case OUT_NONE:
			break;
		}
	}
	return 0;
}
