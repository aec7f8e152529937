/*
 * The API thread: a Unix socket and an epoll loop over it and up to API_MAX_CLIENTS
 * clients, each with its own HTTP state, input and output buffers and idle deadline, all
 * non-blocking so a client that stalls or stops reading holds up no one else.
 */
#include "server.h"
#include "http.h"
#include "../base/footprint.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int api_server_test_timeout_ms;

#define CLIENT_READ   4096 /* bytes per recv */
#define CLIENT_BUDGET 16   /* recvs per client per wakeup: a busy client cannot starve others */

/* epoll tags: a client's slot number, or one of these. */
enum { TAG_LISTEN = API_MAX_CLIENTS, TAG_WAKE };

struct api_client {
	int fd; /* -1: a free slot */
	struct api_http_conn *http;
	char *out; /* API_HTTP_RESPONSE_MAX bytes: answers not yet sent */
	size_t out_off, out_len;
	size_t in_off, in_len;
	bool closing;         /* send what is in out, then close */
	uint32_t events;      /* what epoll watches now */
	int64_t deadline;     /* CLOCK_MONOTONIC ms: closed if silent until then */
	char in[CLIENT_READ]; /* read, not yet parsed (backed up behind out) */
};

struct api_server {
	int listen_fd, epoll_fd, wake_fd;
	pthread_t thread;
	dev_t dev; /* the socket file we made: stop removes that one only */
	ino_t ino;
	size_t max_payload;
	int timeout_ms;
	int64_t listen_retry; /* accept failed (out of fds): listener ignored until then */
	api_handler_fn fn;
	void *ctx;
	struct api_client clients[API_MAX_CLIENTS];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void client_close(struct api_client *c)
{
	close(c->fd); /* also leaves the epoll set */
	api_http_conn_free(c->http);
	free(c->out);
	c->fd = -1;
	c->http = NULL;
	c->out = NULL;
}

static void client_watch(struct api_server *s, struct api_client *c, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - s->clients)};
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		client_close(c);
		return;
	}
	c->events = events;
}

/*
 * Make progress on one client: send what is queued, parse what was read (the HTTP layer
 * stops while out is full), read more only when both are empty. So a client that does not
 * read its answers stops being read, and costs only its own buffers.
 */
static void client_service(struct api_server *s, struct api_client *c)
{
	int budget = CLIENT_BUDGET;

	for (;;) {
		if (c->out_off < c->out_len) {
			ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				client_watch(s, c, EPOLLOUT);
				return;
			}
			if (n <= 0) { /* gone */
				client_close(c);
				return;
			}
			c->out_off += (size_t)n;
			c->deadline = now_ms() + s->timeout_ms;
			continue;
		}
		c->out_off = c->out_len = 0;
		if (c->closing) {
			client_close(c);
			return;
		}
		if (c->in_off < c->in_len) {
			size_t used;
			int rc = api_http_conn_feed(c->http, c->in + c->in_off,
			                            c->in_len - c->in_off, &used, s->fn, s->ctx,
			                            c->out, API_HTTP_RESPONSE_MAX, &c->out_len);
			c->in_off += used;
			if (rc)
				c->closing = true;
			continue;
		}
		c->in_off = c->in_len = 0;
		if (budget-- == 0) { /* level-triggered: epoll comes back if there is more */
			client_watch(s, c, EPOLLIN);
			return;
		}
		ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			client_watch(s, c, EPOLLIN);
			return;
		}
		if (n <= 0) { /* end of file (every answer so far is sent) or an error */
			client_close(c);
			return;
		}
		c->in_len = (size_t)n;
		c->deadline = now_ms() + s->timeout_ms;
	}
}

/* Over API_MAX_CLIENTS, a client is accepted, told 503 if its socket takes it at once, and
 * closed: it learns at once instead of waiting in the backlog for a slot. */
static void refuse_client(int fd)
{
	struct ctl_reply r;
	char out[512];
	size_t len = 0;

	ctl_reply_fault(&r, "too many API clients (at most %d at once)", API_MAX_CLIENTS);
	r.status = 503;
	if (api_http_put_response(out, sizeof(out), &len, &r, true))
		(void)!send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void listen_watch(struct api_server *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = TAG_LISTEN};
	epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

static void accept_clients(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Out of fds or memory: the pending client stays in the backlog,
				 * and a level-triggered listener would wake us at once, for ever.
				 * Look again a little later. */
				s->listen_retry = now_ms() + 100;
				listen_watch(s, 0);
			}
			return;
		}
		struct api_client *c = NULL;
		for (unsigned i = 0; i < API_MAX_CLIENTS && !c; i++)
			if (s->clients[i].fd < 0)
				c = &s->clients[i];
		if (!c) {
			refuse_client(fd);
			continue;
		}
		/* Everything a client needs, made now: its requests allocate nothing. */
		c->http = api_http_conn_new(s->max_payload);
		c->out = malloc(API_HTTP_RESPONSE_MAX);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - s->clients)};
		if (!c->http || !c->out || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			api_http_conn_free(c->http);
			free(c->out);
			c->http = NULL;
			c->out = NULL;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		c->out_off = c->out_len = c->in_off = c->in_len = 0;
		c->closing = false;
		c->deadline = now_ms() + s->timeout_ms;
	}
}

/*
 * A client silent past its deadline is closed, unless it was only waiting for us: while a
 * handler blocks, no one is read, and bytes may wait in its socket. Those are served (which
 * moves the deadline). A client that does not read our answers gets no such grace.
 */
static void client_expire(struct api_server *s, struct api_client *c)
{
	char b;
	if (c->out_off == c->out_len && recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
		client_service(s, c);
	else
		client_close(c);
}

static void *server_thread(void *arg)
{
	struct api_server *s = arg;
	struct epoll_event evs[API_MAX_CLIENTS + 2];

	log_thread_name("api");
	sc_lockdown(SC_API); /* the socket is listening: nothing more to acquire */
	for (;;) {
		int64_t now = now_ms(), wait = -1;
		if (s->listen_retry)
			wait = s->listen_retry - now < 0 ? 0 : s->listen_retry - now;
		for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
			struct api_client *c = &s->clients[i];
			if (c->fd >= 0 && (wait < 0 || c->deadline - now < wait))
				wait = c->deadline - now < 0 ? 0 : c->deadline - now;
		}
		int n = epoll_wait(s->epoll_fd, evs, API_MAX_CLIENTS + 2, (int)wait);
		if (n < 0 && errno != EINTR)
			break; /* cannot happen with a valid epoll fd */
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;
			if (tag == TAG_WAKE)
				return NULL;
			if (tag == TAG_LISTEN)
				accept_clients(s);
			else if (tag < API_MAX_CLIENTS && s->clients[tag].fd >= 0)
				client_service(s, &s->clients[tag]);
		}
		now = now_ms();
		if (s->listen_retry && s->listen_retry <= now) {
			s->listen_retry = 0;
			listen_watch(s, EPOLLIN);
		}
		for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
			struct api_client *c = &s->clients[i];
			if (c->fd >= 0 && c->deadline <= now)
				client_expire(s, c);
		}
	}
	return NULL;
}

/* Put "<what>: <strerror(e)>" in err; returns -e. */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int e,
                                                      const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

/* Whatever is at path now: nothing, a stale socket (removed), a live one, another file. */
static int claim_path(const struct sockaddr_un *addr, char *err, size_t errlen)
{
	const char *path = addr->sun_path;
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(err, errlen, errno, "cannot check API socket path '%s'", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return fail(err, errlen, EEXIST,
		            "'%s' exists and is not a socket; not replacing it", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(err, errlen, errno, "cannot create a socket to probe '%s'", path);
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int e = errno;
	close(fd);
	/* Non-blocking: a live server with a full backlog says EAGAIN instead of making us wait. */
	if (rc == 0 || e == EAGAIN)
		return fail(err, errlen, EADDRINUSE, "another process serves an API at '%s'", path);
	if (e != ECONNREFUSED)
		return fail(err, errlen, e, "cannot probe API socket '%s'", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(err, errlen, errno, "cannot remove the stale API socket '%s'", path);
	return 0;
}

static void server_free(struct api_server *s)
{
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			client_close(&s->clients[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	struct stat st;
	if (s->ino && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}

struct api_server *api_server_start(const char *path, size_t max_payload, api_handler_fn fn,
                                    void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct api_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		rc = fail(err, errlen, ENOMEM, "cannot start the API server on '%s'", path);
		errno = -rc;
		return NULL;
	}
	s->listen_fd = s->epoll_fd = s->wake_fd = -1;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	s->max_payload = max_payload;
	s->fn = fn;
	s->ctx = ctx;
	s->timeout_ms =
	    api_server_test_timeout_ms > 0 ? api_server_test_timeout_ms : API_CLIENT_TIMEOUT_MS;

	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(addr.sun_path)) {
		rc = fail(err, errlen, ENAMETOOLONG, "API socket path '%s' is empty or too long",
		          path);
		goto out;
	}
	memcpy(addr.sun_path, path, len + 1);
	memcpy(s->path, path, len + 1);

	rc = claim_path(&addr, err, errlen);
	if (rc < 0)
		goto out;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		rc = fail(err, errlen, errno, "cannot create the API socket '%s'", path);
		goto out;
	}
	/* Linux makes the socket file with the socket inode's mode (less the umask): set
	 * before bind, the file never exists with a wider mode. */
	if (fchmod(s->listen_fd, 0600) < 0) {
		rc = fail(err, errlen, errno, "cannot set the mode of the API socket '%s'", path);
		goto out;
	}
	if (bind(s->listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = fail(err, errlen, errno, "cannot bind the API socket '%s'", path);
		goto out;
	}
	struct stat st;
	if (lstat(path, &st) < 0) {
		rc = fail(err, errlen, errno, "cannot find the API socket '%s' just made", path);
		goto out;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->listen_fd, API_MAX_CLIENTS) < 0) {
		rc = fail(err, errlen, errno, "cannot listen on the API socket '%s'", path);
		goto out;
	}

	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event lev = {.events = EPOLLIN, .data.u32 = TAG_LISTEN};
	struct epoll_event wev = {.events = EPOLLIN, .data.u32 = TAG_WAKE};
	if (s->epoll_fd < 0 || s->wake_fd < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) < 0) {
		rc =
		    fail(err, errlen, errno, "cannot set up the API server's epoll for '%s'", path);
		goto out;
	}

	/* The thread starts with every signal blocked: they go to the threads that handle them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -footprint_thread_start(&s->thread, server_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		rc = fail(err, errlen, -rc, "cannot start the API thread for '%s'", path);
		goto out;
	}
	pthread_setname_np(s->thread, "ember-api");
	return s;

out:
	server_free(s);
	errno = -rc;
	return NULL;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	(void)!write(s->wake_fd, &one, sizeof(one));
	pthread_join(s->thread, NULL);
	server_free(s);
}
