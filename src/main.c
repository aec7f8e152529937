/* ember: one process per microVM. Dispatches the subcommands. */
#include "cli.h"
#include "base/config.h"
#include "default_guest.h"
#include "doctor.h"
#include "base/exit_status.h"
#include "base/footprint.h"
#include "base/start_trace.h"
#include "base/log.h"
#include "api/api_mode.h"
#include "seccomp/seccomp.h"
#include "vmm/controller.h"
#include "vmm/snapshot.h"
#include "warm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

/* `ember-jailer ... -- run ...`: the id the jailer put first. */
static const char *jailer_id;

static uint64_t host_mem_mib(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 0;
	return ((uint64_t)si.totalram * si.mem_unit) >> 20;
}

/* --snapshot-to's two files, made now: the vmm thread may open nothing once locked down. */
static int snapshot_files_open(struct ctl_settings *set, char *err, size_t errlen)
{
	char why[1024];
	if (!set->snap_state_path[0])
		return 0;
	if (vm_snapshot_files_open(set->snap_state_path, set->snap_mem_path, &set->snap_state_fd,
	                           &set->snap_mem_fd, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--snapshot-to: %s", why);
		return -EINVAL;
	}
	return 0;
}

static int start_booted(struct ctl *ctl, const void *arg, char *err, size_t errlen)
{
	if (cli_commands(arg, ctl, err, errlen) < 0)
		return -EINVAL;
	return ctl_start(ctl, err, errlen);
}

static int start_loaded(struct ctl *ctl, const void *arg, char *err, size_t errlen)
{
	return ctl_load(ctl, arg, err, errlen);
}

/* The controller for cfg's settings, its VM started by start (booted or loaded), run until
 * it ends; --snapshot-to's files around it. Returns the exit status. */
static int run_machine(const struct vm_config *cfg,
                       int (*start)(struct ctl *, const void *, char *, size_t), const void *arg)
{
	static struct ctl ctl;
	static struct ctl_settings set;
	char err[9000];

	cli_settings(cfg, host_mem_mib(), &set);
	if (jailer_id)
		snprintf(set.id, sizeof(set.id), "%s", jailer_id);
	if (snapshot_files_open(&set, err, sizeof(err)) < 0 ||
	    ctl_init(&ctl, &set, err, sizeof(err)) < 0 || start(&ctl, arg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		ctl_destroy(&ctl);
		vm_snapshot_files_close(set.snap_state_path, set.snap_mem_path, &set.snap_state_fd,
		                        &set.snap_mem_fd, true);
		return EXIT_USAGE;
	}
	int status = ctl_run(&ctl);
	ctl_destroy(&ctl);
	vm_snapshot_files_close(set.snap_state_path, set.snap_mem_path, &set.snap_state_fd,
	                        &set.snap_mem_fd, !ctl.set.snap_taken);
	start_trace_mark(START_TORN_DOWN);
	start_trace_print();
	return status;
}

/* --warm's cache entry: cfg's guest booted, snapshotted once its init is ready. */
static int build_warm(const struct vm_config *cfg)
{
	return run_machine(cfg, start_booted, cfg);
}

/* ember run --warm: the cached snapshot of cfg's guest (built on first use) restored, the
 * command handed over, run until it ends, as a cold run. */
static int run_warm(const struct vm_config *cfg)
{
	static struct ctl_snapshot_load load;
	char err[9000];
	if (warm_prepare(cfg, build_warm, &load, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	int status = run_machine(cfg, start_loaded, &load);
	warm_release(&load);
	return status;
}

/* ember run: the flags into a configuration, checked with the command line's words; then
 * the same commands the API or a config file would give the controller, InstanceStart, and
 * the controller's run. */
static int cmd_run(int argc, char **argv)
{
	static struct default_guest guest;
	static struct vm_config cfg;
	char err[9000];

	int r = cli_parse_run(argc, argv, &cfg, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r == 0 && cfg.warm)
		r = warm_refuse(&cfg, err, sizeof(err));
	/* No kernel named: the default guest, kernel and initrd together. */
	if (r == 0 && !cfg.kernel_path[0]) {
		r = default_guest_find(&guest, err, sizeof(err));
		/* Its paths have the configuration's size: the copies fit. */
		if (r == 0)
			CONFIG_SET(cfg.kernel_path, guest.kernel);
		if (r == 0 && !cfg.initrd_path[0])
			CONFIG_SET(cfg.initrd_path, guest.initrd);
	}
	cfg.cmd_tty = isatty(STDIN_FILENO);
	cfg.cmd_init = r == 0 && (cfg.cmd_argc > 0 || guest.kernel[0]);
	if (r < 0 || config_validate(&cfg, host_mem_mib(), err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	start_trace_mark(START_PARSED);
	if (cfg.warm)
		return run_warm(&cfg);
	return run_machine(&cfg, start_booted, &cfg);
}

/* ember restore: the snapshot's VM in this process, run until it ends, as `ember run`. */
static int cmd_restore(int argc, char **argv)
{
	static struct vm_config cfg;
	static struct ctl_snapshot_load load;
	char err[9000];

	int r = cli_parse_restore(argc, argv, &cfg, &load, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	return run_machine(&cfg, start_loaded, &load);
}

/* doctor and seccomp-report: no options but --help. */
static int cmd_simple(int argc, char **argv)
{
	bool doctor = !strcmp(argv[1], "doctor");
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		if (doctor)
			printf(
			    "usage: ember doctor\n\n"
			    "Describe this host's KVM: present or not, its flavour (VMX, SVM or\n"
			    "PVM), the capabilities Ember uses, and which guests can run here.\n");
		else
			printf("usage: ember seccomp-report\n\n"
			       "Print each thread's seccomp filter: the system calls and ioctl\n"
			       "requests it allows once locked down, with the reason for each.\n");
		return 0;
	}
	if (argc > 2) {
		log_err("'ember %s' takes no arguments (see 'ember %s --help')", argv[1], argv[1]);
		return EXIT_USAGE;
	}
	if (doctor)
		return doctor_run();
	return sc_report(stdout) < 0 ? EXIT_USAGE : 0;
}

int main(int argc, char **argv)
{
	start_trace_mark(START_MAIN);
	footprint_small_pages();
	if (cli_version_asked(argc, argv)) {
		printf("ember %s\n", EMBER_VERSION);
		return 0;
	}
	if (argc < 2) {
		/* Firecracker with no arguments serves its API on its default socket; so does
		 * Ember, on its own (a person typing `ember` learns where, and about --help). */
		fprintf(stderr,
		        "ember: no arguments: serving Firecracker's API on %s ('ember --help' for "
		        "the other ways to run)\n",
		        CLI_DEFAULT_SOCKET);
		return api_mode_main(argc, argv, host_mem_mib());
	}
#ifdef EMBER_TEST_HOOKS
	/* Test builds only: "--seccomp-test-violate=KIND" first makes that thread kind make a
	 * forbidden call once it is locked down; the rest of the command line is as usual. */
	if (!strncmp(argv[1], "--seccomp-test-violate=", 23)) {
		if (argc < 3 || sc_test_violate(argv[1] + 23) < 0) {
			log_err("--seccomp-test-violate= takes vmm, api or vcpu, then a command");
			return EXIT_USAGE;
		}
		argv[1] = argv[0];
		argc--, argv++;
	}
#endif
	struct cli_api_opts jailed = {0};
	char err[1024];
	int taken = cli_take_jailer_words(argc, argv, &jailed, err, sizeof(err));
	if (taken < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	if (taken > 0) {
		jailer_id = jailed.id;
		argv[taken] = argv[0];
		argv += taken;
		argc -= taken;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	if (cli_api_mode_wanted(argv[1]))
		return api_mode_main(argc, argv, host_mem_mib());
	if (!strcmp(argv[1], "doctor") || !strcmp(argv[1], "seccomp-report"))
		return cmd_simple(argc, argv);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_usage();
		return 0;
	}
	if (!strcmp(argv[1], "snapshot-merge")) {
		char why[1024];
		uint64_t pages;
		if (argc != 4) {
			log_err("snapshot-merge takes two files: BASE_MEM DIFF_MEM");
			return EXIT_USAGE;
		}
		if (vm_snapshot_merge(argv[2], argv[3], &pages, why, sizeof(why)) < 0) {
			log_err("%s", why);
			return EXIT_USAGE;
		}
		printf("merged %llu pages of '%s' onto '%s'\n", (unsigned long long)pages, argv[3],
		       argv[2]);
		return 0;
	}
	if (!strcmp(argv[1], "--describe-snapshot")) {
		char why[1024];
		if (argc != 3) {
			log_err("--describe-snapshot takes one file, a snapshot's state file");
			return EXIT_USAGE;
		}
		if (vm_snapshot_describe(argv[2], stdout, why, sizeof(why)) < 0) {
			log_err("%s", why);
			return EXIT_USAGE;
		}
		return 0;
	}
	log_err("unknown command '%s' (see 'ember --help')", argv[1]);
	return EXIT_USAGE;
}
