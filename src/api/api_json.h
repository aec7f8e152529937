/*
 * The JSON half of the API, shared by parse.c (request bodies) and config_json.c (the
 * sections of a config file): one parser per body, so a field means the same in both.
 * Internal to src/api/.
 */
#ifndef EMBER_API_JSON_H
#define EMBER_API_JSON_H

#include "api.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define API_ERR_MAX 512 /* a fault message, NUL included */

struct pctx; /* parse.c's: where the fields come from, where a message goes */

/* When an endpoint may run: before InstanceStart, after it, or both. */
enum api_when { API_BEFORE_BOOT = 1, API_AFTER_BOOT = 2, API_ANY = 3 };

/*
 * One endpoint: everything about it in one row of api_endpoints[] (parse.c), indexed by
 * its op. Adding an endpoint is adding an op, its command's fields, a row, its parse and
 * execute functions.
 */
struct api_endpoint {
	const char *method;  /* "GET", "PUT", "PATCH" */
	const char *path;    /* exact, or ending in '/' when an id follows */
	const char *id_what; /* the id's name in messages ("drive"); NULL: no id */
	const char *action;  /* PUT /actions: its action_type; else NULL */
	const char *name;    /* in the log and the metrics */
	/* Check the JSON object body o into *cmd (cmd->op preset); path_id as for
	 * api_json_body. Returns 0 or -EINVAL with the message in c. */
	int (*parse)(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd);
	/* On the vmm thread: do it, filling the reply (the controller's, controller.h). */
	ctl_exec_fn execute;
	enum api_when when;
	const char *refusal; /* the fault message when it may not run now */
};

extern const struct api_endpoint api_endpoints[CTL_OP_COUNT];

/* The row whose route matches method and path (the first, for PUT /actions), or NULL;
 * *id points into path at the id for routes that take one, else is NULL. */
const struct api_endpoint *api_route_find(const char *method, const char *path, const char **id);

/*
 * Check the JSON object body of a PUT or PATCH op and fill *cmd, cmd->op included (for
 * PUT /actions pass any API_ACTION_* op: action_type picks the one). path_id is the
 * {drive_id} or {iface_id} of the request's path, which the body's id must equal, or NULL
 * (a config file) to take the body's id once checked. where names the body in messages
 * ("boot-source", "drives/rootfs", "drives[1]"). Fields sent as null count as absent, as
 * in Firecracker, so GET /vm/config's output reads back. Returns 0, or -EINVAL with a
 * message in err that names the field and what to change.
 */
int api_json_body(enum ctl_op op, const char *path_id, const char *where, const json_t *body,
                  struct ctl_cmd *cmd, char *err, size_t errlen);

#endif
