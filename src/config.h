/*
 * The configuration of one microVM. The command line fills it today; the API and the
 * config file (later) fill the same struct, so every flag is a field here.
 */
#ifndef EMBER_CONFIG_H
#define EMBER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_MEM_MIB 128
#define CONFIG_MAX_VCPUS       32
#define CONFIG_CMDLINE_MAX     4095 /* bytes, without the NUL; the kernel may allow less */

struct vm_config {
	const char *kernel_path;
	const char *cmdline;
	uint64_t mem_mib;
	unsigned vcpus;
	bool print_stats; /* at exit, report memory use on stderr */
};

/* Fill *cfg with the defaults (128 MiB, 1 vCPU, empty command line, no kernel). */
void config_defaults(struct vm_config *cfg);

/*
 * Check *cfg against the limits that do not depend on the kernel image: a kernel is
 * named, 1 <= vcpus <= CONFIG_MAX_VCPUS, 1 <= mem_mib <= host_mem_mib, the command line
 * fits. On error returns -EINVAL and writes a message a person can act on into err.
 */
int config_validate(const struct vm_config *cfg, uint64_t host_mem_mib, char *err, size_t errlen);

#endif
