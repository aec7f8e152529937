/*
 * The controller's JSON: replies (faults, the GET endpoints, GET /vm/config as
 * Firecracker's FullVmConfiguration) and the metrics line. Rendering only: requests are
 * parsed by the front ends.
 */
#include "controller.h"
#include "../base/log.h"
#include "../virtio/balloon.h"
#include "../virtio/virtio.h"
#include "metrics.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- strings ---- */

/* The length of the valid UTF-8 sequence at p (n bytes left, n >= 1), or 0 if there is none:
 * no overlong forms, no surrogates, nothing above U+10FFFF (what jansson accepts). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	uint32_t cp, min;
	size_t len;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

struct json_t *ctl_json_string(const char *s)
{
	size_t n = strlen(s), o = 0;
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	/* Not UTF-8 (or no memory): replace what is not. Each byte becomes at most 3. */
	unsigned char *buf = malloc(n * 3 + 1);
	if (!buf)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(p + i, n - i);
		if (len) {
			memcpy(buf + o, p + i, len);
			o += len;
			i += len;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn((const char *)buf, o);
	free(buf);
	return j;
}

/* ---- replies ---- */

void ctl_reply_no_content(struct ctl_reply *r)
{
	r->status = 204;
	r->len = 0;
	r->body[0] = '\0';
}

void ctl_reply_fault(struct ctl_reply *r, const char *fmt, ...)
{
	/* The body stays small whatever the message quotes (a long path, say). */
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	r->status = 400;
	json_t *o = json_object();
	json_t *s = ctl_json_string(msg);
	size_t n = 0;
	if (o && s && json_object_set_new(o, "fault_message", s) == 0)
		n = json_dumpb(o, r->body, sizeof(r->body) - 1, JSON_COMPACT);
	else
		json_decref(s);
	json_decref(o);
	if (n == 0 || n >= sizeof(r->body)) {
		static const char oom[] = "{\"fault_message\":\"out of memory\"}";
		memcpy(r->body, oom, sizeof(oom));
		n = sizeof(oom) - 1;
	}
	r->len = n;
	r->body[n] = '\0';
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
	return s[0] ? ctl_json_string(s) : json_null();
}

static json_t *render_boot_source(struct builder *b, const struct vm_config *cfg)
{
	json_t *o = json_object();
	json_t *args = NULL;
	/* Ember has one command line: the default or --cmdline, and --append's words. */
	size_t n = strlen(cfg->cmdline) + (cfg->append[0] ? 1 + strlen(cfg->append) : 0) + 1;
	char *full = malloc(n);
	if (full && config_full_cmdline(cfg, full, n) >= 0)
		args = ctl_json_string(full);
	free(full);
	/* No kernel yet: "" as Firecracker shows an unset boot source. */
	set(b, o, "kernel_image_path", ctl_json_string(cfg->kernel_path));
	set(b, o, "initrd_path", str_or_null(cfg->initrd_path));
	set(b, o, "boot_args", args);
	return o;
}

static json_t *render_bucket(struct builder *b, const struct token_bucket_config *t)
{
	if (!tb_config_on(t))
		return json_null();
	json_t *o = json_object();
	set(b, o, "size", json_integer((json_int_t)t->size));
	set(b, o, "one_time_burst", json_integer((json_int_t)t->one_time_burst));
	set(b, o, "refill_time", json_integer((json_int_t)t->refill_time_ms));
	return o;
}

/* Firecracker's RateLimiter, or null when neither bucket limits. */
static json_t *render_rate_limiter(struct builder *b, const struct rate_limiter_config *rl)
{
	if (!rl_config_on(rl))
		return json_null();
	json_t *o = json_object();
	set(b, o, "bandwidth", render_bucket(b, &rl->bandwidth));
	set(b, o, "ops", render_bucket(b, &rl->ops));
	return o;
}

static json_t *render_drive(struct builder *b, const struct drive_config *d)
{
	json_t *o = json_object();
	set(b, o, "drive_id", str_or_null(d->id));
	set(b, o, "partuuid", json_null());
	set(b, o, "is_root_device", json_boolean(d->is_root));
	set(b, o, "cache_type",
	    json_string(d->cache == DRIVE_CACHE_UNSAFE ? "Unsafe" : "Writeback"));
	set(b, o, "is_read_only", json_boolean(d->read_only));
	set(b, o, "path_on_host", str_or_null(d->path));
	set(b, o, "rate_limiter", render_rate_limiter(b, &d->rate_limiter));
	/* auto is io_uring unless the host cannot: it is asked for as "Async". */
	set(b, o, "io_engine", json_string(d->engine == DRIVE_ENGINE_SYNC ? "Sync" : "Async"));
	set(b, o, "socket", json_null());
	return o;
}

static const char *huge_pages_name(enum huge_pages h)
{
	return h == HUGE_PAGES_TRANSPARENT ? "Transparent" : "None";
}

static json_t *render_machine(struct builder *b, const struct vm_config *cfg)
{
	json_t *o = json_object();
	set(b, o, "vcpu_count", json_integer(cfg->vcpus));
	set(b, o, "mem_size_mib", json_integer((json_int_t)cfg->mem_mib));
	set(b, o, "smt", json_false());
	set(b, o, "track_dirty_pages", json_boolean(cfg->track_dirty_pages));
	set(b, o, "huge_pages", json_string(huge_pages_name(cfg->huge_pages)));
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
	set(b, o, "rx_rate_limiter", render_rate_limiter(b, &n->rx_rate_limiter));
	set(b, o, "tx_rate_limiter", render_rate_limiter(b, &n->tx_rate_limiter));
	return o;
}

static json_t *render_vsock(struct builder *b, const struct vsock_config *v)
{
	if (!v->enabled)
		return json_null();
	json_t *o = json_object();
	set(b, o, "vsock_id", str_or_null(v->id));
	set(b, o, "guest_cid", json_integer(v->guest_cid));
	set(b, o, "uds_path", str_or_null(v->uds_path));
	return o;
}

static json_t *render_balloon(struct builder *b, const struct balloon_config *bc)
{
	if (!bc->enabled)
		return json_null();
	json_t *o = json_object();
	set(b, o, "amount_mib", json_integer(bc->amount_mib));
	set(b, o, "deflate_on_oom", json_boolean(bc->deflate_on_oom));
	set(b, o, "stats_polling_interval_s", json_integer(bc->stats_polling_interval_s));
	set(b, o, "free_page_reporting", json_boolean(bc->free_page_reporting));
	return o;
}

static json_t *render_entropy(struct builder *b, const struct vm_config *cfg)
{
	if (!cfg->entropy)
		return json_null();
	json_t *o = json_object();
	set(b, o, "rate_limiter", render_rate_limiter(b, &cfg->entropy_rate_limiter));
	return o;
}

static json_t *render_mmds(struct builder *b, const struct mmds_config *m)
{
	if (!m->enabled)
		return json_null();
	json_t *o = json_object();
	json_t *ifaces = json_array();
	char ip[16];
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", m->ipv4 >> 24, (m->ipv4 >> 16) & 255,
	         (m->ipv4 >> 8) & 255, m->ipv4 & 255);
	for (unsigned i = 0; i < m->nifaces && i < CONFIG_MAX_NETS; i++)
		append(b, ifaces, ctl_json_string(m->ifaces[i]));
	set(b, o, "version", json_string(m->v2 ? "V2" : "V1"));
	set(b, o, "network_interfaces", ifaces);
	set(b, o, "ipv4_address", json_string(ip));
	set(b, o, "imds_compat", json_boolean(m->imds_compat));
	return o;
}

void ctl_render_vm_config(const struct vm_config *cfg, struct ctl_reply *r)
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
	set(&b, root, "balloon", render_balloon(&b, &cfg->balloon));
	set(&b, root, "network-interfaces", nets);
	set(&b, root, "vsock", render_vsock(&b, &cfg->vsock));
	set(&b, root, "logger", json_null());
	set(&b, root, "metrics", json_null());
	set(&b, root, "mmds-config", render_mmds(&b, &cfg->mmds));
	set(&b, root, "entropy", render_entropy(&b, cfg));

	/* Room for the newline that ends the body, and a NUL for whoever prints it. */
	size_t n = 0;
	if (!b.failed)
		n = json_dumpb(root, r->body, sizeof(r->body) - 2, JSON_INDENT(2));
	json_decref(root);
	if (b.failed || n == 0) {
		ctl_reply_fault(r, "out of memory rendering the VM configuration");
		r->status = 500;
		return;
	}
	if (n > sizeof(r->body) - 2) {
		ctl_reply_fault(r, "the VM configuration is larger than a reply (%zu bytes)", n);
		r->status = 500;
		return;
	}
	r->body[n++] = '\n';
	r->body[n] = '\0';
	r->len = n;
	r->status = 200;
}

/* ---- the GET endpoints ---- */

static void reply_json(struct ctl_reply *r, json_t *j)
{
	r->status = 200;
	r->len =
	    j ? json_dumpb(j, r->body, sizeof(r->body), JSON_PRESERVE_ORDER | JSON_COMPACT) : 0;
	if (r->len > sizeof(r->body))
		r->len = 0;
	json_decref(j);
}

void ctl_get_info(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)cmd;
	reply_json(r, json_pack("{s:s, s:s, s:s, s:s}", "id", c->set.id, "state", ctl_state_name(c),
	                        "vmm_version", EMBER_VERSION, "app_name", "Ember"));
}

void ctl_get_version(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)c, (void)cmd;
	reply_json(r, json_pack("{s:s}", "firecracker_version", EMBER_VERSION));
}

void ctl_get_vm_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)cmd;
	ctl_render_vm_config(&c->cfg, r);
}

void ctl_get_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct vm_config *cfg = &c->cfg;
	(void)cmd;
	reply_json(r, json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", (int)cfg->vcpus,
	                        "mem_size_mib", (json_int_t)cfg->mem_mib, "smt", 0,
	                        "track_dirty_pages", (int)cfg->track_dirty_pages, "huge_pages",
	                        huge_pages_name(cfg->huge_pages)));
}

/* GET /mmds: the store as it is (Firecracker's: "null" before the first PUT). */
void ctl_get_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)cmd;
	long n = mmds_store_dump(&c->mmds, r->body, sizeof(r->body));
	if (n < 0) {
		ctl_reply_fault(r, "the MMDS data store is larger than a reply");
		r->status = 500;
		return;
	}
	r->status = 200;
	r->len = (size_t)n;
}

/* ---- metrics ---- */

_Static_assert(MSRC_LAT_LOAD_SNAP - MSRC_LAT_PAUSE + 1 == CTL_LAT_COUNT,
               "the controller's latencies and the metrics' sources, in one order");

void ctl_flush_metrics(struct ctl *c)
{
	static struct metrics_sample s; /* the vmm thread's */
	if (c->metrics_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&s, 0, sizeof(s));
	for (unsigned op = 0; op < CTL_OP_COUNT; op++) {
		s.op_count[op] = c->stats.count[op];
		s.op_fails[op] = c->stats.fails[op];
	}
	s.src[MSRC_STARTUP] = c->startup_us;
	s.src[MSRC_STARTUP_CPU] = c->startup_cpu_us;
	for (unsigned i = 0; i < CTL_LAT_COUNT; i++)
		s.src[MSRC_LAT_PAUSE + i] = c->latency_us[i];
	s.src[MSRC_MISSED_LOG] = log_missed_count();
	s.src[MSRC_MISSED_METRICS] = c->metrics_missed;
	s.src[MSRC_METRICS_FAILS] = c->metrics_fails;
	if (c->started)
		metrics_sample_devices(&c->vm, &c->cfg, &s);
	json_t *line = metrics_render(&s, &c->metrics,
	                              (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	char buf[16384];
	size_t n =
	    line ? json_dumpb(line, buf, sizeof(buf) - 1, JSON_PRESERVE_ORDER | JSON_COMPACT) : 0;
	json_decref(line);
	if (!n || n >= sizeof(buf) - 1) {
		c->metrics_fails++;
		return;
	}
	buf[n++] = '\n';
	/* A full pipe drops the line, as Firecracker's metrics do; it is counted. */
	if (write(c->metrics_fd, buf, n) != (ssize_t)n)
		c->metrics_missed++;
}

/* ---- the balloon ---- */

void ctl_get_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct balloon_config *bc = &c->cfg.balloon;
	(void)cmd;
	if (!bc->enabled) {
		ctl_reply_fault(r, "no balloon device is configured");
		return;
	}
	reply_json(r,
	           json_pack("{s:I, s:b, s:I, s:b}", "amount_mib", (json_int_t)bc->amount_mib,
	                     "deflate_on_oom", (int)bc->deflate_on_oom, "stats_polling_interval_s",
	                     (json_int_t)bc->stats_polling_interval_s, "free_page_reporting",
	                     (int)bc->free_page_reporting));
}

void ctl_get_balloon_stats(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct balloon_config *bc = &c->cfg.balloon;
	struct vm_device *d = c->started ? vm_device_find(&c->vm, "virtio-balloon", 0) : NULL;
	struct balloon_report rep = {.target_pages = bc->amount_mib << 8};
	(void)cmd;
	if (!bc->enabled) {
		ctl_reply_fault(r, "no balloon device is configured");
		return;
	}
	if (!bc->stats_polling_interval_s) {
		ctl_reply_fault(r, "balloon statistics are not enabled (stats_polling_interval_s "
		                   "in PUT /balloon)");
		return;
	}
	if (d)
		balloon_report(d->dev, &rep);
	/* Pages of 4 KiB, MiB of 256 pages. */
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)rep.target_pages,
	                      "actual_pages", (json_int_t)rep.actual_pages, "target_mib",
	                      (json_int_t)(rep.target_pages >> 8), "actual_mib",
	                      (json_int_t)(rep.actual_pages >> 8));
	for (unsigned t = 0; o && t < BALLOON_STATS_NR; t++)
		if (rep.stats.have[t])
			json_object_set_new(o, balloon_stat_name(t),
			                    json_integer((json_int_t)rep.stats.val[t]));
	reply_json(r, o);
}
