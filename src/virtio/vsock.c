/*
 * virtio-vsock: guest stream sockets relayed to host Unix sockets, Firecracker's way
 * (vsock.h). Packets from the guest are checked field by field; each connection tracks
 * credit both ways (virtio 1.2, 5.10.6.3) and holds at most its advertised buf_alloc of
 * guest bytes that the host side has not taken yet. Nothing is allocated after create.
 */
#include "vsock.h"
#include "iov.h"
#include "../base/log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vsock packet headers are read as little-endian host structs"
#endif

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NUM_QUEUES };

#define VIRTIO_VSOCK_F_STREAM 0

#define VSOCK_HOST_CID    2
#define VSOCK_TYPE_STREAM 1

enum {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV  1u /* the sender will receive no more data */
#define VSOCK_SHUTDOWN_SEND 2u /* the sender will send no more data */

/* The packet header (5.10.6), little-endian as the host is. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_SIZE 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

#define VSOCK_MAX_PAYLOAD (64u << 10)  /* Linux never sends more in one packet */
#define VSOCK_BUF_ALLOC   (256u << 10) /* what each connection advertises to the guest */
/* Room past buf_alloc for the "OK <port>\n" Ember itself writes to the host side. */
#define VSOCK_BUF_SLACK 4096u
#define VSOCK_BUF_CAP   (VSOCK_BUF_ALLOC + VSOCK_BUF_SLACK)
/* Send CREDIT_UPDATE once the guest believes it has less room than this: half the buffer,
 * so a guest sending 64 KiB packets hears back before it runs dry. */
#define VSOCK_CREDIT_LOW      (VSOCK_BUF_ALLOC / 2)
#define VSOCK_LINE_MAX        32 /* "CONNECT 4294967295\n" is 19 bytes */
#define VSOCK_HOST_PORT_FIRST (1u << 30)
#define VSOCK_HASH_SIZE       256
#define VSOCK_RST_RING        64
/* Per call, so one busy connection or a flooding guest cannot starve other fds. */
#define VSOCK_RX_BUDGET     64
#define VSOCK_TX_BUDGET     64
#define VSOCK_ACCEPT_BUDGET 16

enum conn_state {
	CONN_FREE,
	CONN_LINE,       /* host-initiated: reading "CONNECT <port>\n" */
	CONN_CONNECTING, /* host-initiated: REQUEST queued or sent, awaiting RESPONSE */
	CONN_OPEN,       /* relaying */
	CONN_CLOSING,    /* the Unix side is closed: SHUTDOWN/RST still due, then the slot frees */
};

/* What a connection still has to send the guest, served in this order. */
#define TELL_REQUEST  0x01u
#define TELL_RESPONSE 0x02u
#define TELL_DATA     0x04u /* the Unix socket may hold bytes for the guest */
#define TELL_CREDIT   0x08u
#define TELL_SHUTDOWN 0x10u
#define TELL_RST      0x20u

struct vsock_conn {
	struct vsock_state *st;
	struct el_handler h;
	uint8_t *buf; /* VSOCK_BUF_CAP bytes: guest bytes the Unix side has not taken yet */

	/* Everything below is cleared when the slot is freed. */
	enum conn_state state;
	int fd;
	uint32_t host_port, guest_port;
	bool keyed; /* in the hash under (host_port, guest_port) */
	int16_t hnext;
	unsigned tell;
	uint32_t shutdown_flags; /* of the SHUTDOWN to send */
	bool watched;            /* fd is on the loop, for events */
	uint32_t events;
	bool hup;          /* the Unix peer is gone: fd off the loop, reads drain it */
	bool host_eof;     /* the Unix side sends no more; the guest was told */
	bool guest_eof;    /* the guest sends no more (SHUTDOWN SEND) */
	bool guest_no_rcv; /* the guest receives no more (SHUTDOWN RCV) */
	bool wr_shut;      /* shutdown(SHUT_WR) done on the Unix socket */
	bool credit_asked; /* the guest sent CREDIT_REQUEST */
	bool buf_touched;

	/* Host to guest: the guest's buffer and how much of what we sent it has consumed. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest to host: bytes received, bytes written to the Unix socket, and the fwd_cnt
	 * the guest last saw. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_told;
	uint32_t buf_head, buf_len;
	uint32_t buf_extra; /* bytes at the front of buf that are Ember's, not the guest's */

	uint8_t line_len;
	char line[VSOCK_LINE_MAX];
};

struct vsock_rst {
	uint64_t src_cid;
	uint32_t src_port, dst_port;
};

struct vsock_state {
	struct virtio_vsock *v;
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool path_bound; /* we created uds_path and unlink it at destroy */
	int listen_fd;
	bool listening; /* listen_fd is on the loop */
	struct el_handler listen_handler;
	bool full_logged;

	uint32_t next_host_port;
	unsigned next_slot;
	int16_t hash[VSOCK_HASH_SIZE];

	/* Connections with something to send the guest, round-robin. A slot is in runq at
	 * most once (queued[]); a freed slot's entry stays and is skipped when reached. */
	uint16_t runq[VSOCK_MAX_CONNS];
	unsigned runq_head, runq_len;
	bool queued[VSOCK_MAX_CONNS];

	/* RST answers to packets that match no connection. tx stops while it is full. */
	struct vsock_rst rst[VSOCK_RST_RING];
	unsigned rst_head, rst_len;
	bool tx_blocked;

	uint8_t *bufs;
	size_t bufs_size;
	struct iovec rx_iov[VQ_MAX_SIZE], tx_iov[VQ_MAX_SIZE], data_iov[VQ_MAX_SIZE];
	struct vsock_conn conns[VSOCK_MAX_CONNS];
};

static void rx_run(struct vsock_state *st);

static struct virtio_dev *st_vdev(struct vsock_state *st)
{
	return &st->v->vdev;
}

static unsigned conn_index(const struct vsock_conn *conn)
{
	return (unsigned)(conn - conn->st->conns);
}

/* --- Connection table --- */

static unsigned hash_of(uint32_t host_port, uint32_t guest_port)
{
	return ((host_port * 2654435761u) ^ (guest_port * 2246822519u)) >> 24;
}

static struct vsock_conn *conn_lookup(struct vsock_state *st, uint32_t host_port,
                                      uint32_t guest_port)
{
	int i = st->hash[hash_of(host_port, guest_port)];
	for (unsigned seen = 0; i >= 0 && seen < VSOCK_MAX_CONNS; seen++) {
		struct vsock_conn *conn = &st->conns[i];
		if (conn->host_port == host_port && conn->guest_port == guest_port)
			return conn;
		i = conn->hnext;
	}
	return NULL;
}

static void conn_key(struct vsock_conn *conn, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_state *st = conn->st;
	unsigned b = hash_of(host_port, guest_port);
	conn->host_port = host_port;
	conn->guest_port = guest_port;
	conn->hnext = st->hash[b];
	st->hash[b] = (int16_t)conn_index(conn);
	conn->keyed = true;
}

static void conn_unkey(struct vsock_conn *conn)
{
	struct vsock_state *st = conn->st;
	int16_t *link = &st->hash[hash_of(conn->host_port, conn->guest_port)];
	int16_t me = (int16_t)conn_index(conn);
	for (unsigned seen = 0; *link >= 0 && seen < VSOCK_MAX_CONNS; seen++) {
		if (*link == me) {
			*link = conn->hnext;
			break;
		}
		link = &st->conns[*link].hnext;
	}
	conn->keyed = false;
}

static void conn_enqueue(struct vsock_conn *conn)
{
	struct vsock_state *st = conn->st;
	unsigned i = conn_index(conn);
	if (st->queued[i])
		return;
	st->runq[(st->runq_head + st->runq_len) % VSOCK_MAX_CONNS] = (uint16_t)i;
	st->runq_len++;
	st->queued[i] = true;
}

static void conn_close_fd(struct vsock_conn *conn)
{
	if (conn->watched)
		event_loop_del(st_vdev(conn->st)->loop, conn->fd);
	conn->watched = false;
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* Forget the connection: close its socket, give its buffer's memory back. */
static void conn_free(struct vsock_conn *conn)
{
	if (conn->state == CONN_FREE)
		return;
	conn_close_fd(conn);
	if (conn->keyed)
		conn_unkey(conn);
	if (conn->buf_touched)
		madvise(conn->buf, VSOCK_BUF_CAP, MADV_DONTNEED);
	memset(&conn->state, 0, sizeof(*conn) - offsetof(struct vsock_conn, state));
	conn->state = CONN_FREE;
	conn->fd = -1;
	conn->hnext = -1;
}

/* A free slot, searched round-robin so a freed slot is not reused at once (an event for
 * its old fd may still be on its way). */
static struct vsock_conn *conn_alloc(struct vsock_state *st, int fd)
{
	for (unsigned k = 0; k < VSOCK_MAX_CONNS; k++) {
		struct vsock_conn *conn = &st->conns[(st->next_slot + k) % VSOCK_MAX_CONNS];
		if (conn->state != CONN_FREE)
			continue;
		st->next_slot = (st->next_slot + k + 1) % VSOCK_MAX_CONNS;
		conn->fd = fd;
		st->full_logged = false;
		return conn;
	}
	if (!st->full_logged)
		log_warn("%s: all %d connections are in use; refusing more", st_vdev(st)->name,
		         VSOCK_MAX_CONNS);
	st->full_logged = true;
	return NULL;
}

static uint32_t conn_credit(const struct vsock_conn *conn)
{
	uint32_t in_flight = conn->tx_cnt - conn->peer_fwd_cnt;
	return in_flight >= conn->peer_buf_alloc ? 0 : conn->peer_buf_alloc - in_flight;
}

static bool conn_can_read(const struct vsock_conn *conn)
{
	return conn->state == CONN_OPEN && !conn->host_eof && !conn->guest_no_rcv &&
	       conn_credit(conn) > 0;
}

static void conn_close_host(struct vsock_conn *conn, unsigned tell);

/* Watch the socket for what the connection can use now: EPOLLIN while reading is possible
 * and not already pending, EPOLLOUT while guest bytes wait in the buffer. */
static void conn_sync(struct vsock_conn *conn)
{
	if (conn->fd < 0 || conn->state == CONN_FREE || conn->state == CONN_CLOSING)
		return;
	uint32_t ev = 0;
	if (conn->state == CONN_LINE) {
		ev = EPOLLIN;
	} else if (conn_can_read(conn) && !(conn->tell & TELL_DATA)) {
		if (conn->hup) {
			/* No more events will come: drain what is left directly. */
			conn->tell |= TELL_DATA;
			conn_enqueue(conn);
		} else {
			ev = EPOLLIN;
		}
	}
	if (conn->buf_len)
		ev |= EPOLLOUT;
	if (conn->hup)
		return;
	struct event_loop *loop = st_vdev(conn->st)->loop;
	int r = 0;
	if (!conn->watched) {
		r = event_loop_add(loop, conn->fd, ev, &conn->h);
		conn->watched = !r;
	} else if (ev != conn->events) {
		r = event_loop_mod(loop, conn->fd, ev, &conn->h);
	}
	if (r) {
		log_warn("%s: cannot watch a connection's socket: %s", st_vdev(conn->st)->name,
		         strerror(-r));
		conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
		return;
	}
	conn->events = ev;
}

/*
 * The Unix side is done with: close it, and tell the guest `tell` (TELL_SHUTDOWN and/or
 * TELL_RST) before the slot frees. A connection the guest has not heard of frees at once.
 */
static void conn_close_host(struct vsock_conn *conn, unsigned tell)
{
	if (conn->state == CONN_FREE || conn->state == CONN_CLOSING)
		return;
	if (conn->state == CONN_LINE ||
	    (conn->state == CONN_CONNECTING && (conn->tell & TELL_REQUEST))) {
		conn_free(conn);
		return;
	}
	if (conn->state == CONN_CONNECTING)
		tell = TELL_RST; /* a SHUTDOWN means nothing before the RESPONSE */
	conn_close_fd(conn);
	conn->state = CONN_CLOSING;
	conn->tell = (conn->tell & TELL_RESPONSE) | tell;
	conn->shutdown_flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	conn->buf_len = 0;
	conn->buf_extra = 0;
	conn_enqueue(conn);
}

/* Ask for a CREDIT_UPDATE if the guest thinks it is running out of room while we have
 * forwarded more than it knows. */
static void conn_credit_check(struct vsock_conn *conn)
{
	uint32_t unseen = conn->rx_cnt - conn->fwd_cnt_told;
	uint32_t room = unseen >= VSOCK_BUF_ALLOC ? 0 : VSOCK_BUF_ALLOC - unseen;
	if (conn->fwd_cnt != conn->fwd_cnt_told && room < VSOCK_CREDIT_LOW) {
		conn->tell |= TELL_CREDIT;
		conn_enqueue(conn);
	}
}

/* Nothing of the guest's is left to write: pass on its shutdown, or end a connection
 * that neither side will send on again. */
static void conn_drained(struct vsock_conn *conn)
{
	if (conn->state != CONN_OPEN || conn->buf_len)
		return;
	if ((conn->guest_eof && conn->guest_no_rcv) || (conn->guest_eof && conn->host_eof)) {
		conn_close_host(conn, TELL_RST);
		return;
	}
	if (conn->guest_eof && !conn->wr_shut && !conn->hup) {
		shutdown(conn->fd, SHUT_WR);
		conn->wr_shut = true;
	}
}

/* Account for w bytes of the buffer that reached the Unix socket. */
static void conn_consumed(struct vsock_conn *conn, uint32_t w)
{
	uint32_t ours = w < conn->buf_extra ? w : conn->buf_extra;
	conn->buf_extra -= ours;
	conn->fwd_cnt += w - ours;
	conn->buf_head = (conn->buf_head + w) % VSOCK_BUF_CAP;
	conn->buf_len -= w;
	if (!conn->buf_len)
		conn->buf_head = 0;
}

/* Write what the buffer holds to the Unix socket, as far as it takes it. */
static void conn_flush(struct vsock_conn *conn)
{
	if (conn->state != CONN_OPEN)
		return;
	while (conn->buf_len) {
		struct iovec iov[2];
		uint32_t first = VSOCK_BUF_CAP - conn->buf_head;
		if (first > conn->buf_len)
			first = conn->buf_len;
		iov[0] = (struct iovec){conn->buf + conn->buf_head, first};
		iov[1] = (struct iovec){conn->buf, conn->buf_len - first};
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1};
		ssize_t w = sendmsg(conn->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
			return;
		}
		conn_consumed(conn, (uint32_t)w);
	}
	conn_credit_check(conn);
	conn_drained(conn);
}

/* Append len bytes from src (or from the chain at off) to the buffer; the caller checked
 * the room. */
static void conn_buffer(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t off,
                        const void *src, uint32_t len)
{
	uint32_t tail = (conn->buf_head + conn->buf_len) % VSOCK_BUF_CAP;
	uint32_t first = VSOCK_BUF_CAP - tail;
	if (first > len)
		first = len;
	if (src) {
		memcpy(conn->buf + tail, src, first);
		memcpy(conn->buf, (const uint8_t *)src + first, len - first);
	} else {
		iov_read(iov, n, off, conn->buf + tail, first);
		iov_read(iov, n, off + first, conn->buf, len - first);
	}
	conn->buf_len += len;
	conn->buf_touched = true;
}

/* --- Guest to host (tx queue) --- */

static void rst_reply(struct vsock_state *st, const struct vsock_hdr *hdr)
{
	if (hdr->op == VSOCK_OP_RST || st->rst_len == VSOCK_RST_RING)
		return; /* never answer an RST; a full ring was checked before the pop */
	struct vsock_rst *r = &st->rst[(st->rst_head + st->rst_len) % VSOCK_RST_RING];
	r->src_cid = hdr->dst_cid;
	r->src_port = hdr->dst_port;
	r->dst_port = hdr->src_port;
	st->rst_len++;
}

/* The guest's RW payload, len bytes after the header of chain c: straight to the Unix
 * socket when nothing is waiting, the rest into the buffer. */
static void conn_write(struct vsock_conn *conn, const struct vq_chain *c, uint32_t len)
{
	struct vsock_state *st = conn->st;
	if (!len)
		return;
	conn->rx_cnt += len;
	if (conn->hup) {
		/* The host side is gone; its SHUTDOWN is on the way. Drop the bytes. */
		conn->fwd_cnt += len;
		return;
	}
	conn_flush(conn);
	if (conn->state != CONN_OPEN)
		return;
	uint32_t w = 0;
	if (!conn->buf_len) {
		unsigned n = iov_slice(c->iov, c->nout, VSOCK_HDR_SIZE, len, st->data_iov);
		struct msghdr m = {.msg_iov = st->data_iov, .msg_iovlen = n};
		ssize_t r;
		do
			r = sendmsg(conn->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
			return;
		}
		w = r > 0 ? (uint32_t)r : 0;
		conn->fwd_cnt += w;
	}
	uint32_t rest = len - w;
	if (rest > VSOCK_BUF_CAP - conn->buf_len) {
		/* More than the credit we gave: the guest broke the protocol. */
		conn_close_host(conn, TELL_RST);
		return;
	}
	if (rest)
		conn_buffer(conn, c->iov, c->nout, VSOCK_HDR_SIZE + w, NULL, rest);
	conn_credit_check(conn);
}

static void conn_guest_shutdown(struct vsock_conn *conn, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV)
		conn->guest_no_rcv = true;
	if (flags & VSOCK_SHUTDOWN_SEND)
		conn->guest_eof = true;
	if (conn->hup && conn->guest_no_rcv)
		conn_close_host(conn, TELL_SHUTDOWN | TELL_RST); /* nothing left to carry */
	else
		conn_drained(conn);
}

/* The guest accepted a host-initiated connection: tell the host process, then relay. */
static void conn_established(struct vsock_conn *conn)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", conn->host_port);
	conn->state = CONN_OPEN;
	conn_buffer(conn, NULL, 0, 0, ok, (uint32_t)n);
	conn->buf_extra = (uint32_t)n;
	conn_flush(conn);
}

/* A guest REQUEST to host port hdr->dst_port: connect to "<uds_path>_<port>". */
static void guest_connect(struct vsock_state *st, const struct vsock_hdr *hdr)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n =
	    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", st->uds_path, hdr->dst_port);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		rst_reply(st, hdr);
		return;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rst_reply(st, hdr);
		return;
	}
	/* A Unix connect never goes in progress: it succeeds, or fails with nobody listening
	 * (ENOENT, ECONNREFUSED) or a full backlog (EAGAIN). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		rst_reply(st, hdr);
		return;
	}
	struct vsock_conn *conn = conn_alloc(st, fd);
	if (!conn) {
		close(fd);
		rst_reply(st, hdr);
		return;
	}
	conn->state = CONN_OPEN;
	conn_key(conn, hdr->dst_port, hdr->src_port);
	conn->peer_buf_alloc = hdr->buf_alloc;
	conn->peer_fwd_cnt = hdr->fwd_cnt;
	conn->tell = TELL_RESPONSE;
	conn_enqueue(conn);
	conn_sync(conn);
}

/* One packet from the guest whose header passed the structural checks. */
static void tx_packet(struct vsock_state *st, const struct vsock_hdr *hdr, const struct vq_chain *c)
{
	if (hdr->src_cid != st->guest_cid || hdr->dst_cid != VSOCK_HOST_CID ||
	    hdr->type != VSOCK_TYPE_STREAM) {
		rst_reply(st, hdr);
		return;
	}
	struct vsock_conn *conn = conn_lookup(st, hdr->dst_port, hdr->src_port);
	if (conn && conn->state == CONN_CLOSING) {
		/* Our RST is on its way; a new REQUEST means the guest has moved on. */
		if (hdr->op != VSOCK_OP_RST && hdr->op != VSOCK_OP_REQUEST)
			return;
		conn_free(conn);
		conn = NULL;
		if (hdr->op == VSOCK_OP_RST)
			return;
	}
	if (!conn) {
		if (hdr->op == VSOCK_OP_REQUEST)
			guest_connect(st, hdr);
		else
			rst_reply(st, hdr);
		return;
	}
	conn->peer_buf_alloc = hdr->buf_alloc;
	conn->peer_fwd_cnt = hdr->fwd_cnt;
	switch (hdr->op) {
	case VSOCK_OP_RST:
		conn_free(conn);
		return;
	case VSOCK_OP_RESPONSE:
		if (conn->state != CONN_CONNECTING || (conn->tell & TELL_REQUEST))
			conn_close_host(conn, TELL_RST);
		else
			conn_established(conn);
		break;
	case VSOCK_OP_RW:
		if (conn->state != CONN_OPEN || conn->guest_eof)
			conn_close_host(conn, TELL_RST);
		else
			conn_write(conn, c, hdr->len);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields were taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		conn->credit_asked = true;
		conn->tell |= TELL_CREDIT;
		conn_enqueue(conn);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (conn->state != CONN_OPEN)
			conn_close_host(conn, TELL_RST);
		else
			conn_guest_shutdown(conn, hdr->flags);
		break;
	default: /* a second REQUEST, or no op at all */
		conn_close_host(conn, TELL_RST);
		break;
	}
	conn_sync(conn);
}

/* --- Failing and stopping --- */

/* Close every connection and stop listening: after a reset or a failure. */
static void vsock_stop(struct vsock_state *st)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		conn_free(&st->conns[i]);
	memset(st->queued, 0, sizeof(st->queued));
	st->runq_head = st->runq_len = 0;
	st->rst_head = st->rst_len = 0;
	st->tx_blocked = false;
	if (st->listening)
		event_loop_del(st_vdev(st)->loop, st->listen_fd);
	st->listening = false;
}

static void vsock_fail(struct vsock_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vsock_fail(struct vsock_state *st, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	virtio_dev_fail(st_vdev(st), "%s", msg);
	/* Nothing is served until the driver resets us: stop the sockets too, or their
	 * level-triggered events would spin the loop. */
	vsock_stop(st);
}

static void tx_run(struct vsock_state *st)
{
	struct virtio_dev *vdev = st_vdev(st);
	struct vq *vq = &vdev->vqs[VSOCK_TXQ];
	struct vq_chain c = {.iov = st->tx_iov, .iov_cap = VQ_MAX_SIZE};
	const char *why;
	unsigned done = 0;

	if (!vq->active)
		return;
	for (;;) {
		if (done == VSOCK_TX_BUDGET) {
			virtio_dev_requeue(vdev, VSOCK_TXQ);
			break;
		}
		if (st->rst_len == VSOCK_RST_RING) {
			/* Wait for rx buffers to carry the answers we owe. */
			st->tx_blocked = true;
			break;
		}
		int got = vq_pop(vq, &c, &why);
		if (got == 0)
			break;
		if (got < 0) {
			vsock_fail(st, "tx queue: %s", why);
			return;
		}
		if (c.nin) {
			vsock_fail(st, "a tx packet has a writable buffer");
			return;
		}
		/* A copy: the guest may rewrite its buffer while we look. */
		struct vsock_hdr hdr = {0};
		if (iov_read(c.iov, c.nout, 0, &hdr, sizeof(hdr)) < sizeof(hdr)) {
			vsock_fail(st, "a tx packet of %u bytes is shorter than its header",
			           c.out_bytes);
			return;
		}
		if (hdr.len > VSOCK_MAX_PAYLOAD || hdr.len > c.out_bytes - VSOCK_HDR_SIZE) {
			vsock_fail(st, "a tx packet claims %u payload bytes in a %u-byte chain",
			           hdr.len, c.out_bytes);
			return;
		}
		tx_packet(st, &hdr, &c);
		vq_push(vq, c.head, 0);
		done++;
	}
	if (done)
		virtio_dev_notify_used(vdev, VSOCK_TXQ);
}

/* --- Host to guest (rx queue) --- */

/* Write a header for conn into the rx chain; returns the packet's length. */
static uint32_t put_hdr(struct vsock_conn *conn, const struct vq_chain *c, uint16_t op,
                        uint32_t len, uint32_t flags)
{
	struct vsock_state *st = conn->st;
	struct vsock_hdr h = {
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = st->guest_cid,
	    .src_port = conn->host_port,
	    .dst_port = conn->guest_port,
	    .len = len,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	    .buf_alloc = VSOCK_BUF_ALLOC,
	    .fwd_cnt = conn->fwd_cnt,
	};
	iov_write(c->iov, c->nin, 0, &h, sizeof(h));
	conn->fwd_cnt_told = conn->fwd_cnt;
	return VSOCK_HDR_SIZE + len;
}

/* What conn should send next, dropping wishes that no longer hold; 0: nothing. */
static unsigned conn_pending(struct vsock_conn *conn)
{
	if (conn->state == CONN_FREE)
		return 0;
	if (conn->tell & TELL_REQUEST)
		return TELL_REQUEST;
	if (conn->tell & TELL_RESPONSE)
		return TELL_RESPONSE;
	if (conn->tell & TELL_DATA) {
		if (conn_can_read(conn))
			return TELL_DATA;
		conn->tell &= ~TELL_DATA; /* re-armed by conn_sync when credit comes */
	}
	if (conn->tell & TELL_CREDIT) {
		if (conn->credit_asked || conn->fwd_cnt != conn->fwd_cnt_told)
			return TELL_CREDIT;
		conn->tell &= ~TELL_CREDIT; /* a data packet carried it */
	}
	if (conn->tell & TELL_SHUTDOWN)
		return TELL_SHUTDOWN;
	if (conn->tell & TELL_RST)
		return TELL_RST;
	return 0;
}

/* Whether the Unix peer has closed (both ways) or the socket has failed. */
static short peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = 0};
	if (poll(&p, 1, 0) <= 0)
		return 0;
	return p.revents & (POLLHUP | POLLERR);
}

/* Bytes from the Unix socket straight into the rx chain. Returns the packet's length, or
 * 0 if the socket had nothing (the chain stays unused). */
static uint32_t rx_data(struct vsock_conn *conn, const struct vq_chain *c)
{
	struct vsock_state *st = conn->st;
	uint32_t room = c->in_bytes - VSOCK_HDR_SIZE;
	uint32_t credit = conn_credit(conn);
	if (room > credit)
		room = credit;
	if (room > VSOCK_MAX_PAYLOAD)
		room = VSOCK_MAX_PAYLOAD;
	if (!room) /* a buffer with no room past the header: use it for credit news */
		return put_hdr(conn, c, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	unsigned n = iov_slice(c->iov, c->nin, VSOCK_HDR_SIZE, room, st->data_iov);
	struct msghdr m = {.msg_iov = st->data_iov, .msg_iovlen = n};
	ssize_t r;
	do
		r = recvmsg(conn->fd, &m, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		conn->tx_cnt += (uint32_t)r;
		return put_hdr(conn, c, VSOCK_OP_RW, (uint32_t)r, 0);
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		conn->tell &= ~TELL_DATA;
		conn_sync(conn);
		return 0;
	}
	if (r == 0 && !conn->hup && !peer_gone(conn->fd)) {
		/* Half-closed: the host process still reads. Tell the guest we send no more. */
		conn->host_eof = true;
		conn->tell &= ~TELL_DATA;
		uint32_t len = put_hdr(conn, c, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND);
		conn_drained(conn);
		conn_sync(conn);
		return len;
	}
	/* Closed or broken: SHUTDOWN now, RST next. */
	conn_close_host(conn, TELL_RST);
	return put_hdr(conn, c, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
}

/* Serve one of conn's wishes into chain c; returns the packet's length or 0. */
static uint32_t rx_conn(struct vsock_conn *conn, unsigned what, const struct vq_chain *c)
{
	uint32_t len;
	switch (what) {
	case TELL_REQUEST:
		conn->tell &= ~TELL_REQUEST;
		return put_hdr(conn, c, VSOCK_OP_REQUEST, 0, 0);
	case TELL_RESPONSE:
		conn->tell &= ~TELL_RESPONSE;
		return put_hdr(conn, c, VSOCK_OP_RESPONSE, 0, 0);
	case TELL_DATA:
		return rx_data(conn, c);
	case TELL_CREDIT:
		conn->tell &= ~TELL_CREDIT;
		conn->credit_asked = false;
		return put_hdr(conn, c, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	case TELL_SHUTDOWN:
		conn->tell &= ~TELL_SHUTDOWN;
		return put_hdr(conn, c, VSOCK_OP_SHUTDOWN, 0, conn->shutdown_flags);
	default: /* TELL_RST: the last word */
		len = put_hdr(conn, c, VSOCK_OP_RST, 0, 0);
		conn_free(conn);
		return len;
	}
}

static uint32_t rx_rst(struct vsock_state *st, const struct vq_chain *c)
{
	struct vsock_rst *r = &st->rst[st->rst_head];
	struct vsock_hdr h = {
	    .src_cid = r->src_cid,
	    .dst_cid = st->guest_cid,
	    .src_port = r->src_port,
	    .dst_port = r->dst_port,
	    .type = VSOCK_TYPE_STREAM,
	    .op = VSOCK_OP_RST,
	};
	iov_write(c->iov, c->nin, 0, &h, sizeof(h));
	st->rst_head = (st->rst_head + 1) % VSOCK_RST_RING;
	st->rst_len--;
	return VSOCK_HDR_SIZE;
}

/* Fill rx buffers: RST answers first, then the connections round-robin, one packet each
 * per turn. Bounded; the rest continues from a requeued notify. */
static void rx_run(struct vsock_state *st)
{
	struct virtio_dev *vdev = st_vdev(st);
	struct vq *vq = &vdev->vqs[VSOCK_RXQ];
	struct vq_chain c = {.iov = st->rx_iov, .iov_cap = VQ_MAX_SIZE};
	const char *why;
	unsigned sent = 0;

	if (!vq->active || !virtio_dev_live(vdev))
		return;
	while (st->rst_len || st->runq_len) {
		if (sent == VSOCK_RX_BUDGET) {
			virtio_dev_requeue(vdev, VSOCK_RXQ);
			break;
		}
		struct vsock_conn *conn = NULL;
		unsigned what = 0;
		if (!st->rst_len) {
			conn = &st->conns[st->runq[st->runq_head]];
			what = conn_pending(conn);
			if (!what) {
				st->queued[st->runq[st->runq_head]] = false;
				st->runq_head = (st->runq_head + 1) % VSOCK_MAX_CONNS;
				st->runq_len--;
				continue;
			}
		}
		int got = vq_pop(vq, &c, &why);
		if (got == 0)
			break; /* the guest will kick when it adds buffers */
		if (got < 0) {
			vsock_fail(st, "rx queue: %s", why);
			return;
		}
		if (c.nout || c.in_bytes < VSOCK_HDR_SIZE) {
			vsock_fail(st, "an rx buffer is readable or shorter than a packet header");
			return;
		}
		uint32_t len;
		if (!conn) {
			len = rx_rst(st, &c);
		} else {
			/* To the back of the queue, if it still wants to send. */
			st->runq_head = (st->runq_head + 1) % VSOCK_MAX_CONNS;
			st->runq_len--;
			st->queued[conn_index(conn)] = false;
			len = rx_conn(conn, what, &c);
			if (conn->state != CONN_FREE && conn->tell)
				conn_enqueue(conn);
		}
		if (!len) {
			vq_unpop(vq, 1);
			continue;
		}
		vq_push(vq, c.head, len);
		sent++;
	}
	if (sent)
		virtio_dev_notify_used(vdev, VSOCK_RXQ);
	if (st->tx_blocked && st->rst_len < VSOCK_RST_RING) {
		st->tx_blocked = false;
		virtio_dev_requeue(vdev, VSOCK_TXQ);
	}
}

/* --- Host side: the listening socket and each connection's socket --- */

/* "CONNECT <port>\n", nothing more or less. */
static bool parse_connect(const char *line, unsigned len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	unsigned v = sizeof(verb) - 1;
	if (len < v + 2 || memcmp(line, verb, v) || line[len - 1] != '\n')
		return false;
	unsigned digits = len - 1 - v;
	if (digits > 10)
		return false;
	uint64_t p = 0;
	for (unsigned i = v; i < len - 1; i++) {
		if (line[i] < '0' || line[i] > '9')
			return false;
		p = p * 10 + (uint64_t)(line[i] - '0');
	}
	if (p > UINT32_MAX)
		return false;
	*port = (uint32_t)p;
	return true;
}

/* A host port no live connection uses. At most VSOCK_MAX_CONNS are taken, so this ends. */
static uint32_t alloc_host_port(struct vsock_state *st)
{
	for (;;) {
		uint32_t p = st->next_host_port++;
		if (st->next_host_port == 0)
			st->next_host_port = VSOCK_HOST_PORT_FIRST;
		bool used = false;
		for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
			used = st->conns[i].keyed && st->conns[i].host_port == p;
		if (!used)
			return p;
	}
}

/* Read the CONNECT line without consuming a byte past its newline: those belong to the
 * guest. */
static void conn_read_line(struct vsock_conn *conn)
{
	char *at = conn->line + conn->line_len;
	size_t room = VSOCK_LINE_MAX - conn->line_len;
	ssize_t n = recv(conn->fd, at, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(conn);
		return;
	}
	const char *nl = memchr(at, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - at) + 1 : (size_t)n;
	if (recv(conn->fd, at, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_free(conn);
		return;
	}
	conn->line_len = (uint8_t)(conn->line_len + take);
	uint32_t port;
	if (!nl) {
		if (conn->line_len == VSOCK_LINE_MAX)
			conn_free(conn); /* no newline within the bound */
		return;
	}
	if (!parse_connect(conn->line, conn->line_len, &port)) {
		conn_free(conn);
		return;
	}
	conn->state = CONN_CONNECTING;
	conn_key(conn, alloc_host_port(conn->st), port);
	conn->tell = TELL_REQUEST;
	conn_enqueue(conn);
}

/* The Unix peer hung up or the socket failed (epoll said so and poll confirmed). */
static void conn_hup(struct vsock_conn *conn, bool error)
{
	if (conn->state == CONN_LINE) {
		conn_free(conn);
		return;
	}
	if (conn->watched)
		event_loop_del(st_vdev(conn->st)->loop, conn->fd);
	conn->watched = false;
	conn->hup = true;
	conn->buf_len = 0; /* nobody will read it */
	conn->buf_extra = 0;
	if (conn->state == CONN_OPEN && !error && !conn->host_eof && !conn->guest_no_rcv)
		return; /* conn_sync drains what the peer wrote before closing, then ends */
	conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
}

static void conn_event(void *ctx, uint32_t events)
{
	struct vsock_conn *conn = ctx;
	struct vsock_state *st = conn->st;
	struct virtio_dev *vdev = st_vdev(st);

	virtio_dev_lock(vdev);
	if (!virtio_dev_live(vdev)) {
		/* Failed or reset meanwhile: make sure nothing keeps firing. */
		vsock_stop(st);
		goto out;
	}
	/* A stale event for a slot closed meanwhile finds no fd, or a new connection that
	 * re-checks everything it is told. */
	if (conn->fd < 0 || !conn->watched)
		goto out;
	if (events & (EPOLLHUP | EPOLLERR)) {
		short gone = peer_gone(conn->fd);
		if (gone) {
			conn_hup(conn, gone & POLLERR);
			conn_sync(conn);
			goto run;
		}
	}
	if (conn->state == CONN_LINE) {
		if (events & EPOLLIN)
			conn_read_line(conn);
	} else {
		if (events & EPOLLOUT)
			conn_flush(conn);
		if ((events & EPOLLIN) && conn->state == CONN_OPEN) {
			conn->tell |= TELL_DATA;
			conn_enqueue(conn);
		}
	}
	conn_sync(conn);
run:
	rx_run(st);
out:
	virtio_dev_unlock(vdev);
}

static void listen_event(void *ctx, uint32_t events)
{
	struct vsock_state *st = ctx;
	struct virtio_dev *vdev = st_vdev(st);
	(void)events;

	virtio_dev_lock(vdev);
	if (!virtio_dev_live(vdev))
		vsock_stop(st);
	for (unsigned i = 0; i < VSOCK_ACCEPT_BUDGET && st->listening; i++) {
		int fd = accept4(st->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				log_warn("%s: cannot accept a connection: %s", vdev->name,
				         strerror(errno));
			break;
		}
		struct vsock_conn *conn = conn_alloc(st, fd);
		if (!conn) {
			close(fd);
			continue;
		}
		conn->state = CONN_LINE;
		conn_sync(conn);
	}
	rx_run(st);
	virtio_dev_unlock(vdev);
}

/* --- The device --- */

static struct vsock_state *vdev_st(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_vsock, vdev)->st;
}

static void vsock_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len)
{
	uint64_t cid = vdev_st(vdev)->guest_cid; /* le64 guest_cid, the whole configuration */
	memcpy(data, (const uint8_t *)&cid + off, len);
}

static int vsock_activate(struct virtio_dev *vdev)
{
	struct vsock_state *st = vdev_st(vdev);
	int r = event_loop_add(vdev->loop, st->listen_fd, EPOLLIN, &st->listen_handler);
	if (r)
		return r;
	st->listening = true;
	return 0;
}

static void vsock_reset(struct virtio_dev *vdev)
{
	vsock_stop(vdev_st(vdev));
}

static void vsock_notify(struct virtio_dev *vdev, unsigned q)
{
	struct vsock_state *st = vdev_st(vdev);
	if (q == VSOCK_TXQ)
		tx_run(st);
	/* rx: new buffers; tx: answers to send. The event queue is never used: Ember sends
	 * no TRANSPORT_RESET (it has no migration). */
	if (q != VSOCK_EVQ && virtio_dev_live(vdev))
		rx_run(st);
}

static const struct virtio_dev_ops vsock_ops = {
    .kind = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .num_queues = VSOCK_NUM_QUEUES,
    .queue_max_size = VQ_MAX_SIZE,
    .config_read = vsock_config_read,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .notify = vsock_notify,
};

/* Bind and listen on path, after making sure no one else is listening there. */
static int vsock_listen(struct vsock_state *st, char *err, size_t errlen)
{
	const char *path = st->uds_path;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, path, strlen(path) + 1);

	struct stat sb;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "vsock socket '%s' exists and is not a socket", path);
			return -EEXIST;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot check vsock socket '%s': %s", path,
			         strerror(e));
			return -e;
		}
		int r = connect(probe, (struct sockaddr *)&addr, sizeof(addr));
		int e = errno;
		close(probe);
		/* EAGAIN: a listener whose backlog is full, still a listener. */
		if (r == 0 || e == EAGAIN) {
			snprintf(err, errlen, "vsock socket '%s' is in use by another process",
			         path);
			return -EADDRINUSE;
		}
		if (e != ECONNREFUSED && e != ENOENT) {
			snprintf(err, errlen, "cannot check vsock socket '%s': %s", path,
			         strerror(e));
			return -e;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			e = errno;
			snprintf(err, errlen, "cannot remove stale vsock socket '%s': %s", path,
			         strerror(e));
			return -e;
		}
	} else if (errno != ENOENT) {
		int e = errno;
		snprintf(err, errlen, "cannot use vsock socket path '%s': %s", path, strerror(e));
		return -e;
	}

	st->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (st->listen_fd < 0 || bind(st->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot create vsock socket '%s': %s", path, strerror(e));
		return -e;
	}
	st->path_bound = true;
	/* Only this user's processes may reach the guest. */
	if (chmod(path, 0600) < 0 || listen(st->listen_fd, 128) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot listen on vsock socket '%s': %s", path, strerror(e));
		return -e;
	}
	return 0;
}

int vsock_create(struct virtio_vsock *v, const struct vsock_config *cfg, char *err, size_t errlen)
{
	struct vsock_state *st = NULL;
	int r;

	v->st = NULL;
	if (cfg->guest_cid < 3 || cfg->guest_cid == UINT32_MAX) {
		snprintf(err, errlen, "vsock guest CID %u is reserved; use 3 to 4294967294",
		         cfg->guest_cid);
		return -EINVAL;
	}
	if (!cfg->uds_path[0]) {
		snprintf(err, errlen, "vsock needs a Unix socket path (uds_path)");
		return -EINVAL;
	}
	if (strlen(cfg->uds_path) >= sizeof(st->uds_path)) {
		snprintf(err, errlen, "vsock socket path '%s' is longer than %zu bytes",
		         cfg->uds_path, sizeof(st->uds_path) - 1);
		return -ENAMETOOLONG;
	}

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "cannot allocate the vsock connection table");
		return -ENOMEM;
	}
	st->v = v;
	st->listen_fd = -1;
	st->guest_cid = cfg->guest_cid;
	strcpy(st->uds_path, cfg->uds_path);
	st->next_host_port = VSOCK_HOST_PORT_FIRST;
	st->listen_handler = (struct el_handler){listen_event, st};
	memset(st->hash, 0xff, sizeof(st->hash));

	/* Every connection's buffer up front; untouched pages cost nothing. */
	st->bufs_size = (size_t)VSOCK_MAX_CONNS * VSOCK_BUF_CAP;
	st->bufs = mmap(NULL, st->bufs_size, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (st->bufs == MAP_FAILED) {
		r = -errno;
		st->bufs = NULL;
		snprintf(err, errlen, "cannot map vsock buffers: %s", strerror(-r));
		goto fail;
	}
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *conn = &st->conns[i];
		conn->st = st;
		conn->h = (struct el_handler){conn_event, conn};
		conn->buf = st->bufs + (size_t)i * VSOCK_BUF_CAP;
		conn->fd = -1;
		conn->hnext = -1;
	}

	r = vsock_listen(st, err, errlen);
	if (r)
		goto fail;

	v->st = st;
	v->vdev.ops = &vsock_ops;
	v->vdev.features = 1ULL << VIRTIO_VSOCK_F_STREAM;
	v->vdev.config_size = sizeof(uint64_t);
	snprintf(v->vdev.name, sizeof(v->vdev.name), "virtio-vsock");
	return 0;

fail:
	v->st = st;
	vsock_destroy(v);
	return r;
}

void vsock_destroy(struct virtio_vsock *v)
{
	struct vsock_state *st = v->st;
	if (!st)
		return;
	vsock_stop(st); /* virtio_mmio_remove reset us already, unless it never ran */
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	if (st->path_bound)
		unlink(st->uds_path);
	if (st->bufs)
		munmap(st->bufs, st->bufs_size);
	free(st);
	v->st = NULL;
}
