/* The token-bucket math (Firecracker's semantics) and the limiter's parking timer. */
#include "unit.h"
#include "../../src/base/rate_limiter.h"

#include <poll.h>

#define MS 1000000ull
#define S  1000000000ull

static struct token_bucket bucket(uint64_t size, uint64_t burst, uint64_t refill_ms, uint64_t t)
{
	struct token_bucket tb;
	struct token_bucket_config c = {size, burst, refill_ms};
	tb_init(&tb, &c, t);
	return tb;
}

/* A new bucket is full; spending it leaves nothing; refill is linear in time and capped. */
static void refill_is_linear_and_capped(void **state)
{
	(void)state;
	uint64_t w;
	struct token_bucket tb = bucket(1000, 0, 1000, 0);
	assert_int_equal(tb_reduce(&tb, 1000, 0, &w), TB_OK);
	assert_int_equal(tb.budget, 0);
	assert_int_equal(tb_reduce(&tb, 1, 0, &w), TB_WAIT);
	/* 1 ms makes one token (1000 per 1000 ms). */
	assert_int_equal(tb_reduce(&tb, 100, 100 * MS, &w), TB_OK);
	assert_int_equal(tb.budget, 0);
	assert_int_equal(tb_reduce(&tb, 250, 350 * MS, &w), TB_OK);
	/* Ten seconds later the bucket holds size, not more. */
	assert_int_equal(tb_reduce(&tb, 0, 10 * S, &w), TB_OK);
	assert_int_equal(tb.budget, 1000);
	assert_int_equal(tb_reduce(&tb, 1001, 10 * S, &w), TB_OVER);
}

/* Fractions of a token are carried, not lost: 3 tokens a second polled every 100 ms make
 * 3 in a second (each token's time is rounded up by a nanosecond, as Firecracker does, so
 * the third comes just after the second ends), not 2. */
static void fractions_are_carried(void **state)
{
	(void)state;
	uint64_t w;
	struct token_bucket tb = bucket(3, 0, 1000, 0);
	assert_int_equal(tb_reduce(&tb, 3, 0, &w), TB_OK);
	uint64_t got = 0;
	for (uint64_t t = 100 * MS; t <= 1100 * MS; t += 100 * MS)
		if (tb_reduce(&tb, 1, t, &w) == TB_OK)
			got++;
	assert_int_equal(got, 3);
}

/* The one-time burst is spent first; the refill starts when it is gone. */
static void burst_first(void **state)
{
	(void)state;
	uint64_t w;
	struct token_bucket tb = bucket(100, 500, 1000, 0);
	assert_int_equal(tb_reduce(&tb, 400, 0, &w), TB_OK);
	assert_int_equal(tb.one_time_burst, 100);
	assert_int_equal(tb.budget, 100);
	/* 150: the burst's 100 then 50 of the budget. */
	assert_int_equal(tb_reduce(&tb, 150, 0, &w), TB_OK);
	assert_int_equal(tb.one_time_burst, 0);
	assert_int_equal(tb.budget, 50);
	/* Giving back refills the burst up to its initial size first. */
	tb_replenish(&tb, 30);
	assert_int_equal(tb.one_time_burst, 30);
	tb_replenish(&tb, 1000);
	assert_int_equal(tb.one_time_burst, 500);
	tb_replenish(&tb, 1000);
	assert_int_equal(tb.budget, 100);
}

/* A refusal says how long until enough tokens: the parking time. */
static void wait_time_is_the_refill_of_the_deficit(void **state)
{
	(void)state;
	uint64_t w;
	/* 10 MiB/s as 1 MiB per 100 ms. */
	struct token_bucket tb = bucket(1 << 20, 0, 100, 0);
	assert_int_equal(tb_reduce(&tb, 1 << 20, 0, &w), TB_OK);
	assert_int_equal(tb_reduce(&tb, 1 << 19, 0, &w), TB_WAIT);
	assert_int_equal(w, 50 * MS);   /* half the bucket: half the refill time */
	assert_int_equal(tb.budget, 0); /* nothing taken */
	assert_int_equal(tb_reduce(&tb, 1 << 19, 20 * MS, &w), TB_WAIT);
	assert_in_range(w, 30 * MS, 30 * MS + 2); /* the time passed counts (ns rounding) */
	/* Parked exactly that long, the request fits; a little less, it does not. */
	struct token_bucket early = tb;
	assert_int_equal(tb_reduce(&early, 1 << 19, 20 * MS + w - 1000, &w), TB_WAIT);
	assert_int_equal(tb_reduce(&tb, 1 << 19, 50 * MS + 2, &w), TB_OK);
}

/* More than the bucket holds goes through once and owes the excess: nothing more until
 * it has refilled. */
static void over_consumption_blocks_for_the_excess(void **state)
{
	(void)state;
	uint64_t w;
	struct token_bucket tb = bucket(1000, 0, 1000, 0);
	assert_int_equal(tb_reduce(&tb, 3000, 0, &w), TB_OVER);
	assert_int_equal(w, 2000 * MS);
	assert_int_equal(tb_reduce(&tb, 1, 1999 * MS, &w), TB_WAIT);
	assert_int_equal(tb_reduce(&tb, 1, 2001 * MS, &w), TB_OK);
}

/* A bucket of size 0 or refill 0 is no limit; PATCH replaces only the buckets it changes. */
static void limiter_update_and_off_buckets(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = {.ops = {10, 0, 1000}};
	assert_int_equal(rl_init(&rl, &c), 0);
	uint64_t t = rl_now_ns();
	assert_false(rl.on[RL_BYTES]);
	assert_true(rl_consume(&rl, UINT64_MAX / 4, RL_BYTES, t));
	for (int i = 0; i < 10; i++)
		assert_true(rl_consume(&rl, 1, RL_OPS, t));
	assert_false(rl_consume(&rl, 1, RL_OPS, t));
	assert_true(rl.blocked);
	/* Blocked: nothing of any kind passes. */
	assert_false(rl_consume(&rl, 1, RL_BYTES, t));
	/* The same config again keeps the spent bucket; lifting it unblocks at once. */
	rl_update(&rl, &c, t);
	assert_false(rl.blocked);
	assert_false(rl_consume(&rl, 1, RL_OPS, t));
	struct rate_limiter_config off = {0};
	rl_update(&rl, &off, t);
	assert_false(rl.blocked);
	for (int i = 0; i < 1000; i++)
		assert_true(rl_consume(&rl, 1, RL_OPS, t));
	rl_destroy(&rl);
	assert_int_equal(rl.timer_fd, -1);
}

/* A refused consume arms the timerfd for the parking time; it fires, and unblocks. */
static void timer_parks_and_fires(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = {.bandwidth = {1000, 0, 100}}; /* 10000 bytes/s */
	assert_int_equal(rl_init(&rl, &c), 0);
	uint64_t t0 = rl_now_ns();
	assert_true(rl_consume(&rl, 1000, RL_BYTES, t0));
	assert_false(rl_consume(&rl, 500, RL_BYTES, t0)); /* 50 ms away */
	assert_true(rl.blocked);
	assert_false(rl_timer_fired(&rl)); /* not yet: a spurious call changes nothing */
	assert_true(rl.blocked);
	struct pollfd p = {.fd = rl.timer_fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	uint64_t dt = rl_now_ns() - t0;
	assert_true(dt >= 45 * MS && dt < 1000 * MS);
	assert_true(rl_timer_fired(&rl));
	assert_false(rl.blocked);
	assert_true(rl_consume(&rl, 500, RL_BYTES, rl_now_ns()));
	rl_destroy(&rl);
}

/* rl_charge: bytes already spent make a debt that blocks for its refill. */
static void charge_makes_a_debt(void **state)
{
	(void)state;
	struct rate_limiter rl;
	struct rate_limiter_config c = {.bandwidth = {1000, 0, 1000}};
	assert_int_equal(rl_init(&rl, &c), 0);
	uint64_t t = rl_now_ns();
	rl_charge(&rl, 1500, RL_BYTES, t);
	assert_true(rl.blocked);
	rl_unblock(&rl);
	/* 500 owed, then 1000 more for the next 1000: 1.5 s from t. */
	assert_false(rl_consume(&rl, 1000, RL_BYTES, t + 1000 * MS));
	rl_unblock(&rl);
	assert_true(rl_consume(&rl, 1000, RL_BYTES, t + 1500 * MS));
	rl_destroy(&rl);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(refill_is_linear_and_capped),
	    cmocka_unit_test(fractions_are_carried),
	    cmocka_unit_test(burst_first),
	    cmocka_unit_test(wait_time_is_the_refill_of_the_deficit),
	    cmocka_unit_test(over_consumption_blocks_for_the_excess),
	    cmocka_unit_test(limiter_update_and_off_buckets),
	    cmocka_unit_test(timer_parks_and_fires),
	    cmocka_unit_test(charge_makes_a_debt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
