/* Parsing the `run` command line into a vm_config. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(void)
{
	printf("usage: ember run --kernel FILE [--mem MiB] [--vcpus N] [--cmdline STRING] [--stats]\n"
	       "       ember doctor\n"
	       "       ember --version\n"
	       "\n"
	       "run      boot a microVM from a 64-bit ELF kernel (Linux 64-bit boot protocol)\n"
	       "         --kernel FILE     the kernel or freestanding guest to boot\n"
	       "         --mem MiB         guest memory, default %d\n"
	       "         --vcpus N         virtual CPUs, 1 to %d, default 1\n"
	       "         --cmdline STRING  the kernel command line\n"
	       "         --stats           at exit, print peak RSS and guest RAM touched\n"
	       "         The guest's serial console is on stdin/stdout; Ctrl-A x quits.\n"
	       "doctor   describe this host's KVM and which guests can run here\n"
	       "\n"
	       "Exit status: 0 when the guest resets or powers off, 1 when it faults,\n"
	       "2 for bad arguments or setup failures, 128+N after signal N.\n",
	       CONFIG_DEFAULT_MEM_MIB, CONFIG_MAX_VCPUS);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{"kernel", required_argument, NULL, 'k'}, {"mem", required_argument, NULL, 'm'},
		{"vcpus", required_argument, NULL, 'c'},  {"cmdline", required_argument, NULL, 'l'},
		{"stats", no_argument, NULL, 's'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	config_defaults(cfg);
	optind = 0; /* 0, not 1: also resets glibc's state inside a short-option cluster */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			cfg->kernel_path = optarg;
			break;
		case 'm':
			/* The upper bound only keeps mem_mib << 20 from overflowing; the host's
			 * own size is checked in config_validate. */
			if (parse_u64(optarg, UINT64_MAX >> 21, &v) < 0) {
				snprintf(err, errlen, "--mem takes a whole number of MiB, not '%s'",
					 optarg);
				return -EINVAL;
			}
			cfg->mem_mib = v;
			break;
		case 'c':
			if (parse_u64(optarg, 1u << 20, &v) < 0) {
				snprintf(err, errlen, "--vcpus takes a whole number, not '%s'", optarg);
				return -EINVAL;
			}
			cfg->vcpus = (unsigned)v;
			break;
		case 'l':
			cfg->cmdline = optarg;
			break;
		case 's':
			cfg->print_stats = true;
			break;
		case 'h':
			cli_usage();
			return 1;
		case ':':
			snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s' (see 'ember --help')",
				 argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see 'ember --help')", argv[optind]);
		return -EINVAL;
	}
	return 0;
}
