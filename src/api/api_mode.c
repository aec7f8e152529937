/*
 * The API mode's main loop: the API server on its thread, the vmm thread here. Before
 * InstanceStart the vmm thread waits for commands and signals; after, the VM's own loop
 * serves the commands too, until the guest ends.
 */
#include "api_mode.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../seccomp/seccomp.h"
#include "server.h"
#include "vmm_api.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define DEFAULT_SOCKET   "/run/ember.socket"
#define METRICS_PERIOD_S 60
#define CONFIG_FILE_MAX  (1 << 20)

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
static void on_request(void *ctx, const struct api_http_request *req, struct api_reply *reply)
{
	static struct api_cmd cmd; /* the API thread is the only caller */
	if (api_parse(req->method, req->path, req->body, req->body_len, &cmd, reply) < 0)
		return;
	api_channel_call(ctx, &cmd, reply);
}

/* A refusal's message for a log line: the fault_message of the reply's JSON body, or the
 * body itself should it not be that shape. */
static void reply_message(const struct api_reply *reply, char *out, size_t outlen)
{
	json_t *body = json_loadb(reply->body, reply->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(body, "fault_message"));
	if (msg)
		snprintf(out, outlen, "%s", msg);
	else
		snprintf(out, outlen, "%.*s", (int)reply->len, reply->body);
	json_decref(body);
}

struct config_run {
	struct vmm *vmm;
	char *err;
	size_t errlen;
};

static int config_command(const struct api_cmd *cmd, void *ctx)
{
	static struct api_reply reply;
	struct config_run *run = ctx;
	vmm_execute(run->vmm, cmd, &reply);
	if (reply.status < 400)
		return 0;
	reply_message(&reply, run->err, run->errlen);
	return -EINVAL;
}

static int load_config_file(struct vmm *vmm, const char *path, char *err, size_t errlen)
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
	struct config_run run = {vmm, err, errlen};
	char why[1024] = "";
	run.err = why;
	run.errlen = sizeof(why);
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

struct post_boot {
	struct vmm *vmm;
	struct api_channel *chan;
	int timer_fd;
	struct el_handler chan_handler, timer_handler;
};

static void on_channel(void *ctx, uint32_t events)
{
	struct post_boot *pb = ctx;
	(void)events;
	api_channel_serve(pb->chan, pb->vmm);
}

static void on_metrics_timer(void *ctx, uint32_t events)
{
	struct post_boot *pb = ctx;
	uint64_t n;
	(void)events;
	if (read(pb->timer_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		vmm_flush_metrics(pb->vmm);
}

/* Before InstanceStart: serve commands until the VM starts or a signal ends us. Returns -1
 * once started, or the exit status. */
static int wait_for_start(struct vmm *vmm, struct api_channel *chan)
{
	sigset_t sigs;
	signals_stop_set(&sigs);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return EXIT_USAGE;
	}
	int status = -1;
	while (!vmm->started && status < 0) {
		struct pollfd p[2] = {{.fd = chan->fd, .events = POLLIN},
		                      {.fd = sfd, .events = POLLIN}};
		int n = poll(p, 2, METRICS_PERIOD_S * 1000);
		if (n < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			status = EXIT_USAGE;
		} else if (n == 0) {
			vmm_flush_metrics(vmm);
		} else if (n > 0 && p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				status = EXIT_SIGNAL_BASE + (int)si.ssi_signo;
		} else if (n > 0 && p[0].revents) {
			api_channel_serve(chan, vmm);
		}
	}
	close(sfd);
	return status;
}

int api_mode_main(int argc, char **argv, uint64_t host_mem_mib)
{
	static struct vmm vmm;
	static struct api_channel chan;
	struct api_server *server = NULL;
	struct options o;
	char err[9000];
	int status;

	int r = parse_options(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : EXIT_USAGE;
	if (sc_setup(o.no_seccomp, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	if (signals_block() < 0 || api_channel_init(&chan) < 0) {
		log_err("cannot set up signals or the API channel");
		return EXIT_USAGE;
	}
	/* jansson seeds its hashes from /dev/urandom on first use: now, before the API thread
	 * locks down (seccomp) and may open nothing. */
	json_object_seed(0);
	/* The socket first: clients may connect while the rest is set up (their requests
	 * wait in the channel until the vmm thread serves it), so "ready" comes sooner. */
	if (!o.no_api) {
		server = api_server_start(o.api_sock, o.max_payload, on_request, &chan, err,
		                          sizeof(err));
		if (!server) {
			log_err("%s", err);
			return EXIT_USAGE;
		}
	}
	vmm_init(&vmm, o.id, host_mem_mib);
	if (o.log_path) {
		int fd = open_for_append("log file", o.log_path);
		if (fd < 0) {
			status = EXIT_USAGE;
			goto out;
		}
		log_configure(fd, o.level, o.show_level, o.id);
		vmm.logger_set = true;
	}
	if (o.metrics_path &&
	    (vmm.metrics_fd = open_for_append("metrics file", o.metrics_path)) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (server)
		log_info("API server listening on %s", o.api_sock);
	if (o.config_file && load_config_file(&vmm, o.config_file, err, sizeof(err)) < 0) {
		log_err("%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	if (o.config_file) {
		struct api_cmd start = {.op = API_ACTION_INSTANCE_START};
		static struct api_reply reply;
		vmm_execute(&vmm, &start, &reply);
		if (reply.status >= 400) {
			reply_message(&reply, err, sizeof(err));
			log_err("config file '%s': %s", o.config_file, err);
			status = EXIT_USAGE;
			goto out;
		}
	}
	status = wait_for_start(&vmm, &chan);
	if (status < 0) {
		struct post_boot pb = {
		    &vmm, &chan, -1, {on_channel, NULL}, {on_metrics_timer, NULL}};
		pb.chan_handler.ctx = pb.timer_handler.ctx = &pb;
		event_loop_add(&vmm.vm.loop, chan.fd, EPOLLIN, &pb.chan_handler);
		pb.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (pb.timer_fd >= 0) {
			struct itimerspec t = {{METRICS_PERIOD_S, 0}, {METRICS_PERIOD_S, 0}};
			timerfd_settime(pb.timer_fd, 0, &t, NULL);
			event_loop_add(&vmm.vm.loop, pb.timer_fd, EPOLLIN, &pb.timer_handler);
		}
		status = vm_wait(&vmm.vm);
		/* Nothing more reaches the VM: refuse what the API thread still holds. */
		api_channel_close(&chan);
		event_loop_del(&vmm.vm.loop, chan.fd);
		if (pb.timer_fd >= 0) {
			event_loop_del(&vmm.vm.loop, pb.timer_fd);
			close(pb.timer_fd);
		}
	}
out:
	api_channel_close(&chan);
	if (server)
		api_server_stop(server);
	vmm_destroy(&vmm);
	api_channel_destroy(&chan);
	return status;
}
