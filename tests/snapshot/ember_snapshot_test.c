/*
 * ember-snapshot-test: a TEMPORARY front end for snapshots until `ember snapshot`/`ember
 * restore` and the API's /snapshot endpoints exist (issue 13); tests only.
 *
 *   ember-snapshot-test run --snapshot-after-ms N --snapshot-to STATE,MEM [run options]
 *       as `ember run`, but N ms after the start the VM is paused, snapshotted on the
 *       vmm thread (locked down: the files are opened before), and stopped (status 0, or
 *       2 if the snapshot failed);
 *   ember-snapshot-test restore [--vcpus N] [--no-seccomp] STATE MEM
 *       the VM of the snapshot, run until it stops; a refused snapshot: one line, status 2.
 */
#include "base/exit_status.h"
#include "base/log.h"
#include "cli.h"
#include "seccomp/seccomp.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct snap_timer {
	struct vm *vm;
	int timer_fd, state_fd, mem_fd;
	struct el_handler h;
};

static void on_timer(void *ctx, uint32_t events)
{
	struct snap_timer *t = ctx;
	uint64_t n;
	char err[512];
	(void)events;
	if (read(t->timer_fd, &n, sizeof(n)) < 0)
		return;
	event_loop_del(&t->vm->loop, t->timer_fd);
	vm_pause(t->vm);
	if (vm_stopping(t->vm))
		return;
	if (vm_snapshot_write(t->vm, t->state_fd, t->mem_fd, err, sizeof(err)) < 0) {
		log_err("snapshot failed: %s", err);
		vm_stop(t->vm, EXIT_USAGE);
		return;
	}
	log_err("snapshot written");
	vm_stop(t->vm, 0);
}

static int cmd_run(int argc, char **argv)
{
	static struct vm vm;
	static struct snap_timer t;
	struct vm_config cfg;
	char err[9000];
	long ms = -1;
	char *to = NULL;
	while (argc > 2 &&
	       (!strcmp(argv[1], "--snapshot-after-ms") || !strcmp(argv[1], "--snapshot-to"))) {
		if (!strcmp(argv[1], "--snapshot-after-ms"))
			ms = strtol(argv[2], NULL, 10);
		else
			to = argv[2];
		argv[2] = argv[0];
		argc -= 2, argv += 2;
	}
	char *comma = to ? strchr(to, ',') : NULL;
	if (ms < 0 || !comma) {
		log_err("run needs --snapshot-after-ms N --snapshot-to STATE,MEM first");
		return EXIT_USAGE;
	}
	*comma = 0;
	int r = cli_parse_run(argc, argv, &cfg, err, sizeof(err));
	if (r == 0)
		r = config_validate(&cfg, 1 << 20, err, sizeof(err));
	if (r == 0)
		r = sc_setup(cfg.no_seccomp, err, sizeof(err));
	if (r < 0 || signals_block() < 0 || vm_create(&vm, &cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	t.vm = &vm;
	t.state_fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t.mem_fd = open(comma + 1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec when = {.it_value = {ms / 1000, (ms % 1000) * 1000000 + 1}};
	t.h = (struct el_handler){on_timer, &t};
	if (t.state_fd < 0 || t.mem_fd < 0 || t.timer_fd < 0 ||
	    timerfd_settime(t.timer_fd, 0, &when, NULL) < 0 ||
	    event_loop_add(&vm.loop, t.timer_fd, EPOLLIN, &t.h) < 0) {
		log_err("cannot set up the snapshot: %s", strerror(errno));
		vm_destroy(&vm);
		return EXIT_USAGE;
	}
	int status = vm_run(&vm);
	vm_destroy(&vm);
	return status;
}

static int cmd_restore(int argc, char **argv)
{
	static struct vm vm;
	struct vm_restore_opts o = {0};
	char err[9000];
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--vcpus") && i + 1 < argc)
			o.vcpus = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--no-seccomp"))
			o.no_seccomp = true;
		else if (!strcmp(argv[i], "--clock-realtime"))
			o.clock_realtime = true;
		else
			break;
	}
	if (argc - i != 2) {
		log_err("usage: restore [--vcpus N] [--no-seccomp] [--clock-realtime] STATE MEM");
		return EXIT_USAGE;
	}
	if (sc_setup(o.no_seccomp, err, sizeof(err)) < 0 || signals_block() < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	if (vm_restore(&vm, &o, argv[i], argv[i + 1], err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	int status = vm_run(&vm);
	vm_destroy(&vm);
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	log_err("usage: ember-snapshot-test run|restore ... (a temporary test front end)");
	return EXIT_USAGE;
}
