/* Defaults and kernel-independent checks for a VM configuration. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_mib = CONFIG_DEFAULT_MEM_MIB;
	cfg->vcpus = 1;
	cfg->huge_pages = HUGE_PAGES_TRANSPARENT;
	memcpy(cfg->cmdline, CONFIG_DEFAULT_CMDLINE, sizeof(CONFIG_DEFAULT_CMDLINE));
}

int config_set_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

int config_full_cmdline(const struct vm_config *cfg, char *buf, size_t len)
{
	int n = cfg->append[0] ? snprintf(buf, len, "%s %s", cfg->cmdline, cfg->append)
	                       : snprintf(buf, len, "%s", cfg->cmdline);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

static bool id_ok(const char *id, bool hyphen)
{
	size_t n = strlen(id);
	if (n < 1 || n > CONFIG_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_' && !(hyphen && id[i] == '-'))
			return false;
	return true;
}

bool config_id_ok(const char *id)
{
	return id_ok(id, false);
}

bool config_instance_id_ok(const char *id)
{
	return id_ok(id, true);
}

int config_validate_devices(const struct vm_config *cfg, char *err, size_t errlen)
{
	unsigned roots = 0;
	if (cfg->ndrives > CONFIG_MAX_DRIVES || cfg->nnets > CONFIG_MAX_NETS) {
		snprintf(err, errlen, "at most %d drives and %d network interfaces",
		         CONFIG_MAX_DRIVES, CONFIG_MAX_NETS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		const struct drive_config *d = &cfg->drives[i];
		if (!config_id_ok(d->id)) {
			snprintf(err, errlen, "drive id '%s' must be 1 to %d " CONFIG_ID_RULE,
			         d->id, CONFIG_ID_MAX);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(cfg->drives[j].id, d->id)) {
				snprintf(err, errlen, "two drives have the id '%s'", d->id);
				return -EINVAL;
			}
		if (!d->path[0]) {
			snprintf(err, errlen, "drive '%s' has no path", d->id);
			return -EINVAL;
		}
		roots += d->is_root;
	}
	if (roots > 1) {
		snprintf(err, errlen, "only one drive can be the root device");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		const struct net_config *n = &cfg->nets[i];
		if (!config_id_ok(n->id)) {
			snprintf(err, errlen,
			         "network interface id '%s' must be 1 to %d " CONFIG_ID_RULE, n->id,
			         CONFIG_ID_MAX);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(cfg->nets[j].id, n->id)) {
				snprintf(err, errlen, "two network interfaces have the id '%s'",
				         n->id);
				return -EINVAL;
			}
			if (!strcmp(cfg->nets[j].tap, n->tap)) {
				snprintf(err, errlen, "two network interfaces use the tap '%s'",
				         n->tap);
				return -EINVAL;
			}
		}
		if (!n->tap[0] || strlen(n->tap) > CONFIG_TAP_MAX - 1 || strchr(n->tap, '/')) {
			snprintf(err, errlen, "tap name '%s' must be 1 to %d bytes without '/'",
			         n->tap, CONFIG_TAP_MAX - 1);
			return -EINVAL;
		}
	}
	if (cfg->vsock.enabled) {
		const struct vsock_config *v = &cfg->vsock;
		/* sun_path holds 107 bytes; guest connections use "<path>_<port>", up to 11
		 * more. */
		if (v->guest_cid < 3 || v->guest_cid == UINT32_MAX) {
			snprintf(err, errlen, "vsock guest CID must be 3 to %u", UINT32_MAX - 1);
			return -EINVAL;
		}
		if (!v->uds_path[0] || strlen(v->uds_path) > CONFIG_UDS_PATH_MAX) {
			snprintf(err, errlen, "vsock uds path must be 1 to %d bytes",
			         CONFIG_UDS_PATH_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

int config_validate(const struct vm_config *cfg, uint64_t host_mem_mib, char *err, size_t errlen)
{
	if (!cfg->kernel_path[0]) {
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
	size_t cl = strlen(cfg->cmdline) + (cfg->append[0] ? 1 + strlen(cfg->append) : 0);
	if (cl > CONFIG_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes; the limit is %d", cl,
		         CONFIG_CMDLINE_MAX);
		return -EINVAL;
	}
	if (config_validate_devices(cfg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->balloon.enabled && cfg->balloon.amount_mib > cfg->mem_mib) {
		snprintf(err, errlen,
		         "the balloon's target, %u MiB, is more than the guest's %" PRIu64 " MiB",
		         cfg->balloon.amount_mib, cfg->mem_mib);
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
		if (!cfg->initrd_path[0]) {
			snprintf(err, errlen,
			         "a guest command needs an initrd whose init runs it "
			         "(the default guest's, or --initrd FILE)");
			return -EINVAL;
		}
	}
	return 0;
}
