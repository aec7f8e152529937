/* The human command line: `ember run ...`, `ember doctor`. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include "base/config.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Parse `run` options (argv[0] is "run") into cfg, starting from config_defaults().
 * Returns 0, 1 if --help was asked for (usage printed), or -EINVAL with a message in err.
 * Numbers must be plain decimal integers with nothing after them.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

struct ctl;
struct ctl_settings;

/* What cfg asks that is not a command (the boot mode, --append, the guest command, --stats,
 * --no-seccomp) as the controller's settings, for a host of host_mem_mib. */
void cli_settings(const struct vm_config *cfg, uint64_t host_mem_mib, struct ctl_settings *set);

/* The rest of cfg (checked by config_validate) as the controller's commands, in a config
 * file's order, executed on c. Returns 0, or -EINVAL with the refusal in err. */
int cli_commands(const struct vm_config *cfg, struct ctl *c, char *err, size_t errlen);

/* Print the usage text to stdout. */
void cli_usage(void);

#endif
