/* The human command line: `ember run ...`, `ember doctor`. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include "base/config.h"

#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

#include <stdbool.h>

#define CLI_DEFAULT_SOCKET "/run/ember.socket"

/* The two ways of running, as the option table's rows name the ones that accept them. */
enum { CLI_RUN = 1, CLI_API = 2, CLI_RESTORE = 4 };

/* The API mode's options (Firecracker's flags). */
struct cli_api_opts {
	const char *api_sock;
	const char *config_file;
	const char *id;
	const char *log_path;
	const char *metrics_path;
	enum log_level level;
	bool level_set; /* --level given */
	bool show_level;
	bool no_api;
	bool no_seccomp;
	size_t max_payload;
	size_t mmds_size_limit; /* 0: max_payload, as Firecracker */
	const char *metadata;   /* --metadata FILE: the store's first contents */
	bool show_log_origin;       /* --show-log-origin */
	const char *module;         /* --module: log only this module's lines (log_module_ok) */
	bool boot_timer;            /* --boot-timer: the guest's boot-time mark is logged */
	const char *seccomp_filter; /* --seccomp-filter FILE: Ember's BPF file (docs/SECCOMP.md) */
	/* Firecracker's jailer passes these: the start on CLOCK_MONOTONIC and the process's
	 * CPU time then, and the jailer's own CPU time, in microseconds. */
	bool has_start_time_us, has_start_time_cpu_us;
	uint64_t start_time_us, start_time_cpu_us, parent_cpu_time_us;
};

/*
 * Parse the API mode's options (the whole argv) into o, from the defaults (the socket
 * CLI_DEFAULT_SOCKET, id "anonymous-instance", level Info, Firecracker's payload limit).
 * Returns 0, 1 if --help was asked for (usage printed), or -EINVAL with a message in err.
 */
int cli_parse_api(int argc, char **argv, struct cli_api_opts *o, char *err, size_t errlen);

/* Whether "--version" is one of argv's words before a "--" (Firecracker's: anywhere). */
bool cli_version_asked(int argc, char **argv);

/* Firecracker's jailer puts "--id ID --start-time-us T --start-time-cpu-us C
 * --parent-cpu-time-us P" before the user's words; before `run` or `restore` these are taken
 * off argv (moved past; returns how many words) into o, so `ember-jailer ... -- run ...`
 * works. 0 when argv[1] is not one of them. -EINVAL with a message for a bad value. */
int cli_take_jailer_words(int argc, char **argv, struct cli_api_opts *o, char *err, size_t errlen);

/* Whether argv[1] is one of the API mode's options. */
bool cli_api_mode_wanted(const char *arg);

/* The API mode's usage text, to stdout. */
void cli_api_usage(void);

/*
 * Parse `run` options (argv[0] is "run") into cfg, starting from config_defaults().
 * Returns 0, 1 if --help was asked for (usage printed), or -EINVAL with a message in err.
 * Numbers must be plain decimal integers with nothing after them.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

struct ctl;
struct ctl_settings;
struct ctl_snapshot_load;
/*
 * Parse `restore` options (argv[0] is "restore"): STATE MEM and the overrides into *load,
 * --vcpus, --stats, --no-seccomp and --snapshot-to into cfg (from config_defaults()).
 * Returns 0, 1 after --help, or -EINVAL with a message in err.
 */
int cli_parse_restore(int argc, char **argv, struct vm_config *cfg, struct ctl_snapshot_load *load,
                      char *err, size_t errlen);

/* What cfg asks that is not a command (the boot mode, --append, the guest command, --stats,
 * --no-seccomp) as the controller's settings, for a host of host_mem_mib. */
void cli_settings(const struct vm_config *cfg, uint64_t host_mem_mib, struct ctl_settings *set);

/* The rest of cfg (checked by config_validate) as the controller's commands, in a config
 * file's order, executed on c. Returns 0, or -EINVAL with the refusal in err. */
int cli_commands(const struct vm_config *cfg, struct ctl *c, char *err, size_t errlen);

/* Print the usage text to stdout. */
void cli_usage(void);

#endif
