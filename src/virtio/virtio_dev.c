/* What every virtio device shares beyond its transport: state, reset, activation handed
 * from vCPU threads to the vmm thread, kicks, interrupts and the one way a device reports
 * a hostile guest. */
#include "virtio.h"
#include "../base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int virtio_dev_init(struct virtio_dev *vdev)
{
	vdev->irq_fd = vdev->work_fd = -1;
	vdev->work = VIRTIO_WORK_NONE;
	vdev->work_asked = 0;
	atomic_init(&vdev->work_done, 0);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->kick_fds[q] = -1;
	vdev->status = 0;
	vdev->activated = false;
	vdev->failed = false;
	vdev->fail_logged = false;
	vdev->driver_features = 0;
	vdev->device_features_sel = vdev->driver_features_sel = vdev->queue_sel = 0;
	vdev->config_generation = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vq_reset(&vdev->vqs[q]);
	atomic_init(&vdev->interrupt_status, 0);
	atomic_init(&vdev->stat_kicks, 0);
	atomic_init(&vdev->stat_interrupts, 0);
	atomic_init(&vdev->stat_failures, 0);
	atomic_init(&vdev->stat_exits, 0);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		atomic_init(&vdev->stat_queue_kicks[q], 0);
	return -pthread_mutex_init(&vdev->lock, NULL);
}

void virtio_dev_lock(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
}

void virtio_dev_unlock(struct virtio_dev *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
}

bool virtio_dev_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->failed &&
	       vdev->work != VIRTIO_WORK_ACTIVATE;
}

bool virtio_dev_has(const struct virtio_dev *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features >> bit) & 1;
}

static void raise_irq(struct virtio_dev *vdev, unsigned why)
{
	atomic_fetch_add(&vdev->stat_interrupts, 1);
	atomic_fetch_or(&vdev->interrupt_status, why);
	uint64_t one = 1;
	/* Fails only if the counter would overflow, i.e. the interrupt is pending anyway. */
	if (vdev->irq_fd >= 0)
		(void)!write(vdev->irq_fd, &one, sizeof(one));
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
{
	if (vdev->failed)
		return;
	vdev->failed = true;
	atomic_fetch_add(&vdev->stat_failures, 1);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (!vdev->fail_logged) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		log_err("%s: %s; the device stops until the guest resets it", vdev->name, msg);
		vdev->fail_logged = true;
	}
	raise_irq(vdev, VIRTIO_INT_CONFIG);
}

void virtio_dev_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	/* A driver that has not finished probing reads the configuration anyway. */
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(vdev, VIRTIO_INT_CONFIG);
}

void virtio_dev_reraise(struct virtio_dev *vdev)
{
	unsigned pending = atomic_load(&vdev->interrupt_status);
	if (pending)
		raise_irq(vdev, pending);
}

void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned q)
{
	if (q < vdev->ops->num_queues && vdev->vqs[q].active && vq_needs_interrupt(&vdev->vqs[q]))
		raise_irq(vdev, VIRTIO_INT_VRING);
}

uint64_t virtio_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void virtio_dev_requeue(struct virtio_dev *vdev, unsigned q)
{
	uint64_t one = 1;
	if (q < VIRTIO_MAX_QUEUES && vdev->kick_fds[q] >= 0)
		(void)!write(vdev->kick_fds[q], &one, sizeof(one));
}

uint64_t virtio_dev_request(struct virtio_dev *vdev, enum virtio_work work)
{
	if (vdev->work == VIRTIO_WORK_NONE) {
		uint64_t one = 1;
		vdev->work_asked++;
		/* Fails only if the counter would overflow: the vmm thread is due anyway. */
		(void)!write(vdev->work_fd, &one, sizeof(one));
	}
	if (vdev->work != VIRTIO_WORK_RESET)
		vdev->work = work;
	return vdev->work_asked;
}

struct ticket {
	struct virtio_dev *vdev;
	uint64_t n;
};

static bool ticket_done(void *arg)
{
	const struct ticket *t = arg;
	return atomic_load(&t->vdev->work_done) >= t->n;
}

void virtio_dev_await(struct virtio_dev *vdev, uint64_t ticket)
{
	struct ticket t = {vdev, ticket};
	vdev->wait_ops->wait(vdev->wait_ctx, ticket_done, &t);
}

/* vmm thread, lock held: do the pending work. Returns whether there was any; then the
 * caller wakes the waiters once the lock is dropped. */
static bool run_work(struct virtio_dev *vdev)
{
	enum virtio_work work = vdev->work;
	if (work == VIRTIO_WORK_NONE)
		return false;
	vdev->work = VIRTIO_WORK_NONE; /* live from here: ops->activate may rely on it */
	if (work == VIRTIO_WORK_RESET)
		virtio_dev_reset(vdev);
	else if (!vdev->failed)
		virtio_dev_activate(vdev);
	atomic_store(&vdev->work_done, vdev->work_asked);
	return true;
}

static void on_work(void *ctx, uint32_t events)
{
	struct virtio_dev *vdev = ctx;
	uint64_t count;
	(void)events;
	(void)!read(vdev->work_fd, &count, sizeof(count)); /* EAGAIN: a kick ran it already */
	virtio_dev_lock(vdev);
	bool ran = run_work(vdev);
	virtio_dev_unlock(vdev);
	if (ran)
		vdev->wait_ops->wake(vdev->wait_ctx);
}

static void on_kick(void *ctx, uint32_t events)
{
	struct virtio_kick_ctx *k = ctx;
	struct virtio_dev *vdev = k->vdev;
	uint64_t count;
	(void)events;
	if (read(vdev->kick_fds[k->q], &count, sizeof(count)) < 0)
		return; /* EAGAIN: another reader got it */
	atomic_fetch_add(&vdev->stat_kicks, 1);
	atomic_fetch_add(&vdev->stat_queue_kicks[k->q], 1);
	virtio_dev_lock(vdev);
	/* Another vCPU may kick a queue before the work fd's turn: activate first. */
	bool ran = run_work(vdev);
	if (virtio_dev_live(vdev) && vdev->vqs[k->q].active)
		vdev->ops->notify(vdev, k->q);
	virtio_dev_unlock(vdev);
	if (ran)
		vdev->wait_ops->wake(vdev->wait_ctx);
}

int virtio_dev_watch_kicks(struct virtio_dev *vdev, struct event_loop *loop)
{
	vdev->loop = loop;
	vdev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vdev->irq_fd < 0)
		return -errno;
	vdev->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vdev->work_fd < 0)
		return -errno;
	vdev->work_handler = (struct el_handler){on_work, vdev};
	int r = event_loop_add(loop, vdev->work_fd, EPOLLIN, &vdev->work_handler);
	if (r)
		return r;
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		vdev->kick_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vdev->kick_fds[q] < 0)
			return -errno;
		vdev->kick_ctx[q] = (struct virtio_kick_ctx){vdev, q};
		vdev->kick_handlers[q] = (struct el_handler){on_kick, &vdev->kick_ctx[q]};
		r = event_loop_add(loop, vdev->kick_fds[q], EPOLLIN, &vdev->kick_handlers[q]);
		if (r)
			return r;
	}
	return 0;
}

void virtio_dev_reset(struct virtio_dev *vdev)
{
	if (vdev->activated)
		vdev->ops->reset(vdev);
	vdev->activated = false;
	vdev->work = VIRTIO_WORK_NONE;
	atomic_store(&vdev->work_done, vdev->work_asked);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vq_reset(&vdev->vqs[q]);
	vdev->status = 0;
	vdev->failed = false;
	vdev->fail_logged = false;
	vdev->driver_features = 0;
	vdev->device_features_sel = vdev->driver_features_sel = vdev->queue_sel = 0;
	atomic_store(&vdev->interrupt_status, 0);
}

void virtio_dev_activate(struct virtio_dev *vdev)
{
	bool event_idx = virtio_dev_has(vdev, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_dev_has(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	for (unsigned q = 0; q < vdev->ops->num_queues; q++) {
		const char *why;
		struct vq *vq = &vdev->vqs[q];
		if (!vq->ready)
			continue;
		if (vq_activate(vq, vdev->mem, vdev->ops->queue_max_size, event_idx, indirect,
		                &why) < 0) {
			virtio_dev_fail(vdev, "queue %u: %s", q, why);
			return;
		}
	}
	int r = vdev->ops->activate(vdev);
	if (r < 0)
		virtio_dev_fail(vdev, "cannot start: %s", strerror(-r));
	else
		vdev->activated = true;
}

void virtio_dev_release(struct virtio_dev *vdev)
{
	virtio_dev_lock(vdev);
	virtio_dev_reset(vdev);
	virtio_dev_unlock(vdev);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vdev->kick_fds[q] < 0)
			continue;
		if (vdev->loop)
			event_loop_del(vdev->loop, vdev->kick_fds[q]);
		close(vdev->kick_fds[q]);
		vdev->kick_fds[q] = -1;
	}
	if (vdev->work_fd >= 0) {
		if (vdev->loop)
			event_loop_del(vdev->loop, vdev->work_fd);
		close(vdev->work_fd);
	}
	if (vdev->irq_fd >= 0)
		close(vdev->irq_fd);
	vdev->irq_fd = vdev->work_fd = -1;
	pthread_mutex_destroy(&vdev->lock);
}

/* ---- rate limiters ---- */

static void virtio_limiter_event(void *ctx, uint32_t events)
{
	struct virtio_limiter *l = ctx;
	(void)events;
	virtio_dev_lock(l->vdev);
	if (rl_timer_fired(&l->rl) && virtio_dev_live(l->vdev))
		l->resume(l->vdev, l);
	virtio_dev_unlock(l->vdev);
}

int virtio_limiter_init(struct virtio_limiter *l, struct virtio_dev *vdev,
                        const struct rate_limiter_config *cfg,
                        void (*resume)(struct virtio_dev *vdev, struct virtio_limiter *l))
{
	l->vdev = vdev;
	l->resume = resume;
	l->watched = false;
	l->handler = (struct el_handler){.fn = virtio_limiter_event, .ctx = l};
	return rl_init(&l->rl, cfg);
}

int virtio_limiter_watch(struct virtio_limiter *l)
{
	if (l->watched || !l->vdev || !l->vdev->loop)
		return 0;
	int r = event_loop_add(l->vdev->loop, l->rl.timer_fd, EPOLLIN, &l->handler);
	if (!r)
		l->watched = true;
	return r;
}

bool virtio_limiter_consume(struct virtio_limiter *l, uint64_t tokens, enum rl_kind kind)
{
	if (rl_consume(&l->rl, tokens, kind, rl_now_ns()))
		return true;
	atomic_fetch_add(&l->vdev->stat_throttled, 1);
	atomic_fetch_add(&l->refused, 1);
	return false;
}

bool virtio_limiter_admit(struct virtio_limiter *l, uint64_t bytes)
{
	if (!virtio_limiter_consume(l, 1, RL_OPS))
		return false;
	if (bytes && !virtio_limiter_consume(l, bytes, RL_BYTES)) {
		rl_replenish(&l->rl, 1, RL_OPS);
		return false;
	}
	return true;
}

void virtio_limiter_update(struct virtio_limiter *l, const struct rate_limiter_config *cfg)
{
	rl_update(&l->rl, cfg, rl_now_ns());
	if (virtio_dev_live(l->vdev))
		l->resume(l->vdev, l);
}

void virtio_limiter_destroy(struct virtio_limiter *l)
{
	if (!l->vdev)
		return;
	if (l->watched && l->vdev->loop)
		event_loop_del(l->vdev->loop, l->rl.timer_fd);
	l->watched = false;
	rl_destroy(&l->rl);
	l->vdev = NULL;
}
