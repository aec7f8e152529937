/*
 * virtio-vsock's connections and credit: the slot table and its hash, each connection's
 * state, the credit both ways (virtio 1.2, 5.10.6.3), and the buffer of guest bytes the
 * Unix side has not taken yet, at most the buf_alloc we advertised.
 */
#include "vsock_impl.h"
#include "iov.h"
#include "../base/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- The table --- */

int vsock_conn_table_map(struct vsock_state *st, char *err, size_t errlen)
{
	memset(st->hash, 0xff, sizeof(st->hash));
	/* Every connection's buffer up front; untouched pages cost nothing. */
	st->bufs_size = (size_t)VSOCK_MAX_CONNS * VSOCK_BUF_CAP;
	st->bufs = mmap(NULL, st->bufs_size, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (st->bufs == MAP_FAILED) {
		int r = -errno;
		st->bufs = NULL;
		snprintf(err, errlen, "cannot map vsock buffers: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *conn = &st->conns[i];
		conn->st = st;
		conn->buf = st->bufs + (size_t)i * VSOCK_BUF_CAP;
		conn->fd = -1;
		conn->hnext = -1;
	}
	return 0;
}

void vsock_conn_table_unmap(struct vsock_state *st)
{
	if (st->bufs)
		munmap(st->bufs, st->bufs_size);
	st->bufs = NULL;
}

static unsigned hash_of(uint32_t host_port, uint32_t guest_port)
{
	return ((host_port * 2654435761u) ^ (guest_port * 2246822519u)) >> 24;
}

struct vsock_conn *vsock_conn_lookup(struct vsock_state *st, uint32_t host_port,
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

void vsock_conn_key(struct vsock_conn *conn, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_state *st = conn->st;
	unsigned b = hash_of(host_port, guest_port);
	conn->host_port = host_port;
	conn->guest_port = guest_port;
	conn->hnext = st->hash[b];
	st->hash[b] = (int16_t)vsock_conn_index(conn);
	conn->keyed = true;
}

static void conn_unkey(struct vsock_conn *conn)
{
	struct vsock_state *st = conn->st;
	int16_t *link = &st->hash[hash_of(conn->host_port, conn->guest_port)];
	int16_t me = (int16_t)vsock_conn_index(conn);
	for (unsigned seen = 0; *link >= 0 && seen < VSOCK_MAX_CONNS; seen++) {
		if (*link == me) {
			*link = conn->hnext;
			break;
		}
		link = &st->conns[*link].hnext;
	}
	conn->keyed = false;
}

void vsock_conn_enqueue(struct vsock_conn *conn)
{
	struct vsock_state *st = conn->st;
	unsigned i = vsock_conn_index(conn);
	if (st->queued[i])
		return;
	st->runq[(st->runq_head + st->runq_len) % VSOCK_MAX_CONNS] = (uint16_t)i;
	st->runq_len++;
	st->queued[i] = true;
}

static void conn_close_fd(struct vsock_conn *conn)
{
	if (conn->watched)
		event_loop_del(vsock_vdev(conn->st)->loop, conn->fd);
	conn->watched = false;
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

void vsock_conn_free(struct vsock_conn *conn)
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

struct vsock_conn *vsock_conn_alloc(struct vsock_state *st, int fd)
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
		log_warn("%s: all %d connections are in use; refusing more", vsock_vdev(st)->name,
		         VSOCK_MAX_CONNS);
	st->full_logged = true;
	return NULL;
}

uint32_t vsock_conn_new_host_port(struct vsock_state *st)
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

/* --- Credit, the socket's watch, and closing --- */

uint32_t vsock_conn_credit(const struct vsock_conn *conn)
{
	uint32_t in_flight = conn->tx_cnt - conn->peer_fwd_cnt;
	return in_flight >= conn->peer_buf_alloc ? 0 : conn->peer_buf_alloc - in_flight;
}

static bool conn_can_read(const struct vsock_conn *conn)
{
	return conn->state == CONN_OPEN && !conn->host_eof && !conn->guest_no_rcv &&
	       vsock_conn_credit(conn) > 0;
}

void vsock_conn_sync(struct vsock_conn *conn)
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
			vsock_conn_enqueue(conn);
		} else {
			ev = EPOLLIN;
		}
	}
	if (conn->buf_len)
		ev |= EPOLLOUT;
	if (conn->hup)
		return;
	struct event_loop *loop = vsock_vdev(conn->st)->loop;
	int r = 0;
	if (!conn->watched) {
		r = event_loop_add(loop, conn->fd, ev, &conn->h);
		conn->watched = !r;
	} else if (ev != conn->events) {
		r = event_loop_mod(loop, conn->fd, ev, &conn->h);
	}
	if (r) {
		log_warn("%s: cannot watch a connection's socket: %s", vsock_vdev(conn->st)->name,
		         strerror(-r));
		vsock_conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
		return;
	}
	conn->events = ev;
}

void vsock_conn_close_host(struct vsock_conn *conn, unsigned tell)
{
	if (conn->state == CONN_FREE || conn->state == CONN_CLOSING)
		return;
	if (conn->state == CONN_LINE ||
	    (conn->state == CONN_CONNECTING && (conn->tell & TELL_REQUEST))) {
		vsock_conn_free(conn);
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
	vsock_conn_enqueue(conn);
}

/* Ask for a CREDIT_UPDATE if the guest thinks it is running out of room while we have
 * forwarded more than it knows. */
static void conn_credit_check(struct vsock_conn *conn)
{
	uint32_t unseen = conn->rx_cnt - conn->fwd_cnt_told;
	uint32_t room = unseen >= VSOCK_BUF_ALLOC ? 0 : VSOCK_BUF_ALLOC - unseen;
	if (conn->fwd_cnt != conn->fwd_cnt_told && room < VSOCK_CREDIT_LOW) {
		conn->tell |= TELL_CREDIT;
		vsock_conn_enqueue(conn);
	}
}

unsigned vsock_conn_pending(struct vsock_conn *conn)
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
		conn->tell &= ~TELL_DATA; /* re-armed by vsock_conn_sync when credit comes */
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

/* --- Guest bytes to the Unix socket --- */

void vsock_conn_drained(struct vsock_conn *conn)
{
	if (conn->state != CONN_OPEN || conn->buf_len)
		return;
	if ((conn->guest_eof && conn->guest_no_rcv) || (conn->guest_eof && conn->host_eof)) {
		vsock_conn_close_host(conn, TELL_RST);
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

void vsock_conn_flush(struct vsock_conn *conn)
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
			vsock_conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
			return;
		}
		conn_consumed(conn, (uint32_t)w);
	}
	conn_credit_check(conn);
	vsock_conn_drained(conn);
}

void vsock_conn_buffer(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t off,
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

void vsock_conn_write(struct vsock_conn *conn, const struct vq_chain *c, uint32_t len)
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
	vsock_conn_flush(conn);
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
			vsock_conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
			return;
		}
		w = r > 0 ? (uint32_t)r : 0;
		conn->fwd_cnt += w;
	}
	uint32_t rest = len - w;
	if (rest > VSOCK_BUF_CAP - conn->buf_len) {
		/* More than the credit we gave: the guest broke the protocol. */
		vsock_conn_close_host(conn, TELL_RST);
		return;
	}
	if (rest)
		vsock_conn_buffer(conn, c->iov, c->nout, VSOCK_HDR_SIZE + w, NULL, rest);
	conn_credit_check(conn);
}

void vsock_conn_guest_shutdown(struct vsock_conn *conn, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV)
		conn->guest_no_rcv = true;
	if (flags & VSOCK_SHUTDOWN_SEND)
		conn->guest_eof = true;
	if (conn->hup && conn->guest_no_rcv)
		vsock_conn_close_host(conn, TELL_SHUTDOWN | TELL_RST); /* nothing left to carry */
	else
		vsock_conn_drained(conn);
}
