/* Parsing the `run` command line into a vm_config, and that into the controller's
 * settings and commands. */
#include "cli.h"
#include "api/api.h"
#include "api/server.h"
#include "vmm/controller.h"
#include "base/log.h"
#include "base/start_trace.h"

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
	    "                 [--drive "
	    "path=FILE[,ro][,root][,id=NAME][,engine=E][,cache=C][,bw=B][,iops=N]]...\n"
	    "                 [--net tap=NAME[,mac=MAC][,mtu=N][,id=NAME][,rx_bw=B][,tx_bw=B]]...\n"
	    "                 [--vsock cid=N,uds=PATH] [--no-rng] [--no-seccomp] [--warm]\n"
	    "                 [-- COMMAND [ARG...]]\n"
	    "       ember --api-sock PATH [--config-file FILE] [--no-api] [--id ID]\n"
	    "             [--http-api-max-payload-size BYTES] [--log-path FILE] [--level L]\n"
	    "             [--show-level] [--show-log-origin] [--module M] [--metrics-path FILE]\n"
	    "             [--boot-timer] [--seccomp-filter FILE | --no-seccomp]\n"
	    "             [--start-time-us T] [--start-time-cpu-us C] [--parent-cpu-time-us P]\n"
	    "       ember   (no arguments: the API on " CLI_DEFAULT_SOCKET ")\n"
	    "       ember restore [--net-override ID=TAP]... [--vsock-uds PATH] "
	    "[--clock-realtime]\n"
	    "                 [--vcpus N] [--stats] [--no-seccomp] [--snapshot-to STATE,MEM]\n"
	    "                 STATE MEM\n"
	    "       ember --describe-snapshot STATE\n"
	    "       ember snapshot-merge BASE_MEM DIFF_MEM\n"
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
	    "         --trace-start     at exit, print when each phase of the start was reached\n"
	    "         --drive path=FILE[,ro][,root][,id=NAME][,engine=auto|io_uring|sync]\n"
	    "                 [,cache=writeback|unsafe]\n"
	    "                           a virtio-blk disk (raw file or block device), up to %d;\n"
	    "                           ro: read-only; root: the guest's root file system\n"
	    "                           (/dev/vda, root=/dev/vda is added to the command line);\n"
	    "                           cache: a guest's flush syncs the file (writeback, the\n"
	    "                           default) or no flush is offered (unsafe)\n"
	    "                           bw=B, iops=N: at most B bytes, N requests a second\n"
	    "         --net tap=NAME[,mac=MAC][,mtu=N][,id=NAME]\n"
	    "                           a virtio-net interface on an existing tap device, up to "
	    "%d;\n"
	    "                           rx_bw=B, tx_bw=B: at most B bytes a second each way\n"
	    "         --vsock cid=N,uds=PATH  virtio-vsock with guest CID N (3 or more); host\n"
	    "                           programs connect to PATH and send \"CONNECT <port>\\n\";\n"
	    "                           guest connections to port P go to PATH_P\n"
	    "         --no-rng          no virtio-rng entropy device (there is one by default)\n"
	    "         --no-seccomp      run without the seccomp filters (debugging only: the\n"
	    "                           guest is then not contained)\n"
	    "         --snapshot-to STATE,MEM  on SIGUSR2 (kill -USR2 PID), pause the guest,\n"
	    "                           write a snapshot into the two files and exit 0\n"
	    "         --warm            restore the default guest from a snapshot taken when\n"
	    "                           its init was ready (built on first use, cached per\n"
	    "                           Ember, kernel, initrd, command line, --mem, --vcpus in\n"
	    "                           $XDG_CACHE_HOME/ember or ~/.cache/ember) and hand it\n"
	    "                           COMMAND: as a cold run, only faster; not with --kernel,\n"
	    "                           --initrd, --drive, --net, --vsock or --snapshot-to\n"
	    "         -- COMMAND ARG... what the default guest's init runs\n"
	    "         The guest's serial console is on stdin/stdout; Ctrl-A x quits.\n"
	    "--api-sock  serve Firecracker's REST API on the Unix socket PATH (with no arguments\n"
	    "         at all: " CLI_DEFAULT_SOCKET ") and boot on\n"
	    "         InstanceStart; --config-file boots at once from a JSON file shaped like\n"
	    "         GET /vm/config (with --no-api, without the socket)\n"
	    "restore  run the microVM of a snapshot (STATE and MEM, from --snapshot-to or\n"
	    "         PUT /snapshot/create) in this process, until it ends; a snapshot from\n"
	    "         another Ember or CPU, or a damaged one, is refused with status 2\n"
	    "         --net-override ID=TAP   interface ID uses tap TAP now\n"
	    "         --vsock-uds PATH        the vsock device's socket is PATH now\n"
	    "         --clock-realtime        the guest's clock jumps by the time since the\n"
	    "                                 snapshot (else it goes on from then)\n"
	    "--describe-snapshot  the Ember version, CPU and machine of a state file\n"
	    "snapshot-merge  write a Diff snapshot's memory file onto its base's, in place\n"
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

/* A per-second limit item ("bw=10485760"): a bucket of N tokens refilled every second, so
 * the rate is N a second with at most one second's worth at once. 0 is no limit. */
static int parse_rate(const char *value, struct token_bucket_config *tb)
{
	uint64_t v;
	if (!value || parse_u64(value, RL_MAX_TOKENS, &v) < 0)
		return -EINVAL;
	*tb = (struct token_bucket_config){.size = v, .refill_time_ms = v ? 1000 : 0};
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
			SET_OR_FAIL(d->id, value, "drive id '%s' must be 1 to %d " CONFIG_ID_RULE,
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
		} else if (!strcmp(key, "cache") && value) {
			if (!strcmp(value, "writeback"))
				d->cache = DRIVE_CACHE_WRITEBACK;
			else if (!strcmp(value, "unsafe"))
				d->cache = DRIVE_CACHE_UNSAFE;
			else
				OPT_FAIL("--drive cache= takes writeback or unsafe, not '%s'",
				         value);
		} else if (!strcmp(key, "bw") || !strcmp(key, "iops")) {
			bool bw = key[0] == 'b';
			if (parse_rate(value,
			               bw ? &d->rate_limiter.bandwidth : &d->rate_limiter.ops) < 0)
				OPT_FAIL("--drive %s= takes a number of %s a second, not '%s'", key,
				         bw ? "bytes" : "requests", value ? value : "");
		} else {
			OPT_FAIL("--drive: unknown item '%s%s' (path=FILE, ro, root, id=NAME, "
			         "engine=E, cache=C, bw=BYTES, iops=N)",
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
			OPT_FAIL("--net: unknown item '%s' (tap=NAME, mac=MAC, mtu=N, id=NAME, "
			         "rx_bw=BYTES, tx_bw=BYTES)",
			         key);
		if (!strcmp(key, "tap")) {
			SET_OR_FAIL(n->tap, value,
			            "tap name '%s' must be 1 to %d bytes without '/'", value,
			            CONFIG_TAP_MAX - 1);
		} else if (!strcmp(key, "id")) {
			SET_OR_FAIL(n->id, value,
			            "network interface id '%s' must be 1 to %d " CONFIG_ID_RULE,
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
		} else if (!strcmp(key, "rx_bw") || !strcmp(key, "tx_bw")) {
			bool rx = key[0] == 'r';
			if (parse_rate(value, rx ? &n->rx_rate_limiter.bandwidth
			                         : &n->tx_rate_limiter.bandwidth) < 0)
				OPT_FAIL("--net %s= takes a number of bytes a second, not '%s'",
				         key, value);
		} else {
			OPT_FAIL("--net: unknown item '%s=...' (tap=NAME, mac=MAC, mtu=N, id=NAME, "
			         "rx_bw=BYTES, tx_bw=BYTES)",
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

/* ---- one option table for both ways of running ---- */

/* What a parse fills: the run's configuration, or the API mode's options. */
struct parse_state {
	struct vm_config *cfg;          /* CLI_RUN */
	struct cli_api_opts *api;       /* CLI_API */
	struct ctl_snapshot_load *load; /* CLI_RESTORE */
	const char *cmdline, *append;   /* ember run: checked whole at the end */
};

typedef int (*apply_fn)(struct parse_state *p, char *arg, char *err, size_t errlen);

#define FAIL_WITH(...)                                                                             \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EINVAL;                                                                    \
	} while (0)

static int opt_kernel(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return CONFIG_SET(p->cfg->kernel_path, arg) < 0 ? too_long(err, errlen, "--kernel", arg)
	                                                : 0;
}

static int opt_initrd(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return CONFIG_SET(p->cfg->initrd_path, arg) < 0 ? too_long(err, errlen, "--initrd", arg)
	                                                : 0;
}

static int opt_mem(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	uint64_t v;
	/* The upper bound only keeps mem_mib << 20 from overflowing; the host's own size is
	 * checked in config_validate. */
	if (parse_u64(arg, UINT64_MAX >> 21, &v) < 0)
		FAIL_WITH("--mem takes a whole number of MiB, not '%s'", arg);
	p->cfg->mem_mib = v;
	return 0;
}

static int opt_vcpus(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	uint64_t v;
	if (parse_u64(arg, 1u << 20, &v) < 0)
		FAIL_WITH("--vcpus takes a whole number, not '%s'", arg);
	p->cfg->vcpus = (unsigned)v;
	return 0;
}

static int opt_cmdline(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->cmdline = arg;
	return 0;
}

static int opt_append(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->append = arg;
	return 0;
}

static int opt_stats(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->cfg->print_stats = true;
	return 0;
}

static int opt_trace_start(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)p, (void)arg, (void)err, (void)errlen;
	start_trace_enable();
	return 0;
}

static int opt_boot(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	static const char *const names[] = {"auto", "linux", "pvh"};
	static const enum boot_request modes[] = {BOOT_REQUEST_AUTO, BOOT_REQUEST_LINUX64,
	                                          BOOT_REQUEST_PVH};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(arg, names[i])) {
			p->cfg->boot = modes[i];
			return 0;
		}
	FAIL_WITH("--boot takes auto, linux or pvh, not '%s'", arg);
}

static int opt_drive(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return parse_drive(arg, p->cfg, err, errlen);
}

static int opt_net(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return parse_net(arg, p->cfg, err, errlen);
}

static int opt_vsock(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return parse_vsock(arg, p->cfg, err, errlen);
}

static int opt_warm(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->cfg->warm = true;
	return 0;
}

static int opt_no_rng(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->cfg->entropy = false;
	return 0;
}

static int opt_no_seccomp(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	if (p->cfg)
		p->cfg->no_seccomp = true;
	if (p->api)
		p->api->no_seccomp = true;
	return 0;
}

static int opt_snapshot_to(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	char *comma = strchr(arg, ',');
	if (!comma || comma == arg || !comma[1] || strchr(comma + 1, ','))
		FAIL_WITH("--snapshot-to takes STATE,MEM: two files, not '%s'", arg);
	*comma = '\0';
	int r = CONFIG_SET(p->cfg->snapshot_state, arg) < 0 ||
	        CONFIG_SET(p->cfg->snapshot_mem, comma + 1) < 0;
	*comma = ',';
	if (r || !strcmp(p->cfg->snapshot_state, p->cfg->snapshot_mem))
		FAIL_WITH("--snapshot-to: two different paths of at most %d bytes, not '%s'",
		          CONFIG_PATH_MAX - 1, arg);
	return 0;
}

static int opt_net_override(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	struct ctl_snapshot_load *l = p->load;
	char *eq = strchr(arg, '=');
	if (l->nnets == CONFIG_MAX_NETS)
		FAIL_WITH("at most %d --net-override", CONFIG_MAX_NETS);
	if (!eq)
		FAIL_WITH("--net-override takes ID=TAP, not '%s'", arg);
	*eq = '\0';
	bool ok = config_id_ok(arg) && CONFIG_SET(l->nets[l->nnets].iface_id, arg) == 0 && eq[1] &&
	          !strchr(eq + 1, '/') && CONFIG_SET(l->nets[l->nnets].host_dev_name, eq + 1) == 0;
	*eq = '=';
	if (!ok)
		FAIL_WITH("--net-override takes ID=TAP (an interface id and a tap name of at most "
		          "%d bytes), not '%s'",
		          CONFIG_TAP_MAX - 1, arg);
	l->nnets++;
	return 0;
}

static int opt_vsock_uds(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	if (!arg[0] || CONFIG_SET(p->load->vsock_uds, arg) < 0)
		FAIL_WITH("--vsock-uds takes a path of 1 to %d bytes", CONFIG_UDS_PATH_MAX);
	p->load->has_vsock_uds = true;
	return 0;
}

static int opt_clock_realtime(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->load->clock_realtime = true;
	return 0;
}

static int opt_api_sock(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->api_sock = arg;
	return 0;
}

static int opt_config_file(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->config_file = arg;
	return 0;
}

static int opt_no_api(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->api->no_api = true;
	return 0;
}

static int opt_id(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->id = arg;
	return 0;
}

static int opt_max_payload(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	uint64_t v;
	if (parse_u64(arg, 1u << 30, &v) < 0 || v < 1024)
		FAIL_WITH("--http-api-max-payload-size takes a number of bytes from 1024 to %u, "
		          "not '%s'",
		          1u << 30, arg);
	p->api->max_payload = (size_t)v;
	return 0;
}

static int opt_mmds_size_limit(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	uint64_t v;
	if (parse_u64(arg, 1u << 30, &v) < 0 || v < 1)
		FAIL_WITH("--mmds-size-limit takes a number of bytes from 1 to %u, not '%s'",
		          1u << 30, arg);
	p->api->mmds_size_limit = (size_t)v;
	return 0;
}

static int opt_metadata(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->metadata = arg;
	return 0;
}

static int opt_log_path(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->log_path = arg;
	return 0;
}

static int opt_level(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	static const char *const names[] = {"off", "error", "warning", "info", "debug", "trace"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(arg, names[i])) {
			p->api->level = (enum log_level)i;
			p->api->level_set = true;
			return 0;
		}
	FAIL_WITH("--level takes Error, Warning, Info, Debug, Trace or Off, not '%s'", arg);
}

static int opt_show_level(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->api->show_level = true;
	return 0;
}

static int opt_metrics_path(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	p->api->metrics_path = arg;
	return 0;
}

static int opt_show_log_origin(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->api->show_log_origin = true;
	return 0;
}

static int opt_module(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	if (!log_module_ok(arg))
		FAIL_WITH("--module takes one of Ember's log modules (api, vmm, virtio, devices, "
		          "arch, base, acpi, seccomp, main, or one of their files as virtio/blk), "
		          "not '%s'",
		          arg);
	p->api->module = arg;
	return 0;
}

static int opt_boot_timer(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)arg, (void)err, (void)errlen;
	p->api->boot_timer = true;
	return 0;
}

static int opt_seccomp_filter(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	if (!arg[0])
		FAIL_WITH("--seccomp-filter takes a file");
	p->api->seccomp_filter = arg;
	return 0;
}

/* --start-time-us, --start-time-cpu-us, --parent-cpu-time-us: microseconds. */
static int time_us(const char *opt, const char *arg, uint64_t *out, char *err, size_t errlen)
{
	if (parse_u64(arg, UINT64_MAX, out) < 0)
		FAIL_WITH("%s takes a whole number of microseconds, not '%s'", opt, arg);
	return 0;
}

static int opt_start_time_us(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	p->api->has_start_time_us = true;
	return time_us("--start-time-us", arg, &p->api->start_time_us, err, errlen);
}

static int opt_start_time_cpu_us(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	p->api->has_start_time_cpu_us = true;
	return time_us("--start-time-cpu-us", arg, &p->api->start_time_cpu_us, err, errlen);
}

static int opt_parent_cpu_time_us(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	return time_us("--parent-cpu-time-us", arg, &p->api->parent_cpu_time_us, err, errlen);
}

static int opt_enable_pci(struct parse_state *p, char *arg, char *err, size_t errlen)
{
	(void)p, (void)arg;
	FAIL_WITH("--enable-pci: Ember has no PCI transport; its virtio devices are virtio-mmio, "
	          "Firecracker's default (leave the flag out)");
}

/* Every option of both ways of running: its name, whether it takes a value, the modes
 * that accept it, what it sets. --help (NULL apply) prints the mode's usage. */
static const struct cli_option {
	const char *name;
	int has_arg;
	unsigned modes;
	apply_fn apply;
} cli_options[] = {
    {"kernel", required_argument, CLI_RUN, opt_kernel},
    {"mem", required_argument, CLI_RUN, opt_mem},
    {"vcpus", required_argument, CLI_RUN | CLI_RESTORE, opt_vcpus},
    {"cmdline", required_argument, CLI_RUN, opt_cmdline},
    {"stats", no_argument, CLI_RUN | CLI_RESTORE, opt_stats},
    {"trace-start", no_argument, CLI_RUN | CLI_RESTORE, opt_trace_start},
    {"initrd", required_argument, CLI_RUN, opt_initrd},
    {"append", required_argument, CLI_RUN, opt_append},
    {"boot", required_argument, CLI_RUN, opt_boot},
    {"drive", required_argument, CLI_RUN, opt_drive},
    {"net", required_argument, CLI_RUN, opt_net},
    {"vsock", required_argument, CLI_RUN, opt_vsock},
    {"no-rng", no_argument, CLI_RUN, opt_no_rng},
    {"warm", no_argument, CLI_RUN, opt_warm},
    {"no-seccomp", no_argument, CLI_RUN | CLI_API | CLI_RESTORE, opt_no_seccomp},
    {"snapshot-to", required_argument, CLI_RUN | CLI_RESTORE, opt_snapshot_to},
    {"net-override", required_argument, CLI_RESTORE, opt_net_override},
    {"vsock-uds", required_argument, CLI_RESTORE, opt_vsock_uds},
    {"clock-realtime", no_argument, CLI_RESTORE, opt_clock_realtime},
    {"api-sock", required_argument, CLI_API, opt_api_sock},
    {"config-file", required_argument, CLI_API, opt_config_file},
    {"no-api", no_argument, CLI_API, opt_no_api},
    {"id", required_argument, CLI_API, opt_id},
    {"http-api-max-payload-size", required_argument, CLI_API, opt_max_payload},
    {"mmds-size-limit", required_argument, CLI_API, opt_mmds_size_limit},
    {"metadata", required_argument, CLI_API, opt_metadata},
    {"log-path", required_argument, CLI_API, opt_log_path},
    {"level", required_argument, CLI_API, opt_level},
    {"show-level", no_argument, CLI_API, opt_show_level},
    {"metrics-path", required_argument, CLI_API, opt_metrics_path},
    {"show-log-origin", no_argument, CLI_API, opt_show_log_origin},
    {"module", required_argument, CLI_API, opt_module},
    {"boot-timer", no_argument, CLI_API, opt_boot_timer},
    {"seccomp-filter", required_argument, CLI_API, opt_seccomp_filter},
    {"start-time-us", required_argument, CLI_API, opt_start_time_us},
    {"start-time-cpu-us", required_argument, CLI_API, opt_start_time_cpu_us},
    {"parent-cpu-time-us", required_argument, CLI_API, opt_parent_cpu_time_us},
    {"enable-pci", no_argument, CLI_API, opt_enable_pci},
    {"help", no_argument, CLI_RUN | CLI_API | CLI_RESTORE, NULL},
};

#define NOPTIONS (sizeof(cli_options) / sizeof(cli_options[0]))

bool cli_api_mode_wanted(const char *arg)
{
	if (strncmp(arg, "--", 2))
		return false;
	arg += 2;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct cli_option *o = &cli_options[i];
		size_t n = strlen(o->name);
		if ((o->modes & CLI_API) && o->apply && !strncmp(arg, o->name, n) &&
		    (arg[n] == 0 || arg[n] == '='))
			return true;
	}
	return false;
}

void cli_api_usage(void)
{
	printf(
	    "usage: ember [--api-sock PATH] [--config-file FILE] [--no-api] [--id ID]\n"
	    "             [--http-api-max-payload-size BYTES] [--log-path FILE]\n"
	    "             [--level Error|Warning|Info|Debug|Trace|Off] [--show-level]\n"
	    "             [--show-log-origin] [--module M] [--metrics-path FILE] [--boot-timer]\n"
	    "             [--mmds-size-limit BYTES] [--metadata FILE]\n"
	    "             [--seccomp-filter FILE | --no-seccomp] [--start-time-us T]\n"
	    "             [--start-time-cpu-us C] [--parent-cpu-time-us P] [--version]\n"
	    "\n"
	    "Firecracker's way: serve its REST API on the Unix socket PATH (default %s,\n"
	    "mode 0600) and boot the microVM on PUT /actions InstanceStart; or boot at once\n"
	    "from FILE (the JSON of GET /vm/config), with or without the API. The guest's\n"
	    "serial console is Ember's stdin and stdout; no guest command can be given.\n"
	    "\n"
	    "  --api-sock PATH      the API socket; refused if something answers there;\n"
	    "                       removed at exit\n"
	    "  --config-file FILE   boot at once from FILE (Firecracker's kebab-case sections:\n"
	    "                       boot-source, machine-config, drives, network-interfaces,\n"
	    "                       vsock, entropy, mmds-config, logger, metrics)\n"
	    "  --no-api             no API socket (needs --config-file)\n"
	    "  --id ID              the instance id (GET /, log lines), 1 to %d letters,\n"
	    "                       digits, '_' or '-'; default anonymous-instance\n"
	    "  --http-api-max-payload-size BYTES\n"
	    "                       the largest request body, default %d\n"
	    "  --mmds-size-limit BYTES\n"
	    "                       the largest MMDS data store (compact JSON), default\n"
	    "                       the request body's limit\n"
	    "  --metadata FILE      the MMDS data store's first contents (a JSON object)\n"
	    "  --log-path FILE      also log to FILE (a file or a named pipe)\n"
	    "  --level L            log level: Error, Warning, Info (default), Debug, Trace\n"
	    "                       or Off; at Debug every request and its answer is logged\n"
	    "  --show-level         put the level in each log line\n"
	    "  --show-log-origin    put the source file and line in each log line\n"
	    "  --module M           log only module M's lines: api, vmm, virtio, devices,\n"
	    "                       arch, base, acpi, seccomp, main, or a file (virtio/blk)\n"
	    "  --metrics-path FILE  one JSON line of counters (Firecracker's layout, counts\n"
	    "                       since the last line) on FlushMetrics, every 60 s, at exit\n"
	    "  --boot-timer         log the guest's boot time when it writes 123 to the boot\n"
	    "                       timer (MMIO byte at 0xc0000000), as Firecracker's\n"
	    "  --seccomp-filter FILE  the threads' seccomp filters from FILE (BPF per thread\n"
	    "                       kind, the format in docs/SECCOMP.md) instead of Ember's\n"
	    "  --no-seccomp         no seccomp filters (debugging only)\n"
	    "  --start-time-us T, --start-time-cpu-us C, --parent-cpu-time-us P\n"
	    "                       when the process was started (CLOCK_MONOTONIC), its CPU\n"
	    "                       time then and its parent's (the jailer passes them): the\n"
	    "                       metrics' api_server startup times count from them\n"
	    "  --version            print the version, wherever it is on the line\n"
	    "With no arguments at all, Ember serves the API on %s, as Firecracker serves\n"
	    "on its default socket.\n",
	    CLI_DEFAULT_SOCKET, CONFIG_ID_MAX, API_DEFAULT_MAX_PAYLOAD, CLI_DEFAULT_SOCKET);
}

/* --help anywhere before "--" asks for help, also where an option wants a value
 * (`ember --api-sock --help`): it is never a sensible socket or file name. */
static bool help_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

/* The one getopt loop: the options of mode, each applied by its row. Returns 0 (optind is
 * the first argument not taken), 1 after --help (usage printed), or -EINVAL with a
 * message in err. */
static int parse(unsigned mode, int argc, char **argv, struct parse_state *p, int *value_at,
                 char *err, size_t errlen)
{
	struct option opts[NOPTIONS + 1];
	size_t n = 0;
	int c;

	for (size_t i = 0; i < NOPTIONS; i++)
		if (cli_options[i].modes & mode)
			opts[n++] =
			    (struct option){cli_options[i].name, cli_options[i].has_arg, NULL,
			                    cli_options[i].apply ? 256 + (int)i : 'h'};
	opts[n] = (struct option){NULL, 0, NULL, 0};
	if (help_asked(argc, argv)) {
		if (mode == CLI_RUN)
			cli_usage();
		else
			cli_api_usage();
		return 1;
	}
	optind = 0; /* 0, not 1: also resets glibc's state inside a short-option cluster */
	opterr = 0;
	*value_at = -1;
	/* ember run: "+", stop at the first word that is not an option, so nothing after it is
	 * taken for one of ours; the guest command itself must follow "--". */
	while ((c = getopt_long(argc, argv, mode == CLI_API ? ":h" : "+:h", opts, NULL)) != -1) {
		/* Where the last option's value was, so "--cmdline --" is a value. */
		*value_at = optarg && optarg == argv[optind - 1] ? optind - 1 : -1;
		if (c == 'h') {
			if (mode != CLI_API)
				cli_usage();
			else
				cli_api_usage();
			return 1;
		}
		if (c == ':')
			FAIL_WITH("%s needs a value", argv[optind - 1]);
		if (c < 256)
			FAIL_WITH("unknown option '%s' (see 'ember %s--help')", argv[optind - 1],
			          mode == CLI_API ? "--api-sock " : "");
		if (cli_options[c - 256].apply(p, optarg, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
	struct parse_state p = {.cfg = cfg, .cmdline = CONFIG_DEFAULT_CMDLINE, .append = ""};
	int value_at;

	config_defaults(cfg);
	cfg->entropy = true; /* the CLI's default; the API's (Firecracker's) is none */
	int r = parse(CLI_RUN, argc, argv, &p, &value_at, err, errlen);
	if (r)
		return r;
	bool ended_by_mark =
	    optind > 1 && optind - 1 != value_at && !strcmp(argv[optind - 1], "--");
	if (optind < argc && !ended_by_mark) {
		snprintf(err, errlen,
		         "unexpected argument '%s' (a command for the guest goes after '--')",
		         argv[optind]);
		return -EINVAL;
	}
	/* The whole line's limit, with config_validate's words; each part then fits. */
	size_t cl = strlen(p.cmdline) + (p.append[0] ? 1 + strlen(p.append) : 0);
	if (cl > CONFIG_CMDLINE_MAX) {
		snprintf(err, errlen, "the kernel command line is %zu bytes; the limit is %d", cl,
		         CONFIG_CMDLINE_MAX);
		return -EINVAL;
	}
	CONFIG_SET(cfg->cmdline, p.cmdline);
	CONFIG_SET(cfg->append, p.append);
	if (optind < argc) {
		/* Borrowed: argv lives as long as the process. */
		cfg->cmd_argv = &argv[optind];
		cfg->cmd_argc = (unsigned)(argc - optind);
	}
	return 0;
}

int cli_parse_api(int argc, char **argv, struct cli_api_opts *o, char *err, size_t errlen)
{
	struct parse_state p = {.api = o};
	int value_at;

	*o = (struct cli_api_opts){.api_sock = CLI_DEFAULT_SOCKET,
	                           .id = "anonymous-instance",
	                           .level = LOG_INFO,
	                           .max_payload = API_DEFAULT_MAX_PAYLOAD};
	int r = parse(CLI_API, argc, argv, &p, &value_at, err, errlen);
	if (r)
		return r;
	if (optind < argc)
		FAIL_WITH("unexpected argument '%s'", argv[optind]);
	if (!config_instance_id_ok(o->id))
		FAIL_WITH("--id must be 1 to %d letters, digits, '_' or '-'", CONFIG_ID_MAX);
	if (o->no_api && !o->config_file)
		FAIL_WITH("--no-api needs --config-file: nothing else could start the microVM");
	if (o->seccomp_filter && o->no_seccomp)
		FAIL_WITH("--seccomp-filter and --no-seccomp: one or the other");
	return 0;
}

bool cli_version_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--version"))
			return true;
	}
	return false;
}

int cli_take_jailer_words(int argc, char **argv, struct cli_api_opts *o, char *err, size_t errlen)
{
	static const char *const flags[] = {"--id", "--start-time-us", "--start-time-cpu-us",
	                                    "--parent-cpu-time-us"};
	int i = 1;
	for (;;) {
		unsigned f = 0;
		while (f < 4 && (i >= argc || strcmp(argv[i], flags[f])))
			f++;
		if (f == 4 || i + 1 >= argc)
			break;
		i += 2;
	}
	if (i == 1 || i >= argc || (strcmp(argv[i], "run") && strcmp(argv[i], "restore")))
		return 0;
	/* The same rows as the API mode's, for the same checks. */
	struct parse_state p = {.api = o};
	for (int k = 1; k < i; k += 2) {
		for (size_t r = 0; r < NOPTIONS; r++)
			if (!strcmp(argv[k] + 2, cli_options[r].name) &&
			    cli_options[r].apply(&p, argv[k + 1], err, errlen) < 0)
				return -EINVAL;
	}
	if (o->id && !config_instance_id_ok(o->id))
		FAIL_WITH("--id must be 1 to %d letters, digits, '_' or '-'", CONFIG_ID_MAX);
	return i - 1;
}

int cli_parse_restore(int argc, char **argv, struct vm_config *cfg, struct ctl_snapshot_load *load,
                      char *err, size_t errlen)
{
	struct parse_state p = {.cfg = cfg, .load = load};
	int value_at;

	config_defaults(cfg);
	cfg->vcpus = 0; /* as the snapshot's unless --vcpus */
	memset(load, 0, sizeof(*load));
	int r = parse(CLI_RESTORE, argc, argv, &p, &value_at, err, errlen);
	if (r)
		return r;
	if (argc - optind != 2)
		FAIL_WITH("restore takes a snapshot's two files: STATE MEM (see 'ember --help')");
	if (CONFIG_SET(load->snapshot_path, argv[optind]) < 0 ||
	    CONFIG_SET(load->mem_file_path, argv[optind + 1]) < 0)
		FAIL_WITH("restore: a path is longer than %d bytes", CONFIG_PATH_MAX - 1);
	load->vcpus = cfg->vcpus;
	load->resume_vm = true;
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
	    .cmd_init = cfg->cmd_init,
	    .print_stats = cfg->print_stats,
	    .snap_state_fd = -1,
	    .snap_mem_fd = -1,
	    .snap_state_path = cfg->snapshot_state,
	    .snap_mem_path = cfg->snapshot_mem,
	};
	CONFIG_SET(set->append, cfg->append);
}

/* A configuration's limiter as a PUT's RateLimiter: both buckets named (off ones too). */
static struct ctl_rate_limiter cli_rate_limiter(const struct rate_limiter_config *rl)
{
	return (struct ctl_rate_limiter){
	    .has = true, .has_bandwidth = true, .has_ops = true, .cfg = *rl};
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
	                                            .has_huge_pages = true,
	                                            .vcpu_count = cfg->vcpus,
	                                            .mem_size_mib = cfg->mem_mib,
	                                            .huge_pages = cfg->huge_pages};
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
		d->rate_limiter = cli_rate_limiter(&dc->rate_limiter);
		d->has_cache_type = true;
		d->cache_type = dc->cache;
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
		n->rx_rate_limiter = cli_rate_limiter(&nc->rx_rate_limiter);
		n->tx_rate_limiter = cli_rate_limiter(&nc->tx_rate_limiter);
		RUN(CTL_PUT_NET);
	}
	if (cfg->vsock.enabled) {
		cmd.u.vsock.guest_cid = cfg->vsock.guest_cid;
		CONFIG_SET(cmd.u.vsock.uds_path, cfg->vsock.uds_path);
		RUN(CTL_PUT_VSOCK);
	}
	if (cfg->entropy) {
		cmd.u.entropy.rate_limiter = cli_rate_limiter(&cfg->entropy_rate_limiter);
		RUN(CTL_PUT_ENTROPY);
	}
#undef RUN
	return 0;
}
