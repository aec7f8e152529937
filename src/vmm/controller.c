/*
 * The controller (controller.h): Firecracker's rules on the vmm thread. The configuration
 * changes only before InstanceStart, a command that fails changes nothing, and every
 * failure says what to do in its message. One run loop, before boot and after.
 */
#include "controller.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../base/signals.h"
#include "../devices/i8042.h"
#include "../seccomp/seccomp.h"
#include "../virtio/balloon.h"
#include "../virtio/blk.h"
#include "../virtio/net.h"
#include "../virtio/rng.h"
#include "../virtio/tap.h"
#include "../virtio/virtio.h"
#include "devices.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define METRICS_PERIOD_S 60

/* --snapshot-to was given (its files open). */
static bool snapshot_asked(const struct ctl_settings *set)
{
	return set->snap_state_path && set->snap_state_path[0] && set->snap_state_fd >= 0 &&
	       set->snap_mem_fd >= 0;
}

int ctl_init(struct ctl *c, const struct ctl_settings *set, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->set = *set;
	config_defaults(&c->cfg);
	c->cfg.entropy = false;              /* Firecracker's default: only with PUT /entropy */
	c->cfg.huge_pages = HUGE_PAGES_NONE; /* and no huge-page advice unless asked */
	c->metrics_fd = -1;
	c->chan.fd = -1;
	if (mmds_store_init(&c->mmds,
	                    set->mmds_size_limit ? set->mmds_size_limit : MMDS_DEFAULT_LIMIT) < 0) {
		snprintf(err, errlen, "cannot get random bytes for MMDS's token keys");
		return -EIO;
	}
	c->cfg.mmds.ipv4 = MMDS_DEFAULT_IPV4;
	if ((set->seccomp_filter ? sc_setup_file(set->seccomp_filter, err, errlen)
	                         : sc_setup(set->no_seccomp, err, errlen)) < 0)
		return -EINVAL;
	sigset_t snap;
	sigemptyset(&snap);
	sigaddset(&snap, SNAPSHOT_SIGNAL);
	if (signals_block() < 0 ||
	    (snapshot_asked(set) && pthread_sigmask(SIG_BLOCK, &snap, NULL))) {
		snprintf(err, errlen, "cannot block signals");
		return -EINVAL;
	}
	c->chan.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->chan.fd < 0) {
		snprintf(err, errlen, "cannot make the command channel: %s", strerror(errno));
		return -errno;
	}
	pthread_mutex_init(&c->chan.lock, NULL);
	pthread_cond_init(&c->chan.done, NULL);
	return 0;
}

void ctl_count(struct ctl *c, enum ctl_op op, bool failed)
{
	if ((unsigned)op >= CTL_OP_COUNT)
		return;
	c->stats.count[op]++;
	c->stats.fails[op] += failed;
}

const char *ctl_state_name(const struct ctl *c)
{
	return !c->started ? "Not started" : c->paused ? "Paused" : "Running";
}

/* A copy to change: committed only when the whole result checks out. */
static struct vm_config *draft_begin(const struct ctl *c)
{
	static struct vm_config d; /* the vmm thread is the only user */
	d = c->cfg;
	return &d;
}

static bool draft_commit(struct ctl *c, const struct vm_config *d, struct ctl_reply *r)
{
	char err[512];
	if (config_validate_devices(d, err, sizeof(err)) < 0) {
		ctl_reply_fault(r, "%s", err);
		return false;
	}
	c->cfg = *d;
	c->configured = true;
	ctl_reply_no_content(r);
	return true;
}

/*
 * Files named by a request are opened when it comes, as Firecracker does, so a path that
 * does not exist or cannot be opened (a typo, a permission) is refused by the request that
 * named it (400, nothing changed), not by InstanceStart. They are checked, not kept open:
 * the configuration is a value copied whole (drafts, GET /vm/config, the snapshot's copy)
 * and holds no descriptors to own and close, and InstanceStart opens each again (still
 * before lock-down), saying which one if it went away meanwhile. A tap is attached and let
 * go: one busy elsewhere or missing is refused now.
 */
static bool files_ok(struct ctl_reply *r, int (*check)(const void *arg, char *, size_t),
                     const void *arg)
{
	char err[CONFIG_PATH_MAX + 256];
	if (check(arg, err, sizeof(err)) < 0) {
		ctl_reply_fault(r, "%s", err);
		return false;
	}
	return true;
}

static int boot_files_check(const void *arg, char *err, size_t errlen)
{
	const struct ctl_boot_source *b = arg;
	int rc = vm_image_check("kernel", b->kernel_image_path, err, errlen);
	if (rc == 0 && b->has_initrd_path)
		rc = vm_image_check("initrd", b->initrd_path, err, errlen);
	return rc;
}

static int drive_file_check(const void *arg, char *err, size_t errlen)
{
	return blk_check(arg, err, errlen);
}

/* An open that was only a check: 0 once closed, or its -errno. */
static int close_checked(int fd)
{
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int tap_check(const void *arg, char *err, size_t errlen)
{
	return close_checked(tap_open(arg, err, errlen));
}

void ctl_put_boot_source(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_boot_source *b = &cmd->u.boot;
	if (!files_ok(r, boot_files_check, b))
		return;
	struct vm_config *d = draft_begin(c);
	/* The command's fields have the configuration's sizes: these copies fit. */
	CONFIG_SET(d->kernel_path, b->kernel_image_path);
	CONFIG_SET(d->initrd_path, b->has_initrd_path ? b->initrd_path : "");
	CONFIG_SET(d->cmdline, b->has_boot_args ? b->boot_args : CONFIG_DEFAULT_CMDLINE);
	d->append[0] = '\0';
	if (draft_commit(c, d, r))
		c->have_boot_source = true;
}

static void set_machine(struct ctl *c, const struct ctl_machine_config *m, bool put,
                        struct ctl_reply *r)
{
	struct vm_config *d = draft_begin(c);
	if (put && (!m->has_vcpu_count || !m->has_mem_size_mib)) {
		ctl_reply_fault(r, "machine-config needs vcpu_count and mem_size_mib");
		return;
	}
	if (m->has_vcpu_count)
		d->vcpus = m->vcpu_count;
	if (m->has_mem_size_mib) {
		if (m->mem_size_mib > c->set.host_mem_mib) {
			ctl_reply_fault(r, "mem_size_mib %llu is more than this host's %llu MiB",
			                (unsigned long long)m->mem_size_mib,
			                (unsigned long long)c->set.host_mem_mib);
			return;
		}
		/* Firecracker's check, at the request: the balloon set before must fit. */
		if (d->balloon.enabled && m->mem_size_mib < d->balloon.amount_mib) {
			ctl_reply_fault(
			    r,
			    "The memory size (MiB) is smaller than the previously set "
			    "balloon device target size: mem_size_mib %llu, amount_mib %u.",
			    (unsigned long long)m->mem_size_mib, d->balloon.amount_mib);
			return;
		}
		d->mem_mib = m->mem_size_mib;
	}
	if (m->has_track_dirty_pages)
		d->track_dirty_pages = m->track_dirty_pages;
	if (m->has_huge_pages)
		d->huge_pages = m->huge_pages;
	draft_commit(c, d, r);
}

void ctl_put_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	set_machine(c, &cmd->u.machine, true, r);
}

void ctl_patch_machine_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	set_machine(c, &cmd->u.machine, false, r);
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

void ctl_rate_limiter_apply(struct rate_limiter_config *cur, const struct ctl_rate_limiter *rl,
                            bool put)
{
	static const struct token_bucket_config off;
	if (!rl->has) {
		if (put)
			*cur = (struct rate_limiter_config){0};
		return;
	}
	if (rl->has_bandwidth || put)
		cur->bandwidth = rl->has_bandwidth ? rl->cfg.bandwidth : off;
	if (rl->has_ops || put)
		cur->ops = rl->has_ops ? rl->cfg.ops : off;
}

/* The running VM's virtio device of kind ("virtio-blk") whose name carries id. */
static struct virtio_dev *find_vdev(struct ctl *c, const char *kind, const char *id)
{
	char name[sizeof(((struct virtio_dev *)0)->name)];
	snprintf(name, sizeof(name), "%s %s", kind, id);
	for (unsigned i = 0; i < c->vm.ndevs; i++) {
		struct virtio_dev *v = c->vm.devs[i].vdev;
		if (v && !strcmp(c->vm.devs[i].kind->name, kind) && !strcmp(v->name, name))
			return v;
	}
	return NULL;
}

void ctl_put_drive(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_drive *a = &cmd->u.drive;
	struct vm_config *d = draft_begin(c);
	int i = find_drive(&c->cfg, a->drive_id);
	if (i < 0) {
		if (d->ndrives == CONFIG_MAX_DRIVES) {
			ctl_reply_fault(r, "at most %d drives", CONFIG_MAX_DRIVES);
			return;
		}
		i = (int)d->ndrives++;
	}
	if (!a->has_path_on_host) {
		ctl_reply_fault(r, "drive '%s' needs path_on_host", a->drive_id);
		return;
	}
	struct drive_config *dc = &d->drives[i];
	*dc = (struct drive_config){
	    .read_only = a->is_read_only,
	    .is_root = a->is_root_device,
	    .engine = a->has_io_engine ? a->io_engine : DRIVE_ENGINE_AUTO,
	    .cache = a->has_cache_type ? a->cache_type : DRIVE_CACHE_UNSAFE,
	};
	ctl_rate_limiter_apply(&dc->rate_limiter, &a->rate_limiter, true);
	CONFIG_SET(dc->id, a->drive_id);
	CONFIG_SET(dc->path, a->path_on_host);
	if (files_ok(r, drive_file_check, dc))
		draft_commit(c, d, r);
}

/* After boot (the endpoint's row): a new backing file, as Firecracker's PATCH /drives. */
void ctl_patch_drive(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_drive *a = &cmd->u.drive;
	char err[CONFIG_PATH_MAX + 256];
	int i = find_drive(&c->cfg, a->drive_id);
	if (i < 0) {
		ctl_reply_fault(r, "no drive with the id '%s'", a->drive_id);
		return;
	}
	if (!a->has_path_on_host && !a->rate_limiter.has) {
		ctl_reply_fault(r,
		                "nothing to change in drive '%s': PATCH /drives takes path_on_host "
		                "or rate_limiter",
		                a->drive_id);
		return;
	}
	struct virtio_blk *b = vm_drive_find(&c->vm, a->drive_id);
	if (!b) {
		ctl_reply_fault(r, "drive '%s' is not in the running microVM", a->drive_id);
		return;
	}
	if (a->has_path_on_host) {
		if (blk_swap(b, a->path_on_host, err, sizeof(err)) < 0) {
			ctl_reply_fault(r, "cannot update drive '%s': %s", a->drive_id, err);
			return;
		}
		/* GET /vm/config and a later snapshot (the VM's copy) name the new file. */
		CONFIG_SET(c->cfg.drives[i].path, a->path_on_host);
		int k = find_drive(&c->vm.cfg, a->drive_id);
		if (k >= 0)
			CONFIG_SET(c->vm.cfg.drives[k].path, a->path_on_host);
		log_info("drive '%s' is now backed by %s", a->drive_id, a->path_on_host);
	}
	if (a->rate_limiter.has) {
		ctl_rate_limiter_apply(&c->cfg.drives[i].rate_limiter, &a->rate_limiter, false);
		blk_set_rate_limiter(b, &c->cfg.drives[i].rate_limiter);
	}
	ctl_reply_no_content(r);
}

void ctl_put_net(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_net *a = &cmd->u.net;
	struct vm_config *d = draft_begin(c);
	int i = find_net(&c->cfg, a->iface_id);
	if (i < 0) {
		if (d->nnets == CONFIG_MAX_NETS) {
			ctl_reply_fault(r, "at most %d network interfaces", CONFIG_MAX_NETS);
			return;
		}
		i = (int)d->nnets++;
	}
	struct net_config *nc = &d->nets[i];
	*nc = (struct net_config){.has_mac = a->has_guest_mac, .mtu = a->mtu};
	ctl_rate_limiter_apply(&nc->rx_rate_limiter, &a->rx_rate_limiter, true);
	ctl_rate_limiter_apply(&nc->tx_rate_limiter, &a->tx_rate_limiter, true);
	memcpy(nc->mac, a->guest_mac, sizeof(nc->mac));
	CONFIG_SET(nc->id, a->iface_id);
	CONFIG_SET(nc->tap, a->host_dev_name);
	/* The tap another interface of this VM already uses is refused by the draft's
	 * check, without attaching to it (it is free until InstanceStart). */
	char err[512];
	if (config_validate_devices(d, err, sizeof(err)) < 0)
		ctl_reply_fault(r, "%s", err);
	else if (files_ok(r, tap_check, nc->tap))
		draft_commit(c, d, r);
}

/* ---- MMDS ---- */

/* 204, or the store's error in Firecracker's words. */
static void mmds_reply(struct ctl_reply *r, int rc)
{
	if (rc == 0)
		ctl_reply_no_content(r);
	else if (rc == -ENODATA)
		ctl_reply_fault(r, "The MMDS data store is not initialized.");
	else if (rc == -EFBIG)
		ctl_reply_fault(r, "The MMDS patch request doesn't fit.");
	else
		ctl_reply_fault(r, "The MMDS data store could not be changed: %s", strerror(-rc));
}

void ctl_put_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	mmds_reply(r, mmds_store_put(&c->mmds, cmd->u.mmds.data));
}

void ctl_patch_mmds(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	mmds_reply(r, mmds_store_patch(&c->mmds, cmd->u.mmds.data));
}

void ctl_put_mmds_config(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct mmds_config *a = &cmd->u.mmds_config;
	for (unsigned i = 0; i < a->nifaces; i++)
		if (find_net(&c->cfg, a->ifaces[i]) < 0) {
			ctl_reply_fault(r, "The list of network interface IDs provided contains at "
			                   "least one ID that does not correspond to any existing "
			                   "network interface.");
			return;
		}
	c->cfg.mmds = *a;
	c->mmds.version = a->v2 ? MMDS_V2 : MMDS_V1;
	c->mmds.imds_compat = a->imds_compat;
	c->configured = true;
	ctl_reply_no_content(r);
}

void ctl_put_vsock(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_vsock *a = &cmd->u.vsock;
	struct vm_config *d = draft_begin(c);
	d->vsock.enabled = true;
	CONFIG_SET(d->vsock.id, a->vsock_id);
	d->vsock.guest_cid = a->guest_cid;
	CONFIG_SET(d->vsock.uds_path, a->uds_path);
	draft_commit(c, d, r);
}

void ctl_put_logger(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_logger *a = &cmd->u.logger;
	/* Again and again before boot, as Firecracker's: each call changes what it names, and
	 * the level goes back to Info when it names none. */
	struct log_settings s = {.fd = LOG_KEEP_FD,
	                         .has_level = true,
	                         .level = a->has_level ? (enum log_level)a->level : LOG_INFO,
	                         .has_show_level = a->has_show_level,
	                         .show_level = a->show_level,
	                         .has_show_origin = a->has_show_log_origin,
	                         .show_origin = a->show_log_origin,
	                         .module = a->has_module ? a->module : NULL,
	                         .instance_id = c->set.id};
	if (a->has_log_path) {
		/* A file or a named pipe (Firecracker's usual setup); never a terminal's job. */
		s.fd =
		    open(a->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
		if (s.fd < 0) {
			ctl_reply_fault(r, "cannot open log_path '%s': %s", a->log_path,
			                strerror(errno));
			return;
		}
	}
	log_configure(&s);
	ctl_reply_no_content(r);
}

void ctl_put_metrics(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_metrics *a = &cmd->u.metrics;
	if (c->metrics_fd >= 0) {
		ctl_reply_fault(r, "metrics are already configured");
		return;
	}
	int fd =
	    open(a->metrics_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		ctl_reply_fault(r, "cannot open metrics_path '%s': %s", a->metrics_path,
		                strerror(errno));
		return;
	}
	c->metrics_fd = fd;
	ctl_reply_no_content(r);
}

/* Checked (created if need be) now, opened again at InstanceStart (files_ok's reasons). */
static int serial_file_check(const void *arg, char *err, size_t errlen)
{
	return close_checked(vm_serial_open(arg, err, errlen));
}

void ctl_put_serial(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_serial *a = &cmd->u.serial;
	if (a->serial_out_path[0] && !files_ok(r, serial_file_check, a->serial_out_path))
		return;
	/* Not a boot-specific resource: a snapshot load afterwards uses it too, as
	 * Firecracker's. */
	CONFIG_SET(c->cfg.serial_out_path, a->serial_out_path);
	ctl_reply_no_content(r);
}

int ctl_start(struct ctl *c, char *err, size_t errlen)
{
	const struct ctl_settings *set = &c->set;
	struct vm_config *cfg = &c->cfg;

	/* What only `ember run` sets: no endpoint changes these. */
	cfg->boot = set->boot;
	CONFIG_SET(cfg->append, set->append);
	cfg->cmd_argv = set->cmd_argv;
	cfg->cmd_argc = set->cmd_argc;
	cfg->cmd_tty = set->cmd_tty;
	cfg->cmd_init = set->cmd_init;
	cfg->print_stats = set->print_stats;
	cfg->no_seccomp = set->no_seccomp;
	cfg->mmds_store = cfg->mmds.enabled ? &c->mmds : NULL;
	if (config_validate(cfg, set->host_mem_mib, err, errlen) < 0)
		return -EINVAL;
	/* Counted from InstanceStart, as Firecracker's. */
	boot_timer_init(&c->boot_timer);
	int r = vm_create(&c->vm, cfg, err, errlen);
	if (r < 0)
		return r;
	if (set->boot_timer && (r = bus_add(&c->vm.mmio, ARCH_BOOT_TIMER_BASE, BOOT_TIMER_SIZE,
	                                    &boot_timer_ops, &c->boot_timer, "boot-timer")) < 0) {
		vm_destroy(&c->vm);
		snprintf(err, errlen, "cannot place the boot timer: %s", strerror(-r));
		return r;
	}
	r = vm_start_vcpus(&c->vm);
	if (r < 0) {
		vm_destroy(&c->vm);
		snprintf(err, errlen, "its vCPUs did not start: %s", strerror(-r));
		return r;
	}
	c->started = true;
	log_info("the microVM started");
	return 0;
}

void ctl_instance_start(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	char err[9000];
	(void)cmd;
	if (!c->have_boot_source) {
		ctl_reply_fault(r, "Cannot start microvm without kernel configuration "
		                   "(PUT /boot-source first).");
		return;
	}
	if (ctl_start(c, err, sizeof(err)) < 0) {
		ctl_reply_fault(r, "Cannot start the microVM: %s", err);
		return;
	}
	ctl_reply_no_content(r);
}

void ctl_patch_net(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	/* Only rate limiters can be patched. */
	const struct ctl_net *a = &cmd->u.net;
	int i = find_net(&c->cfg, a->iface_id);
	if (i < 0) {
		ctl_reply_fault(r, "no network interface with the id '%s'", a->iface_id);
		return;
	}
	struct vm_config *d = draft_begin(c);
	struct net_config *nc = &d->nets[i];
	ctl_rate_limiter_apply(&nc->rx_rate_limiter, &a->rx_rate_limiter, false);
	ctl_rate_limiter_apply(&nc->tx_rate_limiter, &a->tx_rate_limiter, false);
	if (c->started && (a->rx_rate_limiter.has || a->tx_rate_limiter.has)) {
		struct virtio_dev *v = find_vdev(c, "virtio-net", nc->id[0] ? nc->id : nc->tap);
		if (!v) {
			ctl_reply_fault(r, "network interface '%s' has no device", a->iface_id);
			return;
		}
		net_set_rate_limiters(container_of(v, struct virtio_net, vdev),
		                      &nc->rx_rate_limiter, &nc->tx_rate_limiter);
	}
	draft_commit(c, d, r);
}

void ctl_put_entropy(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	c->cfg.entropy = true;
	ctl_rate_limiter_apply(&c->cfg.entropy_rate_limiter, &cmd->u.entropy.rate_limiter, true);
	c->configured = true;
	ctl_reply_no_content(r);
}

void ctl_send_ctrl_alt_del(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)cmd;
	switch (i8042_send_ctrl_alt_del(vm_device_find(&c->vm, "i8042", 0)->dev)) {
	case 0:
		ctl_reply_no_content(r);
		break;
	case -EAGAIN:
		ctl_reply_fault(r,
		                "the guest has its keyboard switched off: the keys would be lost");
		break;
	default:
		ctl_reply_fault(r, "the guest is not reading its keyboard: its buffer is full");
		break;
	}
}

void ctl_flush_metrics_action(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	(void)cmd;
	if (c->metrics_fd < 0) {
		ctl_reply_fault(r, "metrics are not configured (PUT /metrics first)");
		return;
	}
	ctl_flush_metrics(c);
	ctl_reply_no_content(r);
}

/* CLOCK_MONOTONIC in microseconds: the metrics' latencies. */
static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void ctl_patch_vm(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	uint64_t t0 = now_us();
	if (cmd->u.vm.paused && !c->paused) {
		vm_pause(&c->vm);
		c->latency_us[CTL_LAT_PAUSE] = now_us() - t0;
	} else if (!cmd->u.vm.paused && c->paused) {
		vm_resume(&c->vm);
		c->latency_us[CTL_LAT_RESUME] = now_us() - t0;
	}
	c->paused = cmd->u.vm.paused;
	log_info("the microVM is %s", c->paused ? "paused" : "running");
	ctl_reply_no_content(r);
}

/* What PATCH requests changed after boot lives in c->cfg; the snapshot is made from the
 * VM's own copy: bring it up to date (drive paths and limiters, interface limiters, the
 * balloon's target and interval). VM paused, on the vmm thread. */
static void ctl_sync_vm_cfg(struct ctl *c)
{
	struct vm_config *v = &c->vm.cfg;
	for (unsigned i = 0; i < v->ndrives && i < c->cfg.ndrives; i++) {
		memcpy(v->drives[i].path, c->cfg.drives[i].path, sizeof(v->drives[i].path));
		v->drives[i].rate_limiter = c->cfg.drives[i].rate_limiter;
	}
	for (unsigned i = 0; i < v->nnets && i < c->cfg.nnets; i++) {
		v->nets[i].rx_rate_limiter = c->cfg.nets[i].rx_rate_limiter;
		v->nets[i].tx_rate_limiter = c->cfg.nets[i].tx_rate_limiter;
	}
	v->balloon = c->cfg.balloon;
}

void ctl_snapshot_create(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_snapshot_create *a = &cmd->u.snap;
	char err[1024];
	if (!c->paused) {
		ctl_reply_fault(r, "the microVM must be paused before a snapshot "
		                   "(PATCH /vm {\"state\": \"Paused\"} first)");
		return;
	}
	if (a->diff && !c->cfg.track_dirty_pages) {
		ctl_reply_fault(r, "field 'snapshot_type': a Diff snapshot needs track_dirty_pages "
		                   "(machine-config, or the snapshot load's)");
		return;
	}
	int state_fd, mem_fd;
	uint64_t t0 = now_us();
	if (vm_snapshot_files_open(a->snapshot_path, a->mem_file_path, &state_fd, &mem_fd, err,
	                           sizeof(err)) < 0) {
		ctl_reply_fault(r, "%s", err);
		return;
	}
	/* Every started vCPU parked (a VM loaded paused may not have got there yet). */
	vm_pause(&c->vm);
	ctl_sync_vm_cfg(c);
	int w = vm_snapshot_write_kind(&c->vm, a->diff, state_fd, mem_fd, err, sizeof(err));
	vm_snapshot_files_close(a->snapshot_path, a->mem_file_path, &state_fd, &mem_fd, w < 0);
	if (w < 0) {
		ctl_reply_fault(r, "cannot snapshot to '%s' and '%s': %s", a->snapshot_path,
		                a->mem_file_path, err);
		return;
	}
	c->latency_us[a->diff ? CTL_LAT_DIFF_SNAP : CTL_LAT_FULL_SNAP] = now_us() - t0;
	log_info("snapshot written to %s and %s", a->snapshot_path, a->mem_file_path);
	ctl_reply_no_content(r);
}

int ctl_load(struct ctl *c, const struct ctl_snapshot_load *l, char *err, size_t errlen)
{
	struct vm_restore_opts o = {
	    .vcpus = l->vcpus,
	    .clock_realtime = l->clock_realtime,
	    .track_dirty_pages = l->track_dirty_pages,
	    .no_seccomp = c->set.no_seccomp,
	    .print_stats = c->set.print_stats,
	    .nnets = l->nnets,
	    .vsock_uds = l->has_vsock_uds ? l->vsock_uds : NULL,
	    .huge_pages = l->huge_pages,
	    .serial_out_path = c->cfg.serial_out_path,
	    .console_piped = l->console_piped,
	    .handover = l->handover,
	    .handover_len = l->handover_len,
	    .mmds_store = &c->mmds,
	};
	uint64_t t0 = now_us();
	for (unsigned i = 0; i < l->nnets && i < CONFIG_MAX_NETS; i++) {
		o.nets[i].iface_id = l->nets[i].iface_id;
		o.nets[i].tap = l->nets[i].host_dev_name;
	}
	int r = vm_restore(&c->vm, &o, l->snapshot_path, l->mem_file_path, err, errlen);
	if (r < 0)
		return r;
	/* Loaded paused: the vCPU threads park before their first KVM_RUN. */
	c->vm.paused = !l->resume_vm;
	r = vm_start_vcpus(&c->vm);
	if (r < 0) {
		vm_destroy(&c->vm);
		snprintf(err, errlen, "its vCPUs did not start: %s", strerror(-r));
		return r;
	}
	c->cfg = c->vm.cfg;
	c->started = true;
	c->paused = !l->resume_vm;
	c->latency_us[CTL_LAT_LOAD_SNAP] = now_us() - t0;
	log_info("the microVM was loaded from %s (%s)", l->snapshot_path,
	         c->paused ? "paused" : "running");
	return 0;
}

void ctl_snapshot_load(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	char err[9000];
	if (c->configured) {
		ctl_reply_fault(r, "Loading a microVM snapshot not allowed after configuring boot-"
		                   "specific resources: only the logger and metrics may be set "
		                   "before a load");
		return;
	}
	if (ctl_load(c, &cmd->u.load, err, sizeof(err)) < 0) {
		ctl_reply_fault(r, "Cannot load the snapshot: %s", err);
		return;
	}
	ctl_reply_no_content(r);
}

/* ---- the channel and the run loop ---- */

void ctl_call(struct ctl *c, ctl_exec_fn fn, const struct ctl_cmd *cmd, struct ctl_reply *reply)
{
	pthread_mutex_lock(&c->chan.lock);
	if (c->chan.closed) {
		pthread_mutex_unlock(&c->chan.lock);
		ctl_reply_fault(reply, "the microVM is shutting down");
		return;
	}
	c->chan.fn = fn;
	c->chan.cmd = cmd;
	c->chan.reply = reply;
	c->chan.pending = true;
	c->chan.finished = false;
	uint64_t one = 1;
	ssize_t w = write(c->chan.fd, &one, sizeof(one));
	(void)w;
	while (!c->chan.finished && !c->chan.closed)
		pthread_cond_wait(&c->chan.done, &c->chan.lock);
	if (!c->chan.finished)
		ctl_reply_fault(reply, "the microVM is shutting down");
	c->chan.pending = false;
	pthread_mutex_unlock(&c->chan.lock);
}

/* vmm thread: run the pending command, if any. */
static void serve(struct ctl *c)
{
	uint64_t n;
	ssize_t got = read(c->chan.fd, &n, sizeof(n));
	(void)got; /* the flag below says whether there is work */
	pthread_mutex_lock(&c->chan.lock);
	if (c->chan.pending && !c->chan.finished && !c->chan.closed) {
		c->chan.fn(c, c->chan.cmd, c->chan.reply);
		c->chan.finished = true;
		pthread_cond_broadcast(&c->chan.done);
	}
	pthread_mutex_unlock(&c->chan.lock);
}

void ctl_close(struct ctl *c)
{
	if (c->chan.fd < 0)
		return;
	pthread_mutex_lock(&c->chan.lock);
	c->chan.closed = true;
	pthread_cond_broadcast(&c->chan.done);
	pthread_mutex_unlock(&c->chan.lock);
}

/* Before InstanceStart: serve commands until one starts the VM or a signal ends us.
 * Returns -1 once started, or the exit status. */
static int wait_for_start(struct ctl *c)
{
	sigset_t sigs;
	signals_stop_set(&sigs);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return EXIT_USAGE;
	}
	int status = -1;
	while (!c->started && status < 0) {
		struct pollfd p[2] = {{.fd = c->chan.fd, .events = POLLIN},
		                      {.fd = sfd, .events = POLLIN}};
		int n = poll(p, 2, METRICS_PERIOD_S * 1000);
		if (n < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			status = EXIT_USAGE;
		} else if (n == 0) {
			ctl_flush_metrics(c);
		} else if (n > 0 && p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				status = EXIT_SIGNAL_BASE + (int)si.ssi_signo;
		} else if (n > 0 && p[0].revents) {
			serve(c);
		}
	}
	close(sfd);
	return status;
}

struct run_watch {
	struct ctl *c;
	int timer_fd, snap_fd;
	struct el_handler chan, timer, snap;
};

/* SNAPSHOT_SIGNAL under --snapshot-to: pause, write the snapshot, stop (status 0, or 2 when
 * it failed). */
static void on_snapshot_signal(void *ctx, uint32_t events)
{
	struct run_watch *w = ctx;
	struct ctl *c = w->c;
	struct signalfd_siginfo si;
	char err[1024];
	(void)events;
	if (read(w->snap_fd, &si, sizeof(si)) != (ssize_t)sizeof(si) || c->set.snap_taken)
		return;
	vm_pause(&c->vm);
	c->paused = true;
	if (vm_stopping(&c->vm))
		return;
	ctl_sync_vm_cfg(c);
	if (vm_snapshot_write(&c->vm, c->set.snap_state_fd, c->set.snap_mem_fd, err, sizeof(err)) <
	    0) {
		log_err("cannot snapshot to '%s' and '%s': %s", c->set.snap_state_path,
		        c->set.snap_mem_path, err);
		vm_stop(&c->vm, EXIT_USAGE);
		return;
	}
	c->set.snap_taken = true;
	log_err("snapshot written to %s and %s", c->set.snap_state_path, c->set.snap_mem_path);
	vm_stop(&c->vm, 0);
}

static void on_channel(void *ctx, uint32_t events)
{
	struct run_watch *w = ctx;
	(void)events;
	serve(w->c);
}

static void on_metrics_timer(void *ctx, uint32_t events)
{
	struct run_watch *w = ctx;
	uint64_t n;
	(void)events;
	if (read(w->timer_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		ctl_flush_metrics(w->c);
}

/* Peak RSS, and how much of it is guest RAM the guest touched: the rest is the monitor. */
static void print_stats(const struct vm *vm)
{
	struct rusage ru;
	int64_t guest = gm_resident_bytes(&vm->mem);
	if (getrusage(RUSAGE_SELF, &ru) < 0 || guest < 0)
		return;
	long guest_kib = (long)(guest >> 10);
	log_err("stats: peak RSS %ld KiB; guest RAM resident %ld KiB; monitor %ld KiB",
	        ru.ru_maxrss, guest_kib, ru.ru_maxrss - guest_kib);
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct virtio_dev *d = vm->devs[i].vdev;
		char extra[512] = "";
		if (!d)
			continue;
		if (d->ops->stats)
			d->ops->stats(d, extra, sizeof(extra));
		log_err("stats: %s: kicks %llu (per queue %llu/%llu/%llu/%llu), interrupts %llu, "
		        "register exits %llu%s%s",
		        d->name, (unsigned long long)atomic_load(&d->stat_kicks),
		        (unsigned long long)atomic_load(&d->stat_queue_kicks[0]),
		        (unsigned long long)atomic_load(&d->stat_queue_kicks[1]),
		        (unsigned long long)atomic_load(&d->stat_queue_kicks[2]),
		        (unsigned long long)atomic_load(&d->stat_queue_kicks[3]),
		        (unsigned long long)atomic_load(&d->stat_interrupts),
		        (unsigned long long)atomic_load(&d->stat_exits), extra[0] ? "; " : "",
		        extra);
	}
}

/* After InstanceStart: the VM's own loop serves the commands and the metrics' period too,
 * until the guest ends or a signal stops it. */
static int run_vm(struct ctl *c)
{
	struct run_watch w = {
	    c, -1, -1, {on_channel, NULL}, {on_metrics_timer, NULL}, {on_snapshot_signal, NULL}};
	struct event_loop *el = &c->vm.loop;

	w.chan.ctx = w.timer.ctx = w.snap.ctx = &w;
	event_loop_add(el, c->chan.fd, EPOLLIN, &w.chan);
	if (snapshot_asked(&c->set)) {
		sigset_t snap;
		sigemptyset(&snap);
		sigaddset(&snap, SNAPSHOT_SIGNAL);
		w.snap_fd = signalfd(-1, &snap, SFD_CLOEXEC | SFD_NONBLOCK);
		if (w.snap_fd < 0 || event_loop_add(el, w.snap_fd, EPOLLIN, &w.snap) < 0)
			log_err("--snapshot-to: cannot watch for the signal: %s", strerror(errno));
	}
	if (c->metrics_fd >= 0) {
		w.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (w.timer_fd >= 0) {
			struct itimerspec t = {{METRICS_PERIOD_S, 0}, {METRICS_PERIOD_S, 0}};
			timerfd_settime(w.timer_fd, 0, &t, NULL);
			event_loop_add(el, w.timer_fd, EPOLLIN, &w.timer);
		}
	}
	int status = vm_wait(&c->vm);
	/* Nothing more reaches the VM: refuse what another thread still holds. */
	ctl_close(c);
	event_loop_del(el, c->chan.fd);
	if (w.timer_fd >= 0) {
		event_loop_del(el, w.timer_fd);
		close(w.timer_fd);
	}
	if (w.snap_fd >= 0) {
		event_loop_del(el, w.snap_fd);
		close(w.snap_fd);
	}
	if (c->set.print_stats)
		print_stats(&c->vm);
	return status;
}

int ctl_run(struct ctl *c)
{
	int status = c->started ? -1 : wait_for_start(c);
	if (status < 0)
		status = run_vm(c);
	ctl_close(c);
	return status;
}

void ctl_destroy(struct ctl *c)
{
	ctl_close(c);
	ctl_flush_metrics(c);
	if (c->started)
		vm_destroy(&c->vm);
	c->started = false;
	if (c->metrics_fd >= 0)
		close(c->metrics_fd);
	c->metrics_fd = -1;
	mmds_store_destroy(&c->mmds);
	if (c->chan.fd >= 0) {
		close(c->chan.fd);
		pthread_cond_destroy(&c->chan.done);
		pthread_mutex_destroy(&c->chan.lock);
	}
	c->chan.fd = -1;
}

/* ---- the balloon ---- */

/* The running VM's balloon, or NULL (none configured, or not started). */
static struct virtio_balloon *running_balloon(struct ctl *c)
{
	struct vm_device *d = c->started ? vm_device_find(&c->vm, "virtio-balloon", 0) : NULL;
	return d ? d->dev : NULL;
}

static bool balloon_configured(struct ctl *c, struct ctl_reply *r)
{
	if (c->cfg.balloon.enabled)
		return true;
	ctl_reply_fault(r, "no balloon device is configured (PUT /balloon before InstanceStart)");
	return false;
}

void ctl_put_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	const struct ctl_balloon *a = &cmd->u.balloon;
	/* Refused here, as Firecracker's PUT does, not first at InstanceStart. */
	if (a->amount_mib > c->cfg.mem_mib) {
		ctl_reply_fault(
		    r, "field 'amount_mib' in balloon: %u MiB is more than the guest's %llu MiB",
		    a->amount_mib, (unsigned long long)c->cfg.mem_mib);
		return;
	}
	c->cfg.balloon = (struct balloon_config){
	    .enabled = true,
	    .amount_mib = a->amount_mib,
	    .deflate_on_oom = a->deflate_on_oom,
	    .stats_polling_interval_s = a->has_interval ? a->stats_polling_interval_s : 0,
	    .free_page_reporting = a->free_page_reporting,
	};
	c->configured = true;
	ctl_reply_no_content(r);
}

void ctl_patch_balloon(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	uint32_t mib = cmd->u.balloon.amount_mib;
	if (!balloon_configured(c, r))
		return;
	if (mib > c->cfg.mem_mib) {
		ctl_reply_fault(
		    r, "field 'amount_mib' in balloon: %u MiB is more than the guest's %llu MiB",
		    mib, (unsigned long long)c->cfg.mem_mib);
		return;
	}
	c->cfg.balloon.amount_mib = mib;
	struct virtio_balloon *b = running_balloon(c);
	if (b)
		balloon_set_target_mib(b, mib);
	ctl_reply_no_content(r);
}

void ctl_patch_balloon_stats(struct ctl *c, const struct ctl_cmd *cmd, struct ctl_reply *r)
{
	uint32_t s = cmd->u.balloon.stats_polling_interval_s;
	if (!balloon_configured(c, r))
		return;
	struct virtio_balloon *b = running_balloon(c);
	/* The statistics queue is offered at boot or never: on stays on, off stays off. */
	if (b && (!s || !c->cfg.balloon.stats_polling_interval_s)) {
		ctl_reply_fault(r, "balloon statistics cannot be turned %s after boot",
		                s ? "on" : "off");
		return;
	}
	c->cfg.balloon.stats_polling_interval_s = s;
	if (b)
		balloon_set_interval(b, s);
	ctl_reply_no_content(r);
}
