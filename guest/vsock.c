/*
 * ember-vsock: the default guest's vsock tool (busybox has none).
 *   ember-vsock connect CID PORT   copy stdin to a stream to CID:PORT and it to stdout
 *   ember-vsock echo PORT          accept one connection on PORT, send back what arrives
 * Exits 0 when the peer closes, 1 on an error (with a message on stderr).
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "ember-vsock: %s: %s\n", what, strerror(errno));
	return 1;
}

static unsigned parse(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v > 0xffffffffUL) {
		fprintf(stderr, "ember-vsock: bad %s '%s'\n", what, s);
		exit(2);
	}
	return (unsigned)v;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Close so that what was written reaches the peer: the guest's init ends the VM as soon as
 * the command exits, and a plain close only queues the last packets (and the SHUTDOWN) for
 * the kernel's vsock worker, which may not run before that. With SO_LINGER, close waits
 * until the peer has answered the SHUTDOWN (Ember answers with RST once it has passed on
 * every byte before it), for at most 10 s.
 */
static int close_delivered(int sock)
{
	struct linger l = {.l_onoff = 1, .l_linger = 10};
	if (setsockopt(sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
		return fail("SO_LINGER");
	if (close(sock) < 0)
		return fail("close");
	return 0;
}

/* stdin -> sock and sock -> stdout until the socket's peer closes. */
static int relay(int sock)
{
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sock, .events = POLLIN}};
	char buf[65536];
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll");
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(sock,
				         SHUT_WR); /* end of input: tell the peer, keep reading */
				p[0].fd = -1;
			} else if (write_all(sock, buf, (size_t)n) < 0) {
				return fail("send");
			}
		}
		if (p[1].revents) {
			ssize_t n = read(sock, buf, sizeof(buf));
			if (n < 0)
				return fail("receive");
			if (n == 0)
				return close_delivered(sock);
			if (write_all(1, buf, (size_t)n) < 0)
				return fail("stdout");
		}
	}
}

/* Says how much it echoed once the peer closed and the echo was delivered. */
static int echo(int sock)
{
	char buf[65536];
	unsigned long long total = 0;
	for (;;) {
		ssize_t n = read(sock, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("receive");
		if (n == 0) {
			if (close_delivered(sock))
				return 1;
			fprintf(stderr, "ember-vsock: echoed %llu bytes\n", total);
			return 0;
		}
		if (write_all(sock, buf, (size_t)n) < 0)
			return fail("send");
		total += (unsigned long long)n;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_vm addr = {.svm_family = AF_VSOCK};
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (argc == 4 && !strcmp(argv[1], "connect")) {
		addr.svm_cid = parse(argv[2], "CID");
		addr.svm_port = parse(argv[3], "port");
		if (s < 0)
			return fail("socket");
		if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return fail("connect");
		return relay(s);
	}
	if (argc == 3 && !strcmp(argv[1], "echo")) {
		addr.svm_cid = VMADDR_CID_ANY;
		addr.svm_port = parse(argv[2], "port");
		if (s < 0)
			return fail("socket");
		if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 1) < 0)
			return fail("listen");
		fprintf(stderr, "ember-vsock: listening on port %u\n", addr.svm_port);
		int c = accept(s, NULL, NULL);
		if (c < 0)
			return fail("accept");
		return echo(c);
	}
	fprintf(stderr, "usage: ember-vsock connect CID PORT | ember-vsock echo PORT\n");
	return 2;
}
