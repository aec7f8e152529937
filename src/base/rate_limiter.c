/* Token buckets with Firecracker's semantics, and the timerfd that parks a throttled queue. */
#include "rate_limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ull

/* The shortest park: a timerfd armed with 0 would be disarmed instead. */
#define RL_MIN_WAIT_NS 1000ull

uint64_t rl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tb_init(struct token_bucket *tb, const struct token_bucket_config *c, uint64_t now_ns)
{
	uint64_t ms = c->refill_time_ms < RL_MAX_REFILL_MS ? c->refill_time_ms : RL_MAX_REFILL_MS;
	*tb = (struct token_bucket){
	    .size = c->size < RL_MAX_TOKENS ? c->size : RL_MAX_TOKENS,
	    .refill_ns = ms * NS_PER_MS,
	    .one_time_burst = c->one_time_burst,
	    .initial_burst = c->one_time_burst,
	    .last_ns = now_ns,
	};
	tb->budget = tb->size;
}

/* ceil(tokens * refill_ns / size): the time size/refill_ns takes to make tokens. */
static uint64_t tb_time_for(const struct token_bucket *tb, uint64_t tokens)
{
	unsigned __int128 t = (unsigned __int128)tokens * tb->refill_ns;
	t = (t + tb->size - 1) / tb->size;
	return t > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)t;
}

/* Bring the budget up to now: the tokens the elapsed time made, whole ones only; the time
 * of a fraction of a token is carried to the next call (last_ns advances only by the
 * time the whole tokens took). last_ns in the future is a debt still being paid. */
static void tb_refill(struct token_bucket *tb, uint64_t now_ns)
{
	if (now_ns <= tb->last_ns)
		return;
	uint64_t dt = now_ns - tb->last_ns;
	if (dt >= tb->refill_ns) {
		tb->budget = tb->size;
		tb->last_ns = now_ns;
		return;
	}
	uint64_t made = (uint64_t)((unsigned __int128)dt * tb->size / tb->refill_ns);
	if (!made)
		return;
	tb->last_ns += tb_time_for(tb, made);
	tb->budget = made >= tb->size - tb->budget ? tb->size : tb->budget + made;
}

/* Time until the debt is paid and tokens more have been made. */
static uint64_t tb_wait(const struct token_bucket *tb, uint64_t tokens, uint64_t now_ns)
{
	uint64_t need = tb_time_for(tb, tokens);
	uint64_t at = tb->last_ns + need;
	uint64_t w = at > now_ns ? at - now_ns : 0;
	return w < RL_MIN_WAIT_NS ? RL_MIN_WAIT_NS : w;
}

enum tb_result tb_reduce(struct token_bucket *tb, uint64_t tokens, uint64_t now_ns,
                         uint64_t *wait_ns)
{
	*wait_ns = 0;
	if (tb->one_time_burst) {
		if (tb->one_time_burst >= tokens) {
			tb->one_time_burst -= tokens;
			/* Firecracker: the refill starts once the burst is spent. */
			tb->last_ns = now_ns;
			return TB_OK;
		}
		tokens -= tb->one_time_burst;
		tb->one_time_burst = 0;
	}
	tb_refill(tb, now_ns);
	if (tokens > tb->size) {
		/* Larger than the bucket: let it through, empty the bucket and owe the rest. */
		uint64_t excess = tokens - tb->budget;
		tb->budget = 0;
		if (tb->last_ns < now_ns)
			tb->last_ns = now_ns;
		tb->last_ns += tb_time_for(tb, excess);
		*wait_ns = tb_wait(tb, 0, now_ns);
		return TB_OVER;
	}
	if (tokens > tb->budget) {
		*wait_ns = tb_wait(tb, tokens - tb->budget, now_ns);
		return TB_WAIT;
	}
	tb->budget -= tokens;
	return TB_OK;
}

void tb_replenish(struct token_bucket *tb, uint64_t tokens)
{
	if (tb->one_time_burst < tb->initial_burst) {
		uint64_t room = tb->initial_burst - tb->one_time_burst;
		tb->one_time_burst += tokens < room ? tokens : room;
		return;
	}
	tb->budget = tokens >= tb->size - tb->budget ? tb->size : tb->budget + tokens;
}

static void rl_arm(struct rate_limiter *rl, uint64_t ns)
{
	struct itimerspec t = {.it_value = {.tv_sec = (time_t)(ns / 1000000000ull),
	                                    .tv_nsec = (long)(ns % 1000000000ull)}};
	if (rl->timer_fd >= 0)
		timerfd_settime(rl->timer_fd, 0, &t, NULL);
	rl->blocked = true;
}

static void rl_set_buckets(struct rate_limiter *rl, const struct rate_limiter_config *cfg,
                           uint64_t now_ns, bool all)
{
	const struct token_bucket_config *want[RL_KINDS] = {&cfg->bandwidth, &cfg->ops};
	const struct token_bucket_config *had[RL_KINDS] = {&rl->cfg.bandwidth, &rl->cfg.ops};
	for (unsigned k = 0; k < RL_KINDS; k++) {
		if (!all && !memcmp(want[k], had[k], sizeof(*want[k])))
			continue;
		rl->on[k] = tb_config_on(want[k]);
		if (rl->on[k])
			tb_init(&rl->tb[k], want[k], now_ns);
	}
	rl->cfg = *cfg;
}

int rl_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg)
{
	memset(rl, 0, sizeof(*rl));
	rl_set_buckets(rl, cfg, rl_now_ns(), true);
	rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return rl->timer_fd < 0 ? -errno : 0;
}

void rl_destroy(struct rate_limiter *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}

void rl_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
	rl_set_buckets(rl, cfg, now_ns, false);
	rl_unblock(rl);
}

bool rl_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind, uint64_t now_ns)
{
	uint64_t wait;
	if (rl->blocked)
		return false;
	if (!rl->on[kind])
		return true;
	switch (tb_reduce(&rl->tb[kind], tokens, now_ns, &wait)) {
	case TB_OK:
		return true;
	case TB_OVER:
		rl_arm(rl, wait);
		return true;
	case TB_WAIT:
		break;
	}
	rl_arm(rl, wait);
	return false;
}

void rl_charge(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind, uint64_t now_ns)
{
	uint64_t wait;
	if (!rl->on[kind])
		return;
	struct token_bucket *tb = &rl->tb[kind];
	enum tb_result r = tb_reduce(tb, tokens, now_ns, &wait);
	if (r == TB_WAIT) {
		/* Spent already: the budget goes and the rest is a debt (last_ns ahead). */
		uint64_t debt = tokens - tb->budget;
		tb->budget = 0;
		if (tb->last_ns < now_ns)
			tb->last_ns = now_ns;
		tb->last_ns += tb_time_for(tb, debt);
		wait = tb_wait(tb, 0, now_ns);
		r = TB_OVER;
	}
	if (r == TB_OVER)
		rl_arm(rl, wait);
}

void rl_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind)
{
	if (rl->on[kind])
		tb_replenish(&rl->tb[kind], tokens);
}

bool rl_timer_fired(struct rate_limiter *rl)
{
	uint64_t n;
	/* EAGAIN: a spurious call, or the timer was disarmed or re-armed meanwhile; then the
	 * limiter stays as it is. */
	if (read(rl->timer_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return false;
	bool was = rl->blocked;
	rl->blocked = false;
	return was;
}

void rl_unblock(struct rate_limiter *rl)
{
	struct itimerspec t = {0};
	if (rl->blocked && rl->timer_fd >= 0)
		timerfd_settime(rl->timer_fd, 0, &t, NULL);
	rl->blocked = false;
}
