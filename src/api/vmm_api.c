/*
 * Executing API commands on the vmm thread (vmm_api.h), with Firecracker's rules: the
 * configuration changes only before InstanceStart, a request that fails changes nothing,
 * and every failure says what to do in its fault message.
 */
#include "vmm_api.h"
#include "api_json.h"
#include "../base/exit_status.h"
#include "../base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

void vmm_init(struct vmm *v, const char *id, uint64_t host_mem_mib)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "%s", id);
	config_defaults(&v->cfg);
	v->cfg.entropy = false; /* Firecracker's default: only with PUT /entropy */
	v->metrics_fd = -1;
	v->host_mem_mib = host_mem_mib;
}

/* A copy to change: committed only when the whole result checks out. */
static struct vm_config *draft_begin(const struct vmm *v)
{
	static struct vm_config d; /* the vmm thread is the only user */
	d = v->cfg;
	return &d;
}

static bool draft_commit(struct vmm *v, const struct vm_config *d, struct api_reply *r)
{
	char err[512];
	if (config_validate_devices(d, err, sizeof(err)) < 0) {
		api_reply_fault(r, "%s", err);
		return false;
	}
	v->cfg = *d;
	api_reply_no_content(r);
	return true;
}

void vmm_put_boot_source(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_boot_source *b = &cmd->u.boot;
	struct vm_config *d = draft_begin(v);
	/* The command's fields have the configuration's sizes: these copies fit. */
	CONFIG_SET(d->kernel_path, b->kernel_image_path);
	CONFIG_SET(d->initrd_path, b->has_initrd_path ? b->initrd_path : "");
	CONFIG_SET(d->cmdline, b->has_boot_args ? b->boot_args : CONFIG_DEFAULT_CMDLINE);
	d->append[0] = '\0';
	if (draft_commit(v, d, r))
		v->have_boot_source = true;
}

static void set_machine(struct vmm *v, const struct api_machine_config *m, bool put,
                        struct api_reply *r)
{
	struct vm_config *d = draft_begin(v);
	if (put && (!m->has_vcpu_count || !m->has_mem_size_mib)) {
		api_reply_fault(r, "machine-config needs vcpu_count and mem_size_mib");
		return;
	}
	if (m->has_vcpu_count)
		d->vcpus = m->vcpu_count;
	if (m->has_mem_size_mib) {
		if (m->mem_size_mib > v->host_mem_mib) {
			api_reply_fault(r, "mem_size_mib %llu is more than this host's %llu MiB",
			                (unsigned long long)m->mem_size_mib,
			                (unsigned long long)v->host_mem_mib);
			return;
		}
		d->mem_mib = m->mem_size_mib;
	}
	draft_commit(v, d, r);
}

void vmm_put_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	set_machine(v, &cmd->u.machine, true, r);
}

void vmm_patch_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	set_machine(v, &cmd->u.machine, false, r);
}

static int find_drive(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (!strcmp(cfg->drives[i].id, id))
			return (int)i;
	return -1;
}

static int find_net(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nnets; i++)
		if (!strcmp(cfg->nets[i].id, id))
			return (int)i;
	return -1;
}

void vmm_put_drive(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_drive *a = &cmd->u.drive;
	struct vm_config *d = draft_begin(v);
	int i = find_drive(&v->cfg, a->drive_id);
	if (i < 0) {
		if (d->ndrives == CONFIG_MAX_DRIVES) {
			api_reply_fault(r, "at most %d drives", CONFIG_MAX_DRIVES);
			return;
		}
		i = (int)d->ndrives++;
	}
	if (!a->has_path_on_host) {
		api_reply_fault(r, "drive '%s' needs path_on_host", a->drive_id);
		return;
	}
	struct drive_config *dc = &d->drives[i];
	*dc = (struct drive_config){
	    .read_only = a->is_read_only,
	    .is_root = a->is_root_device,
	    .engine = a->has_io_engine ? a->io_engine : DRIVE_ENGINE_AUTO,
	};
	CONFIG_SET(dc->id, a->drive_id);
	CONFIG_SET(dc->path, a->path_on_host);
	draft_commit(v, d, r);
}

void vmm_patch_drive(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_drive *a = &cmd->u.drive;
	int i = find_drive(&v->cfg, a->drive_id);
	if (i < 0) {
		api_reply_fault(r, "no drive with the id '%s'", a->drive_id);
		return;
	}
	if (v->started) {
		api_reply_fault(r, "changing drive '%s' of a running microVM is not supported yet",
		                a->drive_id);
		return;
	}
	struct vm_config *d = draft_begin(v);
	if (a->has_path_on_host)
		CONFIG_SET(d->drives[i].path, a->path_on_host);
	draft_commit(v, d, r);
}

void vmm_put_net(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_net *a = &cmd->u.net;
	struct vm_config *d = draft_begin(v);
	int i = find_net(&v->cfg, a->iface_id);
	if (i < 0) {
		if (d->nnets == CONFIG_MAX_NETS) {
			api_reply_fault(r, "at most %d network interfaces", CONFIG_MAX_NETS);
			return;
		}
		i = (int)d->nnets++;
	}
	struct net_config *nc = &d->nets[i];
	*nc = (struct net_config){.has_mac = a->has_guest_mac, .mtu = a->mtu};
	memcpy(nc->mac, a->guest_mac, sizeof(nc->mac));
	CONFIG_SET(nc->id, a->iface_id);
	CONFIG_SET(nc->tap, a->host_dev_name);
	draft_commit(v, d, r);
}

void vmm_put_vsock(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_vsock *a = &cmd->u.vsock;
	struct vm_config *d = draft_begin(v);
	d->vsock.enabled = true;
	d->vsock.guest_cid = a->guest_cid;
	CONFIG_SET(d->vsock.uds_path, a->uds_path);
	draft_commit(v, d, r);
}

void vmm_put_logger(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_logger *a = &cmd->u.logger;
	if (v->logger_set) {
		api_reply_fault(r, "the logger is already configured");
		return;
	}
	int fd = -1;
	if (a->has_log_path) {
		/* A file or a named pipe (Firecracker's usual setup); never a terminal's job. */
		fd =
		    open(a->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0) {
			api_reply_fault(r, "cannot open log_path '%s': %s", a->log_path,
			                strerror(errno));
			return;
		}
	}
	log_configure(fd, a->has_level ? (enum log_level)a->level : LOG_INFO, a->show_level, v->id);
	v->logger_set = true;
	api_reply_no_content(r);
}

void vmm_put_metrics(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct api_metrics *a = &cmd->u.metrics;
	if (v->metrics_fd >= 0) {
		api_reply_fault(r, "metrics are already configured");
		return;
	}
	int fd =
	    open(a->metrics_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		api_reply_fault(r, "cannot open metrics_path '%s': %s", a->metrics_path,
		                strerror(errno));
		return;
	}
	v->metrics_fd = fd;
	api_reply_no_content(r);
}

void vmm_instance_start(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	char err[9000];
	if (!v->have_boot_source) {
		api_reply_fault(r, "Cannot start microvm without kernel configuration "
		                   "(PUT /boot-source first).");
		return;
	}
	if (config_validate(&v->cfg, v->host_mem_mib, err, sizeof(err)) < 0 ||
	    vm_create(&v->vm, &v->cfg, err, sizeof(err)) < 0) {
		api_reply_fault(r, "Cannot start the microVM: %s", err);
		return;
	}
	if (vm_start_vcpus(&v->vm) < 0) {
		vm_destroy(&v->vm);
		api_reply_fault(r, "Cannot start the microVM's vCPUs");
		return;
	}
	v->started = true;
	log_info("the microVM started");
	api_reply_no_content(r);
}

static const char *state_name(const struct vmm *v)
{
	return !v->started ? "Not started" : v->paused ? "Paused" : "Running";
}

static void reply_json(struct api_reply *r, json_t *j)
{
	r->status = 200;
	r->len =
	    j ? json_dumpb(j, r->body, sizeof(r->body), JSON_PRESERVE_ORDER | JSON_COMPACT) : 0;
	if (r->len > sizeof(r->body))
		r->len = 0;
	json_decref(j);
}

void vmm_get_info(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	reply_json(r, json_pack("{s:s, s:s, s:s, s:s}", "id", v->id, "state", state_name(v),
	                        "vmm_version", EMBER_VERSION, "app_name", "Ember"));
}

void vmm_get_version(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)v, (void)cmd;
	reply_json(r, json_pack("{s:s}", "firecracker_version", EMBER_VERSION));
}

void vmm_get_vm_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	api_render_vm_config(&v->cfg, r);
}

void vmm_get_machine_config(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	const struct vm_config *c = &v->cfg;
	(void)cmd;
	reply_json(r, json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", (int)c->vcpus,
	                        "mem_size_mib", (json_int_t)c->mem_mib, "smt", 0,
	                        "track_dirty_pages", 0, "huge_pages", "None"));
}

void vmm_patch_net(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	/* Only rate limiters can be patched, and the parser refuses those. */
	if (find_net(&v->cfg, cmd->u.net.iface_id) < 0)
		api_reply_fault(r, "no network interface with the id '%s'", cmd->u.net.iface_id);
	else
		api_reply_no_content(r);
}

void vmm_put_entropy(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	v->cfg.entropy = true;
	api_reply_no_content(r);
}

void vmm_send_ctrl_alt_del(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	switch (i8042_send_ctrl_alt_del(&v->vm.i8042)) {
	case 0:
		api_reply_no_content(r);
		break;
	case -EAGAIN:
		api_reply_fault(r,
		                "the guest has its keyboard switched off: the keys would be lost");
		break;
	default:
		api_reply_fault(r, "the guest is not reading its keyboard: its buffer is full");
		break;
	}
}

void vmm_flush_metrics_action(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	(void)cmd;
	if (v->metrics_fd < 0) {
		api_reply_fault(r, "metrics are not configured (PUT /metrics first)");
		return;
	}
	vmm_flush_metrics(v);
	api_reply_no_content(r);
}

void vmm_patch_vm(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	if (cmd->u.vm.paused && !v->paused)
		vm_pause(&v->vm);
	else if (!cmd->u.vm.paused && v->paused)
		vm_resume(&v->vm);
	v->paused = cmd->u.vm.paused;
	log_info("the microVM is %s", v->paused ? "paused" : "running");
	api_reply_no_content(r);
}

void vmm_execute(struct vmm *v, const struct api_cmd *cmd, struct api_reply *r)
{
	if ((unsigned)cmd->op >= API_OP_COUNT) {
		api_reply_fault(r, "no such request");
		return;
	}
	const struct api_endpoint *e = &api_endpoints[cmd->op];
	if (!(e->when & (v->started ? API_AFTER_BOOT : API_BEFORE_BOOT)))
		api_reply_fault(r, "%s", e->refusal);
	else
		e->execute(v, cmd, r);
	v->stats.count[cmd->op]++;
	if (r->status >= 400)
		v->stats.fails[cmd->op]++;
	log_info("API %s: %d", e->name, r->status);
}

void vmm_flush_metrics(struct vmm *v)
{
	if (v->metrics_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_t *api = json_object();
	for (unsigned op = 0; op < API_OP_COUNT; op++)
		json_object_set_new(api, api_endpoints[op].name,
		                    json_pack("{s:I, s:I}", "count", (json_int_t)v->stats.count[op],
		                              "fails", (json_int_t)v->stats.fails[op]));
	json_t *devs = json_array();
	if (v->started)
		for (unsigned i = 0; i < v->vm.nvirtio; i++) {
			struct virtio_dev *d = v->vm.virtio[i];
			json_array_append_new(
			    devs,
			    json_pack("{s:s, s:I, s:I, s:I}", "name", d->name, "kicks",
			              (json_int_t)atomic_load(&d->stat_kicks), "interrupts",
			              (json_int_t)atomic_load(&d->stat_interrupts), "resets_needed",
			              (json_int_t)atomic_load(&d->stat_failures)));
		}
	json_t *line = json_pack("{s:I, s:s, s:s, s:o, s:o}", "utc_timestamp_ms",
	                         (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "id", v->id,
	                         "state", state_name(v), "api_server", api, "devices", devs);
	char buf[16384];
	size_t n =
	    line ? json_dumpb(line, buf, sizeof(buf) - 1, JSON_PRESERVE_ORDER | JSON_COMPACT) : 0;
	json_decref(line);
	if (n && n < sizeof(buf) - 1) {
		buf[n++] = '\n';
		ssize_t w = write(v->metrics_fd, buf, n);
		(void)w; /* a full pipe drops the line, as Firecracker's metrics do */
	}
}

void vmm_destroy(struct vmm *v)
{
	vmm_flush_metrics(v);
	if (v->started)
		vm_destroy(&v->vm);
	v->started = false;
	if (v->metrics_fd >= 0)
		close(v->metrics_fd);
	v->metrics_fd = -1;
}

int api_channel_init(struct api_channel *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->fd < 0)
		return -errno;
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->done, NULL);
	return 0;
}

void api_channel_destroy(struct api_channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	pthread_cond_destroy(&ch->done);
	pthread_mutex_destroy(&ch->lock);
}

void api_channel_call(struct api_channel *ch, const struct api_cmd *cmd, struct api_reply *reply)
{
	pthread_mutex_lock(&ch->lock);
	if (ch->closed) {
		pthread_mutex_unlock(&ch->lock);
		api_reply_fault(reply, "the microVM is shutting down");
		return;
	}
	ch->cmd = cmd;
	ch->reply = reply;
	ch->pending = true;
	ch->finished = false;
	uint64_t one = 1;
	ssize_t w = write(ch->fd, &one, sizeof(one));
	(void)w;
	while (!ch->finished && !ch->closed)
		pthread_cond_wait(&ch->done, &ch->lock);
	if (!ch->finished)
		api_reply_fault(reply, "the microVM is shutting down");
	ch->pending = false;
	pthread_mutex_unlock(&ch->lock);
}

void api_channel_serve(struct api_channel *ch, struct vmm *v)
{
	uint64_t n;
	ssize_t got = read(ch->fd, &n, sizeof(n));
	(void)got; /* the flag below says whether there is work */
	pthread_mutex_lock(&ch->lock);
	if (ch->pending && !ch->finished && !ch->closed) {
		vmm_execute(v, ch->cmd, ch->reply);
		ch->finished = true;
		pthread_cond_broadcast(&ch->done);
	}
	pthread_mutex_unlock(&ch->lock);
}

void api_channel_close(struct api_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->closed = true;
	pthread_cond_broadcast(&ch->done);
	pthread_mutex_unlock(&ch->lock);
}
