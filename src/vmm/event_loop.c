/* The vmm thread: one epoll loop over the stop eventfd, a signalfd and standard input. */
#include "event_loop.h"
#include "../exit_status.h"
#include "../log.h"
#include "term.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define ESCAPE_KEY 0x01 /* Ctrl-A, then 'x' quits, as in QEMU */
#define RX_RETRY_MS 10  /* poll interval while the guest's receive FIFO is full */

enum { TAG_STOP, TAG_SIGNAL, TAG_STDIN };

struct console_in {
	bool active;    /* stdin is being watched */
	bool escape;    /* the previous byte was the escape key */
	uint8_t buf[SERIAL_RX_SIZE + 1]; /* + a held-back escape key */
	unsigned len, off; /* bytes read from stdin and not yet given to the guest */
};

/* Hand pending input to the guest; returns false while some must wait for FIFO space. */
static bool feed_guest(struct vm *vm, struct console_in *in)
{
	in->off += serial_receive(&vm->serial, in->buf + in->off, in->len - in->off);
	if (in->off < in->len)
		return false;
	in->off = in->len = 0;
	return true;
}

static void read_stdin(struct vm *vm, struct console_in *in, int epfd)
{
	uint8_t raw[SERIAL_RX_SIZE];
	ssize_t n = read(STDIN_FILENO, raw, sizeof(raw));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input: the guest keeps running, it just gets no more keys. */
		epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		in->active = false;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (in->escape) {
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
	if (!feed_guest(vm, in))
		epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
}

void event_loop_run(struct vm *vm)
{
	struct console_in in = {0};
	sigset_t sigs;
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	int sfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (epfd < 0 || sfd < 0) {
		log_err("cannot set up the event loop: %s", strerror(errno));
		vm_stop(vm, EXIT_USAGE);
		goto out;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u32 = TAG_STOP;
	epoll_ctl(epfd, EPOLL_CTL_ADD, vm->stop_fd, &ev);
	ev.data.u32 = TAG_SIGNAL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u32 = TAG_STDIN;
	/* Regular files and /dev/null cannot be polled (EPERM): then there is no input. */
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0) {
		in.active = true;
		term_raw(STDIN_FILENO);
	}

	while (!vm_stopping(vm)) {
		struct epoll_event events[4];
		bool waiting = in.len > 0;
		int n = epoll_wait(epfd, events, 4, waiting ? RX_RETRY_MS : -1);
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			vm_stop(vm, EXIT_USAGE);
			break;
		}
		if (waiting && feed_guest(vm, &in) && in.active) {
			ev.data.u32 = TAG_STDIN;
			epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.u32 == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					vm_stop(vm, EXIT_SIGNAL_BASE + (int)si.ssi_signo);
			} else if (events[i].data.u32 == TAG_STDIN && in.active && !in.len) {
				read_stdin(vm, &in, epfd);
			}
		}
	}
out:
	term_restore();
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
}
