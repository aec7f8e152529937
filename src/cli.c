/* Parsing the `run` command line into a vm_config. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(void)
{
	printf(
	    "usage: ember run [--kernel FILE] [--initrd FILE] [--boot auto|linux|pvh] [--mem MiB]\n"
	    "                 [--vcpus N] [--cmdline STRING] [--append STRING] [--stats]\n"
	    "                 [-- COMMAND [ARG...]]\n"
	    "       ember doctor\n"
	    "       ember --version\n"
	    "\n"
	    "run      boot a microVM; with no --kernel, the default guest (a Debian kernel and\n"
	    "         Ember's initramfs) runs COMMAND, or a shell, and exits with its status\n"
	    "         --kernel FILE     a vmlinux or other 64-bit ELF, or a bzImage\n"
	    "         --initrd FILE     an initramfs for the kernel\n"
	    "         --boot MODE       the kernel entry: auto (default), linux (64-bit boot\n"
	    "                           protocol) or pvh (the ELF's Xen PVH note)\n"
	    "         --mem MiB         guest memory, default %d\n"
	    "         --vcpus N         virtual CPUs, 1 to %d, default 1\n"
	    "         --cmdline STRING  the kernel command line, replacing the default\n"
	    "                           \"%s\"\n"
	    "         --append STRING   words added to the kernel command line\n"
	    "         --stats           at exit, print peak RSS and guest RAM touched\n"
	    "         -- COMMAND ARG... what the default guest's init runs\n"
	    "         The guest's serial console is on stdin/stdout; Ctrl-A x quits.\n"
	    "doctor   describe this host's KVM and which guests can run here\n"
	    "\n"
	    "Exit status: the guest command's status (or 0) when the guest powers off, 0 when\n"
	    "it resets, 1 when it faults or panics, 2 for bad arguments or setup failures,\n"
	    "128+N after signal N.\n",
	    CONFIG_DEFAULT_MEM_MIB, CONFIG_MAX_VCPUS, CONFIG_DEFAULT_CMDLINE);
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
	    {"initrd", required_argument, NULL, 'i'}, {"append", required_argument, NULL, 'a'},
	    {"boot", required_argument, NULL, 'b'},   {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	config_defaults(cfg);
	optind = 0; /* 0, not 1: also resets glibc's state inside a short-option cluster */
	opterr = 0;
	/* "+": stop at the first word that is not an option, so nothing after it is taken
	 * for one of ours; the guest command itself must follow "--". */
	int value_at = -1; /* where the last option's value was, so "--cmdline --" is a value */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		value_at = optarg && optarg == argv[optind - 1] ? optind - 1 : -1;
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
				snprintf(err, errlen, "--vcpus takes a whole number, not '%s'",
				         optarg);
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
		case 'i':
			cfg->initrd_path = optarg;
			break;
		case 'a':
			cfg->append = optarg;
			break;
		case 'b':
			if (!strcmp(optarg, "auto")) {
				cfg->boot = BOOT_REQUEST_AUTO;
			} else if (!strcmp(optarg, "linux")) {
				cfg->boot = BOOT_REQUEST_LINUX64;
			} else if (!strcmp(optarg, "pvh")) {
				cfg->boot = BOOT_REQUEST_PVH;
			} else {
				snprintf(err, errlen, "--boot takes auto, linux or pvh, not '%s'",
				         optarg);
				return -EINVAL;
			}
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
	bool ended_by_mark =
	    optind > 1 && optind - 1 != value_at && !strcmp(argv[optind - 1], "--");
	if (optind < argc && !ended_by_mark) {
		snprintf(err, errlen,
		         "unexpected argument '%s' (a command for the guest goes after '--')",
		         argv[optind]);
		return -EINVAL;
	}
	if (optind < argc) {
		cfg->cmd_argv = &argv[optind];
		cfg->cmd_argc = (unsigned)(argc - optind);
	}
	return 0;
}
