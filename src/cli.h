/* The human command line: `ember run ...`, `ember doctor`. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include "base/config.h"

#include <stddef.h>

/*
 * Parse `run` options (argv[0] is "run") into cfg, starting from config_defaults().
 * Returns 0, 1 if --help was asked for (usage printed), or -EINVAL with a message in err.
 * Numbers must be plain decimal integers with nothing after them.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

/* Print the usage text to stdout. */
void cli_usage(void);

#endif
