/* The epoll set behind the vmm thread: fds with their handlers. */
#include "event_loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

int event_loop_init(struct event_loop *el)
{
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	return el->epfd < 0 ? -errno : 0;
}

void event_loop_destroy(struct event_loop *el)
{
	if (el->epfd >= 0)
		close(el->epfd);
	el->epfd = -1;
}

static int ctl(struct event_loop *el, int op, int fd, uint32_t events, struct el_handler *h)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};
	return epoll_ctl(el->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int event_loop_add(struct event_loop *el, int fd, uint32_t events, struct el_handler *h)
{
	return ctl(el, EPOLL_CTL_ADD, fd, events, h);
}

int event_loop_mod(struct event_loop *el, int fd, uint32_t events, struct el_handler *h)
{
	return ctl(el, EPOLL_CTL_MOD, fd, events, h);
}

int event_loop_del(struct event_loop *el, int fd)
{
	return ctl(el, EPOLL_CTL_DEL, fd, 0, NULL);
}

int event_loop_dispatch(struct event_loop *el, int timeout_ms)
{
	struct epoll_event events[32];
	int n = epoll_wait(el->epfd, events, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct el_handler *h = events[i].data.ptr;
		h->fn(h->ctx, events[i].events);
	}
	return n;
}
