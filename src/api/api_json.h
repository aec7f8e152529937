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

/*
 * Check the JSON object body of a PUT or PATCH op and fill *cmd, cmd->op included (for
 * PUT /actions pass any API_ACTION_* op: action_type picks the one). path_id is the
 * {drive_id} or {iface_id} of the request's path, which the body's id must equal, or NULL
 * (a config file) to take the body's id once checked. where names the body in messages
 * ("boot-source", "drives/rootfs", "drives[1]"). Fields sent as null count as absent, as
 * in Firecracker, so GET /vm/config's output reads back. Returns 0, or -EINVAL with a
 * message in err that names the field and what to change.
 */
int api_json_body(enum api_op op, const char *path_id, const char *where, const json_t *body,
                  struct api_cmd *cmd, char *err, size_t errlen);

/* A JSON string holding s, each byte that is not part of valid UTF-8 replaced by U+FFFD,
 * so that any host string (a path, a message quoting a request) can be shown. NULL only
 * when out of memory. */
json_t *api_json_string(const char *s);

#endif
