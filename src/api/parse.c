/*
 * API requests into the controller's typed commands: the endpoint table, and one checker
 * per request body (also used by the config file). Everything a client sends is checked here, on
 * the API thread, so the vmm thread only ever sees well-formed commands.
 */
#include "api_json.h"
#include "../base/log.h"
#include "../vmm/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mem_size_mib's ceiling only keeps mem_size_mib << 20 (and a little more) from overflowing,
 * as the CLI's --mem; the host's own size is the vmm's check. */
#define API_MEM_MIB_MAX (UINT64_MAX >> 21)

/* ---- fields ---- */

/* Where the fields come from, and where a message goes. */
struct pctx {
	const char *where; /* "boot-source", "drives/rootfs", "drives[1]" */
	char *err;
	size_t errlen;
};

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int try_ = (x);                                                                    \
		if (try_ < 0)                                                                      \
			return try_;                                                               \
	} while (0)

enum { OPT = 0, REQ = 1, NONEMPTY = 2 };

__attribute__((format(printf, 2, 3))) static int fail(struct pctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* Every member of o is one of keys (NULL-terminated). */
static int check_keys(struct pctx *c, const json_t *o, const char *const *keys)
{
	json_t *obj = (json_t *)o; /* jansson's iterators take no const */
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *k = json_object_iter_key(it);
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i])
			return fail(c, "unknown field '%.100s' in %s", k, c->where);
	}
	return 0;
}

/* o's member key, or NULL when it is absent or null (Firecracker's optional fields take
 * null as absent, and GET /vm/config shows absent ones as null). */
static const json_t *member(const json_t *o, const char *key, int flags, struct pctx *c, int *rc)
{
	const json_t *v = json_object_get(o, key);
	*rc = 0;
	if (v && !json_is_null(v))
		return v;
	if (flags & REQ)
		*rc = fail(c, "missing required field '%s' in %s", key, c->where);
	return NULL;
}

static int wrong_type(struct pctx *c, const char *key, const json_t *v, const char *want)
{
	return fail(c, "field '%s' in %s must be %s, not %s", key, c->where, want, type_name(v));
}

/* A string member: 1 with *s and *n set, 0 when absent, or -EINVAL. */
static int str_member(struct pctx *c, const json_t *o, const char *key, int flags, const char **s,
                      size_t *n)
{
	int rc;
	const json_t *v = member(o, key, flags, c, &rc);
	*s = "";
	*n = 0;
	if (!v)
		return rc;
	if (!json_is_string(v))
		return wrong_type(c, key, v, "a string");
	*s = json_string_value(v);
	*n = json_string_length(v);
	/* jansson refuses \u0000 unless asked; this keeps that promise local. */
	if (memchr(*s, '\0', *n))
		return fail(c, "field '%s' in %s must not contain NUL bytes", key, c->where);
	if ((flags & NONEMPTY) && *n == 0)
		return fail(c, "field '%s' in %s must not be empty", key, c->where);
	return 1;
}

/* A string member copied into buf (size bytes with the NUL); *has (if given) says whether
 * it was there. */
static int get_str(struct pctx *c, const json_t *o, const char *key, int flags, char *buf,
                   size_t size, bool *has)
{
	const char *s;
	size_t n;
	int rc = str_member(c, o, key, flags, &s, &n);
	if (has)
		*has = rc > 0;
	if (rc <= 0)
		return rc;
	if (n >= size)
		return fail(c, "field '%s' in %s is too long: %zu bytes, at most %zu", key,
		            c->where, n, size - 1);
	memcpy(buf, s, n + 1);
	return 1;
}

static int get_bool(struct pctx *c, const json_t *o, const char *key, int flags, bool *out,
                    bool *has)
{
	int rc;
	const json_t *v = member(o, key, flags, c, &rc);
	if (has)
		*has = v != NULL;
	if (!v)
		return rc;
	if (!json_is_boolean(v))
		return wrong_type(c, key, v, "a boolean");
	*out = json_is_true(v);
	return 1;
}

static int get_uint(struct pctx *c, const json_t *o, const char *key, int flags, uint64_t min,
                    uint64_t max, uint64_t *out, bool *has)
{
	int rc;
	const json_t *v = member(o, key, flags, c, &rc);
	if (has)
		*has = v != NULL;
	if (!v)
		return rc;
	if (!json_is_integer(v))
		return wrong_type(c, key, v, "an integer");
	json_int_t i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return fail(c,
		            "field '%s' in %s must be %" PRIu64 " to %" PRIu64
		            ", not %" JSON_INTEGER_FORMAT,
		            key, c->where, min, max, i);
	*out = (uint64_t)i;
	return 1;
}

/* A string member that must be one of names (NULL-terminated); *out is its index. */
static int get_enum(struct pctx *c, const json_t *o, const char *key, int flags,
                    const char *const *names, bool nocase, int *out, bool *has)
{
	const char *s;
	size_t n;
	int rc = str_member(c, o, key, flags, &s, &n);
	if (has)
		*has = rc > 0;
	if (rc <= 0)
		return rc;
	for (int i = 0; names[i]; i++)
		if (nocase ? !strcasecmp(names[i], s) : !strcmp(names[i], s)) {
			*out = i;
			return 1;
		}
	char list[256];
	size_t used = 0;
	list[0] = '\0';
	for (int i = 0; names[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
		                         i ? (names[i + 1] ? ", " : " or ") : "", names[i]);
	return fail(c, "field '%s' in %s must be %s, not \"%.100s\"", key, c->where, list, s);
}

/* A field we know but cannot honour: anything but absent or null is refused. */
static int refuse(struct pctx *c, const json_t *o, const char *key, const char *why)
{
	int rc;
	if (member(o, key, OPT, c, &rc))
		return fail(c, "field '%s' in %s: %s", key, c->where, why);
	return rc;
}

/* A nested object member: 1 with *v and *sub (its context, named "<where>'s <key>" in
 * where, which must outlive it) set and its keys checked, 0 when absent, or -EINVAL. */
static int sub_object(struct pctx *c, const json_t *o, const char *key, const char *const *keys,
                      const json_t **v, struct pctx *sub, char *where, size_t wlen)
{
	int rc;
	*v = member(o, key, OPT, c, &rc);
	if (!*v)
		return rc;
	if (!json_is_object(*v))
		return wrong_type(c, key, *v, "an object");
	snprintf(where, wlen, "%s's %s", c->where, key);
	*sub = (struct pctx){.where = where, .err = c->err, .errlen = c->errlen};
	TRY(check_keys(sub, *v, keys));
	return 1;
}

/* A TokenBucket: size and refill_time required, one_time_burst optional. */
static int get_bucket(struct pctx *c, const json_t *o, const char *key,
                      struct token_bucket_config *out, bool *has)
{
	static const char *const keys[] = {"size", "one_time_burst", "refill_time", NULL};
	const json_t *v;
	struct pctx sub;
	char where[160];
	int rc = sub_object(c, o, key, keys, &v, &sub, where, sizeof(where));
	*has = rc > 0;
	if (rc <= 0)
		return rc;
	TRY(get_uint(&sub, v, "size", REQ, 0, RL_MAX_TOKENS, &out->size, NULL));
	TRY(get_uint(&sub, v, "one_time_burst", OPT, 0, RL_MAX_TOKENS, &out->one_time_burst, NULL));
	TRY(get_uint(&sub, v, "refill_time", REQ, 0, RL_MAX_REFILL_MS, &out->refill_time_ms, NULL));
	return 1;
}

/* A RateLimiter: {"bandwidth": TokenBucket, "ops": TokenBucket}, either optional. */
static int get_rate_limiter(struct pctx *c, const json_t *o, const char *key,
                            struct ctl_rate_limiter *out)
{
	static const char *const keys[] = {"bandwidth", "ops", NULL};
	const json_t *v;
	struct pctx sub;
	char where[128];
	*out = (struct ctl_rate_limiter){0};
	int rc = sub_object(c, o, key, keys, &v, &sub, where, sizeof(where));
	out->has = rc > 0;
	if (rc <= 0)
		return rc;
	TRY(get_bucket(&sub, v, "bandwidth", &out->cfg.bandwidth, &out->has_bandwidth));
	TRY(get_bucket(&sub, v, "ops", &out->cfg.ops, &out->has_ops));
	return 1;
}

/* The body's id (what: "drive", "network interface") into out (CONFIG_ID_MAX + 1 bytes):
 * required, well formed, and equal to the path's id when there is one. */
static int get_id(struct pctx *c, const json_t *o, const char *key, const char *what,
                  const char *path_id, char *out)
{
	const char *s;
	size_t n;
	TRY(str_member(c, o, key, REQ, &s, &n));
	if (!config_id_ok(s))
		return fail(c, "field '%s' in %s: %s id '%.100s' must be 1 to %d " CONFIG_ID_RULE,
		            key, c->where, what, s, CONFIG_ID_MAX);
	if (path_id && strcmp(s, path_id))
		return fail(c, "field '%s' in %s is '%s' but the path names '%s'; they must match",
		            key, c->where, s, path_id);
	memcpy(out, s, n + 1);
	return 0;
}

/* ---- bodies, one per request ---- */

static int body_boot_source(struct pctx *c, const json_t *o, const char *path_id,
                            struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"kernel_image_path", "initrd_path", "boot_args", NULL};
	struct ctl_boot_source *b = &cmd->u.boot;
	TRY(check_keys(c, o, keys));
	TRY(get_str(c, o, "kernel_image_path", REQ | NONEMPTY, b->kernel_image_path,
	            sizeof(b->kernel_image_path), NULL));
	TRY(get_str(c, o, "initrd_path", NONEMPTY, b->initrd_path, sizeof(b->initrd_path),
	            &b->has_initrd_path));
	TRY(get_str(c, o, "boot_args", OPT, b->boot_args, sizeof(b->boot_args), &b->has_boot_args));
	return 0;
}

/* PUT wants vcpu_count and mem_size_mib; PATCH takes any subset. */
static int machine_config(struct pctx *c, const json_t *o, struct ctl_cmd *cmd, bool put)
{
	static const char *const keys[] = {"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages",
	                                   "huge_pages", "cpu_template", NULL};
	static const char *const huge[] = {"None", "Transparent", "2M", NULL};
	static const char *const templates[] = {"None", "C3",  "T2",   "T2S",
	                                        "T2CL", "T2A", "V1N1", NULL};
	struct ctl_machine_config *m = &cmd->u.machine;
	int flags = put ? REQ : OPT;
	uint64_t v = 0;
	int e = 0;
	bool has;

	TRY(check_keys(c, o, keys));
	TRY(get_uint(c, o, "vcpu_count", flags, 1, CONFIG_MAX_VCPUS, &v, &m->has_vcpu_count));
	m->vcpu_count = (unsigned)v;
	TRY(get_uint(c, o, "mem_size_mib", flags, 1, API_MEM_MIB_MAX, &m->mem_size_mib,
	             &m->has_mem_size_mib));
	TRY(get_bool(c, o, "smt", OPT, &m->smt, &m->has_smt));
	if (m->smt)
		return fail(c, "field 'smt' in %s: smt is not supported (only false)", c->where);
	TRY(get_bool(c, o, "track_dirty_pages", OPT, &m->track_dirty_pages,
	             &m->has_track_dirty_pages));
	TRY(get_enum(c, o, "huge_pages", OPT, huge, false, &e, &m->has_huge_pages));
	if (m->has_huge_pages && e == 2)
		return fail(c,
		            "field 'huge_pages' in %s: \"2M\" (hugetlbfs) pages are not supported; "
		            "use \"None\" or \"Transparent\"",
		            c->where);
	m->huge_pages = m->has_huge_pages && e == 1 ? HUGE_PAGES_TRANSPARENT : HUGE_PAGES_NONE;
	TRY(get_enum(c, o, "cpu_template", OPT, templates, false, &e, &has));
	if (has && e != 0)
		return fail(c,
		            "field 'cpu_template' in %s: CPU templates are not supported "
		            "(only \"None\")",
		            c->where);
	return 0;
}

static int body_machine_config_put(struct pctx *c, const json_t *o, const char *path_id,
                                   struct ctl_cmd *cmd)
{
	(void)path_id;
	return machine_config(c, o, cmd, true);
}

static int body_machine_config_patch(struct pctx *c, const json_t *o, const char *path_id,
                                     struct ctl_cmd *cmd)
{
	(void)path_id;
	return machine_config(c, o, cmd, false);
}

static int body_drive_put(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	static const char *const keys[] = {
	    "drive_id",     "partuuid",     "is_root_device", "cache_type", "is_read_only",
	    "path_on_host", "rate_limiter", "io_engine",      "socket",     NULL};
	static const char *const caches[] = {"Unsafe", "Writeback", NULL};
	static const char *const engines[] = {"Sync", "Async", NULL};
	struct ctl_drive *d = &cmd->u.drive;
	int e = 0;

	TRY(check_keys(c, o, keys));
	TRY(get_id(c, o, "drive_id", "drive", path_id, d->drive_id));
	TRY(refuse(c, o, "socket", "vhost-user drives are not supported"));
	TRY(refuse(c, o, "partuuid", "partuuid is not supported"));
	TRY(get_rate_limiter(c, o, "rate_limiter", &d->rate_limiter));
	TRY(get_bool(c, o, "is_root_device", REQ, &d->is_root_device, &d->has_is_root_device));
	TRY(get_str(c, o, "path_on_host", REQ | NONEMPTY, d->path_on_host, sizeof(d->path_on_host),
	            &d->has_path_on_host));
	TRY(get_bool(c, o, "is_read_only", OPT, &d->is_read_only, &d->has_is_read_only));
	/* Writeback offers FLUSH and syncs on it; Unsafe (the default) offers no FLUSH. */
	TRY(get_enum(c, o, "cache_type", OPT, caches, false, &e, &d->has_cache_type));
	d->cache_type = d->has_cache_type && e == 1 ? DRIVE_CACHE_WRITEBACK : DRIVE_CACHE_UNSAFE;
	TRY(get_enum(c, o, "io_engine", OPT, engines, false, &e, &d->has_io_engine));
	if (d->has_io_engine)
		d->io_engine = e == 0 ? DRIVE_ENGINE_SYNC : DRIVE_ENGINE_IO_URING;
	return 0;
}

static int body_drive_patch(struct pctx *c, const json_t *o, const char *path_id,
                            struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"drive_id", "path_on_host", "rate_limiter", NULL};
	struct ctl_drive *d = &cmd->u.drive;
	TRY(check_keys(c, o, keys));
	TRY(get_id(c, o, "drive_id", "drive", path_id, d->drive_id));
	TRY(get_rate_limiter(c, o, "rate_limiter", &d->rate_limiter));
	TRY(get_str(c, o, "path_on_host", NONEMPTY, d->path_on_host, sizeof(d->path_on_host),
	            &d->has_path_on_host));
	return 0;
}

/* "xx:xx:xx:xx:xx:xx", two hex digits each, nothing else. */
static bool parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char h = s[i * 3 + j];
			unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
			             : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
			             : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
			                                    : 16;
			if (d == 16)
				return false;
			v = v << 4 | d;
		}
		if (i < 5 && s[i * 3 + 2] != ':')
			return false;
		mac[i] = (uint8_t)v;
	}
	return true;
}

static int body_net_put(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"iface_id",        "host_dev_name",   "guest_mac", "mtu",
	                                   "rx_rate_limiter", "tx_rate_limiter", NULL};
	struct ctl_net *n = &cmd->u.net;
	const char *s;
	size_t len;
	uint64_t v = 0;
	int rc;

	TRY(check_keys(c, o, keys));
	TRY(get_id(c, o, "iface_id", "network interface", path_id, n->iface_id));
	TRY(get_rate_limiter(c, o, "rx_rate_limiter", &n->rx_rate_limiter));
	TRY(get_rate_limiter(c, o, "tx_rate_limiter", &n->tx_rate_limiter));
	TRY(str_member(c, o, "host_dev_name", REQ, &s, &len));
	if (len < 1 || len >= sizeof(n->host_dev_name) || strchr(s, '/'))
		return fail(c,
		            "field 'host_dev_name' in %s: tap name '%.100s' must be 1 to %zu bytes "
		            "without '/'",
		            c->where, s, sizeof(n->host_dev_name) - 1);
	memcpy(n->host_dev_name, s, len + 1);
	rc = str_member(c, o, "guest_mac", OPT, &s, &len);
	TRY(rc);
	if (rc) {
		if (!parse_mac(s, len, n->guest_mac))
			return fail(c,
			            "field 'guest_mac' in %s must be six hex bytes like "
			            "\"06:00:ac:10:00:02\", not \"%.100s\"",
			            c->where, s);
		if (n->guest_mac[0] & 1)
			return fail(c, "field 'guest_mac' in %s: %s is a multicast address",
			            c->where, s);
		n->has_guest_mac = true;
	}
	TRY(get_uint(c, o, "mtu", OPT, 68, 65535, &v, NULL));
	n->mtu = (unsigned)v;
	return 0;
}

/* Only the rate limiters can be patched (Firecracker's PartialNetworkInterface), and those
 * are refused until Ember has them: what is left is a PATCH with nothing in it, which
 * Firecracker answers 204 too. */
static int body_net_patch(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL};
	TRY(check_keys(c, o, keys));
	TRY(get_id(c, o, "iface_id", "network interface", path_id, cmd->u.net.iface_id));
	TRY(get_rate_limiter(c, o, "rx_rate_limiter", &cmd->u.net.rx_rate_limiter));
	TRY(get_rate_limiter(c, o, "tx_rate_limiter", &cmd->u.net.tx_rate_limiter));
	return 0;
}

static int body_vsock(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"guest_cid", "uds_path", "vsock_id", NULL};
	struct ctl_vsock *vs = &cmd->u.vsock;
	uint64_t v = 0;
	const char *s;
	size_t n;
	TRY(check_keys(c, o, keys));
	TRY(get_uint(c, o, "guest_cid", REQ, 3, UINT32_MAX - 1, &v, NULL));
	vs->guest_cid = (uint32_t)v;
	TRY(get_str(c, o, "uds_path", REQ | NONEMPTY, vs->uds_path, sizeof(vs->uds_path), NULL));
	/* Deprecated in Firecracker and meaningless with one device, but kept and shown back
	 * (GET /vm/config) as Firecracker does. */
	int rc = str_member(c, o, "vsock_id", OPT, &s, &n);
	TRY(rc);
	if (rc && !config_id_ok(s))
		return fail(
		    c, "field 'vsock_id' in %s: vsock id '%.100s' must be 1 to %d " CONFIG_ID_RULE,
		    c->where, s, CONFIG_ID_MAX);
	if (rc)
		memcpy(vs->vsock_id, s, n + 1);
	return 0;
}

static int body_entropy(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"rate_limiter", NULL};
	TRY(check_keys(c, o, keys));
	TRY(get_rate_limiter(c, o, "rate_limiter", &cmd->u.entropy.rate_limiter));
	return 0;
}

/* Firecracker's balloon bodies. The interval and the amount are u32 there (and in the
 * virtio configuration, in pages: amount_mib << 8 must fit). */
#define BALLOON_MIB_MAX (UINT32_MAX >> 8)

static int body_balloon_put(struct pctx *c, const json_t *o, const char *path_id,
                            struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {
	    "amount_mib",        "deflate_on_oom",      "stats_polling_interval_s",
	    "free_page_hinting", "free_page_reporting", NULL};
	struct ctl_balloon *b = &cmd->u.balloon;
	uint64_t v = 0;
	bool on = false;
	TRY(check_keys(c, o, keys));
	TRY(get_uint(c, o, "amount_mib", REQ, 0, BALLOON_MIB_MAX, &v, &b->has_amount_mib));
	b->amount_mib = (uint32_t)v;
	TRY(get_bool(c, o, "deflate_on_oom", REQ, &b->deflate_on_oom, NULL));
	v = 0;
	TRY(get_uint(c, o, "stats_polling_interval_s", OPT, 0, UINT32_MAX, &v, &b->has_interval));
	b->stats_polling_interval_s = (uint32_t)v;
	TRY(get_bool(c, o, "free_page_hinting", OPT, &on, NULL));
	if (on)
		return fail(c,
		            "field 'free_page_hinting' in %s: free page hinting is not supported",
		            c->where);
	TRY(get_bool(c, o, "free_page_reporting", OPT, &b->free_page_reporting, NULL));
	return 0;
}

static int body_balloon_patch(struct pctx *c, const json_t *o, const char *path_id,
                              struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"amount_mib", NULL};
	uint64_t v = 0;
	TRY(check_keys(c, o, keys));
	TRY(get_uint(c, o, "amount_mib", REQ, 0, BALLOON_MIB_MAX, &v,
	             &cmd->u.balloon.has_amount_mib));
	cmd->u.balloon.amount_mib = (uint32_t)v;
	return 0;
}

static int body_balloon_stats_patch(struct pctx *c, const json_t *o, const char *path_id,
                                    struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"stats_polling_interval_s", NULL};
	uint64_t v = 0;
	TRY(check_keys(c, o, keys));
	TRY(get_uint(c, o, "stats_polling_interval_s", REQ, 0, UINT32_MAX, &v,
	             &cmd->u.balloon.has_interval));
	cmd->u.balloon.stats_polling_interval_s = (uint32_t)v;
	return 0;
}

static int body_logger(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"log_path",        "level",  "show_level",
	                                   "show_log_origin", "module", NULL};
	/* In enum ctl_log_level's order. */
	static const char *const levels[] = {"Off",   "Error", "Warning", "Info",
	                                     "Debug", "Trace", NULL};
	struct ctl_logger *l = &cmd->u.logger;
	const char *s;
	size_t n;
	int e = 0, rc;

	TRY(check_keys(c, o, keys));
	TRY(get_str(c, o, "log_path", NONEMPTY, l->log_path, sizeof(l->log_path),
	            &l->has_log_path));
	TRY(get_enum(c, o, "level", OPT, levels, true, &e, &l->has_level));
	l->level = (enum ctl_log_level)e;
	TRY(get_bool(c, o, "show_level", OPT, &l->show_level, &l->has_show_level));
	TRY(get_bool(c, o, "show_log_origin", OPT, &l->show_log_origin, &l->has_show_log_origin));
	rc = str_member(c, o, "module", OPT, &s, &n);
	TRY(rc);
	/* "": every module, as Firecracker's empty prefix. */
	if (rc && n && (n >= sizeof(l->module) || strlen(s) != n || !log_module_ok(s)))
		return fail(
		    c,
		    "field 'module' in %s: '%s' is not one of Ember's log modules (api, "
		    "vmm, virtio, devices, arch, base, acpi, seccomp, main, or one of their "
		    "files as virtio/blk)",
		    c->where, s);
	l->has_module = rc > 0;
	if (rc)
		memcpy(l->module, s, n + 1);
	return 0;
}

static int body_serial(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"serial_out_path", "rate_limiter", NULL};
	struct ctl_serial *sc = &cmd->u.serial;
	TRY(check_keys(c, o, keys));
	TRY(refuse(c, o, "rate_limiter", "a rate limit on the serial console is not supported"));
	TRY(get_str(c, o, "serial_out_path", NONEMPTY, sc->serial_out_path,
	            sizeof(sc->serial_out_path), NULL));
	return 0;
}

static int body_metrics(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)path_id;
	static const char *const keys[] = {"metrics_path", "emit_id", "properties", NULL};
	struct ctl_metrics *m = &cmd->u.metrics;
	const json_t *props;
	bool emit_id = false;
	int rc;

	TRY(check_keys(c, o, keys));
	TRY(get_str(c, o, "metrics_path", REQ | NONEMPTY, m->metrics_path, sizeof(m->metrics_path),
	            NULL));
	TRY(get_bool(c, o, "emit_id", OPT, &emit_id, NULL));
	if (emit_id)
		return fail(c, "field 'emit_id' in %s: emitting an instance id is not supported",
		            c->where);
	props = member(o, "properties", OPT, c, &rc);
	if (props && !json_is_object(props))
		return wrong_type(c, "properties", props, "an object");
	if (props && json_object_size(props))
		return fail(c, "field 'properties' in %s: metrics properties are not supported",
		            c->where);
	return 0;
}

static int body_snapshot_create(struct pctx *c, const json_t *o, const char *path_id,
                                struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"snapshot_path", "mem_file_path", "snapshot_type",
	                                   "version", NULL};
	static const char *const types[] = {"Full", "Diff", NULL};
	struct ctl_snapshot_create *a = &cmd->u.snap;
	const char *s;
	size_t n;
	int e = 0;

	(void)path_id;
	TRY(check_keys(c, o, keys));
	TRY(get_str(c, o, "snapshot_path", REQ | NONEMPTY, a->snapshot_path,
	            sizeof(a->snapshot_path), NULL));
	TRY(get_str(c, o, "mem_file_path", REQ | NONEMPTY, a->mem_file_path,
	            sizeof(a->mem_file_path), NULL));
	if (!strcmp(a->snapshot_path, a->mem_file_path))
		return fail(c, "snapshot_path and mem_file_path in %s are the same file '%.100s'",
		            c->where, a->snapshot_path);
	TRY(get_enum(c, o, "snapshot_type", OPT, types, false, &e, NULL));
	a->diff = e == 1;
	/* Older clients send the target version; there is one format, so it is only checked. */
	TRY(str_member(c, o, "version", OPT, &s, &n));
	return 0;
}

/* mem_backend {backend_type, backend_path}: a File is mapped; Uffd is refused. */
static int snapshot_mem_backend(struct pctx *c, const json_t *b, struct ctl_snapshot_load *l)
{
	static const char *const keys[] = {"backend_type", "backend_path", NULL};
	static const char *const types[] = {"File", "Uffd", NULL};
	struct pctx in = {"snapshot/load's mem_backend", c->err, c->errlen};
	int e = 0;

	if (!json_is_object(b))
		return wrong_type(c, "mem_backend", b, "an object");
	TRY(check_keys(&in, b, keys));
	TRY(get_enum(&in, b, "backend_type", REQ, types, false, &e, NULL));
	if (e == 1)
		return fail(c,
		            "field 'backend_type' in %s: \"Uffd\" (a page-fault handler process) "
		            "is not supported; use \"File\": Ember maps the memory file "
		            "copy-on-write, so pages load lazily and clones share them",
		            in.where);
	TRY(get_str(&in, b, "backend_path", REQ | NONEMPTY, l->mem_file_path,
	            sizeof(l->mem_file_path), NULL));
	return 0;
}

/* network_overrides [{iface_id, host_dev_name}]: each id once. */
static int snapshot_net_overrides(struct pctx *c, const json_t *a, struct ctl_snapshot_load *l)
{
	static const char *const keys[] = {"iface_id", "host_dev_name", NULL};
	if (!json_is_array(a))
		return wrong_type(c, "network_overrides", a, "an array");
	if (json_array_size(a) > CONFIG_MAX_NETS)
		return fail(c, "field 'network_overrides' in %s: at most %d interfaces", c->where,
		            CONFIG_MAX_NETS);
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		char where[64];
		snprintf(where, sizeof(where), "network_overrides[%zu]", i);
		struct pctx in = {where, c->err, c->errlen};
		const char *s;
		size_t n;
		if (!json_is_object(v))
			return fail(c, "%s in %s must be an object, not %s", where, c->where,
			            type_name(v));
		TRY(check_keys(&in, v, keys));
		TRY(get_id(&in, v, "iface_id", "network interface", NULL, l->nets[i].iface_id));
		for (size_t k = 0; k < i; k++)
			if (!strcmp(l->nets[k].iface_id, l->nets[i].iface_id))
				return fail(c, "interface '%s' is overridden twice in %s",
				            l->nets[i].iface_id, c->where);
		TRY(str_member(&in, v, "host_dev_name", REQ, &s, &n));
		if (n < 1 || n >= sizeof(l->nets[i].host_dev_name) || strchr(s, '/'))
			return fail(c,
			            "field 'host_dev_name' in %s: tap name '%.100s' must be 1 to "
			            "%zu bytes without '/'",
			            where, s, sizeof(l->nets[i].host_dev_name) - 1);
		memcpy(l->nets[i].host_dev_name, s, n + 1);
		l->nnets = (unsigned)i + 1;
	}
	return 0;
}

static int body_snapshot_load(struct pctx *c, const json_t *o, const char *path_id,
                              struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"snapshot_path",
	                                   "mem_file_path",
	                                   "mem_backend",
	                                   "enable_diff_snapshots",
	                                   "track_dirty_pages",
	                                   "resume_vm",
	                                   "network_overrides",
	                                   "vsock_override",
	                                   "clock_realtime",
	                                   "huge_pages",
	                                   NULL};
	static const char *const vkeys[] = {"uds_path", NULL};
	static const char *const huge[] = {"Snapshot", "None", "Transparent", "2M", NULL};
	struct ctl_snapshot_load *l = &cmd->u.load;
	bool has_file = false, old_diff = false;
	int rc, e = 0;

	(void)path_id;
	TRY(check_keys(c, o, keys));
	TRY(get_str(c, o, "snapshot_path", REQ | NONEMPTY, l->snapshot_path,
	            sizeof(l->snapshot_path), NULL));
	TRY(get_str(c, o, "mem_file_path", NONEMPTY, l->mem_file_path, sizeof(l->mem_file_path),
	            &has_file));
	const json_t *b = member(o, "mem_backend", OPT, c, &rc);
	if (has_file == (b != NULL))
		return fail(c, "%s needs exactly one of mem_backend and mem_file_path", c->where);
	if (b)
		TRY(snapshot_mem_backend(c, b, l));
	TRY(get_bool(c, o, "enable_diff_snapshots", OPT, &old_diff, NULL));
	TRY(get_bool(c, o, "track_dirty_pages", OPT, &l->track_dirty_pages, NULL));
	l->track_dirty_pages |= old_diff;
	TRY(get_bool(c, o, "resume_vm", OPT, &l->resume_vm, NULL));
	TRY(get_bool(c, o, "clock_realtime", OPT, &l->clock_realtime, NULL));
	const json_t *a = member(o, "network_overrides", OPT, c, &rc);
	if (a)
		TRY(snapshot_net_overrides(c, a, l));
	const json_t *v = member(o, "vsock_override", OPT, c, &rc);
	if (v) {
		struct pctx in = {"snapshot/load's vsock_override", c->err, c->errlen};
		if (!json_is_object(v))
			return wrong_type(c, "vsock_override", v, "an object");
		TRY(check_keys(&in, v, vkeys));
		TRY(get_str(&in, v, "uds_path", REQ | NONEMPTY, l->vsock_uds, sizeof(l->vsock_uds),
		            &l->has_vsock_uds));
	}
	TRY(get_enum(c, o, "huge_pages", OPT, huge, false, &e, NULL));
	/* "Snapshot" (the default) is 0; "None" and "Transparent" 1 + their enum huge_pages. */
	l->huge_pages = e == 2 ? 1 + HUGE_PAGES_TRANSPARENT : e == 1 ? 1 + HUGE_PAGES_NONE : 0;
	if (e == 3)
		return fail(c,
		            "field 'huge_pages' in %s: \"2M\" (hugetlbfs) pages need a Uffd "
		            "backend, which is not supported",
		            c->where);
	return 0;
}

/* action_type names the op: the rows of PUT /actions, each with its action name. */
static int body_action(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"action_type", NULL};
	const char *types[CTL_OP_COUNT + 1];
	enum ctl_op ops[CTL_OP_COUNT];
	int n = 0, e = 0;

	(void)path_id;
	for (int op = 0; op < CTL_OP_COUNT; op++)
		if (api_endpoints[op].action) {
			types[n] = api_endpoints[op].action;
			ops[n++] = (enum ctl_op)op;
		}
	types[n] = NULL;
	TRY(check_keys(c, o, keys));
	TRY(get_enum(c, o, "action_type", REQ, types, false, &e, NULL));
	cmd->op = ops[e];
	return 0;
}

static int body_vm(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"state", NULL};
	static const char *const states[] = {"Paused", "Resumed", NULL};
	int e = 0;
	(void)path_id;
	TRY(check_keys(c, o, keys));
	TRY(get_enum(c, o, "state", REQ, states, false, &e, NULL));
	cmd->u.vm.paused = e == 0;
	return 0;
}

/* PUT and PATCH /mmds: any JSON object, kept by reference until api_cmd_release. */
static int body_mmds(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)c, (void)path_id;
	cmd->u.mmds.data = json_incref((json_t *)o);
	return 0;
}

/* "a.b.c.d", each part 0..255 without leading zeros, into host order. */
static bool parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned part = 0, digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			part = part * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (!digits || part > 255 || (digits > 1 && s[-(int)digits] == '0'))
			return false;
		v = v << 8 | part;
		if (i < 3 && *s++ != '.')
			return false;
	}
	*out = v;
	return *s == '\0';
}

static int body_mmds_config(struct pctx *c, const json_t *o, const char *path_id,
                            struct ctl_cmd *cmd)
{
	static const char *const keys[] = {"version", "network_interfaces", "ipv4_address",
	                                   "imds_compat", NULL};
	static const char *const versions[] = {"V1", "V2", NULL};
	struct mmds_config *m = &cmd->u.mmds_config;
	const char *s;
	size_t n;
	int e = 0, rc;

	(void)path_id;
	TRY(check_keys(c, o, keys));
	TRY(get_enum(c, o, "version", OPT, versions, false, &e, NULL));
	m->v2 = e == 1;
	TRY(get_bool(c, o, "imds_compat", OPT, &m->imds_compat, NULL));
	const json_t *a = member(o, "network_interfaces", REQ, c, &rc);
	TRY(rc);
	if (!json_is_array(a))
		return wrong_type(c, "network_interfaces", a, "an array");
	if (json_array_size(a) == 0)
		return fail(c, "The list of network interface IDs that allow forwarding MMDS "
		               "requests is empty.");
	if (json_array_size(a) > CONFIG_MAX_NETS)
		return fail(c, "field 'network_interfaces' in %s: at most %d interfaces", c->where,
		            CONFIG_MAX_NETS);
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		if (!json_is_string(v) || !config_id_ok(json_string_value(v)))
			return fail(
			    c,
			    "network_interfaces[%zu] in %s must be an interface id: 1 to %d "
			    "letters, digits, '_' or '-'",
			    i, c->where, CONFIG_ID_MAX);
		memcpy(m->ifaces[i], json_string_value(v), json_string_length(v) + 1);
		m->nifaces = (unsigned)i + 1;
	}
	m->ipv4 = MMDS_DEFAULT_IPV4;
	rc = str_member(c, o, "ipv4_address", OPT, &s, &n);
	TRY(rc);
	if (rc && !parse_ipv4(s, &m->ipv4))
		return fail(c, "field 'ipv4_address' in %s must be an IPv4 address, not \"%.100s\"",
		            c->where, s);
	if ((m->ipv4 >> 16) != 0xa9fe)
		return fail(c, "The MMDS IPv4 address is not link local.");
	m->enabled = true;
	return 0;
}

void api_cmd_release(struct ctl_cmd *cmd)
{
	if (cmd->op == CTL_PUT_MMDS || cmd->op == CTL_PATCH_MMDS) {
		json_decref(cmd->u.mmds.data);
		cmd->u.mmds.data = NULL;
	}
}

/* GET requests: a body is refused before it gets here; a config file never names them. */
static int body_none(struct pctx *c, const json_t *o, const char *path_id, struct ctl_cmd *cmd)
{
	(void)o, (void)path_id, (void)cmd;
	return fail(c, "%s takes no body", c->where);
}

int api_json_body(enum ctl_op op, const char *path_id, const char *where, const json_t *body,
                  struct ctl_cmd *cmd, char *err, size_t errlen)
{
	struct pctx c = {.where = where, .err = err, .errlen = errlen};

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = op;
	if ((unsigned)op >= CTL_OP_COUNT)
		return fail(&c, "%s: no such request", where);
	if (!json_is_object(body))
		return fail(&c, "%s must be a JSON object, not %s", where, type_name(body));
	return api_endpoints[op].parse(&c, body, path_id, cmd);
}

/* ---- the endpoints ---- */

#define AFTER_START  "The requested operation is not supported after starting the microVM."
#define BEFORE_START "The requested operation is not supported before starting the microVM."

/*
 * Every endpoint of the API, one row each, indexed by its op. A path with an id ends with
 * '/' and takes exactly one more segment, the resource's id (id_what names it in
 * messages). Routes are matched in this order. The rows of PUT /actions share the route:
 * the body's action_type picks the row by its action name.
 */
const struct api_endpoint api_endpoints[CTL_OP_COUNT] = {
    [CTL_GET_INFO] = {"GET", "/", NULL, NULL, "get_instance_info", body_none, ctl_get_info, API_ANY,
                      NULL},
    [CTL_GET_VERSION] = {"GET", "/version", NULL, NULL, "get_version", body_none, ctl_get_version,
                         API_ANY, NULL},
    [CTL_GET_VM_CONFIG] = {"GET", "/vm/config", NULL, NULL, "get_vm_config", body_none,
                           ctl_get_vm_config, API_ANY, NULL},
    [CTL_GET_MACHINE_CONFIG] = {"GET", "/machine-config", NULL, NULL, "get_machine_config",
                                body_none, ctl_get_machine_config, API_ANY, NULL},
    [CTL_PUT_BOOT_SOURCE] = {"PUT", "/boot-source", NULL, NULL, "put_boot_source", body_boot_source,
                             ctl_put_boot_source, API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_MACHINE_CONFIG] = {"PUT", "/machine-config", NULL, NULL, "put_machine_config",
                                body_machine_config_put, ctl_put_machine_config, API_BEFORE_BOOT,
                                AFTER_START},
    [CTL_PATCH_MACHINE_CONFIG] = {"PATCH", "/machine-config", NULL, NULL, "patch_machine_config",
                                  body_machine_config_patch, ctl_patch_machine_config,
                                  API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_DRIVE] = {"PUT", "/drives/", "drive", NULL, "put_drive", body_drive_put, ctl_put_drive,
                       API_BEFORE_BOOT, AFTER_START},
    /* After boot only, as Firecracker: a new backing file for a running drive. */
    [CTL_PATCH_DRIVE] = {"PATCH", "/drives/", "drive", NULL, "patch_drive", body_drive_patch,
                         ctl_patch_drive, API_AFTER_BOOT, BEFORE_START},
    [CTL_PUT_NET] = {"PUT", "/network-interfaces/", "network interface", NULL,
                     "put_network_interface", body_net_put, ctl_put_net, API_BEFORE_BOOT,
                     AFTER_START},
    [CTL_PATCH_NET] = {"PATCH", "/network-interfaces/", "network interface", NULL,
                       "patch_network_interface", body_net_patch, ctl_patch_net, API_AFTER_BOOT,
                       BEFORE_START},
    [CTL_PUT_VSOCK] = {"PUT", "/vsock", NULL, NULL, "put_vsock", body_vsock, ctl_put_vsock,
                       API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_ENTROPY] = {"PUT", "/entropy", NULL, NULL, "put_entropy", body_entropy,
                         ctl_put_entropy, API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_LOGGER] = {"PUT", "/logger", NULL, NULL, "put_logger", body_logger, ctl_put_logger,
                        API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_METRICS] = {"PUT", "/metrics", NULL, NULL, "put_metrics", body_metrics,
                         ctl_put_metrics, API_BEFORE_BOOT, AFTER_START},
    [CTL_PUT_SERIAL] = {"PUT", "/serial", NULL, NULL, "put_serial", body_serial, ctl_put_serial,
                        API_BEFORE_BOOT, AFTER_START},
    /* Before boot Firecracker refuses it too (its metrics flush on their own period). */
    [CTL_ACTION_FLUSH_METRICS] = {"PUT", "/actions", NULL, "FlushMetrics", "flush_metrics",
                                  body_action, ctl_flush_metrics_action, API_AFTER_BOOT,
                                  BEFORE_START},
    [CTL_ACTION_INSTANCE_START] = {"PUT", "/actions", NULL, "InstanceStart", "instance_start",
                                   body_action, ctl_instance_start, API_BEFORE_BOOT,
                                   "The microVM is already running: InstanceStart was "
                                   "already done."},
    [CTL_ACTION_SEND_CTRL_ALT_DEL] = {"PUT", "/actions", NULL, "SendCtrlAltDel",
                                      "send_ctrl_alt_del", body_action, ctl_send_ctrl_alt_del,
                                      API_AFTER_BOOT,
                                      "SendCtrlAltDel needs a running microVM "
                                      "(InstanceStart first)."},
    [CTL_PATCH_VM] = {"PATCH", "/vm", NULL, NULL, "patch_vm", body_vm, ctl_patch_vm, API_AFTER_BOOT,
                      "the microVM is not running (InstanceStart first)"},
    [CTL_PUT_SNAPSHOT_CREATE] = {"PUT", "/snapshot/create", NULL, NULL, "create_snapshot",
                                 body_snapshot_create, ctl_snapshot_create, API_AFTER_BOOT,
                                 "Cannot create a snapshot of a microVM that is not running "
                                 "(InstanceStart or a snapshot load first)."},
    [CTL_PUT_SNAPSHOT_LOAD] = {"PUT", "/snapshot/load", NULL, NULL, "load_snapshot",
                               body_snapshot_load, ctl_snapshot_load, API_BEFORE_BOOT,
                               "Loading a microVM snapshot not allowed after the microVM has "
                               "started or loaded a snapshot."},
    [CTL_GET_MMDS] = {"GET", "/mmds", NULL, NULL, "get_mmds", body_none, ctl_get_mmds, API_ANY,
                      NULL},
    [CTL_PUT_MMDS] = {"PUT", "/mmds", NULL, NULL, "put_mmds", body_mmds, ctl_put_mmds, API_ANY,
                      NULL},
    [CTL_PATCH_MMDS] = {"PATCH", "/mmds", NULL, NULL, "patch_mmds", body_mmds, ctl_patch_mmds,
                        API_ANY, NULL},
    [CTL_PUT_MMDS_CONFIG] = {"PUT", "/mmds/config", NULL, NULL, "put_mmds_config", body_mmds_config,
                             ctl_put_mmds_config, API_BEFORE_BOOT, AFTER_START},
    [CTL_GET_BALLOON] = {"GET", "/balloon", NULL, NULL, "get_balloon", body_none, ctl_get_balloon,
                         API_ANY, NULL},
    [CTL_PUT_BALLOON] = {"PUT", "/balloon", NULL, NULL, "put_balloon", body_balloon_put,
                         ctl_put_balloon, API_BEFORE_BOOT, AFTER_START},
    [CTL_PATCH_BALLOON] = {"PATCH", "/balloon", NULL, NULL, "patch_balloon", body_balloon_patch,
                           ctl_patch_balloon, API_ANY, NULL},
    [CTL_GET_BALLOON_STATS] = {"GET", "/balloon/statistics", NULL, NULL, "get_balloon_stats",
                               body_none, ctl_get_balloon_stats, API_ANY, NULL},
    [CTL_PATCH_BALLOON_STATS] = {"PATCH", "/balloon/statistics", NULL, NULL, "patch_balloon_stats",
                                 body_balloon_stats_patch, ctl_patch_balloon_stats, API_ANY, NULL},
};

/* Debug: the request's route; Info: its name and status, with the fault message of a
 * refusal; Debug: a successful reply's body. On the vmm thread (the API thread's filter
 * has no room for the log's calls). */
static void log_reply(const struct api_endpoint *e, const struct ctl_reply *r)
{
	const char *name = e ? e->name : "request";
	if (e)
		log_debug("API request %s %s%s", e->method, e->path, e->id_what ? "{id}" : "");
	if (r->status >= 400)
		log_info("API %s: %d %.*s", name, r->status, (int)r->len, r->body);
	else
		log_info("API %s: %d", name, r->status);
	if (r->status < 400 && r->len)
		log_debug("API %s: reply %.*s", name, (int)r->len, r->body);
}

void api_execute(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	if ((unsigned)cmd->op >= CTL_OP_COUNT) {
		ctl_reply_fault(r, "no such request");
		return;
	}
	const struct api_endpoint *e = &api_endpoints[cmd->op];
	/* Counted before it runs, as Firecracker counts at parse time: a FlushMetrics is in
	 * the line it writes. */
	ctl_count(c, cmd->op, false);
	if (!(e->when & (c->started ? API_AFTER_BOOT : API_BEFORE_BOOT)))
		ctl_reply_fault(r, "%s", e->refusal);
	else
		e->execute(c, cmd, r);
	if (r->status >= 400)
		c->stats.fails[cmd->op]++;
	log_reply(e, r);
}

void api_refused(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	bool known = (unsigned)cmd->op < CTL_OP_COUNT;
	if (known)
		ctl_count(c, cmd->op, true);
	log_reply(known ? &api_endpoints[cmd->op] : NULL, r);
}

const char *api_op_name(enum ctl_op op)
{
	return (unsigned)op < CTL_OP_COUNT ? api_endpoints[op].name : "unknown";
}

int api_command(struct ctl *c, const struct ctl_cmd *cmd, char *err, size_t errlen)
{
	static struct ctl_reply reply; /* the vmm thread is the only caller */
	api_execute(c, cmd, &reply);
	if (reply.status < 400)
		return 0;
	/* The fault_message of the reply's JSON body, or the body itself should it not be
	 * that shape. */
	json_t *body = json_loadb(reply.body, reply.len, 0, NULL);
	const char *msg = json_string_value(json_object_get(body, "fault_message"));
	if (msg)
		snprintf(err, errlen, "%s", msg);
	else
		snprintf(err, errlen, "%.*s", (int)reply.len, reply.body);
	json_decref(body);
	return -EINVAL;
}

const struct api_endpoint *api_route_find(const char *method, const char *path, const char **id)
{
	*id = NULL;
	for (size_t op = 0; op < CTL_OP_COUNT; op++) {
		const struct api_endpoint *r = &api_endpoints[op];
		if (strcmp(r->method, method))
			continue;
		if (!r->id_what && !strcmp(r->path, path))
			return r;
		size_t n = strlen(r->path);
		if (r->id_what && !strncmp(r->path, path, n)) {
			*id = path + n;
			return r;
		}
	}
	return NULL;
}

int api_parse(const char *method, const char *path, const char *body, size_t len,
              struct ctl_cmd *cmd, struct ctl_reply *reply)
{
	const char *id = NULL;
	char err[API_ERR_MAX];
	json_error_t jerr;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = CTL_OP_COUNT; /* no route: refusals count against none */
	const struct api_endpoint *r = api_route_find(method, path, &id);
	if (!r) {
		ctl_reply_fault(reply, "Invalid request method and/or path: %.16s %.256s", method,
		                path);
		return -EINVAL;
	}
	cmd->op = (enum ctl_op)(r - api_endpoints);
	if (id && !config_id_ok(id)) {
		ctl_reply_fault(reply, "%s id '%.100s' in the path must be 1 to %d " CONFIG_ID_RULE,
		                r->id_what, id, CONFIG_ID_MAX);
		return -EINVAL;
	}
	if (!strcmp(method, "GET")) {
		if (len) {
			ctl_reply_fault(reply, "GET %s takes no body", path);
			return -EINVAL;
		}
		return 0;
	}
	if (!len) {
		ctl_reply_fault(reply, "%s %s needs a JSON object as its body", method, path);
		return -EINVAL;
	}
	/* Duplicate keys are refused: which one wins would be a guess. Trailing bytes after
	 * the value are refused by default. */
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		ctl_reply_fault(reply,
		                "the body of %s %s is not valid JSON: %s (line %d, column %d)",
		                method, path, jerr.text, jerr.line, jerr.column);
		return -EINVAL;
	}
	int rc = api_json_body((enum ctl_op)(r - api_endpoints), id, path + 1, root, cmd, err,
	                       sizeof(err));
	json_decref(root);
	if (rc < 0) {
		memset(cmd, 0, sizeof(*cmd));
		cmd->op = (enum ctl_op)(r - api_endpoints);
		ctl_reply_fault(reply, "%s", err);
	}
	return rc;
}
