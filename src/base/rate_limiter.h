/*
 * Firecracker's rate limiter: two token buckets, bandwidth (bytes) and operations, each
 * `size` tokens refilled evenly over `refill_time` ms, plus a `one_time_burst` spent
 * first (the refill starts once it is gone). A consumer that finds too few tokens is
 * refused and the limiter blocks: its timerfd fires when enough have come back, and the
 * device's handler (on the vmm thread) resumes the parked queue. Nothing spins.
 *
 * The bucket math takes the time as an argument (tests drive it with their own clock);
 * rl_now_ns() is CLOCK_MONOTONIC. Not thread-safe: the owning device's lock serialises.
 */
#ifndef EMBER_RATE_LIMITER_H
#define EMBER_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* One bucket as the API gives it (Firecracker's TokenBucket). size 0 or refill_time 0:
 * no bucket (no limit). */
struct token_bucket_config {
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time_ms;
};

/* Firecracker's RateLimiter: either bucket may be off. */
struct rate_limiter_config {
	struct token_bucket_config bandwidth; /* bytes */
	struct token_bucket_config ops;       /* operations */
};

#define RL_MAX_REFILL_MS (1ull << 40) /* keeps ns math from overflowing (35 years) */
#define RL_MAX_TOKENS    (1ull << 62)

static inline bool tb_config_on(const struct token_bucket_config *c)
{
	return c->size && c->refill_time_ms;
}

static inline bool rl_config_on(const struct rate_limiter_config *c)
{
	return tb_config_on(&c->bandwidth) || tb_config_on(&c->ops);
}

struct token_bucket {
	uint64_t size, refill_ns;
	uint64_t one_time_burst, initial_burst;
	uint64_t budget;
	uint64_t last_ns; /* the time the budget was last brought up to date */
};

enum tb_result {
	TB_OK,   /* the tokens were taken */
	TB_WAIT, /* too few: nothing taken; *wait_ns until there are enough */
	TB_OVER, /* more than the bucket holds: all of it taken (the consumer proceeds) and the
	          * limiter must stay blocked *wait_ns, the time the excess takes to refill */
};

/* A full bucket (budget = size) with its burst, as of now_ns. c must be on. */
void tb_init(struct token_bucket *tb, const struct token_bucket_config *c, uint64_t now_ns);

/* Take tokens: the burst first, then the budget, refilled to now_ns (Firecracker's
 * reduce). */
enum tb_result tb_reduce(struct token_bucket *tb, uint64_t tokens, uint64_t now_ns,
                         uint64_t *wait_ns);

/* Give back tokens taken (the burst first, up to its initial size; then the budget, up to
 * size). */
void tb_replenish(struct token_bucket *tb, uint64_t tokens);

enum rl_kind { RL_BYTES, RL_OPS, RL_KINDS };

struct rate_limiter {
	struct token_bucket tb[RL_KINDS];
	bool on[RL_KINDS];
	struct rate_limiter_config cfg; /* what it was set to (GET /vm/config, PATCH) */
	bool blocked;                   /* the timer is armed: nothing may be consumed */
	int timer_fd;                   /* -1: none (rl_init not called or failed) */
};

/* Set rl up with cfg (either bucket may be off) and a timerfd (CLOCK_MONOTONIC,
 * non-blocking), unarmed. Returns 0 or -errno. */
int rl_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg);

/* Close the timerfd. Safe after a failed or absent init (timer_fd -1). */
void rl_destroy(struct rate_limiter *rl);

/* Firecracker's PATCH: each bucket whose config differs from the current one is replaced
 * by a full new one (or switched off); the others keep their state. An unblocked limiter
 * stays so; a blocked one is released (timer disarmed), so the device must resume its
 * queue. */
void rl_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);

/* Take tokens of kind. false: refused (blocked already, or too few: then the timer is
 * armed for when there will be enough). A request larger than the
 * bucket is let through and blocks the limiter for its excess. */
bool rl_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind, uint64_t now_ns);

/* Take tokens already spent (a frame read before its size was known): never refused; a
 * deficit blocks the limiter for the time its refill takes. */
void rl_charge(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind, uint64_t now_ns);

/* Give back tokens a refused request took of another kind (its op, when the bytes were
 * refused). */
void rl_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind);

/* The timer fired (its fd is readable): read it and unblock. Returns true if the limiter
 * was blocked (the device should resume). */
bool rl_timer_fired(struct rate_limiter *rl);

/* Disarm the timer and unblock (device reset). */
void rl_unblock(struct rate_limiter *rl);

/* CLOCK_MONOTONIC in ns. */
uint64_t rl_now_ns(void);

#endif
