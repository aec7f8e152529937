/*
 * The whole-VM JSON of Firecracker's FullVmConfiguration, both ways: a config file in (its
 * sections checked by the same parsers as the API's bodies) and GET /vm/config out.
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
	enum api_op op;
	bool required;
	bool list;               /* an array of bodies, one command each */
	unsigned max;            /* for a list: how many a VM can have */
	const char *unsupported; /* set: only null (or [] for a list) is accepted */
} sections[] = {
    {.key = "logger", .op = API_PUT_LOGGER},
    {.key = "metrics", .op = API_PUT_METRICS},
    {.key = "machine-config", .op = API_PUT_MACHINE_CONFIG, .required = true},
    {.key = "boot-source", .op = API_PUT_BOOT_SOURCE, .required = true},
    {.key = "drives", .op = API_PUT_DRIVE, .list = true, .max = CONFIG_MAX_DRIVES},
    {.key = "network-interfaces", .op = API_PUT_NET, .list = true, .max = CONFIG_MAX_NETS},
    {.key = "vsock", .op = API_PUT_VSOCK},
    {.key = "entropy", .op = API_PUT_ENTROPY},
    /* GET /vm/config shows these as null: accepted so, that a saved configuration reads
     * back. */
    {.key = "cpu-config", .unsupported = "custom CPU templates are not supported"},
    {.key = "balloon", .unsupported = "the balloon device is not supported"},
    {.key = "mmds-config", .unsupported = "MMDS is not supported"},
    {.key = "memory-hotplug", .unsupported = "memory hotplug is not supported"},
    {.key = "pmem", .list = true, .unsupported = "pmem devices are not supported"},
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* One section: its commands through fn, or only checked when fn is NULL. */
static int section_walk(const struct section *s, const json_t *v,
                        int (*fn)(const struct api_cmd *cmd, void *ctx), void *ctx,
                        struct api_cmd *cmd, char *err, size_t errlen)
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
		return fn ? fn(cmd, ctx) : 0;
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

static int config_walk(const json_t *root, int (*fn)(const struct api_cmd *cmd, void *ctx),
                       void *ctx, struct api_cmd *cmd, char *err, size_t errlen)
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
                          int (*fn)(const struct api_cmd *cmd, void *ctx), void *ctx, char *err,
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
	struct api_cmd *cmd = malloc(sizeof(*cmd));
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

/* ---- GET /vm/config ---- */

/* Builds a JSON value, counting failures (out of memory) instead of checking each. */
struct builder {
	unsigned failed;
};

/* jansson drops v when it cannot be stored (o NULL too), so nothing leaks. */
static void set(struct builder *b, json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) < 0)
		b->failed++;
}

static void append(struct builder *b, json_t *a, json_t *v)
{
	if (json_array_append_new(a, v) < 0)
		b->failed++;
}

/* s as a JSON string, or null when it is unset (""). */
static json_t *str_or_null(const char *s)
{
	return s[0] ? api_json_string(s) : json_null();
}

static json_t *render_boot_source(struct builder *b, const struct vm_config *cfg)
{
	json_t *o = json_object();
	json_t *args = NULL;
	/* Ember has one command line: the default or --cmdline, and --append's words. */
	size_t n = strlen(cfg->cmdline) + (cfg->append[0] ? 1 + strlen(cfg->append) : 0) + 1;
	char *full = malloc(n);
	if (full && config_full_cmdline(cfg, full, n) >= 0)
		args = api_json_string(full);
	free(full);
	/* No kernel yet: "" as Firecracker shows an unset boot source. */
	set(b, o, "kernel_image_path", api_json_string(cfg->kernel_path));
	set(b, o, "initrd_path", str_or_null(cfg->initrd_path));
	set(b, o, "boot_args", args);
	return o;
}

static json_t *render_drive(struct builder *b, const struct drive_config *d)
{
	json_t *o = json_object();
	set(b, o, "drive_id", str_or_null(d->id));
	set(b, o, "partuuid", json_null());
	set(b, o, "is_root_device", json_boolean(d->is_root));
	set(b, o, "cache_type", json_string("Unsafe"));
	set(b, o, "is_read_only", json_boolean(d->read_only));
	set(b, o, "path_on_host", str_or_null(d->path));
	set(b, o, "rate_limiter", json_null());
	/* auto is io_uring unless the host cannot: it is asked for as "Async". */
	set(b, o, "io_engine", json_string(d->engine == DRIVE_ENGINE_SYNC ? "Sync" : "Async"));
	set(b, o, "socket", json_null());
	return o;
}

static json_t *render_machine(struct builder *b, const struct vm_config *cfg)
{
	json_t *o = json_object();
	set(b, o, "vcpu_count", json_integer(cfg->vcpus));
	set(b, o, "mem_size_mib", json_integer((json_int_t)cfg->mem_mib));
	set(b, o, "smt", json_false());
	set(b, o, "track_dirty_pages", json_false());
	set(b, o, "huge_pages", json_string("None"));
	return o;
}

static json_t *render_net(struct builder *b, const struct net_config *n)
{
	json_t *o = json_object();
	json_t *mac = json_null();
	if (n->has_mac) {
		char s[18];
		snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		         n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		mac = json_string(s);
	}
	set(b, o, "iface_id", str_or_null(n->id));
	set(b, o, "host_dev_name", str_or_null(n->tap));
	set(b, o, "guest_mac", mac);
	set(b, o, "mtu", n->mtu ? json_integer(n->mtu) : json_null());
	set(b, o, "rx_rate_limiter", json_null());
	set(b, o, "tx_rate_limiter", json_null());
	return o;
}

static json_t *render_vsock(struct builder *b, const struct vsock_config *v)
{
	if (!v->enabled)
		return json_null();
	json_t *o = json_object();
	set(b, o, "guest_cid", json_integer(v->guest_cid));
	set(b, o, "uds_path", str_or_null(v->uds_path));
	return o;
}

static json_t *render_entropy(struct builder *b, bool enabled)
{
	if (!enabled)
		return json_null();
	json_t *o = json_object();
	set(b, o, "rate_limiter", json_null());
	return o;
}

void api_render_vm_config(const struct vm_config *cfg, struct api_reply *r)
{
	struct builder b = {0};
	json_t *root = json_object();
	json_t *drives = json_array();
	json_t *nets = json_array();

	for (unsigned i = 0; i < cfg->ndrives && i < CONFIG_MAX_DRIVES; i++)
		append(&b, drives, render_drive(&b, &cfg->drives[i]));
	for (unsigned i = 0; i < cfg->nnets && i < CONFIG_MAX_NETS; i++)
		append(&b, nets, render_net(&b, &cfg->nets[i]));

	/* Firecracker's sections, in the order the golden files fix. */
	set(&b, root, "boot-source", render_boot_source(&b, cfg));
	set(&b, root, "drives", drives);
	set(&b, root, "machine-config", render_machine(&b, cfg));
	set(&b, root, "cpu-config", json_null());
	set(&b, root, "balloon", json_null());
	set(&b, root, "network-interfaces", nets);
	set(&b, root, "vsock", render_vsock(&b, &cfg->vsock));
	set(&b, root, "logger", json_null());
	set(&b, root, "metrics", json_null());
	set(&b, root, "mmds-config", json_null());
	set(&b, root, "entropy", render_entropy(&b, cfg->entropy));

	/* Room for the newline that ends the body, and a NUL for whoever prints it. */
	size_t n = 0;
	if (!b.failed)
		n = json_dumpb(root, r->body, sizeof(r->body) - 2, JSON_INDENT(2));
	json_decref(root);
	if (b.failed || n == 0) {
		api_reply_fault(r, "out of memory rendering the VM configuration");
		r->status = 500;
		return;
	}
	if (n > sizeof(r->body) - 2) {
		api_reply_fault(r, "the VM configuration is larger than a reply (%zu bytes)", n);
		r->status = 500;
		return;
	}
	r->body[n++] = '\n';
	r->body[n] = '\0';
	r->len = n;
	r->status = 200;
}
