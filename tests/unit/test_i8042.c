/* The keyboard controller and its keyboard, driven through the two ports as Linux's i8042
 * and atkbd drivers drive them, and Ctrl-Alt-Del from the host. */
#include "unit.h"

#include "devices/i8042.h"

#include <pthread.h>
#include <stdlib.h>

#define STS_OBF    0x01
#define STS_IBF    0x02
#define STS_SYS    0x04
#define STS_A2     0x08
#define STS_UNLOCK 0x10
#define STS_AUX    0x20

#define CTR_KBDINT 0x01
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_XLATE  0x40

#define GUARD 0xa5

struct calls {
	unsigned resets;
	unsigned irq_calls, rises;
	int level;
};

/* The device between two guard areas: a write past one of its arrays into the next
 * field is invisible to ASan, so the tests also check the fields around them. */
struct fixture {
	uint8_t guard_lo[64];
	struct i8042 k;
	uint8_t guard_hi[64];
	struct calls c;
};

static void on_reset(void *ctx)
{
	struct calls *c = ctx;
	c->resets++;
}

static void set_irq(void *ctx, int level)
{
	struct calls *c = ctx;
	/* The device reports changes only: a repeated level would be a lost edge. */
	assert_int_not_equal(level, c->level);
	assert_true(level == 0 || level == 1);
	c->level = level;
	c->irq_calls++;
	if (level)
		c->rises++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	memset(f->guard_lo, GUARD, sizeof(f->guard_lo));
	memset(f->guard_hi, GUARD, sizeof(f->guard_hi));
	if (i8042_init(&f->k, on_reset, set_irq, &f->c) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void assert_guards(const struct fixture *f)
{
	for (size_t i = 0; i < sizeof(f->guard_lo); i++) {
		assert_int_equal(f->guard_lo[i], GUARD);
		assert_int_equal(f->guard_hi[i], GUARD);
	}
	assert_ptr_equal(f->k.on_reset, on_reset);
	assert_ptr_equal(f->k.set_irq, set_irq);
	assert_ptr_equal(f->k.ctx, &f->c);
	assert_true(f->k.count <= I8042_FIFO_SIZE);
	assert_true(f->k.head < I8042_FIFO_SIZE);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_guards(f);
	i8042_destroy(&f->k);
	free(f);
	return 0;
}

static void cmd(struct fixture *f, uint8_t v)
{
	i8042_command_ops.write(&f->k, 0, &v, 1);
}

static void out(struct fixture *f, uint8_t v)
{
	i8042_data_ops.write(&f->k, 0, &v, 1);
}

static uint8_t sts(struct fixture *f)
{
	uint8_t v = 0x5a;
	i8042_command_ops.read(&f->k, 0, &v, 1);
	return v;
}

static uint8_t in(struct fixture *f)
{
	uint8_t v = 0x5a;
	i8042_data_ops.read(&f->k, 0, &v, 1);
	return v;
}

/* Exactly these bytes wait, in this order, each announced by OBF. */
static void expect_bytes(struct fixture *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t s = sts(f);
		if (!(s & STS_OBF))
			fail_msg("byte %zu of %zu (0x%02x): the buffer is empty", i, n, b[i]);
		assert_int_equal(s & (STS_AUX | STS_IBF), 0);
		uint8_t got = in(f);
		if (got != b[i])
			fail_msg("byte %zu of %zu: 0x%02x, want 0x%02x", i, n, got, b[i]);
	}
	assert_int_equal(sts(f) & STS_OBF, 0);
}

#define EXPECT(f, ...)                                                                             \
	do {                                                                                       \
		const uint8_t want_[] = {__VA_ARGS__};                                             \
		expect_bytes((f), want_, sizeof(want_));                                           \
	} while (0)

static uint8_t read_ctr(struct fixture *f)
{
	cmd(f, 0x20);
	assert_true(sts(f) & STS_OBF);
	uint8_t v = in(f);
	assert_int_equal(sts(f) & STS_OBF, 0);
	return v;
}

static void write_ctr(struct fixture *f, uint8_t v)
{
	cmd(f, 0x60);
	out(f, v);
	assert_int_equal(sts(f) & STS_OBF, 0); /* nothing to say */
}

/* ---- the controller ---- */

static void power_on(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(I8042_DATA_PORT, 0x60);
	assert_int_equal(I8042_COMMAND_PORT, 0x64);
	assert_int_equal(I8042_KBD_IRQ, 1);
	/* Nothing waits, ready for input, system flag (POST done), keyboard not locked. */
	assert_int_equal(sts(f), STS_SYS | STS_UNLOCK);
	assert_int_equal(in(f), 0); /* an empty buffer reads its old contents */
	/* Interrupt on, system flag, translation: what firmware leaves. */
	assert_int_equal(read_ctr(f), CTR_KBDINT | CTR_SYS | CTR_XLATE);
	assert_int_equal(f->c.resets, 0);
}

static void self_test(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_XLATE); /* no system flag, no interrupt */
	assert_int_equal(sts(f) & STS_SYS, 0);
	cmd(f, 0xaa);
	assert_int_equal(sts(f), STS_OBF | STS_SYS | STS_A2 | STS_UNLOCK);
	EXPECT(f, 0x55);
	assert_int_equal(read_ctr(f), CTR_XLATE | CTR_SYS);
	/* The data port repeats the last byte once the buffer is empty. */
	assert_int_equal(in(f), CTR_XLATE | CTR_SYS);
	assert_int_equal(f->c.irq_calls, 0);
}

static void interface_tests(void **state)
{
	struct fixture *f = *state;

	cmd(f, 0xab);
	EXPECT(f, 0x00); /* keyboard clock and data lines fine */
	cmd(f, 0xa9);
	assert_true(sts(f) & STS_OBF);
	uint8_t aux = in(f);
	/* Linux's i8042_check_aux() gives up quietly unless the answer is 0, 0xfa or 0xff. */
	assert_true(aux != 0x00 && aux != 0xfa && aux != 0xff);
	assert_int_equal(aux, 0x02);
	/* Aux enable and disable do nothing to the command byte, and the aux port's
	 * "write" and "loop" commands swallow their byte without an answer. */
	uint8_t ctr = read_ctr(f);
	cmd(f, 0xa7);
	assert_int_equal(read_ctr(f), ctr);
	cmd(f, 0xa8);
	assert_int_equal(read_ctr(f), ctr);
	cmd(f, 0xd4);
	out(f, 0xf2); /* would be "identify" on the keyboard */
	assert_int_equal(sts(f) & STS_OBF, 0);
	cmd(f, 0xd3);
	out(f, 0x5a);
	assert_int_equal(sts(f) & STS_OBF, 0);
	assert_int_equal(f->c.resets, 0);
}

static void command_byte_round_trip(void **state)
{
	struct fixture *f = *state;

	for (unsigned v = 0; v < 256; v++) {
		write_ctr(f, (uint8_t)v);
		assert_int_equal(read_ctr(f), v);
		assert_int_equal(!!(sts(f) & STS_SYS), !!(v & CTR_SYS));
	}
	/* The rest of the RAM: 0x61-0x7f write, 0x21-0x3f read. */
	for (unsigned i = 1; i < I8042_RAM_SIZE; i++) {
		cmd(f, (uint8_t)(0x60 + i));
		out(f, (uint8_t)(0x80 + i));
	}
	for (unsigned i = 1; i < I8042_RAM_SIZE; i++) {
		cmd(f, (uint8_t)(0x20 + i));
		EXPECT(f, (uint8_t)(0x80 + i));
	}
	assert_int_equal(read_ctr(f), 0xff);
	assert_int_equal(f->c.resets, 0);
}

static void keyboard_port_enable(void **state)
{
	struct fixture *f = *state;

	cmd(f, 0xad);
	assert_int_equal(read_ctr(f) & CTR_KBDDIS, CTR_KBDDIS);
	cmd(f, 0xae);
	assert_int_equal(read_ctr(f) & CTR_KBDDIS, 0);
}

/* A2 says which port was written last. */
static void a2_bit(void **state)
{
	struct fixture *f = *state;

	cmd(f, 0xae);
	assert_int_equal(sts(f) & STS_A2, STS_A2);
	out(f, 0xf4);
	assert_int_equal(sts(f) & STS_A2, 0);
	EXPECT(f, 0xfa);
}

static void output_port(void **state)
{
	struct fixture *f = *state;

	cmd(f, 0xd0);
	EXPECT(f, 0x03); /* not in reset, A20 on */
	cmd(f, 0xd1);
	out(f, 0xdf); /* Linux's "A20 on" */
	assert_int_equal(f->c.resets, 0);
	cmd(f, 0xd0);
	EXPECT(f, 0xdf);
	/* D2: the byte reads back as if the keyboard sent it, untranslated. */
	cmd(f, 0xd2);
	out(f, 0x14);
	EXPECT(f, 0x14);
}

/* ---- the keyboard ---- */

static void keyboard_reset(void **state)
{
	struct fixture *f = *state;

	out(f, 0xff);
	EXPECT(f, 0xfa, 0xaa);
	write_ctr(f, CTR_SYS); /* untranslated: the same bytes */
	out(f, 0xff);
	EXPECT(f, 0xfa, 0xaa);
}

static void keyboard_identify(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_SYS);
	out(f, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x83);
	/* Translated, the second byte is set 2's 0x83 as set 1 has it. */
	write_ctr(f, CTR_SYS | CTR_XLATE);
	out(f, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x41);
}

/* What atkbd sends after the identify: each command, and each argument, is acknowledged. */
static void keyboard_commands(void **state)
{
	struct fixture *f = *state;

	out(f, 0xed);
	EXPECT(f, 0xfa);
	out(f, 0x07);
	EXPECT(f, 0xfa);
	assert_int_equal(f->k.leds, 7);
	out(f, 0xed);
	out(f, 0x00);
	EXPECT(f, 0xfa, 0xfa);
	assert_int_equal(f->k.leds, 0);
	out(f, 0xf3); /* typematic rate */
	out(f, 0x00);
	EXPECT(f, 0xfa, 0xfa);
	out(f, 0xf0); /* scan code set */
	out(f, 0x02);
	EXPECT(f, 0xfa, 0xfa);
	out(f, 0xf5);
	EXPECT(f, 0xfa);
	assert_false(f->k.scanning);
	out(f, 0xf6);
	EXPECT(f, 0xfa);
	out(f, 0xf4);
	EXPECT(f, 0xfa);
	assert_true(f->k.scanning);
	out(f, 0xee);
	EXPECT(f, 0xee);
	out(f, 0xfe); /* resend the last byte */
	EXPECT(f, 0xee);
	/* Unknown commands get "resend", and so does atkbd's extra-keys command 0xEA. */
	const uint8_t unknown[] = {0x00, 0x01, 0x7f, 0x80, 0xea, 0xec, 0xf1, 0xf7, 0xfd};
	for (size_t i = 0; i < sizeof(unknown); i++) {
		out(f, unknown[i]);
		EXPECT(f, 0xfe);
	}
	/* An argument byte is never taken for a command, even one that looks like it. */
	out(f, 0xed);
	out(f, 0xff);
	EXPECT(f, 0xfa, 0xfa);
	assert_int_equal(f->k.leds, 7);
	/* A controller command in between keeps the keyboard waiting for its argument. */
	out(f, 0xf3);
	cmd(f, 0xab);
	out(f, 0x20);
	EXPECT(f, 0xfa, 0x00, 0xfa);
}

/* ---- Ctrl-Alt-Del ---- */

static void cad_translated(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	/* Ctrl, Alt, Delete down; Delete, Alt, Ctrl up. */
	EXPECT(f, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
	assert_false(f->k.xlate_break);
}

static void cad_untranslated(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_KBDINT | CTR_SYS);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	EXPECT(f, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);
}

/* A keyboard the guest switched off reports no keys; on again, it does. */
static void cad_keyboard_off(void **state)
{
	struct fixture *f = *state;

	out(f, 0xf5);
	EXPECT(f, 0xfa);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -EAGAIN);
	assert_int_equal(sts(f) & STS_OBF, 0);
	out(f, 0xf4);
	EXPECT(f, 0xfa);
	cmd(f, 0xad);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -EAGAIN);
	assert_int_equal(sts(f) & STS_OBF, 0);
	cmd(f, 0xae);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	EXPECT(f, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
	/* A keyboard reset turns scanning back on. */
	out(f, 0xf5);
	out(f, 0xff);
	EXPECT(f, 0xfa, 0xfa, 0xaa);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
}

/* Two fit; a third would not, and none of it is queued. */
static void cad_all_or_nothing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	assert_int_equal(f->k.count, 16);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -ENOSPC);
	(void)in(f); /* one byte of room is not enough */
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -ENOSPC);
	EXPECT(f, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3,
	       0xb8, 0x9d);
	/* Untranslated it takes 11 bytes: one fits in 16, not with 6 already waiting. */
	write_ctr(f, CTR_SYS);
	for (int i = 0; i < 6; i++)
		out(f, 0xf4);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -ENOSPC);
	assert_int_equal(f->k.count, 6);
	for (int i = 0; i < 6; i++)
		(void)in(f);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	assert_int_equal(f->k.count, 11);
}

/* ---- IRQ 1 ---- */

/* With bit 0 clear nothing is raised, whatever waits. */
static void irq_needs_bit0(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_SYS | CTR_XLATE);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	cmd(f, 0xaa);
	out(f, 0xf2);
	assert_int_equal(f->c.irq_calls, 0);
	while (sts(f) & STS_OBF)
		(void)in(f);
	assert_int_equal(f->c.irq_calls, 0);
}

/* One rising edge per byte, the line low once the buffer is empty. */
static void irq_edge_per_byte(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	assert_int_equal(f->c.level, 1);
	assert_int_equal(f->c.rises, 1);
	unsigned n = 0;
	while (sts(f) & STS_OBF) {
		(void)in(f);
		n++;
		assert_int_equal(f->c.rises, n + (f->k.count ? 1 : 0));
		assert_int_equal(f->c.level, f->k.count ? 1 : 0);
	}
	assert_int_equal(n, 8);
	assert_int_equal(f->c.level, 0);
	/* Reading an empty buffer does nothing to the line. */
	unsigned calls = f->c.irq_calls;
	(void)in(f);
	assert_int_equal(f->c.irq_calls, calls);
	/* Command replies raise it too, as on PCs (Linux polls for them with its handler
	 * masked, and ignores the interrupt that finds nothing). */
	cmd(f, 0x20);
	assert_int_equal(f->c.level, 1);
	(void)in(f);
	assert_int_equal(f->c.level, 0);
}

/* A byte that waited with the interrupt off raises it when the guest turns it on, and
 * turning it off lowers the line. */
static void irq_enabled_late(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, CTR_SYS | CTR_XLATE);
	assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
	assert_int_equal(f->c.irq_calls, 0);
	cmd(f, 0x60);
	out(f, CTR_KBDINT | CTR_SYS | CTR_XLATE);
	assert_int_equal(f->c.level, 1);
	cmd(f, 0x60);
	out(f, CTR_SYS | CTR_XLATE);
	assert_int_equal(f->c.level, 0);
	assert_int_equal(f->c.rises, 1);
}

/* ---- bounds, reset, hostility ---- */

static void fifo_overflow_bounded(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 1000; i++) {
		out(f, 0xf2); /* three bytes each */
		cmd(f, 0x20);
		cmd(f, 0xaa);
		assert_true(f->k.count <= I8042_FIFO_SIZE);
		assert_guards(f);
	}
	assert_int_equal(f->k.count, I8042_FIFO_SIZE);
	unsigned n = 0;
	while (sts(f) & STS_OBF) {
		(void)in(f);
		n++;
		assert_true(n <= I8042_FIFO_SIZE);
	}
	assert_int_equal(n, I8042_FIFO_SIZE);
	/* The oldest bytes were kept: the buffer works normally afterwards. */
	out(f, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x41);
}

static void reset_line(void **state)
{
	struct fixture *f = *state;

	cmd(f, 0xfe);
	assert_int_equal(f->c.resets, 1);
	/* 0xF0-0xFF pulse the lines whose bit is clear: bit 0 is reset. */
	for (unsigned v = 0xf0; v <= 0xff; v++) {
		unsigned before = f->c.resets;
		cmd(f, (uint8_t)v);
		assert_int_equal(f->c.resets - before, (v & 1) ? 0 : 1);
	}
	/* Writing the output port with bit 0 clear holds the CPU in reset. */
	unsigned before = f->c.resets;
	cmd(f, 0xd1);
	out(f, 0xde);
	assert_int_equal(f->c.resets, before + 1);
	/* Nothing else resets, and 0xFE on the data port is the keyboard's "resend". */
	before = f->c.resets;
	for (unsigned v = 0; v < 0xf0; v++)
		cmd(f, (uint8_t)v); /* each drops the last one's wait for a data byte */
	out(f, 0xfe);
	assert_int_equal(f->c.resets, before);
}

/* Every command followed by every data byte, with reads in between: nothing escapes its
 * arrays, nothing but the reset line resets. */
static void hostile(void **state)
{
	struct fixture *f = *state;
	unsigned resets = 0;

	for (unsigned c = 0; c < 256; c++) {
		for (unsigned d = 0; d < 256; d++) {
			unsigned before = f->c.resets;
			cmd(f, (uint8_t)c);
			out(f, (uint8_t)d);
			if (d & 1)
				(void)in(f);
			if (d % 5 == 0)
				(void)sts(f);
			if (d % 7 == 0)
				(void)i8042_send_ctrl_alt_del(&f->k);
			unsigned got = f->c.resets - before;
			unsigned want = (c >= 0xf0 && !(c & 1)) || (c == 0xd1 && !(d & 1));
			if (got != want)
				fail_msg("command 0x%02x, data 0x%02x: %u resets", c, d, got);
			resets += got;
		}
		assert_guards(f);
	}
	assert_int_equal(resets, 8 * 256 + 128);
	/* And every byte to the data port with no command pending. */
	for (unsigned d = 0; d < 256; d++) {
		out(f, (uint8_t)d);
		out(f, (uint8_t)d);
		assert_guards(f);
	}
	/* Wider accesses never reach the device (the bus registers one-byte ranges), but
	 * would write nothing and read one byte. */
	uint8_t wide[4] = {0xfe, 0xfe, 0xfe, 0xfe};
	unsigned before = f->c.resets;
	i8042_command_ops.write(&f->k, 0, wide, 4);
	assert_int_equal(f->c.resets, before);
	i8042_data_ops.read(&f->k, 0, wide, 4);
	assert_int_equal(wide[1], 0xff);
	assert_int_equal(wide[3], 0xff);
	assert_guards(f);
}

/* The vmm thread presses keys while a vCPU thread reads: every byte is one of the
 * sequence's, and the buffer never holds a partial sequence beyond what was read. */
struct presser {
	struct fixture *f;
	unsigned sent, refused;
};

static void *press(void *arg)
{
	struct presser *p = arg;
	for (int i = 0; i < 20000; i++) {
		if (i8042_send_ctrl_alt_del(&p->f->k) == 0)
			__atomic_add_fetch(&p->sent, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&p->refused, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void concurrent_keys(void **state)
{
	struct fixture *f = *state;
	static const uint8_t seq[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
	struct presser p = {.f = f};
	pthread_t t;
	unsigned got = 0, pos = 0;

	assert_int_equal(pthread_create(&t, NULL, press, &p), 0);
	for (;;) {
		uint8_t s = sts(f);
		if (s & STS_OBF) {
			uint8_t b = in(f);
			if (b != seq[pos])
				fail_msg("byte %u: 0x%02x, want 0x%02x", got, b, seq[pos]);
			pos = (pos + 1) % sizeof(seq);
			got++;
		} else if (__atomic_load_n(&p.sent, __ATOMIC_RELAXED) +
		               __atomic_load_n(&p.refused, __ATOMIC_RELAXED) ==
		           20000) {
			break;
		}
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	while (sts(f) & STS_OBF) {
		assert_int_equal(in(f), seq[pos]);
		pos = (pos + 1) % sizeof(seq);
		got++;
	}
	assert_int_equal(got, p.sent * sizeof(seq));
	assert_int_equal(pos, 0);
	assert_int_equal(f->c.level, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    T(power_on),
	    T(self_test),
	    T(interface_tests),
	    T(command_byte_round_trip),
	    T(keyboard_port_enable),
	    T(a2_bit),
	    T(output_port),
	    T(keyboard_reset),
	    T(keyboard_identify),
	    T(keyboard_commands),
	    T(cad_translated),
	    T(cad_untranslated),
	    T(cad_keyboard_off),
	    T(cad_all_or_nothing),
	    T(irq_needs_bit0),
	    T(irq_edge_per_byte),
	    T(irq_enabled_late),
	    T(fifo_overflow_bounded),
	    T(reset_line),
	    T(hostile),
	    T(concurrent_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
