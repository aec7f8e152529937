/*
 * The API mode: Firecracker's options, the API server on its thread, the config file;
 * each request or section a command for the controller, which runs on this (the vmm)
 * thread until the VM ends.
 */
#include "api_mode.h"
#include "../cli.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1 << 20)

/* The handler on the API thread: parse, then hand over to the vmm thread. */
static void on_request(void *ctx, const struct api_http_request *req, struct ctl_reply *reply)
{
	static struct ctl_cmd cmd; /* the API thread is the only caller */
	if (api_parse(req->method, req->path, req->body, req->body_len, &cmd, reply) < 0) {
		ctl_call(ctx, api_refused, &cmd, reply); /* counted and logged there */
		return;
	}
	ctl_call(ctx, api_execute, &cmd, reply);
	api_cmd_release(&cmd);
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

/* --metadata FILE: PUT /mmds with its contents. */
static int load_metadata(struct ctl *ctl, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	struct ctl_cmd cmd = {.op = CTL_PUT_MMDS};
	json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		snprintf(err, errlen, "metadata file '%s': %s (line %d, column %d)", path,
		         jerr.text, jerr.line, jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(v)) {
		snprintf(err, errlen, "metadata file '%s' must hold a JSON object", path);
		json_decref(v);
		return -EINVAL;
	}
	cmd.u.mmds.data = v;
	char why[512];
	int r = api_command(ctl, &cmd, why, sizeof(why));
	api_cmd_release(&cmd);
	if (r < 0)
		snprintf(err, errlen, "metadata file '%s': %s", path, why);
	return r;
}

static uint64_t clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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
	struct ctl_settings set = {.host_mem_mib = host_mem_mib,
	                           .op_name = api_op_name,
	                           .snap_state_fd = -1,
	                           .snap_mem_fd = -1};
	struct cli_api_opts o;
	char err[9000];
	int status;

	int r = cli_parse_api(argc, argv, &o, err, sizeof(err));
	if (r < 0)
		log_err("%s", err);
	if (r)
		return r > 0 ? 0 : EXIT_USAGE;
	snprintf(set.id, sizeof(set.id), "%s", o.id);
	set.no_seccomp = o.no_seccomp;
	set.mmds_size_limit = o.mmds_size_limit ? o.mmds_size_limit : o.max_payload;
	set.seccomp_filter = o.seccomp_filter;
	set.boot_timer = o.boot_timer;
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
	struct log_settings ls = {.fd = -1,
	                          .has_level = true,
	                          .level = o.level,
	                          .has_show_level = true,
	                          .show_level = o.show_level,
	                          .has_show_origin = true,
	                          .show_origin = o.show_log_origin,
	                          .module = o.module,
	                          .instance_id = o.id};
	if (o.log_path && (ls.fd = open_for_append("log file", o.log_path)) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	log_configure(&ls);
	if (!o.log_path && o.level_set)
		log_stderr_level(o.level);
	if (o.metrics_path &&
	    (ctl.metrics_fd = open_for_append("metrics file", o.metrics_path)) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (server)
		log_info("API server listening on %s", o.api_sock);
	if (o.metadata && load_metadata(&ctl, o.metadata, err, sizeof(err)) < 0) {
		log_err("%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	/* Firecracker's api_server metrics: from the start the jailer saw to the API ready. */
	if (o.has_start_time_us)
		ctl.startup_us = clock_us(CLOCK_MONOTONIC) - o.start_time_us;
	if (o.has_start_time_cpu_us)
		ctl.startup_cpu_us =
		    clock_us(CLOCK_PROCESS_CPUTIME_ID) - o.start_time_cpu_us + o.parent_cpu_time_us;
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
