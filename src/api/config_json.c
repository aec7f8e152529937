/*
 * A config file: Firecracker's FullVmConfiguration (the shape of GET /vm/config, which
 * vmm/ctl_json.c renders), its sections checked by the same parsers as the API's bodies.
 */
#include "api_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sections of a config file, in the order their commands are given: the logger and
 * metrics first so they see the rest, the machine before the devices. */
static const struct section {
	const char *key;
	enum ctl_op op;
	bool required;
	bool list;               /* an array of bodies, one command each */
	unsigned max;            /* for a list: how many a VM can have */
	const char *unsupported; /* set: only null (or [] for a list) is accepted */
} sections[] = {
    {.key = "logger", .op = CTL_PUT_LOGGER},
    {.key = "metrics", .op = CTL_PUT_METRICS},
    {.key = "machine-config", .op = CTL_PUT_MACHINE_CONFIG, .required = true},
    {.key = "boot-source", .op = CTL_PUT_BOOT_SOURCE, .required = true},
    {.key = "drives", .op = CTL_PUT_DRIVE, .list = true, .max = CONFIG_MAX_DRIVES},
    {.key = "network-interfaces", .op = CTL_PUT_NET, .list = true, .max = CONFIG_MAX_NETS},
    {.key = "vsock", .op = CTL_PUT_VSOCK},
    {.key = "entropy", .op = CTL_PUT_ENTROPY},
    {.key = "mmds-config", .op = CTL_PUT_MMDS_CONFIG},
    {.key = "balloon", .op = CTL_PUT_BALLOON},
    /* GET /vm/config shows these as null: accepted so, that a saved configuration reads
     * back. */
    {.key = "cpu-config", .unsupported = "custom CPU templates are not supported"},
    {.key = "memory-hotplug", .unsupported = "memory hotplug is not supported"},
    {.key = "pmem", .list = true, .unsupported = "pmem devices are not supported"},
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* One section: its commands through fn, or only checked when fn is NULL. */
static int section_walk(const struct section *s, const json_t *v,
                        int (*fn)(const struct ctl_cmd *cmd, void *ctx), void *ctx,
                        struct ctl_cmd *cmd, char *err, size_t errlen)
{
	char where[64];
	int rc;

	if (!v || json_is_null(v)) {
		if (s->required) {
			snprintf(err, errlen, "the config file has no '%s' section", s->key);
			return -EINVAL;
		}
		return 0;
	}
	if (!s->list) {
		if (s->unsupported) {
			snprintf(err, errlen, "section '%s' in the config file: %s", s->key,
			         s->unsupported);
			return -EINVAL;
		}
		rc = api_json_body(s->op, NULL, s->key, v, cmd, err, errlen);
		if (rc < 0)
			return rc;
		rc = fn ? fn(cmd, ctx) : 0;
		api_cmd_release(cmd);
		return rc;
	}
	if (!json_is_array(v)) {
		snprintf(err, errlen, "section '%s' in the config file must be an array", s->key);
		return -EINVAL;
	}
	size_t n = json_array_size(v);
	if (s->unsupported && n) {
		snprintf(err, errlen, "section '%s' in the config file: %s", s->key,
		         s->unsupported);
		return -EINVAL;
	}
	if (n > s->max) {
		snprintf(err, errlen, "section '%s' in the config file has %zu entries; at most %u",
		         s->key, n, s->max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s[%zu]", s->key, i);
		rc = api_json_body(s->op, NULL, where, json_array_get(v, i), cmd, err, errlen);
		if (rc < 0)
			return rc;
		if (fn && (rc = fn(cmd, ctx)) != 0)
			return rc;
	}
	return 0;
}

static int config_walk(const json_t *root, int (*fn)(const struct ctl_cmd *cmd, void *ctx),
                       void *ctx, struct ctl_cmd *cmd, char *err, size_t errlen)
{
	for (size_t i = 0; i < NSECTIONS; i++) {
		int rc = section_walk(&sections[i], json_object_get(root, sections[i].key), fn, ctx,
		                      cmd, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int api_parse_config_file(const char *text, size_t len,
                          int (*fn)(const struct ctl_cmd *cmd, void *ctx), void *ctx, char *err,
                          size_t errlen)
{
	json_error_t jerr;
	int rc = -EINVAL;

	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "the config file is not valid JSON: %s (line %d, column %d)",
		         jerr.text, jerr.line, jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the config file must hold a JSON object");
		goto out;
	}
	for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
		const char *key = json_object_iter_key(it);
		size_t i = 0;
		while (i < NSECTIONS && strcmp(sections[i].key, key))
			i++;
		if (i == NSECTIONS) {
			snprintf(err, errlen, "unknown section '%s' in the config file", key);
			goto out;
		}
	}
	/* A command is some 12 KiB (three paths): one, reused, on the heap. */
	struct ctl_cmd *cmd = malloc(sizeof(*cmd));
	if (!cmd) {
		snprintf(err, errlen, "out of memory reading the config file");
		rc = -ENOMEM;
		goto out;
	}
	/* Check everything first, so that a malformed file configures nothing. */
	rc = config_walk(root, NULL, NULL, cmd, err, errlen);
	if (rc == 0)
		rc = config_walk(root, fn, ctx, cmd, err, errlen);
	free(cmd);
out:
	json_decref(root);
	return rc;
}
