/* Defaults and kernel-independent checks for a VM configuration. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_mib = CONFIG_DEFAULT_MEM_MIB;
	cfg->vcpus = 1;
	cfg->cmdline = CONFIG_DEFAULT_CMDLINE;
}

int config_full_cmdline(const struct vm_config *cfg, char *buf, size_t len)
{
	int n = cfg->append ? snprintf(buf, len, "%s %s", cfg->cmdline, cfg->append)
	                    : snprintf(buf, len, "%s", cfg->cmdline);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int config_validate(const struct vm_config *cfg, uint64_t host_mem_mib, char *err, size_t errlen)
{
	if (!cfg->kernel_path || !cfg->kernel_path[0]) {
		snprintf(err, errlen, "no kernel given (use --kernel FILE)");
		return -EINVAL;
	}
	if (cfg->vcpus < 1 || cfg->vcpus > CONFIG_MAX_VCPUS) {
		snprintf(err, errlen, "--vcpus must be between 1 and %d, not %u", CONFIG_MAX_VCPUS,
		         cfg->vcpus);
		return -EINVAL;
	}
	if (cfg->mem_mib < 1) {
		snprintf(err, errlen, "--mem must be at least 1 MiB");
		return -EINVAL;
	}
	if (cfg->mem_mib > host_mem_mib) {
		snprintf(err, errlen,
		         "--mem %" PRIu64 " MiB is more than this host's %" PRIu64 " MiB",
		         cfg->mem_mib, host_mem_mib);
		return -EINVAL;
	}
	size_t cl = strlen(cfg->cmdline) + (cfg->append ? 1 + strlen(cfg->append) : 0);
	if (cl > CONFIG_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes; the limit is %d", cl,
		         CONFIG_CMDLINE_MAX);
		return -EINVAL;
	}
	if (cfg->cmd_argc) {
		size_t bytes = 0;
		if (cfg->cmd_argc > CONFIG_CMD_MAX_ARGS) {
			snprintf(err, errlen, "the guest command has %u arguments; the limit is %d",
			         cfg->cmd_argc, CONFIG_CMD_MAX_ARGS);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->cmd_argc; i++)
			bytes += strlen(cfg->cmd_argv[i]) + 1;
		if (bytes > CONFIG_CMD_MAX_BYTES) {
			snprintf(err, errlen, "the guest command is %zu bytes; the limit is %u",
			         bytes, CONFIG_CMD_MAX_BYTES);
			return -EINVAL;
		}
		if (!cfg->initrd_path) {
			snprintf(err, errlen,
			         "a guest command needs an initrd whose init runs it "
			         "(the default guest's, or --initrd FILE)");
			return -EINVAL;
		}
	}
	return 0;
}
