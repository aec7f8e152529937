/*
 * virtio-vsock: the device and its queues. Packets from the guest are checked field by
 * field before anything acts on them; rx buffers carry RST answers and each connection's
 * packets. Connections are vsock_conn.c's, the Unix sockets vsock_host.c's (vsock_impl.h).
 */
#include "vsock_impl.h"
#include "iov.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* --- Guest to host (tx queue) --- */

void vsock_rst_reply(struct vsock_state *st, const struct vsock_hdr *hdr)
{
	if (hdr->op == VSOCK_OP_RST || st->rst_len == VSOCK_RST_RING)
		return; /* never answer an RST; a full ring was checked before the pop */
	struct vsock_rst *r = &st->rst[(st->rst_head + st->rst_len) % VSOCK_RST_RING];
	r->src_cid = hdr->dst_cid;
	r->src_port = hdr->dst_port;
	r->dst_port = hdr->src_port;
	st->rst_len++;
}

/* One packet from the guest whose header passed the structural checks. */
static void tx_packet(struct vsock_state *st, const struct vsock_hdr *hdr, const struct vq_chain *c)
{
	if (hdr->src_cid != st->guest_cid || hdr->dst_cid != VSOCK_HOST_CID ||
	    hdr->type != VSOCK_TYPE_STREAM) {
		vsock_rst_reply(st, hdr);
		return;
	}
	struct vsock_conn *conn = vsock_conn_lookup(st, hdr->dst_port, hdr->src_port);
	if (conn && conn->state == CONN_CLOSING) {
		/* Our RST is on its way; a new REQUEST means the guest has moved on. */
		if (hdr->op != VSOCK_OP_RST && hdr->op != VSOCK_OP_REQUEST)
			return;
		vsock_conn_free(conn);
		conn = NULL;
		if (hdr->op == VSOCK_OP_RST)
			return;
	}
	if (!conn) {
		if (hdr->op == VSOCK_OP_REQUEST)
			vsock_host_connect(st, hdr);
		else
			vsock_rst_reply(st, hdr);
		return;
	}
	conn->peer_buf_alloc = hdr->buf_alloc;
	conn->peer_fwd_cnt = hdr->fwd_cnt;
	switch (hdr->op) {
	case VSOCK_OP_RST:
		vsock_conn_free(conn);
		return;
	case VSOCK_OP_RESPONSE:
		if (conn->state != CONN_CONNECTING || (conn->tell & TELL_REQUEST))
			vsock_conn_close_host(conn, TELL_RST);
		else
			vsock_host_established(conn);
		break;
	case VSOCK_OP_RW:
		if (conn->state != CONN_OPEN || conn->guest_eof)
			vsock_conn_close_host(conn, TELL_RST);
		else
			vsock_conn_write(conn, c, hdr->len);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields were taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		conn->credit_asked = true;
		conn->tell |= TELL_CREDIT;
		vsock_conn_enqueue(conn);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (conn->state != CONN_OPEN)
			vsock_conn_close_host(conn, TELL_RST);
		else
			vsock_conn_guest_shutdown(conn, hdr->flags);
		break;
	default: /* a second REQUEST, or no op at all */
		vsock_conn_close_host(conn, TELL_RST);
		break;
	}
	vsock_conn_sync(conn);
}

/* --- Failing and stopping --- */

void vsock_stop(struct vsock_state *st)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		vsock_conn_free(&st->conns[i]);
	memset(st->queued, 0, sizeof(st->queued));
	st->runq_head = st->runq_len = 0;
	st->rst_head = st->rst_len = 0;
	st->tx_blocked = false;
	if (st->listening)
		event_loop_del(vsock_vdev(st)->loop, st->listen_fd);
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
	virtio_dev_fail(vsock_vdev(st), "%s", msg);
	/* Nothing is served until the driver resets us: stop the sockets too, or their
	 * level-triggered events would spin the loop. */
	vsock_stop(st);
}

static void tx_run(struct vsock_state *st)
{
	struct virtio_dev *vdev = vsock_vdev(st);
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

/* Bytes from the Unix socket straight into the rx chain. Returns the packet's length, or
 * 0 if the socket had nothing (the chain stays unused). */
static uint32_t rx_data(struct vsock_conn *conn, const struct vq_chain *c)
{
	struct vsock_state *st = conn->st;
	uint32_t room = c->in_bytes - VSOCK_HDR_SIZE;
	uint32_t credit = vsock_conn_credit(conn);
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
		vsock_conn_sync(conn);
		return 0;
	}
	if (r == 0 && !conn->hup && !vsock_host_peer_gone(conn->fd)) {
		/* Half-closed: the host process still reads. Tell the guest we send no more. */
		conn->host_eof = true;
		conn->tell &= ~TELL_DATA;
		uint32_t len = put_hdr(conn, c, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND);
		vsock_conn_drained(conn);
		vsock_conn_sync(conn);
		return len;
	}
	/* Closed or broken: SHUTDOWN now, RST next. */
	vsock_conn_close_host(conn, TELL_RST);
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
		vsock_conn_free(conn);
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

void vsock_rx_run(struct vsock_state *st)
{
	struct virtio_dev *vdev = vsock_vdev(st);
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
			what = vsock_conn_pending(conn);
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
			st->queued[vsock_conn_index(conn)] = false;
			len = rx_conn(conn, what, &c);
			if (conn->state != CONN_FREE && conn->tell)
				vsock_conn_enqueue(conn);
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
		vsock_rx_run(st);
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

	r = vsock_conn_table_map(st, err, errlen);
	if (r)
		goto fail;
	r = vsock_host_open(st, err, errlen);
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
	vsock_host_close(st);
	vsock_conn_table_unmap(st);
	free(st);
	v->st = NULL;
}
