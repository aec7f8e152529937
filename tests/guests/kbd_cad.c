/* Ctrl-Alt-Del through the i8042, as the host sends it (the SendCtrlAltDel action). The
 * guest sets the controller up the way a driver does, polling with interrupts off:
 *   kbd_cad: self-test 0x55
 *   kbd_cad: interface test 0x00
 *   kbd_cad: command byte 0x<ctr>		(translation on, interrupt and disable bits off)
 *   kbd_cad: keyboard reset 0xfa 0xaa
 *   kbd_cad: keyboard id 0xab 0x41		(0x83 arrives translated)
 *   kbd_cad: waiting
 * then prints every byte the keyboard sends, one line each,
 *   kbd_cad: scancode 0x1d
 * until Delete is pressed while Ctrl and Alt are held (set 1: 1d 38 e0 53), prints
 *   kbd_cad: ctrl-alt-del
 * then the bytes that follow within ~0.1 s (the releases e0 d3 b8 9d), and
 *   kbd_cad: all released
 * once all three keys are up, and exits with status 0 through port 0x603.
 * A controller that answers wrong: "kbd_cad: FAIL ..." and status 4. No Ctrl-Alt-Del
 * within kbd_cad.timeout=S seconds (default 60; the TSC is taken as 3 GHz):
 * "kbd_cad: timeout, no ctrl-alt-del" and status 3.
 * Standalone, without the host's API: kbd_cad.inject=1 puts the eight set-1 bytes into
 * the controller's buffer itself (command 0xD2) after "waiting". */
#include "guest.h"

#define DATA       0x60
#define STATUS     0x64
#define STS_OBF    0x01
#define STS_IBF    0x02
#define STS_AUX    0x20
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_KBDDIS 0x10
#define CTR_XLATE  0x40
#define EXIT_PORT  0x603

#define TSC_HZ         3000000000ULL
#define REPLY_TSC      (TSC_HZ / 10) /* Ember answers at once; this is for broken ones */
#define POLL_TSC       (TSC_HZ / 1000)
#define DEFAULT_WAIT_S 60

#define SC_EXTENDED 0xe0
#define SC_BREAK    0x80
#define SC_CTRL     0x1d
#define SC_ALT      0x38
#define SC_DELETE   0x53 /* after E0 */

__attribute__((noreturn)) static void leave(u8 status)
{
	outb(EXIT_PORT, status);
	tsc_delay(200000000);
	serial_puts("guest: the exit register did not stop the machine\n");
	guest_triple_fault();
}

static void serial_sink(struct fmt_sink *s, char c)
{
	(void)s;
	serial_putc(c);
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	struct fmt_sink s = {.put = serial_sink};
	va_list ap;

	serial_puts("kbd_cad: FAIL ");
	va_start(ap, fmt);
	fmt_vformat(&s, fmt, ap);
	va_end(ap);
	serial_putc('\n');
	leave(4);
}

static void wait_writable(void)
{
	u64 t0 = rdtsc();
	while (inb(STATUS) & STS_IBF)
		if (rdtsc() - t0 > REPLY_TSC)
			fail("input buffer stays full");
}

static void ctl_command(u8 cmd)
{
	wait_writable();
	outb(STATUS, cmd);
}

static void ctl_data(u8 v)
{
	wait_writable();
	outb(DATA, v);
}

/* The next byte the controller or keyboard answers. */
static u8 reply(const char *what)
{
	u64 t0 = rdtsc();
	while (!(inb(STATUS) & STS_OBF))
		if (rdtsc() - t0 > REPLY_TSC)
			fail("no answer to %s", what);
	return inb(DATA);
}

static void expect(const char *what, u8 got, u8 want)
{
	if (got != want)
		fail("%s: 0x%02x, want 0x%02x", what, got, want);
}

static void flush(void)
{
	for (int i = 0; i < 32 && (inb(STATUS) & STS_OBF); i++)
		(void)inb(DATA);
	if (inb(STATUS) & STS_OBF)
		fail("the output buffer never empties");
}

static void controller_setup(void)
{
	ctl_command(0xad); /* keyboard port off while we set up */
	flush();

	ctl_command(0xaa);
	u8 v = reply("self-test");
	gprintf("kbd_cad: self-test 0x%02x\n", v);
	expect("self-test", v, 0x55);

	ctl_command(0xab);
	v = reply("interface test");
	gprintf("kbd_cad: interface test 0x%02x\n", v);
	expect("interface test", v, 0x00);

	ctl_command(0x20);
	u8 ctr = reply("read command byte");
	ctr = (u8)((ctr | CTR_XLATE) & ~(CTR_KBDINT | CTR_AUXINT | CTR_KBDDIS));
	ctl_command(0x60);
	ctl_data(ctr);
	ctl_command(0x20);
	v = reply("read command byte");
	gprintf("kbd_cad: command byte 0x%02x\n", v);
	expect("command byte", v, ctr);

	ctl_command(0xae);
	flush();
}

static void keyboard_setup(void)
{
	ctl_data(0xff);
	u8 ack = reply("keyboard reset");
	u8 bat = reply("keyboard self-test");
	gprintf("kbd_cad: keyboard reset 0x%02x 0x%02x\n", ack, bat);
	expect("keyboard reset", ack, 0xfa);
	expect("keyboard self-test", bat, 0xaa);

	ctl_data(0xf2);
	ack = reply("identify");
	u8 id0 = reply("identify"), id1 = reply("identify");
	gprintf("kbd_cad: keyboard id 0x%02x 0x%02x\n", id0, id1);
	expect("identify", ack, 0xfa);
	expect("keyboard id", id0, 0xab);
	expect("keyboard id", id1, 0x41);

	ctl_data(0xf4);
	expect("enable scanning", reply("enable scanning"), 0xfa);
}

/* The keys as a set-1 driver tracks them. */
struct keys {
	bool extended, ctrl, alt, del;
};

/* Returns true when this byte is Delete going down with Ctrl and Alt held. */
static bool key_byte(struct keys *k, u8 b)
{
	if (b == SC_EXTENDED) {
		k->extended = true;
		return false;
	}
	bool down = !(b & SC_BREAK), ext = k->extended;
	u8 code = b & (u8)~SC_BREAK;

	k->extended = false;
	if (code == SC_CTRL)
		k->ctrl = down; /* left, or right after E0 */
	else if (code == SC_ALT)
		k->alt = down;
	else if (code == SC_DELETE && ext) {
		bool cad = down && !k->del && k->ctrl && k->alt;
		k->del = down;
		return cad;
	}
	return false;
}

/* One byte from the keyboard by deadline, or false. */
static bool next_key_byte(u64 deadline, u8 *b)
{
	for (;;) {
		u8 s = inb(STATUS);
		if (s & STS_OBF) {
			u8 v = inb(DATA);
			if (s & STS_AUX)
				continue; /* not the keyboard's */
			*b = v;
			return true;
		}
		if ((int64_t)(rdtsc() - deadline) >= 0)
			return false;
		tsc_delay(POLL_TSC); /* each status read is an exit: keep them few */
	}
}

static void inject(void)
{
	static const u8 cad[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};

	for (size_t i = 0; i < sizeof(cad); i++) {
		ctl_command(0xd2);
		ctl_data(cad[i]);
	}
}

int main(void)
{
	u64 wait_s = DEFAULT_WAIT_S;
	struct keys keys = {0};
	u8 b;

	serial_init();
	cmdline_get_u64(boot.cmdline, "kbd_cad.timeout", &wait_s);
	if (wait_s > 3600)
		wait_s = 3600;
	controller_setup();
	keyboard_setup();
	serial_puts("kbd_cad: waiting\n");
	if (cmdline_has(boot.cmdline, "kbd_cad.inject", "1"))
		inject();

	u64 deadline = rdtsc() + wait_s * TSC_HZ;
	for (;;) {
		if (!next_key_byte(deadline, &b)) {
			serial_puts("kbd_cad: timeout, no ctrl-alt-del\n");
			leave(3);
		}
		gprintf("kbd_cad: scancode 0x%02x\n", b);
		if (key_byte(&keys, b))
			break;
	}
	serial_puts("kbd_cad: ctrl-alt-del\n");

	/* The releases were queued with the presses: they are already waiting. */
	deadline = rdtsc() + REPLY_TSC;
	while ((keys.ctrl || keys.alt || keys.del) && next_key_byte(deadline, &b)) {
		gprintf("kbd_cad: scancode 0x%02x\n", b);
		key_byte(&keys, b);
	}
	if (!keys.ctrl && !keys.alt && !keys.del)
		serial_puts("kbd_cad: all released\n");
	leave(0);
}
