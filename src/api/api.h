/*
 * The REST API's requests (Firecracker's API: ../shared/reference/firecracker-api.yaml is
 * the contract). The API thread turns an HTTP request into the controller's typed command
 * (struct ctl_cmd, vmm/controller.h), checking every field (api_parse); the vmm thread
 * executes it (api_execute) and the reply goes back. The config file
 * (--config-file) goes through the same parsers, one section at a time.
 */
#ifndef EMBER_API_H
#define EMBER_API_H

#include "../base/config.h"
#include "../vmm/controller.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PATH_MAX CONFIG_PATH_MAX /* a host path in a request */

/*
 * Parse one request: method ("GET", "PUT", "PATCH"; anything else is refused), the path
 * (without a query string; one trailing '/' is not accepted, as in Firecracker) and the
 * body (len bytes, not NUL-terminated; may be empty). Checks every field: unknown fields,
 * wrong JSON types, out-of-range values, ids (1..CONFIG_ID_MAX of [A-Za-z0-9_-]),
 * id mismatch between path and body, a missing required field. Returns 0 with *cmd
 * filled, or -EINVAL with a 400 fault in *reply whose message says what to change.
 */
int api_parse(const char *method, const char *path, const char *body, size_t len,
              struct ctl_cmd *cmd, struct ctl_reply *reply);

/*
 * On the vmm thread: run cmd as its endpoint says: refused with the row's refusal when it
 * may not run now (before or after InstanceStart), else the row's execute; counted in the
 * metrics and logged under the row's name. What the API thread hands to ctl_call.
 */
void api_execute(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);

/* On the vmm thread, for a request api_parse refused (r holds the 400): count it as a
 * failure of its endpoint (cmd->op; none when no route matched) and log it at Info,
 * leaving r as it is. */
void api_refused(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r);

/* api_execute for a front end on the vmm thread (config file, command line): returns 0,
 * or -EINVAL with the reply's fault message in err. */
int api_command(struct ctl *c, const struct ctl_cmd *cmd, char *err, size_t errlen);

/* Drop what a parsed command holds by reference (the body of PUT and PATCH /mmds), once
 * it has run or will not. Idempotent. */
void api_cmd_release(struct ctl_cmd *cmd);

/* The endpoint's name of op (for the controller's metrics). */
const char *api_op_name(enum ctl_op op);

/*
 * The sections of a config file (Firecracker's --config-file: the shape of GET
 * /vm/config, kebab-case keys: "boot-source", "machine-config", "drives",
 * "network-interfaces", "vsock", "entropy", "logger", "metrics"), as the commands PUT
 * would give, in this order: logger, metrics, machine-config, boot-source, drives (array
 * order), network-interfaces, vsock, entropy. Calls fn(cmd, ctx) for each; stops at the
 * first fn that returns non-zero and returns that. Returns 0, fn's value, or -EINVAL
 * with a message in err (the section and the field) for a malformed file or an unknown
 * section. "boot-source" and "machine-config" are required.
 */
int api_parse_config_file(const char *text, size_t len,
                          int (*fn)(const struct ctl_cmd *cmd, void *ctx), void *ctx, char *err,
                          size_t errlen);

#endif
