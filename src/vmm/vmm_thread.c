/* The vmm thread's own watches on its event loop: the stop eventfd, signals and the
 * console's standard input; devices add theirs to the same loop. */
#include "vmm_thread.h"
#include "../base/event_loop.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"
#include "../base/term.h"
#include "../devices/serial.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define ESCAPE_KEY  0x01 /* Ctrl-A, then 'x' quits, as in QEMU */
#define RX_RETRY_MS 10   /* poll interval while the guest's receive FIFO is full */
#define CTRL_D      0x04 /* the init's end of input (tty=0, docs/CONTRACTS.md) */
#define CTRL_V      0x16 /* the init's literal-next: a ^D or ^V in the data follows one */

struct console_in {
	struct vm *vm;
	struct serial *uart; /* the guest's console: the device table's serial port */
	struct el_handler handler;
	bool active; /* stdin is being watched (or read without polling) */
	bool polled; /* on the event loop; a regular file or /dev/null cannot be */
	bool piped;  /* vm->console_piped: no escape key, ^D and ^V escaped, ^D at the end */
	bool escape; /* the previous byte was the escape key */
	/* Each byte may double (escape key held back, or ^V before it), + the final ^D. */
	uint8_t buf[2 * SERIAL_RX_SIZE + 1];
	unsigned len, off; /* bytes read from stdin and not yet given to the guest */
};

/* Hand pending input to the guest; returns false while some must wait for FIFO space. */
static bool feed_guest(struct vm *vm, struct console_in *in)
{
	(void)vm;
	in->off += serial_receive(in->uart, in->buf + in->off, in->len - in->off);
	if (in->off < in->len)
		return false;
	in->off = in->len = 0;
	return true;
}

static void read_stdin(struct vm *vm, struct console_in *in, struct event_loop *el)
{
	uint8_t raw[SERIAL_RX_SIZE];
	ssize_t n = read(STDIN_FILENO, raw, sizeof(raw));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input: the guest keeps running, it just gets no more keys; the init's
		 * tty gets a ^D, which its reader sees as the end of the file. */
		if (in->polled)
			event_loop_del(el, STDIN_FILENO);
		in->active = false;
		if (in->piped) {
			in->buf[in->len++] = CTRL_D;
			feed_guest(vm, in); /* the loop retries what does not fit yet */
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (in->piped) {
			/* Data, not keys: nothing quits, and the tty's two special bytes are
			 * sent literally. */
			if (raw[i] == CTRL_D || raw[i] == CTRL_V)
				in->buf[in->len++] = CTRL_V;
		} else if (in->escape) {
			in->escape = false;
			if (raw[i] == 'x') {
				vm_stop(vm, EXIT_SIGNAL_BASE + SIGINT);
				return;
			}
			if (raw[i] != ESCAPE_KEY)
				in->buf[in->len++] = ESCAPE_KEY;
		} else if (raw[i] == ESCAPE_KEY) {
			in->escape = true;
			continue;
		}
		in->buf[in->len++] = raw[i];
	}
	if (!feed_guest(vm, in) && in->polled)
		event_loop_del(el, STDIN_FILENO);
}

static void on_stdin(void *ctx, uint32_t events)
{
	struct console_in *in = ctx;
	(void)events;
	if (in->active && !in->len)
		read_stdin(in->vm, in, &in->vm->loop);
}

struct signals {
	struct vm *vm;
	int fd;
	struct el_handler handler;
};

static void on_signal(void *ctx, uint32_t events)
{
	struct signals *s = ctx;
	struct signalfd_siginfo si;
	(void)events;
	if (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		vm_stop(s->vm, EXIT_SIGNAL_BASE + (int)si.ssi_signo);
}

static void on_stop(void *ctx, uint32_t events)
{
	(void)ctx;
	(void)events; /* the loop condition sees the stop */
}

void vmm_thread_run(struct vm *vm)
{
	struct vm_device *uart = vm_device_find(vm, "serial", 0);
	struct console_in in = {
	    .vm = vm, .uart = uart->dev, .handler = {on_stdin, &in}, .piped = vm->console_piped};
	struct signals sig = {.vm = vm, .fd = -1, .handler = {on_signal, &sig}};
	struct el_handler stop = {on_stop, NULL};
	struct event_loop *el = &vm->loop;
	sigset_t sigs;

	signals_stop_set(&sigs);
	sig.fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig.fd < 0 || event_loop_add(el, vm->stop_fd, EPOLLIN, &stop) < 0 ||
	    event_loop_add(el, sig.fd, EPOLLIN, &sig.handler) < 0) {
		log_err("cannot set up the event loop: %s", strerror(errno));
		vm_stop(vm, EXIT_USAGE);
		goto out;
	}
	if (in.piped)
		serial_gate_rx(in.uart);
	/* Regular files and /dev/null cannot be polled (EPERM): they are read as the guest
	 * takes their bytes when the init's contract applies, and otherwise not at all. */
	int added = event_loop_add(el, STDIN_FILENO, EPOLLIN, &in.handler);
	if (added == 0) {
		in.active = in.polled = true;
		term_raw(STDIN_FILENO);
	} else if (in.piped && added == -EPERM) {
		in.active = true;
	}
	/* Every device, vCPU thread and watch exists: lock down, then serve the guest. */
	sc_lockdown(SC_VMM);

	while (!vm_stopping(vm)) {
		/* An unpolled stdin is always readable: it waits only for the guest. */
		bool waiting = in.len > 0 || (in.active && !in.polled);
		int n = event_loop_dispatch(el, waiting ? RX_RETRY_MS : -1);
		if (n < 0) {
			log_err("epoll_wait: %s", strerror(-n));
			vm_stop(vm, EXIT_USAGE);
			break;
		}
		if (in.len > 0) {
			if (feed_guest(vm, &in) && in.active && in.polled)
				event_loop_add(el, STDIN_FILENO, EPOLLIN, &in.handler);
		} else if (in.active && !in.polled && serial_rx_space(in.uart) > 0) {
			read_stdin(vm, &in, el);
		}
	}
out:
	term_restore();
	if (in.active && in.polled)
		event_loop_del(el, STDIN_FILENO);
	event_loop_del(el, vm->stop_fd);
	if (sig.fd >= 0) {
		event_loop_del(el, sig.fd);
		close(sig.fd);
	}
}
