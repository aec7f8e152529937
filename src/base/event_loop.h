/*
 * An epoll loop with a handler per file descriptor: the vmm thread runs one, over every
 * device's fds (queue kicks, tap, io_uring, vsock sockets) and its own watches.
 */
#ifndef EMBER_EVENT_LOOP_H
#define EMBER_EVENT_LOOP_H

#include <stdint.h>

/* What runs when a watched fd is ready: fn(ctx, epoll events). Handlers are owned by the
 * caller (usually embedded in a device) and must outlive their registration. They run on
 * the vmm thread, one at a time. A handler must tolerate a spurious call (non-blocking
 * fds): one removed by another handler in the same round may still run once. */
struct el_handler {
	void (*fn)(void *ctx, uint32_t events);
	void *ctx;
};

struct event_loop {
	int epfd;
};

/* Create the epoll set. Returns 0 or -errno. */
int event_loop_init(struct event_loop *el);

/* Close it. Safe on a loop whose init failed or never ran (epfd -1). */
void event_loop_destroy(struct event_loop *el);

/* Watch fd for events (EPOLLIN, EPOLLOUT, ...; level-triggered unless EPOLLET is given),
 * calling h when ready. Callable from any thread. Returns 0 or -errno. */
int event_loop_add(struct event_loop *el, int fd, uint32_t events, struct el_handler *h);

/* Change the events watched for fd (registered with h). Returns 0 or -errno. */
int event_loop_mod(struct event_loop *el, int fd, uint32_t events, struct el_handler *h);

/* Stop watching fd. Returns 0 or -errno (-ENOENT if it was not watched). */
int event_loop_del(struct event_loop *el, int fd);

/* Wait up to timeout_ms (-1: forever) for ready fds and call their handlers once each.
 * Returns how many handlers ran, or -errno. (Tests drive devices with this.) */
int event_loop_dispatch(struct event_loop *el, int timeout_ms);

#endif
