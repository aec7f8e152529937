/*
 * virtio-vsock's host side, Firecracker's way: the listening Unix socket at uds_path and its
 * "CONNECT <port>\n" / "OK <port>\n" handshake, guest connections to "<uds_path>_<port>",
 * and the event-loop handlers of every host socket.
 */
#include "vsock_impl.h"
#include "../base/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- Host-initiated: "CONNECT <port>\n", then "OK <host_port>\n" --- */

/* "CONNECT <port>\n", nothing more or less. */
static bool host_parse_connect(const char *line, unsigned len, uint32_t *port)
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

/* recv(2) through recvmsg, which the relay uses anyway: the vmm thread's seccomp filter
 * then needs no recvfrom. */
static ssize_t host_recv(int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = {buf, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	return recvmsg(fd, &msg, flags);
}

/* Read the CONNECT line without consuming a byte past its newline: those belong to the
 * guest. */
static void host_read_line(struct vsock_conn *conn)
{
	char *at = conn->line + conn->line_len;
	size_t room = VSOCK_LINE_MAX - conn->line_len;
	ssize_t n = host_recv(conn->fd, at, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		vsock_conn_free(conn);
		return;
	}
	const char *nl = memchr(at, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - at) + 1 : (size_t)n;
	if (host_recv(conn->fd, at, take, MSG_DONTWAIT) != (ssize_t)take) {
		vsock_conn_free(conn);
		return;
	}
	conn->line_len = (uint8_t)(conn->line_len + take);
	uint32_t port;
	if (!nl) {
		if (conn->line_len == VSOCK_LINE_MAX)
			vsock_conn_free(conn); /* no newline within the bound */
		return;
	}
	if (!host_parse_connect(conn->line, conn->line_len, &port)) {
		vsock_conn_free(conn);
		return;
	}
	conn->state = CONN_CONNECTING;
	vsock_conn_key(conn, vsock_conn_new_host_port(conn->st), port);
	conn->tell = TELL_REQUEST;
	vsock_conn_enqueue(conn);
}

void vsock_host_established(struct vsock_conn *conn)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", conn->host_port);
	conn->state = CONN_OPEN;
	vsock_conn_buffer(conn, NULL, 0, 0, ok, (uint32_t)n);
	conn->buf_extra = (uint32_t)n;
	vsock_conn_flush(conn);
}

/* --- Guest-initiated: a connection to "<uds_path>_<port>" --- */

void vsock_host_connect(struct vsock_state *st, const struct vsock_hdr *hdr)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n =
	    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", st->uds_path, hdr->dst_port);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		vsock_rst_reply(st, hdr);
		return;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		vsock_rst_reply(st, hdr);
		return;
	}
	/* A Unix connect never goes in progress: it succeeds, or fails with nobody listening
	 * (ENOENT, ECONNREFUSED) or a full backlog (EAGAIN). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		vsock_rst_reply(st, hdr);
		return;
	}
	struct vsock_conn *conn = vsock_conn_alloc(st, fd);
	if (!conn) {
		close(fd);
		vsock_rst_reply(st, hdr);
		return;
	}
	conn->state = CONN_OPEN;
	vsock_conn_key(conn, hdr->dst_port, hdr->src_port);
	conn->peer_buf_alloc = hdr->buf_alloc;
	conn->peer_fwd_cnt = hdr->fwd_cnt;
	conn->tell = TELL_RESPONSE;
	vsock_conn_enqueue(conn);
	vsock_conn_sync(conn);
}

/* --- Events on the host sockets --- */

short vsock_host_peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = 0};
	if (poll(&p, 1, 0) <= 0)
		return 0;
	return p.revents & (POLLHUP | POLLERR);
}

/* The Unix peer hung up or the socket failed (epoll said so and poll confirmed). */
static void host_hup(struct vsock_conn *conn, bool error)
{
	if (conn->state == CONN_LINE) {
		vsock_conn_free(conn);
		return;
	}
	if (conn->watched)
		event_loop_del(vsock_vdev(conn->st)->loop, conn->fd);
	conn->watched = false;
	conn->hup = true;
	conn->buf_len = 0; /* nobody will read it */
	conn->buf_extra = 0;
	if (conn->state == CONN_OPEN && !error && !conn->host_eof && !conn->guest_no_rcv)
		return; /* vsock_conn_sync drains what the peer wrote before closing, then ends */
	vsock_conn_close_host(conn, TELL_SHUTDOWN | TELL_RST);
}

static void host_conn_event(void *ctx, uint32_t events)
{
	struct vsock_conn *conn = ctx;
	struct vsock_state *st = conn->st;
	struct virtio_dev *vdev = vsock_vdev(st);

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
		short gone = vsock_host_peer_gone(conn->fd);
		if (gone) {
			host_hup(conn, gone & POLLERR);
			vsock_conn_sync(conn);
			goto run;
		}
	}
	if (conn->state == CONN_LINE) {
		if (events & EPOLLIN)
			host_read_line(conn);
	} else {
		if (events & EPOLLOUT)
			vsock_conn_flush(conn);
		if ((events & EPOLLIN) && conn->state == CONN_OPEN) {
			conn->tell |= TELL_DATA;
			vsock_conn_enqueue(conn);
		}
	}
	vsock_conn_sync(conn);
run:
	vsock_rx_run(st);
out:
	virtio_dev_unlock(vdev);
}

static void host_listen_event(void *ctx, uint32_t events)
{
	struct vsock_state *st = ctx;
	struct virtio_dev *vdev = vsock_vdev(st);
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
		struct vsock_conn *conn = vsock_conn_alloc(st, fd);
		if (!conn) {
			close(fd);
			continue;
		}
		conn->state = CONN_LINE;
		vsock_conn_sync(conn);
	}
	vsock_rx_run(st);
	virtio_dev_unlock(vdev);
}

/* --- The listening socket --- */

/* Make path free for us: fine if nothing is there; a socket nobody listens on is stale and
 * removed; anything else (a file, a live listener) is an error. */
static int host_clear_stale(const char *path, const struct sockaddr_un *addr, char *err,
                            size_t errlen)
{
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
		int r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
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
	return 0;
}

int vsock_host_open(struct vsock_state *st, char *err, size_t errlen)
{
	st->listen_handler = (struct el_handler){host_listen_event, st};
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		st->conns[i].h = (struct el_handler){host_conn_event, &st->conns[i]};

	const char *path = st->uds_path;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int r = host_clear_stale(path, &addr, err, errlen);
	if (r)
		return r;

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

void vsock_host_close(struct vsock_state *st)
{
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	st->listen_fd = -1;
	if (st->path_bound)
		unlink(st->uds_path);
	st->path_bound = false;
}
