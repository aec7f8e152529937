/* The ACPI power registers, pvpanic and the warm handover page, driven as a guest drives them
 * through the bus. */
#include "unit.h"

#include "devices/handover.h"
#include "devices/power.h"
#include "devices/pvpanic.h"

struct calls {
	unsigned poweroffs, resets, panics;
	int status;
};

static void on_poweroff(void *ctx, int status)
{
	struct calls *c = ctx;
	c->poweroffs++;
	c->status = status;
}

static void on_reset(void *ctx)
{
	struct calls *c = ctx;
	c->resets++;
}

static void on_panic(void *ctx)
{
	struct calls *c = ctx;
	c->panics++;
}

struct fixture {
	struct power pm;
	struct calls calls;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	power_init(&f.pm, on_poweroff, on_reset, &f.calls);
	*state = &f;
	return 0;
}

static void wr(struct fixture *f, unsigned port, uint8_t v)
{
	power_ops.write(&f->pm, port - POWER_PORT_BASE, &v, 1);
}

static uint8_t rd(struct fixture *f, unsigned port)
{
	uint8_t v = 0x5a;
	power_ops.read(&f->pm, port - POWER_PORT_BASE, &v, 1);
	return v;
}

/* The ports of docs/CONTRACTS.md. */
static void ports(void **state)
{
	(void)state;
	assert_int_equal(POWER_PORT_BASE, 0x600);
	assert_int_equal(POWER_PORTS, 4);
	assert_int_equal(POWER_SLEEP_CONTROL_PORT, 0x600);
	assert_int_equal(POWER_SLEEP_STATUS_PORT, 0x601);
	assert_int_equal(POWER_RESET_PORT, 0x602);
	assert_int_equal(POWER_EXIT_PORT, 0x603);
	assert_int_equal(POWER_RESET_VALUE, 0x06);
	assert_int_equal(POWER_SLP_TYP_S5, 5);
	assert_int_equal(PVPANIC_PORT, 0x505);
}

/* Only SLP_EN together with SLP_TYP 5 powers off. */
static void poweroff_needs_slp_en_and_s5(void **state)
{
	struct fixture *f = *state;

	for (unsigned v = 0; v < 256; v++) {
		unsigned before = f->calls.poweroffs;
		wr(f, POWER_SLEEP_CONTROL_PORT, (uint8_t)v);
		int want = (v & 0x20) && ((v >> 2) & 7) == 5;
		if ((int)(f->calls.poweroffs - before) != want)
			print_error("sleep control 0x%02x: %u poweroffs\n", v,
			            f->calls.poweroffs - before);
		assert_int_equal(f->calls.poweroffs - before, want);
	}
	/* 0x34 is what Linux writes: SLP_EN | 5 << 2. Bits 7:6 and 1:0 do not matter. */
	assert_int_equal(f->calls.poweroffs, 16);
	assert_int_equal(f->calls.resets, 0);
	assert_int_equal(f->calls.status, 0);
}

static void exit_register_ends_with_status(void **state)
{
	struct fixture *f = *state;

	/* ACPI poweroff: status 0. */
	wr(f, POWER_SLEEP_CONTROL_PORT, 0x34);
	assert_int_equal(f->calls.poweroffs, 1);
	assert_int_equal(f->calls.status, 0);

	/* Every value written to the exit register ends the VM with it, 0 and 255 included. */
	for (unsigned v = 0; v < 256; v++) {
		wr(f, POWER_EXIT_PORT, (uint8_t)v);
		assert_int_equal(f->calls.poweroffs, 2 + v);
		assert_int_equal(f->calls.status, v);
		assert_int_equal(rd(f, POWER_EXIT_PORT), 0);
	}
	assert_int_equal(f->calls.resets, 0);
}

static void reset_value_only(void **state)
{
	struct fixture *f = *state;

	for (unsigned v = 0; v < 256; v++) {
		wr(f, POWER_RESET_PORT, (uint8_t)v);
		assert_int_equal(f->calls.resets, v >= 6 ? 1 : 0);
	}
	assert_int_equal(f->calls.poweroffs, 0);
	assert_int_equal(rd(f, POWER_RESET_PORT), 0);
}

static void other_registers_read_zero(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, POWER_SLEEP_CONTROL_PORT), 0);
	assert_int_equal(rd(f, POWER_SLEEP_STATUS_PORT), 0);
	/* Linux clears WAK_STS by writing it before sleeping: nothing happens. */
	wr(f, POWER_SLEEP_STATUS_PORT, 0x80);
	wr(f, POWER_SLEEP_STATUS_PORT, 0x34);
	wr(f, POWER_SLEEP_STATUS_PORT, 0x06);
	assert_int_equal(rd(f, POWER_SLEEP_STATUS_PORT), 0);
	assert_int_equal(f->calls.poweroffs + f->calls.resets, 0);
}

/* Wide accesses reach consecutive byte registers, in ascending order. */
static void wide_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t d[8];

	/* A 4-byte write at 0x600 reaches all four registers in order: S5 (status 0), then
	 * the exit register (status 42). */
	memcpy(d, "\x34\x00\x00\x2a", 4);
	power_ops.write(&f->pm, 0, d, 4);
	assert_int_equal(f->calls.poweroffs, 2);
	assert_int_equal(f->calls.status, 42);

	/* A 2-byte write at 0x602: reset, then exit with 7. */
	memcpy(d, "\x06\x07", 2);
	power_ops.write(&f->pm, 2, d, 2);
	assert_int_equal(f->calls.resets, 1);
	assert_int_equal(f->calls.poweroffs, 3);
	assert_int_equal(f->calls.status, 7);

	memset(d, 0x5a, sizeof(d));
	power_ops.read(&f->pm, 0, d, 4);
	assert_memory_equal(d, "\x00\x00\x00\x00", 4);

	/* Past the last register: reads all ones, writes go nowhere. */
	memset(d, 0x5a, sizeof(d));
	power_ops.read(&f->pm, 2, d, 4);
	assert_memory_equal(d, "\x00\x00\xff\xff", 4);
	memcpy(d, "\x01\x34\x06\x06\x06\x06\x06\x06", 8);
	power_ops.write(&f->pm, 3, d, 8);
	assert_int_equal(f->calls.poweroffs, 4);
	assert_int_equal(f->calls.status, 1);
	assert_int_equal(f->calls.resets, 1);
}

/* ---- the warm handover page ---- */

/* No message: status 0, data 0. A message: status 1, its bytes in order whatever the read
 * width, then 0; reads outside the two registers give 0 and take nothing; writes do nothing. */
static void handover_page(void **state)
{
	struct fixture *f = *state;
	static const uint8_t msg[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	struct handover h;
	uint8_t d[8];

	handover_init(&h, NULL, 0, on_poweroff, &f->calls);
	handover_ops.read(&h, HANDOVER_STATUS, d, 1);
	assert_int_equal(d[0], 0);
	memset(d, 0x5a, sizeof(d));
	handover_ops.read(&h, HANDOVER_DATA, d, 8);
	assert_memory_equal(d, "\0\0\0\0\0\0\0\0", 8);

	handover_init(&h, msg, sizeof(msg), on_poweroff, &f->calls);
	handover_ops.read(&h, HANDOVER_STATUS, d, 1);
	assert_int_equal(d[0], 1);
	handover_ops.write(&h, HANDOVER_DATA, d, 1);
	handover_ops.write(&h, HANDOVER_STATUS, d, 1);
	handover_ops.read(&h, HANDOVER_DATA + 8, d, 8); /* past the data register */
	assert_memory_equal(d, "\0\0\0\0\0\0\0\0", 8);
	handover_ops.read(&h, HANDOVER_DATA + 4, d, 8); /* straddles its end */
	assert_memory_equal(d, "\0\0\0\0\0\0\0\0", 8);
	handover_ops.read(&h, HANDOVER_DATA, d, 1);
	assert_int_equal(d[0], 1);
	handover_ops.read(&h, HANDOVER_DATA, d, 4);
	assert_memory_equal(d, "\2\3\4\5", 4);
	memset(d, 0x5a, sizeof(d));
	handover_ops.read(&h, HANDOVER_DATA, d, 8);
	assert_memory_equal(d, "\6\7\10\11\12\13\0\0", 8);
	for (unsigned i = 0; i < 10; i++) {
		handover_ops.read(&h, HANDOVER_DATA, d, 8);
		assert_memory_equal(d, "\0\0\0\0\0\0\0\0", 8);
	}
	handover_ops.read(&h, HANDOVER_STATUS, d, 1);
	assert_int_equal(d[0], 1);
	assert_int_equal(f->calls.poweroffs, 0);
	/* The exit register: one byte, its value the status; wider writes do nothing. */
	memcpy(d, "\x07\x01", 2);
	handover_ops.write(&h, HANDOVER_EXIT, d, 2);
	assert_int_equal(f->calls.poweroffs, 0);
	handover_ops.write(&h, HANDOVER_EXIT, d, 1);
	assert_int_equal(f->calls.poweroffs, 1);
	assert_int_equal(f->calls.status, 7);
}

/* ---- pvpanic ---- */

static void pvpanic_reads_panicked(void **state)
{
	(void)state;
	struct calls c = {0};
	struct pvpanic pv;
	uint8_t d[4];

	pvpanic_init(&pv, on_panic, &c);
	memset(d, 0x5a, sizeof(d));
	pvpanic_ops.read(&pv, 0, d, 1);
	assert_int_equal(d[0], PVPANIC_PANICKED);
	assert_int_equal(d[0], 0x01);
	memset(d, 0x5a, sizeof(d));
	pvpanic_ops.read(&pv, 0, d, 4);
	assert_memory_equal(d, "\x01\x00\x00\x00", 4);
	assert_int_equal(c.panics, 0);
}

static void pvpanic_write_bit0(void **state)
{
	(void)state;
	struct calls c = {0};
	struct pvpanic pv;

	pvpanic_init(&pv, on_panic, &c);
	for (unsigned v = 0; v < 256; v++) {
		uint8_t b = (uint8_t)v;
		unsigned before = c.panics;
		pvpanic_ops.write(&pv, 0, &b, 1);
		/* CRASH_LOADED (bit 1) and unknown bits alone are ignored. */
		assert_int_equal(c.panics - before, v & 1);
	}
	assert_int_equal(c.panics, 128);
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ports),
	    cmocka_unit_test_setup(poweroff_needs_slp_en_and_s5, setup),
	    cmocka_unit_test_setup(exit_register_ends_with_status, setup),
	    cmocka_unit_test_setup(reset_value_only, setup),
	    cmocka_unit_test_setup(other_registers_read_zero, setup),
	    cmocka_unit_test_setup(wide_accesses, setup),
	    cmocka_unit_test_setup(handover_page, setup),
	    cmocka_unit_test(pvpanic_reads_panicked),
	    cmocka_unit_test(pvpanic_write_bit0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
