/* The I/O bus: claiming ranges and finding the one device an access belongs to. */
#include "unit.h"

#include "base/bus.h"

static const struct bus_ops ops; /* never called here: only its address is compared */
static int dev_a, dev_b;

static void add_stores_range(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0x3f8, 8, &ops, &dev_a, "serial"), 0);
	assert_int_equal(bus.n, 1);
	assert_int_equal(bus.ranges[0].base, 0x3f8);
	assert_int_equal(bus.ranges[0].len, 8);
	assert_ptr_equal(bus.ranges[0].ops, &ops);
	assert_ptr_equal(bus.ranges[0].dev, &dev_a);
	assert_string_equal(bus.ranges[0].name, "serial");
	assert_int_equal(bus_add(&bus, 0x60, 1, &ops, &dev_b, "i8042"), 0);
	assert_int_equal(bus.n, 2);
}

static void add_overlap_refused(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0x3f8, 8, &ops, &dev_a, "a"), 0);
	/* Identical, containing, contained. */
	assert_int_equal(bus_add(&bus, 0x3f8, 8, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x300, 0x200, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x3fa, 2, &ops, &dev_b, "b"), -EEXIST);
	/* Touching edges: sharing only the first or only the last byte still overlaps. */
	assert_int_equal(bus_add(&bus, 0x3f0, 9, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x3ff, 8, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x3f8, 1, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0x3ff, 1, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus.n, 1);
	/* Adjacent ranges on either side are fine. */
	assert_int_equal(bus_add(&bus, 0x3f0, 8, &ops, &dev_b, "below"), 0);
	assert_int_equal(bus_add(&bus, 0x400, 8, &ops, &dev_b, "above"), 0);
	assert_int_equal(bus.n, 3);
	/* A range bridging two claimed ones overlaps both. */
	assert_int_equal(bus_add(&bus, 0x3f7, 2, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus.n, 3);
}

static void add_overlap_at_top(void **state)
{
	(void)state;
	struct bus bus = {0};

	/* Ranges ending on the last address: the overlap test must not wrap. */
	assert_int_equal(bus_add(&bus, UINT64_MAX - 0xfff, 0x1000, &ops, &dev_a, "top"), 0);
	assert_int_equal(bus_add(&bus, UINT64_MAX, 1, &ops, &dev_b, "b"), -EEXIST);
	assert_int_equal(bus_add(&bus, 0, 0x1000, &ops, &dev_b, "zero"), 0);
	assert_int_equal(bus_add(&bus, UINT64_MAX - 0x1fff, 0x1000, &ops, &dev_b, "b"), 0);
	assert_int_equal(bus.n, 3);
}

static void add_invalid(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0x3f8, 0, &ops, &dev_a, "empty"), -EINVAL);
	assert_int_equal(bus_add(&bus, 0, 0, &ops, &dev_a, "empty"), -EINVAL);
	assert_int_equal(bus_add(&bus, UINT64_MAX, 2, &ops, &dev_a, "wrap"), -EINVAL);
	assert_int_equal(bus_add(&bus, 2, UINT64_MAX, &ops, &dev_a, "wrap"), -EINVAL);
	assert_int_equal(bus_add(&bus, UINT64_MAX - 7, 16, &ops, &dev_a, "wrap"), -EINVAL);
	assert_int_equal(bus.n, 0);
	/* The largest ranges that do not wrap are accepted: each ends on the last address. */
	assert_int_equal(bus_add(&bus, UINT64_MAX, 1, &ops, &dev_a, "last"), 0);
	assert_int_equal(bus_add(&bus, 0, UINT64_MAX, &ops, &dev_a, "all but last"), 0);
	struct bus other = {0};
	assert_int_equal(bus_add(&other, 1, UINT64_MAX, &ops, &dev_a, "all but first"), 0);
}

static void add_full(void **state)
{
	(void)state;
	struct bus bus = {0};

	for (unsigned i = 0; i < BUS_MAX_RANGES; i++)
		assert_int_equal(bus_add(&bus, 0x1000 + 0x10 * i, 0x10, &ops, &dev_a, "r"), 0);
	assert_int_equal(bus.n, BUS_MAX_RANGES);
	assert_int_equal(bus_add(&bus, 0x10000, 0x10, &ops, &dev_a, "one too many"), -ENOSPC);
	assert_int_equal(bus.n, BUS_MAX_RANGES);
	/* The full table still answers lookups. */
	assert_non_null(bus_find(&bus, 0x1000 + 0x10 * (BUS_MAX_RANGES - 1), 4));
	assert_null(bus_find(&bus, 0x10000, 1));
}

static void find_edges(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0x60, 1, &ops, &dev_b, "i8042 data"), 0);
	assert_int_equal(bus_add(&bus, 0x3f8, 8, &ops, &dev_a, "serial"), 0);
	const struct bus_range *r = &bus.ranges[1];

	assert_ptr_equal(bus_find(&bus, 0x3f8, 1), r); /* base */
	assert_ptr_equal(bus_find(&bus, 0x3ff, 1), r); /* last byte */
	assert_ptr_equal(bus_find(&bus, 0x3fc, 4), r); /* ends on the last byte */
	assert_ptr_equal(bus_find(&bus, 0x3f8, 8), r); /* the whole range */
	assert_ptr_equal(bus_find(&bus, 0x60, 1), &bus.ranges[0]);
	assert_null(bus_find(&bus, 0x3f7, 1));
	assert_null(bus_find(&bus, 0x400, 1));
	assert_null(bus_find(&bus, 0x61, 1));
	assert_null(bus_find(&bus, 0x3f8, 0));
}

static void find_straddling(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0x3f8, 8, &ops, &dev_a, "serial"), 0);
	assert_int_equal(bus_add(&bus, 0x3f0, 8, &ops, &dev_b, "below"), 0);
	assert_int_equal(bus_add(&bus, 0x60, 1, &ops, &dev_b, "one"), 0);

	assert_null(bus_find(&bus, 0x3fe, 4)); /* past the end */
	assert_null(bus_find(&bus, 0x3ff, 2));
	assert_null(bus_find(&bus, 0x3f8, 16));
	assert_null(bus_find(&bus, 0x3f6, 4)); /* across two adjacent ranges */
	assert_null(bus_find(&bus, 0x3f7, 2));
	assert_null(bus_find(&bus, 0x5f, 2)); /* starts before a one-byte range */
	assert_null(bus_find(&bus, 0x60, 2)); /* wider than it */
	assert_null(bus_find(&bus, 0x60, 8));
}

static void find_overflow(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_int_equal(bus_add(&bus, 0, 8, &ops, &dev_a, "zero"), 0);
	assert_int_equal(bus_add(&bus, UINT64_MAX - 7, 8, &ops, &dev_b, "top"), 0);

	/* addr + len wraps: the wrapped end would fall inside the range at 0. */
	assert_null(bus_find(&bus, UINT64_MAX, 2));
	assert_null(bus_find(&bus, UINT64_MAX - 1, 4));
	assert_null(bus_find(&bus, UINT64_MAX - 3, 8));
	assert_null(bus_find(&bus, UINT64_MAX, UINT32_MAX));
	/* Accesses ending exactly on the last address are fine. */
	assert_ptr_equal(bus_find(&bus, UINT64_MAX, 1), &bus.ranges[1]);
	assert_ptr_equal(bus_find(&bus, UINT64_MAX - 3, 4), &bus.ranges[1]);
	assert_ptr_equal(bus_find(&bus, UINT64_MAX - 7, 8), &bus.ranges[1]);
	assert_ptr_equal(bus_find(&bus, 0, 8), &bus.ranges[0]);
}

static void find_empty_bus(void **state)
{
	(void)state;
	struct bus bus = {0};

	assert_null(bus_find(&bus, 0, 1));
	assert_null(bus_find(&bus, 0x3f8, 1));
	assert_null(bus_find(&bus, UINT64_MAX, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(add_stores_range),   cmocka_unit_test(add_overlap_refused),
	    cmocka_unit_test(add_overlap_at_top), cmocka_unit_test(add_invalid),
	    cmocka_unit_test(add_full),           cmocka_unit_test(find_edges),
	    cmocka_unit_test(find_straddling),    cmocka_unit_test(find_overflow),
	    cmocka_unit_test(find_empty_bus),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
