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
	cfg->cmdline = "";
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
		snprintf(err, errlen, "--mem %" PRIu64 " MiB is more than this host's %" PRIu64 " MiB",
			 cfg->mem_mib, host_mem_mib);
		return -EINVAL;
	}
	if (strlen(cfg->cmdline) > CONFIG_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes; the limit is %d",
			 strlen(cfg->cmdline), CONFIG_CMDLINE_MAX);
		return -EINVAL;
	}
	return 0;
}
