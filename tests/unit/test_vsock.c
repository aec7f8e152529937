/* virtio-vsock against a fake guest driver and real Unix sockets in a temporary directory:
 * both connection directions, credit, teardown, and what a hostile guest or host sends. */
#include "unit.h"

#include "virtio/vsock.h"
#include "virtio_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define RXQ       0
#define TXQ       1
#define QSIZE     64
#define RX_POSTED 32
#define RX_ROOM   4096
#define GUEST_CID 3
#define TX_ROOM   (70u << 10)

enum {
	OP_REQUEST = 1,
	OP_RESPONSE,
	OP_RST,
	OP_SHUTDOWN,
	OP_RW,
	OP_CREDIT_UPDATE,
	OP_CREDIT_REQUEST
};

/* The spec's packet header (virtio 1.2, 5.10.6), as a guest lays it out. */
struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct fx {
	char dir[64];
	char path[128];
	struct virtio_vsock v;
	struct vh h;
	gpa_t rxbuf[QSIZE]; /* by descriptor head */
	gpa_t txbuf;
	bool split_rx; /* post rx buffers as header + payload descriptors, as older Linux did */
};

static void post_rx(struct fx *f)
{
	gpa_t g = vh_alloc(&f->h, sizeof(struct pkt) + RX_ROOM);
	uint16_t head;
	if (f->split_rx) {
		struct vh_seg s[2] = {{g, sizeof(struct pkt), true},
		                      {g + sizeof(struct pkt), RX_ROOM, true}};
		head = vh_post(&f->h, RXQ, s, 2);
	} else {
		struct vh_seg s = {g, sizeof(struct pkt) + RX_ROOM, true};
		head = vh_post(&f->h, RXQ, &s, 1);
	}
	f->rxbuf[head] = g;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/ember-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	struct vsock_config cfg = {.enabled = true, .guest_cid = GUEST_CID};
	assert_int_equal(CONFIG_SET(cfg.uds_path, f->path), 0);
	char err[256] = "";
	int r = vsock_create(&f->v, &cfg, err, sizeof(err));
	if (r)
		print_error("vsock_create: %s\n", err);
	assert_int_equal(r, 0);
	assert_string_equal(f->v.vdev.name, "virtio-vsock");
	vh_setup(&f->h, &f->v.vdev, QSIZE);
	f->txbuf = vh_alloc(&f->h, TX_ROOM);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vh_teardown(&f->h);
	vsock_destroy(&f->v);
	assert_int_equal(access(f->path, F_OK), -1); /* unlinked */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void fill_rx(struct fx *f)
{
	for (unsigned i = 0; i < RX_POSTED; i++)
		post_rx(f);
	vh_kick(&f->h, RXQ);
}

/* Run the event loop until it has nothing more to do. */
static void pump(struct fx *f)
{
	for (int i = 0; i < 200; i++)
		if (vh_pump(&f->h, 20) <= 0)
			return;
}

static struct pkt gpkt(uint32_t src_port, uint32_t dst_port, uint16_t op)
{
	return (struct pkt){.src_cid = GUEST_CID,
	                    .dst_cid = 2,
	                    .src_port = src_port,
	                    .dst_port = dst_port,
	                    .type = 1,
	                    .op = op,
	                    .buf_alloc = 64 << 10};
}

/* Send a packet from the guest: header and payload as two readable descriptors. */
static void send_pkt(struct fx *f, struct pkt p, const void *data, uint32_t len)
{
	assert_true(sizeof(p) + len <= TX_ROOM);
	p.len = len;
	uint8_t *buf = vh_host(&f->h, f->txbuf, TX_ROOM);
	memcpy(buf, &p, sizeof(p));
	if (len)
		memcpy(buf + sizeof(p), data, len);
	struct vh_seg s[2] = {{f->txbuf, sizeof(p), false}, {f->txbuf + sizeof(p), len, false}};
	vh_post(&f->h, TXQ, s, len ? 2 : 1);
	vh_kick(&f->h, TXQ);
	uint16_t head;
	uint32_t used;
	if (!vh_needs_reset(&f->h))
		assert_true(vh_take_used(&f->h, TXQ, &head, &used));
}

/* The next packet the device put on the rx queue, if any; its buffer is posted again. */
static bool take_rx(struct fx *f, struct pkt *p, void *data, uint32_t cap)
{
	uint16_t head;
	uint32_t len;
	if (!vh_take_used(&f->h, RXQ, &head, &len))
		return false;
	assert_true(len >= sizeof(*p));
	const uint8_t *b = vh_host(&f->h, f->rxbuf[head], sizeof(*p) + RX_ROOM);
	memcpy(p, b, sizeof(*p));
	assert_int_equal(len, sizeof(*p) + p->len);
	assert_true(p->len <= RX_ROOM);
	assert_int_equal(p->src_cid, 2);
	assert_int_equal(p->dst_cid, GUEST_CID);
	assert_int_equal(p->type, 1);
	if (p->op != OP_RST) /* every packet of a live stream carries the credit fields */
		assert_int_equal(p->buf_alloc, 256u << 10);
	if (data) {
		assert_true(p->len <= cap);
		memcpy(data, b + sizeof(*p), p->len);
	}
	post_rx(f);
	vh_kick(&f->h, RXQ);
	return true;
}

static void expect_rx(struct fx *f, struct pkt *p, uint16_t op)
{
	pump(f);
	assert_true(take_rx(f, p, NULL, 0));
	if (p->op != op)
		print_error("got op %u, expected %u\n", p->op, op);
	assert_int_equal(p->op, op);
}

static void expect_no_rx(struct fx *f)
{
	struct pkt p;
	pump(f);
	/* Quiet means quiet: no fd left firing level-triggered with nothing to do. */
	assert_int_equal(vh_pump(&f->h, 0), 0);
	if (take_rx(f, &p, NULL, 0))
		print_error("unexpected op %u len %u\n", p.op, p.len);
	assert_false(vh_take_used(&f->h, RXQ, &(uint16_t){0}, &(uint32_t){0}));
}

static int unix_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int unix_listen(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void host_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read exactly the string s from fd (pumping the device between tries). */
static void host_expect(struct fx *f, int fd, const char *s)
{
	size_t want = strlen(s), got = 0;
	char buf[256];
	assert_true(want < sizeof(buf));
	for (int i = 0; i < 100 && got < want; i++) {
		pump(f);
		ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
	}
	buf[got] = 0;
	assert_string_equal(buf, s);
}

/* The device closed the host side: reads see EOF (after any bytes left). */
static void host_expect_eof(struct fx *f, int fd)
{
	char c;
	pump(f);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
}

/* Closed by the device, maybe with bytes of ours unread (then ECONNRESET, as Unix sockets
 * report it). */
static void host_expect_closed(struct fx *f, int fd)
{
	char c;
	pump(f);
	ssize_t n = recv(fd, &c, 1, 0);
	if (n < 0)
		assert_int_equal(errno, ECONNRESET);
	else
		assert_int_equal(n, 0);
}

/* A host-initiated connection to guest port `port`, accepted by the guest. Returns the
 * host socket; *host_port is Ember's end. */
static int open_host_conn(struct fx *f, uint32_t port, uint32_t *host_port)
{
	char line[32];
	int fd = unix_connect(f->path);
	assert_true(fd >= 0);
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	host_send(fd, line);
	struct pkt p;
	expect_rx(f, &p, OP_REQUEST);
	assert_int_equal(p.dst_port, port);
	assert_true(p.src_port >= 1u << 30);
	assert_int_equal(p.len, 0);
	*host_port = p.src_port;
	send_pkt(f, gpkt(port, p.src_port, OP_RESPONSE), NULL, 0);
	snprintf(line, sizeof(line), "OK %u\n", p.src_port);
	host_expect(f, fd, line);
	return fd;
}

static void host_initiated(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	uint32_t hp;
	int fd = open_host_conn(f, 52, &hp);

	/* host -> guest */
	host_send(fd, "hello");
	struct pkt p;
	char data[RX_ROOM];
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_int_equal(p.src_port, hp);
	assert_int_equal(p.dst_port, 52);
	assert_int_equal(p.len, 5);
	assert_memory_equal(data, "hello", 5);

	/* guest -> host */
	send_pkt(f, gpkt(52, hp, OP_RW), "world", 5);
	host_expect(f, fd, "world");

	/* The host closes: SHUTDOWN both ways, then RST. */
	close(fd);
	expect_rx(f, &p, OP_SHUTDOWN);
	assert_int_equal(p.flags, 3);
	expect_rx(f, &p, OP_RST);
	assert_int_equal(p.src_port, hp);
	expect_no_rx(f);
	/* The connection is gone: more data gets RST. */
	send_pkt(f, gpkt(52, hp, OP_RW), "late", 4);
	expect_rx(f, &p, OP_RST);
	/* But an RST is never answered. */
	send_pkt(f, gpkt(52, hp, OP_RST), NULL, 0);
	expect_no_rx(f);
	assert_false(vh_needs_reset(&f->h));
}

/* Bytes the host sends right behind the CONNECT line are the guest's, delivered after
 * the handshake; host ports are unique. */
static void host_pipelined(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	f->split_rx = true;
	int fd = unix_connect(f->path);
	host_send(fd, "CONNECT 7\nearly");
	struct pkt p, p2;
	expect_rx(f, &p, OP_REQUEST);
	int fd2 = unix_connect(f->path);
	host_send(fd2, "CONNECT 7\n");
	expect_rx(f, &p2, OP_REQUEST);
	assert_int_not_equal(p.src_port, p2.src_port);
	expect_no_rx(f); /* nothing before the guest accepts */
	send_pkt(f, gpkt(7, p.src_port, OP_RESPONSE), NULL, 0);
	char line[32];
	snprintf(line, sizeof(line), "OK %u\n", p.src_port);
	host_expect(f, fd, line);
	char data[RX_ROOM];
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_int_equal(p.len, 5);
	assert_memory_equal(data, "early", 5);
	close(fd);
	close(fd2);
}

/* What `printf 'CONNECT 5000\nhello\n' | socat - UNIX-CONNECT:uds` does against
 * `ember-vsock echo 5000`: the host half-closes before the guest has even answered. */
static void host_half_closes_early(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	int fd = unix_connect(f->path);
	host_send(fd, "CONNECT 5000\nhello-from-host\n");
	shutdown(fd, SHUT_WR);
	struct pkt p;
	expect_rx(f, &p, OP_REQUEST);
	uint32_t hp = p.src_port;
	expect_no_rx(f);
	send_pkt(f, gpkt(5000, hp, OP_RESPONSE), NULL, 0);
	char line[32], data[RX_ROOM];
	snprintf(line, sizeof(line), "OK %u\n", hp);
	host_expect(f, fd, line);
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_int_equal(p.len, 16);
	assert_memory_equal(data, "hello-from-host\n", 16);
	expect_rx(f, &p, OP_SHUTDOWN);
	assert_int_equal(p.flags, 2); /* the host sends no more; it still reads */
	send_pkt(f, gpkt(5000, hp, OP_RW), "hello-from-host\n", 16);
	host_expect(f, fd, "hello-from-host\n");
	/* The echo sees EOF and closes: SHUTDOWN both ways from the guest. */
	struct pkt sd = gpkt(5000, hp, OP_SHUTDOWN);
	sd.flags = 3;
	send_pkt(f, sd, NULL, 0);
	expect_rx(f, &p, OP_RST);
	host_expect_eof(f, fd);
	expect_no_rx(f);
	close(fd);
}

static void host_refused(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	int fd = unix_connect(f->path);
	host_send(fd, "CONNECT 53\n");
	struct pkt p;
	expect_rx(f, &p, OP_REQUEST);
	send_pkt(f, gpkt(53, p.src_port, OP_RST), NULL, 0);
	host_expect_eof(f, fd);
	expect_no_rx(f);
	close(fd);
}

static void bad_connect_lines(void **state)
{
	struct fx *f = *state;
	static const char *bad[] = {
	    "CONNECT abc\n",
	    "HELLO 5\n",
	    "CONNECT 99999999999\n",
	    "CONNECT 4294967296\n",
	    "CONNECT\n",
	    "CONNECT 5 \n",
	    "connect 5\n",
	    "CONNECT -1\n",
	    "CONNECT 5\r\n",
	    "CONNECT  5\n",
	    "CONNECT 123456789012345678901234567890",
	};
	fill_rx(f);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = unix_connect(f->path);
		host_send(fd, bad[i]);
		host_expect_closed(f, fd);
		close(fd);
	}
	/* A line cut short by the host closing. */
	int fd = unix_connect(f->path);
	host_send(fd, "CONNECT 5");
	shutdown(fd, SHUT_WR);
	host_expect_eof(f, fd);
	close(fd);
	/* Byte by byte is fine. */
	fd = unix_connect(f->path);
	for (const char *s = "CONNECT 4294967295\n"; *s; s++) {
		assert_int_equal(send(fd, s, 1, 0), 1);
		pump(f);
	}
	struct pkt p;
	expect_rx(f, &p, OP_REQUEST);
	assert_int_equal(p.dst_port, 4294967295u);
	/* The host gives up before the guest answers: the request is cancelled. */
	close(fd);
	expect_rx(f, &p, OP_RST);
	assert_int_equal(p.dst_port, 4294967295u);
	expect_no_rx(f);
	assert_false(vh_needs_reset(&f->h));
}

static void guest_initiated(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_52", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);

	send_pkt(f, gpkt(1234, 52, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	assert_int_equal(p.src_port, 52);
	assert_int_equal(p.dst_port, 1234);
	int fd = accept(l, NULL, NULL);
	assert_true(fd >= 0);

	send_pkt(f, gpkt(1234, 52, OP_RW), "ping", 4);
	host_expect(f, fd, "ping");
	host_send(fd, "pong");
	char data[RX_ROOM];
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_int_equal(p.len, 4);
	assert_memory_equal(data, "pong", 4);
	assert_int_equal(p.fwd_cnt, 4); /* the 4 bytes that went to the host */

	/* The guest asks for credit news. */
	send_pkt(f, gpkt(1234, 52, OP_CREDIT_REQUEST), NULL, 0);
	expect_rx(f, &p, OP_CREDIT_UPDATE);
	assert_int_equal(p.fwd_cnt, 4);

	/* The guest closes: the host sees EOF and the guest gets its RST. */
	struct pkt sd = gpkt(1234, 52, OP_SHUTDOWN);
	sd.flags = 3;
	send_pkt(f, sd, NULL, 0);
	host_expect_eof(f, fd);
	expect_rx(f, &p, OP_RST);
	expect_no_rx(f);
	close(fd);
	close(l);
	unlink(lpath);
}

/* Either side may stop sending and still receive. */
static void half_close(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_80", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	send_pkt(f, gpkt(5000, 80, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);

	/* The guest is done sending: the host reads EOF but can still answer. */
	send_pkt(f, gpkt(5000, 80, OP_RW), "req", 3);
	struct pkt sd = gpkt(5000, 80, OP_SHUTDOWN);
	sd.flags = 2; /* SEND */
	send_pkt(f, sd, NULL, 0);
	host_expect(f, fd, "req");
	host_expect_eof(f, fd);
	host_send(fd, "answer");
	char data[RX_ROOM];
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_memory_equal(data, "answer", 6);
	/* Then the host is done too: SHUTDOWN, and with both directions over, RST. */
	shutdown(fd, SHUT_WR);
	expect_rx(f, &p, OP_SHUTDOWN);
	expect_rx(f, &p, OP_RST);
	close(fd);

	/* The host half-closes first: SHUTDOWN(SEND) only; the guest may still write. */
	send_pkt(f, gpkt(5001, 80, OP_REQUEST), NULL, 0);
	expect_rx(f, &p, OP_RESPONSE);
	fd = accept(l, NULL, NULL);
	shutdown(fd, SHUT_WR);
	expect_rx(f, &p, OP_SHUTDOWN);
	assert_int_equal(p.flags, 2);
	send_pkt(f, gpkt(5001, 80, OP_RW), "still", 5);
	host_expect(f, fd, "still");
	sd = gpkt(5001, 80, OP_SHUTDOWN);
	sd.flags = 3;
	send_pkt(f, sd, NULL, 0);
	expect_rx(f, &p, OP_RST);
	host_expect_eof(f, fd);
	close(fd);
	close(l);
	unlink(lpath);
}

static void guest_no_listener(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	send_pkt(f, gpkt(1234, 99, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RST);
	assert_int_equal(p.src_port, 99);
	assert_int_equal(p.dst_port, 1234);
	/* A stale socket file with nobody behind it is the same. */
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_98", f->path);
	close(unix_listen(lpath));
	send_pkt(f, gpkt(1235, 98, OP_REQUEST), NULL, 0);
	expect_rx(f, &p, OP_RST);
	unlink(lpath);
	expect_no_rx(f);
}

/* Ember sends only what the guest has room for, and resumes on CREDIT_UPDATE. */
static void credit_to_guest(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_60", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	struct pkt rq = gpkt(6000, 60, OP_REQUEST);
	rq.buf_alloc = 100;
	send_pkt(f, rq, NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);

	char big[300];
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (char)i;
	assert_int_equal(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));

	char got[400], data[RX_ROOM];
	uint32_t n = 0;
	pump(f);
	while (take_rx(f, &p, data, sizeof(data))) {
		assert_int_equal(p.op, OP_RW);
		memcpy(got + n, data, p.len);
		n += p.len;
	}
	assert_int_equal(n, 100);
	expect_no_rx(f);

	/* The guest consumed 60: room for 60 more. */
	struct pkt cu = gpkt(6000, 60, OP_CREDIT_UPDATE);
	cu.buf_alloc = 100;
	cu.fwd_cnt = 60;
	send_pkt(f, cu, NULL, 0);
	pump(f);
	while (take_rx(f, &p, data, sizeof(data))) {
		memcpy(got + n, data, p.len);
		n += p.len;
	}
	assert_int_equal(n, 160);
	/* A bigger buffer: the rest. */
	cu.buf_alloc = 1000;
	send_pkt(f, cu, NULL, 0);
	pump(f);
	while (take_rx(f, &p, data, sizeof(data))) {
		memcpy(got + n, data, p.len);
		n += p.len;
	}
	assert_int_equal(n, 300);
	assert_memory_equal(got, big, 300);

	/* A lying fwd_cnt (ahead of what was sent) leaves no credit, not a flood. */
	cu.fwd_cnt = 100000;
	send_pkt(f, cu, NULL, 0);
	host_send(fd, "more");
	expect_no_rx(f);
	close(fd);
	close(l);
	unlink(lpath);
}

/* The host writes and hangs up while the guest has no room: the bytes wait, without the
 * hang-up spinning the loop, and arrive before SHUTDOWN and RST once credit comes. */
static void hup_waits_for_credit(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_64", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	struct pkt rq = gpkt(6400, 64, OP_REQUEST);
	rq.buf_alloc = 4;
	send_pkt(f, rq, NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);
	host_send(fd, "abcdefgh");
	close(fd);
	char data[RX_ROOM];
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_int_equal(p.len, 4);
	assert_memory_equal(data, "abcd", 4);
	expect_no_rx(f);
	struct pkt cu = gpkt(6400, 64, OP_CREDIT_UPDATE);
	cu.buf_alloc = 4;
	cu.fwd_cnt = 4;
	send_pkt(f, cu, NULL, 0);
	pump(f);
	assert_true(take_rx(f, &p, data, sizeof(data)));
	assert_int_equal(p.op, OP_RW);
	assert_memory_equal(data, "efgh", 4);
	expect_no_rx(f);
	cu.fwd_cnt = 8;
	send_pkt(f, cu, NULL, 0);
	expect_rx(f, &p, OP_SHUTDOWN);
	assert_int_equal(p.flags, 3);
	expect_rx(f, &p, OP_RST);
	expect_no_rx(f);
	close(l);
	unlink(lpath);
}

/* What a live connection must not receive: it is reset, the host side closed. */
static void protocol_violations(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_65", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	static const uint16_t bad_ops[] = {OP_REQUEST, OP_RESPONSE, 0, 42};
	for (unsigned i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		uint32_t gp = 6500 + i;
		send_pkt(f, gpkt(gp, 65, OP_REQUEST), NULL, 0);
		struct pkt p;
		expect_rx(f, &p, OP_RESPONSE);
		int fd = accept(l, NULL, NULL);
		send_pkt(f, gpkt(gp, 65, bad_ops[i]), NULL, 0);
		expect_rx(f, &p, OP_RST);
		assert_int_equal(p.dst_port, gp);
		host_expect_eof(f, fd);
		close(fd);
	}
	/* Data after the guest said it sends no more. */
	send_pkt(f, gpkt(6600, 65, OP_REQUEST), NULL, 0);
	struct pkt p, sd = gpkt(6600, 65, OP_SHUTDOWN);
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);
	sd.flags = 2;
	send_pkt(f, sd, NULL, 0);
	host_expect_eof(f, fd);
	send_pkt(f, gpkt(6600, 65, OP_RW), "zz", 2);
	expect_rx(f, &p, OP_RST);
	close(fd);
	expect_no_rx(f);
	assert_false(vh_needs_reset(&f->h));
	close(l);
	unlink(lpath);
}

/* Guest bytes the host does not read wait in the connection's buffer; a guest that sends
 * past the credit it was given is reset. */
static void credit_from_guest(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_61", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	send_pkt(f, gpkt(6100, 61, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);

	static uint8_t chunk[64 << 10];
	for (unsigned i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	uint32_t sent = 0;
	bool reset = false;
	for (int i = 0; i < 40 && !reset; i++) {
		send_pkt(f, gpkt(6100, 61, OP_RW), chunk, sizeof(chunk));
		sent += sizeof(chunk);
		while (take_rx(f, &p, NULL, 0)) {
			if (p.op == OP_RST)
				reset = true;
			else
				assert_int_equal(p.op, OP_CREDIT_UPDATE);
		}
	}
	assert_true(reset);
	assert_false(vh_needs_reset(&f->h));
	/* Ember held what it accepted (more than the socket took) before giving up. */
	assert_true(sent > (256u << 10));
	close(fd);
	close(l);
	unlink(lpath);
}

/* Buffered guest bytes reach the host once it reads, and the guest hears its credit back. */
static void credit_buffer_drains(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_62", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	send_pkt(f, gpkt(6200, 62, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);

	static uint8_t chunk[32 << 10];
	uint32_t sent = 0, fwd = 0;
	/* Stay within the 256 KiB credit, counting what Ember says it forwarded. */
	for (int i = 0; i < 8; i++) {
		for (unsigned k = 0; k < sizeof(chunk); k++)
			chunk[k] = (uint8_t)(sent + k);
		send_pkt(f, gpkt(6200, 62, OP_RW), chunk, sizeof(chunk));
		sent += sizeof(chunk);
		while (take_rx(f, &p, NULL, 0)) {
			assert_int_equal(p.op, OP_CREDIT_UPDATE);
			fwd = p.fwd_cnt;
		}
	}
	assert_int_equal(sent, 256u << 10);
	/* Read everything: the buffer flushes on EPOLLOUT. */
	static uint8_t all[256 << 10];
	uint32_t got = 0;
	for (int i = 0; i < 1000 && got < sent; i++) {
		pump(f);
		ssize_t n = recv(fd, all + got, sent - got, MSG_DONTWAIT);
		if (n > 0)
			got += (uint32_t)n;
	}
	assert_int_equal(got, sent);
	for (uint32_t k = 0; k < sent; k++)
		if (all[k] != (uint8_t)k)
			fail_msg("byte %u is %u", k, all[k]);
	/* Ember volunteers an update only while the guest is low; asked, it tells all. */
	pump(f);
	while (take_rx(f, &p, NULL, 0)) {
		assert_int_equal(p.op, OP_CREDIT_UPDATE);
		assert_true(p.fwd_cnt >= fwd);
		fwd = p.fwd_cnt;
	}
	send_pkt(f, gpkt(6200, 62, OP_CREDIT_REQUEST), NULL, 0);
	expect_rx(f, &p, OP_CREDIT_UPDATE);
	assert_int_equal(p.fwd_cnt, sent);
	close(fd);
	close(l);
	unlink(lpath);
}

/* Headers that are wrong but well-formed get RST; RST never answers an RST. */
static void bad_headers(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	struct pkt p, q;

	q = gpkt(1, 2, OP_REQUEST);
	q.src_cid = 7; /* not the guest's CID */
	send_pkt(f, q, NULL, 0);
	expect_rx(f, &p, OP_RST);
	assert_int_equal(p.dst_port, 1);

	q = gpkt(1, 2, OP_REQUEST);
	q.dst_cid = 5; /* another VM */
	send_pkt(f, q, NULL, 0);
	pump(f);
	assert_true(vh_take_used(&f->h, RXQ, &(uint16_t){0}, &(uint32_t){0}));
	post_rx(f);

	q = gpkt(1, 2, OP_REQUEST);
	q.type = 2; /* SEQPACKET, not offered */
	send_pkt(f, q, NULL, 0);
	expect_rx(f, &p, OP_RST);

	q = gpkt(1, 2, 0); /* no op */
	send_pkt(f, q, NULL, 0);
	expect_rx(f, &p, OP_RST);
	q.op = 99;
	send_pkt(f, q, NULL, 0);
	expect_rx(f, &p, OP_RST);

	q = gpkt(1, 2, OP_RST);
	q.src_cid = 7;
	send_pkt(f, q, NULL, 0);
	q = gpkt(1, 2, OP_RST);
	send_pkt(f, q, NULL, 0);
	expect_no_rx(f);

	/* Unknown connections. */
	send_pkt(f, gpkt(1, 2, OP_RW), "x", 1);
	expect_rx(f, &p, OP_RST);
	send_pkt(f, gpkt(1, 2, OP_RESPONSE), NULL, 0);
	expect_rx(f, &p, OP_RST);
	send_pkt(f, gpkt(1, 2, OP_CREDIT_REQUEST), NULL, 0);
	expect_rx(f, &p, OP_RST);
	assert_false(vh_needs_reset(&f->h));
}

/* Answers wait for rx buffers; a flood of bad packets stops tx instead of dropping them. */
static void post_bad(struct fx *f, uint32_t port)
{
	struct pkt q = gpkt(port, 2, OP_RW); /* no such connection: RST owed */
	gpa_t g = f->txbuf + (gpa_t)port * 64;
	memcpy(vh_host(&f->h, g, sizeof(q)), &q, sizeof(q));
	struct vh_seg s = {g, sizeof(q), false};
	vh_post(&f->h, TXQ, &s, 1);
}

static unsigned take_tx_used(struct fx *f)
{
	uint16_t head;
	uint32_t len;
	unsigned n = 0;
	while (vh_take_used(&f->h, TXQ, &head, &len))
		n++;
	return n;
}

static void rst_backpressure(void **state)
{
	struct fx *f = *state;
	/* No rx buffers yet: the first 64 answers fill the ring... */
	for (uint32_t i = 0; i < QSIZE; i++)
		post_bad(f, i);
	vh_kick(&f->h, TXQ);
	assert_int_equal(take_tx_used(f), QSIZE);
	/* ...and then tx waits. */
	for (uint32_t i = QSIZE; i < QSIZE + 10; i++)
		post_bad(f, i);
	vh_kick(&f->h, TXQ);
	pump(f);
	assert_int_equal(take_tx_used(f), 0);
	/* rx buffers let it all through, in order. */
	fill_rx(f);
	unsigned rsts = 0;
	struct pkt p;
	for (int i = 0; i < 50 && rsts < QSIZE + 10; i++) {
		pump(f);
		while (take_rx(f, &p, NULL, 0)) {
			assert_int_equal(p.op, OP_RST);
			assert_int_equal(p.dst_port, rsts);
			rsts++;
		}
	}
	assert_int_equal(rsts, QSIZE + 10);
	assert_int_equal(take_tx_used(f), 10);
	assert_false(vh_needs_reset(&f->h));
}

/* Many host bytes reach the guest in buffer-sized packets, paced by the guest's credit. */
static void bulk_to_guest(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_63", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	send_pkt(f, gpkt(6300, 63, OP_REQUEST), NULL, 0); /* buf_alloc 64 KiB */
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int fd = accept(l, NULL, NULL);
	fcntl(fd, F_SETFL, O_NONBLOCK);

	enum { TOTAL = 300 << 10 };
	static uint8_t out[TOTAL], in[TOTAL];
	for (unsigned i = 0; i < TOTAL; i++)
		out[i] = (uint8_t)(i * 13 + 1);
	uint32_t wrote = 0, got = 0;
	static char data[RX_ROOM];
	for (int i = 0; i < 2000 && got < TOTAL; i++) {
		if (wrote < TOTAL) {
			ssize_t n = send(fd, out + wrote, TOTAL - wrote, MSG_DONTWAIT);
			if (n > 0)
				wrote += (uint32_t)n;
		}
		pump(f);
		bool any = false;
		while (take_rx(f, &p, data, sizeof(data))) {
			assert_int_equal(p.op, OP_RW);
			assert_true(p.len <= RX_ROOM);
			memcpy(in + got, data, p.len);
			got += p.len;
			any = true;
		}
		if (any) { /* the guest application read it all */
			struct pkt cu = gpkt(6300, 63, OP_CREDIT_UPDATE);
			cu.fwd_cnt = got;
			send_pkt(f, cu, NULL, 0);
		}
	}
	assert_int_equal(got, TOTAL);
	assert_memory_equal(in, out, TOTAL);
	close(fd);
	close(l);
	unlink(lpath);
}

static void tx_writable_buffer(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	struct pkt q = gpkt(1, 2, OP_REQUEST);
	memcpy(vh_host(&f->h, f->txbuf, sizeof(q)), &q, sizeof(q));
	struct vh_seg s[2] = {{f->txbuf, sizeof(q), false}, {f->txbuf + 64, 16, true}};
	vh_post(&f->h, TXQ, s, 2);
	vh_kick(&f->h, TXQ);
	assert_true(vh_needs_reset(&f->h));
}

static void tx_short_header(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	struct vh_seg s = {f->txbuf, 20, false};
	vh_post(&f->h, TXQ, &s, 1);
	vh_kick(&f->h, TXQ);
	assert_true(vh_needs_reset(&f->h));
}

static void tx_len_past_chain(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	struct pkt q = gpkt(1, 2, OP_RW);
	q.len = 100; /* the chain holds 10 */
	memcpy(vh_host(&f->h, f->txbuf, sizeof(q)), &q, sizeof(q));
	struct vh_seg s = {f->txbuf, sizeof(q) + 10, false};
	vh_post(&f->h, TXQ, &s, 1);
	vh_kick(&f->h, TXQ);
	assert_true(vh_needs_reset(&f->h));
	expect_no_rx(f);
}

static void tx_len_past_cap(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	struct pkt q = gpkt(1, 2, OP_RW);
	q.len = (64u << 10) + 1; /* the chain holds it, but no packet may be that big */
	memcpy(vh_host(&f->h, f->txbuf, sizeof(q)), &q, sizeof(q));
	struct vh_seg s = {f->txbuf, sizeof(q) + q.len, false};
	vh_post(&f->h, TXQ, &s, 1);
	vh_kick(&f->h, TXQ);
	assert_true(vh_needs_reset(&f->h));
}

static void rx_readable_buffer(void **state)
{
	struct fx *f = *state;
	gpa_t g = vh_alloc(&f->h, 256);
	struct vh_seg s = {g, 256, false};
	vh_post(&f->h, RXQ, &s, 1);
	send_pkt(f, gpkt(1, 2, OP_RW), "x", 1); /* owes an RST: uses the bad buffer */
	assert_true(vh_needs_reset(&f->h));
}

/* A failed device drops its connections and stops serving the host side. */
static void fail_stops_all(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	uint32_t hp;
	int fd = open_host_conn(f, 52, &hp);
	struct vh_seg s = {f->txbuf, 20, false};
	vh_post(&f->h, TXQ, &s, 1);
	vh_kick(&f->h, TXQ);
	assert_true(vh_needs_reset(&f->h));
	host_expect_eof(f, fd);
	close(fd);
	/* The listening socket stays bound: a host connect waits in the backlog. */
	fd = unix_connect(f->path);
	assert_true(fd >= 0);
	host_send(fd, "CONNECT 9\n");
	pump(f);
	assert_false(vh_take_used(&f->h, RXQ, &(uint16_t){0}, &(uint32_t){0}));
	close(fd);
}

/* A reset closes every connection. */
static void reset_closes(void **state)
{
	struct fx *f = *state;
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s_70", f->path);
	int l = unix_listen(lpath);
	fill_rx(f);
	uint32_t hp;
	int a = open_host_conn(f, 52, &hp);
	send_pkt(f, gpkt(7000, 70, OP_REQUEST), NULL, 0);
	struct pkt p;
	expect_rx(f, &p, OP_RESPONSE);
	int b = accept(l, NULL, NULL);
	int c = unix_connect(f->path); /* still on its CONNECT line */
	pump(f);
	/* The driver resets it; the vmm thread (the harness's loop) runs the reset while the
	 * writer waits. */
	vh_write_reg(&f->h, VH_REG_STATUS, 0);
	assert_int_equal(vh_read_reg(&f->h, VH_REG_STATUS), 0);
	host_expect_eof(f, a);
	host_expect_eof(f, b);
	host_expect_eof(f, c);
	close(a);
	close(b);
	close(c);
	close(l);
	unlink(lpath);
}

static void config_space(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[8];
	assert_int_equal(f->v.vdev.config_size, 8);
	assert_int_equal(f->v.vdev.ops->device_id, 19);
	assert_int_equal(f->v.vdev.ops->num_queues, 3);
	f->v.vdev.ops->config_read(&f->v.vdev, 0, cfg, 8);
	assert_int_equal(unit_le(cfg, 8), GUEST_CID);
	f->v.vdev.ops->config_read(&f->v.vdev, 4, cfg, 4);
	assert_int_equal(unit_le(cfg, 4), 0);
}

static void create_errors(void **state)
{
	(void)state;
	char dir[] = "/tmp/ember-vsock-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/busy.sock", dir);
	struct virtio_vsock v;
	struct vsock_config cfg = {.enabled = true, .guest_cid = 3};
	assert_int_equal(CONFIG_SET(cfg.uds_path, path), 0);

	/* In use by a listener. */
	int l = unix_listen(path);
	err[0] = 0;
	assert_int_equal(vsock_create(&v, &cfg, err, sizeof(err)), -EADDRINUSE);
	assert_err_mentions(err, "in use");
	assert_int_equal(access(path, F_OK), 0); /* left alone */
	vsock_destroy(&v);
	close(l);

	/* Stale (nobody listens): replaced. */
	assert_int_equal(vsock_create(&v, &cfg, err, sizeof(err)), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* A second device on the same path is refused while the first lives. */
	struct virtio_vsock v2;
	assert_int_equal(vsock_create(&v2, &cfg, err, sizeof(err)), -EADDRINUSE);
	vsock_destroy(&v2);
	vsock_destroy(&v);
	assert_int_equal(access(path, F_OK), -1);

	/* A regular file is not ours to remove. */
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	err[0] = 0;
	assert_int_equal(vsock_create(&v, &cfg, err, sizeof(err)), -EEXIST);
	assert_err_mentions(err, "not a socket");
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);

	/* Reserved CIDs, a missing or overlong path. */
	cfg.guest_cid = 2;
	assert_int_equal(vsock_create(&v, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "CID");
	cfg.guest_cid = 3;
	cfg.uds_path[0] = '\0';
	assert_int_equal(vsock_create(&v, &cfg, err, sizeof(err)), -EINVAL);
	/* An overlong path cannot even be held by the configuration, and the longest it
	 * holds leaves room for "_<port>" in sun_path. */
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(CONFIG_SET(cfg.uds_path, longpath), -ENAMETOOLONG);
	assert_true(sizeof(cfg.uds_path) + 11 <= sizeof(((struct sockaddr_un *)0)->sun_path));
	assert_int_equal(rmdir(dir), 0);
}

/* The listener refuses connections past the table's size; the ones it has keep working. */
static void table_full(void **state)
{
	struct fx *f = *state;
	fill_rx(f);
	static int fds[VSOCK_MAX_CONNS + 4];
	for (unsigned i = 0; i < VSOCK_MAX_CONNS + 4; i++) {
		fds[i] = unix_connect(f->path);
		assert_true(fds[i] >= 0);
		if (i % 16 == 15)
			pump(f);
	}
	pump(f);
	unsigned closed = 0;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS + 4; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN};
		if (poll(&p, 1, 0) == 1)
			closed++;
	}
	assert_int_equal(closed, 4);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS + 4; i++)
		close(fds[i]);
	pump(f);
	uint32_t hp;
	close(open_host_conn(f, 52, &hp));
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(host_initiated, setup, teardown),
	    cmocka_unit_test_setup_teardown(host_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(host_half_closes_early, setup, teardown),
	    cmocka_unit_test_setup_teardown(host_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_connect_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(guest_initiated, setup, teardown),
	    cmocka_unit_test_setup_teardown(half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(guest_no_listener, setup, teardown),
	    cmocka_unit_test_setup_teardown(credit_to_guest, setup, teardown),
	    cmocka_unit_test_setup_teardown(hup_waits_for_credit, setup, teardown),
	    cmocka_unit_test_setup_teardown(protocol_violations, setup, teardown),
	    cmocka_unit_test_setup_teardown(credit_from_guest, setup, teardown),
	    cmocka_unit_test_setup_teardown(credit_buffer_drains, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(rst_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(bulk_to_guest, setup, teardown),
	    cmocka_unit_test_setup_teardown(tx_writable_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(tx_short_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(tx_len_past_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(tx_len_past_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(rx_readable_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(fail_stops_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(reset_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(table_full, setup, teardown),
	    cmocka_unit_test(create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
