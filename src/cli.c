/* Parsing the `run` command line into a vm_config, and that into the controller's
 * settings and commands. */
#include "cli.h"
#include "api/api.h"

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
	    "                 [--drive path=FILE[,ro][,root][,id=NAME][,engine=E]]...\n"
	    "                 [--net tap=NAME[,mac=MAC][,mtu=N][,id=NAME]]...\n"
	    "                 [--vsock cid=N,uds=PATH] [--no-rng] [--no-seccomp]\n"
	    "                 [-- COMMAND [ARG...]]\n"
	    "       ember --api-sock PATH [--config-file FILE] [--no-api] [--id ID]\n"
	    "             [--http-api-max-payload-size BYTES] [--log-path FILE] [--level L]\n"
	    "             [--show-level] [--metrics-path FILE] [--no-seccomp]\n"
	    "       ember doctor\n"
	    "       ember seccomp-report\n"
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
	    "         --drive path=FILE[,ro][,root][,id=NAME][,engine=auto|io_uring|sync]\n"
	    "                           a virtio-blk disk (raw file or block device), up to %d;\n"
	    "                           ro: read-only; root: the guest's root file system\n"
	    "                           (/dev/vda, root=/dev/vda is added to the command line)\n"
	    "         --net tap=NAME[,mac=MAC][,mtu=N][,id=NAME]\n"
	    "                           a virtio-net interface on an existing tap device, up to "
	    "%d\n"
	    "         --vsock cid=N,uds=PATH  virtio-vsock with guest CID N (3 or more); host\n"
	    "                           programs connect to PATH and send \"CONNECT <port>\\n\";\n"
	    "                           guest connections to port P go to PATH_P\n"
	    "         --no-rng          no virtio-rng entropy device (there is one by default)\n"
	    "         --no-seccomp      run without the seccomp filters (debugging only: the\n"
	    "                           guest is then not contained)\n"
	    "         -- COMMAND ARG... what the default guest's init runs\n"
	    "         The guest's serial console is on stdin/stdout; Ctrl-A x quits.\n"
	    "--api-sock  serve Firecracker's REST API on the Unix socket PATH and boot on\n"
	    "         InstanceStart; --config-file boots at once from a JSON file shaped like\n"
	    "         GET /vm/config (with --no-api, without the socket)\n"
	    "doctor   describe this host's KVM and which guests can run here\n"
	    "seccomp-report  the system calls each thread may make once locked down\n"
	    "\n"
	    "Exit status: the guest command's status (or 0) when the guest powers off, 0 when\n"
	    "it resets, 1 when it faults or panics, 2 for bad arguments or setup failures,\n"
	    "3 when a thread made a system call its seccomp filter forbids, 128+N after\n"
	    "signal N.\n",
	    CONFIG_DEFAULT_MEM_MIB, CONFIG_MAX_VCPUS, CONFIG_DEFAULT_CMDLINE, CONFIG_MAX_DRIVES,
	    CONFIG_MAX_NETS);
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

/* Split the next "key=value" or "flag" item off a comma-separated option value (which is
 * modified in place). Returns false at the end. */
static bool next_item(char **cursor, char **key, char **value)
{
	if (!*cursor)
		return false;
	char *item = *cursor;
	char *comma = strchr(item, ',');
	if (comma) {
		*comma = 0;
		*cursor = comma + 1;
	} else {
		*cursor = NULL;
	}
	char *eq = strchr(item, '=');
	if (eq)
		*eq = 0;
	*key = item;
	*value = eq ? eq + 1 : NULL;
	return true;
}

#define OPT_FAIL(...)                                                                              \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EINVAL;                                                                    \
	} while (0)

/* Copy an option's value into a configuration string, or say it is too long. */
#define SET_OR_FAIL(field, value, ...)                                                             \
	do {                                                                                       \
		if (CONFIG_SET(field, value) < 0)                                                  \
			OPT_FAIL(__VA_ARGS__);                                                     \
	} while (0)

static int parse_drive(char *spec, struct vm_config *cfg, char *err, size_t errlen)
{
	char *key, *value;
	if (cfg->ndrives == CONFIG_MAX_DRIVES)
		OPT_FAIL("at most %d --drive options", CONFIG_MAX_DRIVES);
	struct drive_config *d = &cfg->drives[cfg->ndrives];
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "drive%u", cfg->ndrives);
	while (next_item(&spec, &key, &value)) {
		bool flag = !value;
		if (!strcmp(key, "path") && value) {
			SET_OR_FAIL(d->path, value, "--drive path= is %zu bytes; at most %zu",
			            strlen(value), sizeof(d->path) - 1);
		} else if (!strcmp(key, "id") && value) {
			SET_OR_FAIL(d->id, value,
			            "drive id '%s' must be 1 to %d letters, digits, '_' or '-'",
			            value, CONFIG_ID_MAX);
		} else if (!strcmp(key, "ro") && flag) {
			d->read_only = true;
		} else if (!strcmp(key, "root") && flag) {
			d->is_root = true;
		} else if (!strcmp(key, "engine") && value) {
			if (!strcmp(value, "auto"))
				d->engine = DRIVE_ENGINE_AUTO;
			else if (!strcmp(value, "io_uring"))
				d->engine = DRIVE_ENGINE_IO_URING;
			else if (!strcmp(value, "sync"))
				d->engine = DRIVE_ENGINE_SYNC;
			else
				OPT_FAIL("--drive engine= takes auto, io_uring or sync, not '%s'",
				         value);
		} else {
			OPT_FAIL("--drive: unknown item '%s%s' (path=FILE, ro, root, id=NAME, "
			         "engine=E)",
			         key, value ? "=..." : "");
		}
	}
	if (!d->path[0])
		OPT_FAIL("--drive needs path=FILE");
	cfg->ndrives++;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	                              &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static int parse_net(char *spec, struct vm_config *cfg, char *err, size_t errlen)
{
	char *key, *value;
	uint64_t v;
	if (cfg->nnets == CONFIG_MAX_NETS)
		OPT_FAIL("at most %d --net options", CONFIG_MAX_NETS);
	struct net_config *n = &cfg->nets[cfg->nnets];
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "net%u", cfg->nnets);
	while (next_item(&spec, &key, &value)) {
		if (!value)
			OPT_FAIL("--net: unknown item '%s' (tap=NAME, mac=MAC, mtu=N, id=NAME)",
			         key);
		if (!strcmp(key, "tap")) {
			SET_OR_FAIL(n->tap, value,
			            "tap name '%s' must be 1 to %d bytes without '/'", value,
			            CONFIG_TAP_MAX - 1);
		} else if (!strcmp(key, "id")) {
			SET_OR_FAIL(
			    n->id, value,
			    "network interface id '%s' must be 1 to %d letters, digits, '_' "
			    "or '-'",
			    value, CONFIG_ID_MAX);
		} else if (!strcmp(key, "mac")) {
			if (parse_mac(value, n->mac) < 0)
				OPT_FAIL("--net mac= takes six hex bytes like 06:00:ac:10:00:02, "
				         "not '%s'",
				         value);
			if (n->mac[0] & 1)
				OPT_FAIL("--net mac=%s is a multicast address", value);
			n->has_mac = true;
		} else if (!strcmp(key, "mtu")) {
			if (parse_u64(value, 65535, &v) < 0 || v < 68)
				OPT_FAIL("--net mtu= takes a number from 68 to 65535, not '%s'",
				         value);
			n->mtu = (unsigned)v;
		} else {
			OPT_FAIL("--net: unknown item '%s=...' (tap=NAME, mac=MAC, mtu=N, id=NAME)",
			         key);
		}
	}
	if (!n->tap[0])
		OPT_FAIL("--net needs tap=NAME");
	cfg->nnets++;
	return 0;
}

static int parse_vsock(char *spec, struct vm_config *cfg, char *err, size_t errlen)
{
	char *key, *value;
	uint64_t v;
	struct vsock_config *vs = &cfg->vsock;
	if (vs->enabled)
		OPT_FAIL("only one --vsock");
	while (next_item(&spec, &key, &value)) {
		if (value && !strcmp(key, "cid")) {
			if (parse_u64(value, UINT32_MAX - 1, &v) < 0 || v < 3)
				OPT_FAIL("--vsock cid= takes a number from 3 to %u, not '%s'",
				         UINT32_MAX - 1, value);
			vs->guest_cid = (uint32_t)v;
		} else if (value && !strcmp(key, "uds")) {
			SET_OR_FAIL(vs->uds_path, value, "vsock uds path must be 1 to %d bytes",
			            CONFIG_UDS_PATH_MAX);
		} else {
			OPT_FAIL("--vsock: unknown item '%s' (cid=N, uds=PATH)", key);
		}
	}
	if (!vs->guest_cid || !vs->uds_path[0])
		OPT_FAIL("--vsock needs cid=N and uds=PATH");
	vs->enabled = true;
	return 0;
}

static int too_long(char *err, size_t errlen, const char *opt, const char *value)
{
	snprintf(err, errlen, "%s: the path is %zu bytes; at most %d", opt, strlen(value),
	         CONFIG_PATH_MAX - 1);
	return -EINVAL;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, 'k'},
	    {"mem", required_argument, NULL, 'm'},
	    {"vcpus", required_argument, NULL, 'c'},
	    {"cmdline", required_argument, NULL, 'l'},
	    {"stats", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"initrd", required_argument, NULL, 'i'},
	    {"append", required_argument, NULL, 'a'},
	    {"boot", required_argument, NULL, 'b'},
	    {"drive", required_argument, NULL, 'd'},
	    {"net", required_argument, NULL, 'n'},
	    {"vsock", required_argument, NULL, 'v'},
	    {"no-rng", no_argument, NULL, 'R'},
	    {"no-seccomp", no_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmdline = CONFIG_DEFAULT_CMDLINE, *append = "";
	uint64_t v;
	int c;

	config_defaults(cfg);
	cfg->entropy = true; /* the CLI's default; the API's (Firecracker's) is none */
	optind = 0;          /* 0, not 1: also resets glibc's state inside a short-option cluster */
	opterr = 0;
	/* "+": stop at the first word that is not an option, so nothing after it is taken
	 * for one of ours; the guest command itself must follow "--". */
	int value_at = -1; /* where the last option's value was, so "--cmdline --" is a value */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		value_at = optarg && optarg == argv[optind - 1] ? optind - 1 : -1;
		switch (c) {
		case 'k':
			if (CONFIG_SET(cfg->kernel_path, optarg) < 0)
				return too_long(err, errlen, "--kernel", optarg);
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
			cmdline = optarg;
			break;
		case 's':
			cfg->print_stats = true;
			break;
		case 'i':
			if (CONFIG_SET(cfg->initrd_path, optarg) < 0)
				return too_long(err, errlen, "--initrd", optarg);
			break;
		case 'a':
			append = optarg;
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
		case 'd':
			if (parse_drive(optarg, cfg, err, errlen) < 0)
				return -EINVAL;
			break;
		case 'n':
			if (parse_net(optarg, cfg, err, errlen) < 0)
				return -EINVAL;
			break;
		case 'v':
			if (parse_vsock(optarg, cfg, err, errlen) < 0)
				return -EINVAL;
			break;
		case 'R':
			cfg->entropy = false;
			break;
		case 'S':
			cfg->no_seccomp = true;
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
	/* The whole line's limit, with config_validate's words; each part then fits. */
	size_t cl = strlen(cmdline) + (append[0] ? 1 + strlen(append) : 0);
	if (cl > CONFIG_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes; the limit is %d", cl,
		         CONFIG_CMDLINE_MAX);
		return -EINVAL;
	}
	CONFIG_SET(cfg->cmdline, cmdline);
	CONFIG_SET(cfg->append, append);
	if (optind < argc) {
		/* Borrowed: argv lives as long as the process. */
		cfg->cmd_argv = &argv[optind];
		cfg->cmd_argc = (unsigned)(argc - optind);
	}
	return 0;
}

void cli_settings(const struct vm_config *cfg, uint64_t host_mem_mib, struct ctl_settings *set)
{
	*set = (struct ctl_settings){
	    .id = "anonymous-instance",
	    .host_mem_mib = host_mem_mib,
	    .no_seccomp = cfg->no_seccomp,
	    .op_name = api_op_name,
	    .boot = cfg->boot,
	    .cmd_argv = cfg->cmd_argv,
	    .cmd_argc = cfg->cmd_argc,
	    .cmd_tty = cfg->cmd_tty,
	    .print_stats = cfg->print_stats,
	};
	CONFIG_SET(set->append, cfg->append);
}

int cli_commands(const struct vm_config *cfg, struct ctl *c, char *err, size_t errlen)
{
	static struct ctl_cmd cmd; /* some 12 KiB: the vmm thread's, reused */

#define RUN(op_)                                                                                   \
	do {                                                                                       \
		cmd.op = (op_);                                                                    \
		if (api_command(c, &cmd, err, errlen) < 0)                                         \
			return -EINVAL;                                                            \
		memset(&cmd, 0, sizeof(cmd));                                                      \
	} while (0)

	/* In a config file's order: the machine, the boot source, then the devices. The
	 * configuration was checked whole (config_validate), so each command succeeds. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.u.machine = (struct ctl_machine_config){.has_vcpu_count = true,
	                                            .has_mem_size_mib = true,
	                                            .vcpu_count = cfg->vcpus,
	                                            .mem_size_mib = cfg->mem_mib};
	RUN(CTL_PUT_MACHINE_CONFIG);

	struct ctl_boot_source *b = &cmd.u.boot;
	CONFIG_SET(b->kernel_image_path, cfg->kernel_path);
	b->has_initrd_path = cfg->initrd_path[0] != '\0';
	CONFIG_SET(b->initrd_path, cfg->initrd_path);
	b->has_boot_args = true;
	CONFIG_SET(b->boot_args, cfg->cmdline);
	RUN(CTL_PUT_BOOT_SOURCE);

	for (unsigned i = 0; i < cfg->ndrives; i++) {
		const struct drive_config *dc = &cfg->drives[i];
		struct ctl_drive *d = &cmd.u.drive;
		CONFIG_SET(d->drive_id, dc->id);
		CONFIG_SET(d->path_on_host, dc->path);
		d->has_path_on_host = d->has_is_root_device = d->has_is_read_only = true;
		d->is_root_device = dc->is_root;
		d->is_read_only = dc->read_only;
		d->has_io_engine = dc->engine != DRIVE_ENGINE_AUTO;
		d->io_engine = dc->engine;
		RUN(CTL_PUT_DRIVE);
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		const struct net_config *nc = &cfg->nets[i];
		struct ctl_net *n = &cmd.u.net;
		CONFIG_SET(n->iface_id, nc->id);
		CONFIG_SET(n->host_dev_name, nc->tap);
		n->has_guest_mac = nc->has_mac;
		memcpy(n->guest_mac, nc->mac, sizeof(n->guest_mac));
		n->mtu = nc->mtu;
		RUN(CTL_PUT_NET);
	}
	if (cfg->vsock.enabled) {
		cmd.u.vsock.guest_cid = cfg->vsock.guest_cid;
		CONFIG_SET(cmd.u.vsock.uds_path, cfg->vsock.uds_path);
		RUN(CTL_PUT_VSOCK);
	}
	if (cfg->entropy)
		RUN(CTL_PUT_ENTROPY);
#undef RUN
	return 0;
}
