/*
 * The API mode: Firecracker's options, the API server on its thread, the config file;
 * each request or section a command for the controller, which runs on this (the vmm)
 * thread until the VM ends.
 */
#include "api_mode.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET  "/run/ember.socket"
#define CONFIG_FILE_MAX (1 << 20)

struct options {
	const char *api_sock;
	const char *config_file;
	const char *id;
	const char *log_path;
	const char *metrics_path;
	enum log_level level;
	bool show_level;
	bool no_api;
	bool no_seccomp;
	size_t max_payload;
};

static void usage(void)
{
	printf("usage: ember [--api-sock PATH] [--config-file FILE] [--no-api] [--id ID]\n"
	       "             [--http-api-max-payload-size BYTES] [--log-path FILE]\n"
	       "             [--level Error|Warning|Info|Debug|Trace|Off] [--show-level]\n"
	       "             [--metrics-path FILE] [--no-seccomp]\n"
	       "\n"
	       "Firecracker's way: serve its REST API on the Unix socket PATH (default %s,\n"
	       "mode 0600) and boot the microVM on PUT /actions InstanceStart; or boot at once\n"
	       "from FILE (the JSON of GET /vm/config), with or without the API.\n",
	       DEFAULT_SOCKET);
}

bool api_mode_wanted(const char *arg)
{
	static const char *const flags[] = {"--api-sock",
	                                    "--config-file",
	                                    "--no-api",
	                                    "--id",
	                                    "--http-api-max-payload-size",
	                                    "--log-path",
	                                    "--level",
	                                    "--show-level",
	                                    "--metrics-path",
	                                    "--no-seccomp"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		size_t n = strlen(flags[i]);
		if (!strncmp(arg, flags[i], n) && (arg[n] == 0 || arg[n] == '='))
			return true;
	}
	return false;
}

static int parse_level(const char *s, enum log_level *out)
{
	static const char *const names[] = {"off", "error", "warning", "info", "debug", "trace"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
	    {"api-sock", required_argument, NULL, 's'},
	    {"config-file", required_argument, NULL, 'c'},
	    {"no-api", no_argument, NULL, 'n'},
	    {"id", required_argument, NULL, 'i'},
	    {"http-api-max-payload-size", required_argument, NULL, 'p'},
	    {"log-path", required_argument, NULL, 'l'},
	    {"level", required_argument, NULL, 'L'},
	    {"show-level", no_argument, NULL, 'S'},
	    {"metrics-path", required_argument, NULL, 'm'},
	    {"no-seccomp", no_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	*o = (struct options){.api_sock = DEFAULT_SOCKET,
	                      .id = "anonymous-instance",
	                      .level = LOG_INFO,
	                      .max_payload = API_DEFAULT_MAX_PAYLOAD};
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		char *end;
		unsigned long long v;
		switch (c) {
		case 's':
			o->api_sock = optarg;
			break;
		case 'c':
			o->config_file = optarg;
			break;
		case 'n':
			o->no_api = true;
			break;
		case 'i':
			o->id = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || v < 1024 ||
			    v > (1u << 30)) {
				log_err(
				    "--http-api-max-payload-size takes a number of bytes from 1024 "
				    "to %u, not '%s'",
				    1u << 30, optarg);
				return -EINVAL;
			}
			o->max_payload = (size_t)v;
			break;
		case 'l':
			o->log_path = optarg;
			break;
		case 'L':
			if (parse_level(optarg, &o->level) < 0) {
				log_err("--level takes Error, Warning, Info, Debug, Trace or Off, "
				        "not '%s'",
				        optarg);
				return -EINVAL;
			}
			break;
		case 'S':
			o->show_level = true;
			break;
		case 'm':
			o->metrics_path = optarg;
			break;
		case 'N':
			o->no_seccomp = true;
			break;
		case 'h':
			usage();
			return 1;
		case ':':
			log_err("%s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			log_err("unknown option '%s' (see 'ember --api-sock --help')",
			        argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	size_t idlen = strlen(o->id);
	if (idlen < 1 || idlen > CONFIG_ID_MAX ||
	    strspn(o->id, "abcdefghijklmnopqrstuvwxyz"
	                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                  "0123456789_-") != idlen) {
		log_err("--id must be 1 to %d letters, digits, '_' or '-'", CONFIG_ID_MAX);
		return -EINVAL;
	}
	if (o->no_api && !o->config_file) {
		log_err("--no-api needs --config-file: nothing else could start the microVM");
		return -EINVAL;
	}
	return 0;
}

/* The handler on the API thread: parse, then hand over to the vmm thread. */
static void on_request(void *ctx, const struct api_http_request *req, struct ctl_reply *reply)
{
	static struct ctl_cmd cmd; /* the API thread is the only caller */
	if (api_parse(req->method, req->path, req->body, req->body_len, &cmd, reply) < 0)
		return;
	ctl_call(ctx, api_execute, &cmd, reply);
}

struct config_run {
	struct ctl *ctl;
	char *err;
	size_t errlen;
};

static int config_command(const struct ctl_cmd *cmd, void *ctx)
{
	struct config_run *run = ctx;
	return api_command(run->ctl, cmd, run->err, run->errlen);
}

static int load_config_file(struct ctl *ctl, const char *path, char *err, size_t errlen)
{
	static char text[CONFIG_FILE_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open config file '%s': %s", path, strerror(errno));
		return -errno;
	}
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(text) && (n = read(fd, text + len, sizeof(text) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "config file '%s' is larger than %d bytes", path,
		         CONFIG_FILE_MAX);
		return -EFBIG;
	}
	char why[1024] = "";
	struct config_run run = {ctl, why, sizeof(why)};
	int r = api_parse_config_file(text, len, config_command, &run, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "config file '%s': %s", path, why);
		return -EINVAL;
	}
	return 0;
}

static int open_for_append(const char *what, const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0)
		log_err("cannot open %s '%s': %s", what, path, strerror(errno));
	return fd;
}

int api_mode_main(int argc, char **argv, uint64_t host_mem_mib)
{
	static struct ctl ctl;
	struct api_server *server = NULL;
	struct ctl_settings set = {.host_mem_mib = host_mem_mib, .op_name = api_op_name};
	struct options o;
	char err[9000];
	int status;

	int r = parse_options(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : EXIT_USAGE;
	snprintf(set.id, sizeof(set.id), "%s", o.id);
	set.no_seccomp = o.no_seccomp;
	if (ctl_init(&ctl, &set, err, sizeof(err)) < 0) {
		log_err("%s", err);
		ctl_destroy(&ctl);
		return EXIT_USAGE;
	}
	/* jansson seeds its hashes from /dev/urandom on first use: now, before the API thread
	 * locks down (seccomp) and may open nothing. */
	json_object_seed(0);
	/* The socket first: clients may connect while the rest is set up (their requests
	 * wait in the channel until the vmm thread serves it), so "ready" comes sooner. */
	if (!o.no_api) {
		server =
		    api_server_start(o.api_sock, o.max_payload, on_request, &ctl, err, sizeof(err));
		if (!server) {
			log_err("%s", err);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (o.log_path) {
		int fd = open_for_append("log file", o.log_path);
		if (fd < 0) {
			status = EXIT_USAGE;
			goto out;
		}
		log_configure(fd, o.level, o.show_level, o.id);
		ctl.logger_set = true;
	}
	if (o.metrics_path &&
	    (ctl.metrics_fd = open_for_append("metrics file", o.metrics_path)) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (server)
		log_info("API server listening on %s", o.api_sock);
	if (o.config_file && load_config_file(&ctl, o.config_file, err, sizeof(err)) < 0) {
		log_err("%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	if (o.config_file) {
		static const struct ctl_cmd start = {.op = CTL_ACTION_INSTANCE_START};
		if (api_command(&ctl, &start, err, sizeof(err)) < 0) {
			log_err("config file '%s': %s", o.config_file, err);
			status = EXIT_USAGE;
			goto out;
		}
	}
	status = ctl_run(&ctl);
out:
	ctl_close(&ctl);
	if (server)
		api_server_stop(server);
	ctl_destroy(&ctl);
	return status;
}
