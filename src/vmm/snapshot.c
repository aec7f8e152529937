/* A VM into a snapshot's two files, and a VM back out of them (snapshot.h). */
#include "snapshot.h"
#include "../arch/arch.h"
#include "../base/fail.h"
#include "../base/file_io.h"
#include "../base/log.h"
#include "../base/snapshot_file.h"
#include "../mmds/mmds.h"
#include "../virtio/balloon.h"
#include "../seccomp/seccomp.h"
#include "devices.h"
#include "vm_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

#define SNAP_PATH_MAX 4096

/* The configuration a snapshot carries (SF_MACHINE): what makes the same devices again.
 * The kernel and command line are not needed: they are in RAM. */
struct snap_machine {
	uint64_t mem_mib;
	uint32_t vcpus, ndrives, nnets, guest_cid;
	uint8_t vsock, entropy, linux_guest, huge_pages, pad[4]; /* huge_pages: 1 Transparent */
	char uds_path[CONFIG_UDS_PATH_MAX + 8];
	struct {
		char id[CONFIG_ID_MAX + 8];
		char path[SNAP_PATH_MAX];
		uint8_t read_only, is_root, engine, unsafe, pad[4]; /* unsafe: cache_type */
	} drives[CONFIG_MAX_DRIVES];
	struct {
		char id[CONFIG_ID_MAX + 8];
		char tap[24];
		uint8_t mac[6], has_mac, pad;
		uint32_t mtu, pad2;
	} nets[CONFIG_MAX_NETS];
};

/* What the memory file holds (SF_MEMORY). */
enum { SNAP_MEM_FULL = 0, SNAP_MEM_DIFF = 1 };
struct snap_memory {
	uint32_t kind; /* SNAP_MEM_* */
	uint32_t pad;
	uint64_t pages; /* 4 KiB pages of data written (a Full file: 0, not counted) */
};

/* Every device's rate limiters (SF_LIMITS), as configured now: a restored VM's buckets
 * start full (the tokens left at the snapshot are not kept). */
struct snap_limits {
	struct rate_limiter_config drives[CONFIG_MAX_DRIVES];
	struct rate_limiter_config rx[CONFIG_MAX_NETS], tx[CONFIG_MAX_NETS];
	struct rate_limiter_config entropy;
};

/* MMDS (SF_MMDS): its configuration, then json_len bytes of the store's JSON (none: the
 * store was never PUT). V2 session tokens are not kept: the token keys are new. */
struct snap_mmds {
	uint8_t enabled, v2, imds_compat, pad;
	uint32_t ipv4, nifaces, json_len;
	char ifaces[CONFIG_MAX_NETS][CONFIG_ID_MAX + 1];
};

/* The balloon's configuration (SF_BALLOON); its live state is the device's own section. */
struct snap_balloon {
	uint8_t enabled, deflate_on_oom, free_page_reporting, pad;
	uint32_t amount_mib, stats_polling_interval_s, pad2;
};

static bool copy_str(char *dst, size_t cap, const char *src)
{
	if (!src)
		src = "";
	if (strlen(src) >= cap)
		return false;
	strncpy(dst, src, cap);
	return true;
}

static int machine_pack(const struct vm *vm, struct snap_machine *m, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	memset(m, 0, sizeof(*m));
	m->mem_mib = c->mem_mib;
	m->vcpus = vm->nvcpus;
	m->ndrives = c->ndrives;
	m->nnets = c->nnets;
	m->vsock = c->vsock.enabled;
	m->guest_cid = c->vsock.guest_cid;
	m->entropy = c->entropy;
	m->linux_guest = vm->linux_guest;
	m->huge_pages = c->huge_pages == HUGE_PAGES_TRANSPARENT;
	bool ok = copy_str(m->uds_path, sizeof(m->uds_path), c->vsock.uds_path);
	for (unsigned i = 0; i < c->ndrives && i < CONFIG_MAX_DRIVES; i++) {
		const struct drive_config *d = &c->drives[i];
		ok = ok && copy_str(m->drives[i].id, sizeof(m->drives[i].id), d->id) &&
		     copy_str(m->drives[i].path, sizeof(m->drives[i].path), d->path);
		m->drives[i].read_only = d->read_only;
		m->drives[i].is_root = d->is_root;
		m->drives[i].engine = (uint8_t)d->engine;
		m->drives[i].unsafe = d->cache == DRIVE_CACHE_UNSAFE;
	}
	for (unsigned i = 0; i < c->nnets && i < CONFIG_MAX_NETS; i++) {
		const struct net_config *n = &c->nets[i];
		ok = ok && copy_str(m->nets[i].id, sizeof(m->nets[i].id), n->id) &&
		     copy_str(m->nets[i].tap, sizeof(m->nets[i].tap), n->tap);
		memcpy(m->nets[i].mac, n->mac, 6);
		m->nets[i].has_mac = n->has_mac;
		m->nets[i].mtu = n->mtu;
	}
	if (!ok) {
		snprintf(err, errlen, "a path or name is too long for a snapshot");
		return -ENAMETOOLONG;
	}
	return 0;
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

/* The configuration back from m, every field checked. */
static int machine_unpack(struct snap_machine *m, struct vm_config *c, char *err, size_t errlen)
{
	int r = 0;
	config_defaults(c);
	if (m->vcpus < 1 || m->vcpus > CONFIG_MAX_VCPUS || m->mem_mib < 1 ||
	    m->mem_mib > (1ULL << 24) || m->ndrives > CONFIG_MAX_DRIVES ||
	    m->nnets > CONFIG_MAX_NETS || m->vsock > 1 || m->entropy > 1 || m->linux_guest > 1 ||
	    m->huge_pages > 1 || !terminated(m->uds_path, sizeof(m->uds_path)))
		FAIL(-EINVAL, "the snapshot's machine configuration is out of range");
	c->mem_mib = m->mem_mib;
	c->vcpus = m->vcpus;
	c->ndrives = m->ndrives;
	c->nnets = m->nnets;
	c->entropy = m->entropy;
	c->huge_pages = m->huge_pages ? HUGE_PAGES_TRANSPARENT : HUGE_PAGES_NONE;
	c->vsock.enabled = m->vsock;
	c->vsock.guest_cid = m->guest_cid;
	if (m->vsock &&
	    config_set_str(c->vsock.uds_path, sizeof(c->vsock.uds_path), m->uds_path) < 0)
		FAIL(-EINVAL, "the snapshot's vsock path is too long");
	for (unsigned i = 0; i < m->ndrives; i++) {
		if (!terminated(m->drives[i].id, sizeof(m->drives[i].id)) ||
		    !terminated(m->drives[i].path, sizeof(m->drives[i].path)) ||
		    m->drives[i].engine > DRIVE_ENGINE_SYNC || m->drives[i].read_only > 1 ||
		    m->drives[i].is_root > 1 || m->drives[i].unsafe > 1)
			FAIL(-EINVAL, "the snapshot's drive %u is out of range", i);
		c->drives[i] = (struct drive_config){
		    .read_only = m->drives[i].read_only,
		    .is_root = m->drives[i].is_root,
		    .engine = m->drives[i].engine,
		    .cache = m->drives[i].unsafe ? DRIVE_CACHE_UNSAFE : DRIVE_CACHE_WRITEBACK};
		if (config_set_str(c->drives[i].id, sizeof(c->drives[i].id), m->drives[i].id) < 0 ||
		    config_set_str(c->drives[i].path, sizeof(c->drives[i].path),
		                   m->drives[i].path) < 0)
			FAIL(-EINVAL, "the snapshot's drive %u is out of range", i);
	}
	for (unsigned i = 0; i < m->nnets; i++) {
		if (!terminated(m->nets[i].id, sizeof(m->nets[i].id)) ||
		    !terminated(m->nets[i].tap, sizeof(m->nets[i].tap)) || m->nets[i].has_mac > 1)
			FAIL(-EINVAL, "the snapshot's interface %u is out of range", i);
		c->nets[i] =
		    (struct net_config){.has_mac = m->nets[i].has_mac, .mtu = m->nets[i].mtu};
		if (config_set_str(c->nets[i].id, sizeof(c->nets[i].id), m->nets[i].id) < 0 ||
		    config_set_str(c->nets[i].tap, sizeof(c->nets[i].tap), m->nets[i].tap) < 0)
			FAIL(-EINVAL, "the snapshot's interface %u is out of range", i);
		memcpy(c->nets[i].mac, m->nets[i].mac, 6);
	}
out:
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, len -= (size_t)n;
	}
	return 0;
}

/* What the machine section does not hold: the limiters, MMDS (and its store), the
 * balloon's configuration. */
static int extras_save(const struct vm *vm, struct sf_writer *w, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	struct snap_limits l = {0};
	for (unsigned i = 0; i < c->ndrives && i < CONFIG_MAX_DRIVES; i++)
		l.drives[i] = c->drives[i].rate_limiter;
	for (unsigned i = 0; i < c->nnets && i < CONFIG_MAX_NETS; i++) {
		l.rx[i] = c->nets[i].rx_rate_limiter;
		l.tx[i] = c->nets[i].tx_rate_limiter;
	}
	l.entropy = c->entropy_rate_limiter;
	sf_add(w, SF_LIMITS, 0, &l, sizeof(l));

	struct snap_balloon b = {
	    .enabled = c->balloon.enabled,
	    .deflate_on_oom = c->balloon.deflate_on_oom,
	    .free_page_reporting = c->balloon.free_page_reporting,
	    .amount_mib = c->balloon.amount_mib,
	    .stats_polling_interval_s = c->balloon.stats_polling_interval_s,
	};
	sf_add(w, SF_BALLOON, 0, &b, sizeof(b));

	struct snap_mmds m = {
	    .enabled = c->mmds.enabled,
	    .v2 = c->mmds.v2,
	    .imds_compat = c->mmds.imds_compat,
	    .ipv4 = c->mmds.ipv4,
	    .nifaces = c->mmds.nifaces,
	};
	for (unsigned i = 0; i < c->mmds.nifaces && i < CONFIG_MAX_NETS; i++)
		memcpy(m.ifaces[i], c->mmds.ifaces[i], sizeof(m.ifaces[i]));
	char *json = NULL;
	const struct mmds_store *s = c->mmds_store;
	if (s && s->data) {
		size_t cap = s->limit + 16;
		json = malloc(cap);
		long n = json ? mmds_store_dump(s, json, cap) : -ENOMEM;
		if (n < 0) {
			free(json);
			snprintf(err, errlen, "cannot save the MMDS store: %s", strerror((int)-n));
			return (int)n;
		}
		m.json_len = (uint32_t)n;
	}
	sf_begin(w, SF_MMDS, 0);
	sf_append(w, &m, sizeof(m));
	if (json)
		sf_append(w, json, m.json_len);
	sf_end(w);
	free(json);
	return 0;
}

static bool limiter_ok(const struct rate_limiter_config *r)
{
	return r->bandwidth.size <= RL_MAX_TOKENS && r->bandwidth.one_time_burst <= RL_MAX_TOKENS &&
	       r->bandwidth.refill_time_ms <= RL_MAX_REFILL_MS && r->ops.size <= RL_MAX_TOKENS &&
	       r->ops.one_time_burst <= RL_MAX_TOKENS && r->ops.refill_time_ms <= RL_MAX_REFILL_MS;
}

/* The extras back into c (the machine section's configuration), every field checked; the
 * MMDS store's data into store (the restoring controller's; NULL: none kept). */
static int extras_restore(const struct sf_reader *rd, struct vm_config *c, struct mmds_store *store,
                          bool *put, char *err, size_t errlen)
{
	int r = 0;
	struct snap_limits l;
	struct snap_balloon b;
	struct snap_mmds m;
	json_t *data = NULL;
	if ((r = sf_get(rd, SF_LIMITS, 0, &l, sizeof(l), "rate limiters", err, errlen)) < 0 ||
	    (r = sf_get(rd, SF_BALLOON, 0, &b, sizeof(b), "balloon configuration", err, errlen)) <
	        0)
		goto out;
	bool ok = limiter_ok(&l.entropy);
	for (unsigned i = 0; i < c->ndrives; i++) {
		ok = ok && limiter_ok(&l.drives[i]);
		c->drives[i].rate_limiter = l.drives[i];
	}
	for (unsigned i = 0; i < c->nnets; i++) {
		ok = ok && limiter_ok(&l.rx[i]) && limiter_ok(&l.tx[i]);
		c->nets[i].rx_rate_limiter = l.rx[i];
		c->nets[i].tx_rate_limiter = l.tx[i];
	}
	c->entropy_rate_limiter = l.entropy;
	if (!ok)
		FAIL(-EINVAL, "the snapshot's rate limiters are out of range");
	if (b.enabled > 1 || b.deflate_on_oom > 1 || b.free_page_reporting > 1 ||
	    (b.enabled && b.amount_mib > c->mem_mib))
		FAIL(-EINVAL, "the snapshot's balloon configuration is out of range");
	c->balloon = (struct balloon_config){
	    .enabled = b.enabled,
	    .amount_mib = b.amount_mib,
	    .deflate_on_oom = b.deflate_on_oom,
	    .stats_polling_interval_s = b.stats_polling_interval_s,
	    .free_page_reporting = b.free_page_reporting,
	};

	size_t len;
	const uint8_t *p = sf_find(rd, SF_MMDS, 0, &len);
	if (!p || len < sizeof(m))
		FAIL(-EINVAL, "the snapshot has no MMDS section");
	memcpy(&m, p, sizeof(m));
	if (m.enabled > 1 || m.v2 > 1 || m.imds_compat > 1 || m.nifaces > c->nnets ||
	    (m.enabled && (!m.nifaces || m.ipv4 >> 16 != 0xa9fe)) || m.json_len != len - sizeof(m))
		FAIL(-EINVAL, "the snapshot's MMDS configuration is out of range");
	c->mmds = (struct mmds_config){
	    .enabled = m.enabled, .v2 = m.v2, .imds_compat = m.imds_compat, .ipv4 = m.ipv4};
	for (unsigned i = 0; i < m.nifaces; i++) {
		unsigned k = 0;
		if (!terminated(m.ifaces[i], sizeof(m.ifaces[i])))
			FAIL(-EINVAL, "the snapshot's MMDS interface %u is out of range", i);
		while (k < c->nnets && strcmp(c->nets[k].id, m.ifaces[i]))
			k++;
		if (k == c->nnets)
			FAIL(-EINVAL, "the snapshot's MMDS interface '%s' is not one of its own",
			     m.ifaces[i]);
		memcpy(c->mmds.ifaces[i], m.ifaces[i], sizeof(c->mmds.ifaces[i]));
	}
	c->mmds.nifaces = m.nifaces;
	c->mmds_store = NULL;
	if (!store)
		goto out;
	if (m.json_len) {
		json_error_t je;
		data = json_loadb((const char *)p + sizeof(m), m.json_len, JSON_DECODE_ANY, &je);
		if (!data)
			FAIL(-EINVAL, "the snapshot's MMDS data is not JSON: %s", je.text);
		int e = mmds_store_put(store, data);
		*put = e == 0;
		if (e < 0)
			FAIL(e, "the snapshot's MMDS data (%u bytes) %s", m.json_len,
			     e == -EFBIG ? "is over this instance's MMDS size limit"
			                 : "cannot be stored");
	}
	store->version = m.v2 ? MMDS_V2 : MMDS_V1;
	store->imds_compat = m.imds_compat;
	if (m.enabled)
		c->mmds_store = store;
out:
	if (data)
		json_decref(data);
	return r;
}

/* The pages written since the last call (or since boot or load), in mapping order, into
 * bits (gm_bitmap_words long, zeroed by the caller): KVM's dirty log of each slot (which
 * KVM_GET_DIRTY_LOG also clears) and the pages Ember's devices wrote. */
static int collect_dirty(struct vm *vm, uint64_t *bits, char *err, size_t errlen)
{
	int r = 0;
	uint64_t *slot_bits = NULL;
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct gm_region *g = &vm->mem.regions[i];
		size_t pages = g->size / GM_PAGE,
		       first = (size_t)(g->host - vm->mem.mapping) / GM_PAGE;
		free(slot_bits);
		slot_bits = calloc((pages + 63) / 64 ? (pages + 63) / 64 : 1, sizeof(uint64_t));
		if (!slot_bits)
			FAIL(-ENOMEM, "out of memory");
		struct kvm_dirty_log log = {.slot = i, .dirty_bitmap = slot_bits};
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			FAIL(-errno, "KVM_GET_DIRTY_LOG (slot %u): %s", i, strerror(errno));
		for (size_t p = 0; p < pages; p++)
			if (slot_bits[p / 64] >> (p % 64) & 1)
				bits[(first + p) / 64] |= 1ULL << ((first + p) % 64);
	}
	gm_take_dirty(&vm->mem, bits);
out:
	free(slot_bits);
	return r;
}

int vm_snapshot_write_kind(struct vm *vm, bool diff, int state_fd, int mem_fd, char *err,
                           size_t errlen)
{
	struct sf_writer w;
	struct snap_machine *m = NULL;
	uint64_t *dirty = NULL;
	uint8_t cpu[SF_CPU_ID_BYTES];
	struct stat st;
	const uint8_t *buf;
	size_t len;
	int r = 0;

	arch_cpu_identity(cpu);
	sf_writer_init(&w, EMBER_VERSION, cpu, vm->nvcpus);
	pthread_mutex_lock(&vm->pause_lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->pause_lock);
	if (!paused)
		FAIL(-EBUSY, "the VM is running; pause it before a snapshot");
	if (diff && !vm->cfg.track_dirty_pages)
		FAIL(-EINVAL, "a Diff snapshot needs track_dirty_pages");
	/* First: completions write RAM and raise interrupts, both saved below. */
	devices_quiesce(vm);
	if (fstat(state_fd, &st) < 0 || st.st_size != 0)
		FAIL(-EEXIST, "the state file is not empty");
	m = malloc(sizeof(*m));
	if (!m)
		FAIL(-ENOMEM, "out of memory");
	if ((r = machine_pack(vm, m, err, errlen)) < 0)
		goto out;
	sf_add(&w, SF_MACHINE, 0, m, sizeof(*m));
	if ((r = arch_vm_save(vm->vm_fd, &w, err, errlen)) < 0)
		goto out;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if ((r = arch_vcpu_save(vm->kvm_fd, vm->vcpus[i].fd, i, &w, err, errlen)) < 0)
			goto out;
	if ((r = devices_save(vm, &w, err, errlen)) < 0 ||
	    (r = extras_save(vm, &w, err, errlen)) < 0)
		goto out;
	/* Every snapshot starts a new diff: the log is read (and cleared) for a Full one too. */
	if (vm->cfg.track_dirty_pages) {
		dirty = calloc(gm_bitmap_words(&vm->mem) ? gm_bitmap_words(&vm->mem) : 1,
		               sizeof(uint64_t));
		if (!dirty)
			FAIL(-ENOMEM, "out of memory");
		if ((r = collect_dirty(vm, dirty, err, errlen)) < 0)
			goto out;
	}
	struct snap_memory sm = {.kind = diff ? SNAP_MEM_DIFF : SNAP_MEM_FULL};
	int64_t pages = 0;
	if (diff)
		pages = gm_save_pages(&vm->mem, mem_fd, dirty);
	else
		pages = gm_save(&vm->mem, mem_fd);
	if (pages < 0)
		FAIL((int)pages, "cannot write the memory file: %s",
		     pages == -EEXIST ? "it is not empty" : strerror((int)-pages));
	sm.pages = (uint64_t)pages;
	sf_add(&w, SF_MEMORY, 0, &sm, sizeof(sm));
	if ((r = sf_finish(&w, &buf, &len)) < 0)
		FAIL(r, "cannot build the state file: %s", strerror(-r));
	if ((r = write_all(state_fd, buf, len)) < 0)
		FAIL(r, "cannot write the state file: %s", strerror(-r));
	if (fdatasync(mem_fd) < 0 || fdatasync(state_fd) < 0)
		FAIL(-errno, "cannot sync the snapshot: %s", strerror(errno));
out:
	/* A failed snapshot leaves no diff base: the next Diff must hold these pages too. */
	if (r < 0 && dirty && vm->mem.dirty)
		for (size_t i = 0; i < gm_bitmap_words(&vm->mem); i++)
			__atomic_fetch_or(&vm->mem.dirty[i], dirty[i], __ATOMIC_RELAXED);
	free(dirty);
	free(m);
	sf_writer_free(&w);
	return r;
}

int vm_snapshot_write(struct vm *vm, int state_fd, int mem_fd, char *err, size_t errlen)
{
	return vm_snapshot_write_kind(vm, false, state_fd, mem_fd, err, errlen);
}

int vm_snapshot_files_open(const char *state_path, const char *mem_path, int *state_fd, int *mem_fd,
                           char *err, size_t errlen)
{
	*mem_fd = -1;
	*state_fd = open(state_path, SC_SNAPSHOT_OPEN_FLAGS, 0600);
	if (*state_fd >= 0)
		*mem_fd = open(mem_path, SC_SNAPSHOT_OPEN_FLAGS, 0600);
	if (*state_fd >= 0 && *mem_fd >= 0)
		return 0;
	int e = errno;
	snprintf(err, errlen, "cannot create '%s': %s", *state_fd < 0 ? state_path : mem_path,
	         strerror(e));
	vm_snapshot_files_close(state_path, mem_path, state_fd, mem_fd, true);
	return -e;
}

void vm_snapshot_files_close(const char *state_path, const char *mem_path, int *state_fd,
                             int *mem_fd, bool remove)
{
	if (*state_fd >= 0) {
		close(*state_fd);
		if (remove)
			unlink(state_path);
	}
	if (*mem_fd >= 0) {
		close(*mem_fd);
		if (remove)
			unlink(mem_path);
	}
	*state_fd = *mem_fd = -1;
}

/* The whole state file into memory (at most SF_MAX_FILE). */
static int read_state(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int r = 0;
	*buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL(-errno, "cannot open snapshot '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		FAIL(-errno, "cannot stat snapshot '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > SF_MAX_FILE)
		FAIL(-EINVAL, "snapshot '%s' is not a regular file of at most %u MiB", path,
		     SF_MAX_FILE >> 20);
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		FAIL(-ENOMEM, "out of memory");
	if ((r = file_read_exact(fd, *buf, *len, 0)) < 0)
		FAIL(r, "cannot read snapshot '%s': %s", path, strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int vm_snapshot_describe(const char *path, FILE *out, char *err, size_t errlen)
{
	uint8_t *file = NULL;
	size_t len = 0;
	struct sf_reader rd;
	struct sf_header h;
	char version[SF_VERSION_BYTES + 1] = {0}, cpu[128], why[512];
	int r;

	if ((r = read_state(path, &file, &len, err, errlen)) < 0)
		goto out;
	if (len < sizeof(h))
		FAIL(-EINVAL, "'%s' is not an Ember snapshot: it is truncated", path);
	memcpy(&h, file, sizeof(h));
	memcpy(version, h.ember_version, SF_VERSION_BYTES);
	/* Its own version and CPU expected: only its integrity is checked. */
	struct sf_expect self = {version, h.cpu_id, arch_cpu_describe};
	if ((r = sf_open(&rd, file, len, &self, why, sizeof(why))) < 0)
		FAIL(r, "'%s': %s", path, why);
	arch_cpu_describe(h.cpu_id, cpu, sizeof(cpu));
	struct snap_machine m;
	bool has_m = sf_get(&rd, SF_MACHINE, 0, &m, sizeof(m), "machine", why, sizeof(why)) == 0;
	fprintf(out, "v%s\n", version);
	fprintf(out, "format: %u\ncpu: %s\nvcpus: %u\n", h.format_version, cpu, h.nvcpus);
	if (has_m)
		fprintf(out, "mem_size_mib: %llu\ndrives: %u\nnetwork_interfaces: %u\nvsock: %s\n",
		        (unsigned long long)m.mem_mib, m.ndrives, m.nnets, m.vsock ? "yes" : "no");
	size_t smlen;
	const struct snap_memory *sm = sf_find(&rd, SF_MEMORY, 0, &smlen);
	if (sm && smlen == sizeof(*sm))
		fprintf(out, "memory: %s\n",
		        sm->kind == SNAP_MEM_DIFF ? "Diff (merge it onto its base first: ember "
		                                    "snapshot-merge BASE_MEM DIFF_MEM)"
		                                  : "Full");
	fprintf(out, "sections: %u\nbytes: %zu\n", h.nsections, len);
out:
	free(file);
	return r;
}

static int apply_overrides(struct vm_config *c, const struct vm_restore_opts *o, unsigned nvcpus,
                           char *err, size_t errlen)
{
	int r = 0;
	if (o->vcpus && o->vcpus != nvcpus)
		FAIL(-EINVAL, "the snapshot holds %u vCPUs; this VM has %u", nvcpus, o->vcpus);
	for (unsigned i = 0; i < o->nnets; i++) {
		unsigned k = 0;
		while (k < c->nnets && strcmp(c->nets[k].id, o->nets[i].iface_id))
			k++;
		if (k == c->nnets)
			FAIL(-EINVAL, "the snapshot has no network interface '%s'",
			     o->nets[i].iface_id);
		if (config_set_str(c->nets[k].tap, sizeof(c->nets[k].tap), o->nets[i].tap) < 0)
			FAIL(-EINVAL, "tap name '%s' is too long", o->nets[i].tap);
	}
	if (o->vsock_uds) {
		if (!c->vsock.enabled)
			FAIL(-EINVAL, "the snapshot has no vsock device to override");
		if (config_set_str(c->vsock.uds_path, sizeof(c->vsock.uds_path), o->vsock_uds) < 0)
			FAIL(-EINVAL, "vsock path '%s' is too long", o->vsock_uds);
	}
	c->no_seccomp = o->no_seccomp;
	c->track_dirty_pages = o->track_dirty_pages;
	if (o->huge_pages)
		c->huge_pages = (enum huge_pages)(o->huge_pages - 1);
	if (o->serial_out_path &&
	    config_set_str(c->serial_out_path, sizeof(c->serial_out_path), o->serial_out_path) < 0)
		FAIL(-EINVAL, "serial_out_path '%s' is too long", o->serial_out_path);
	c->print_stats = o->print_stats;
	r = config_validate_devices(c, err, errlen);
out:
	return r;
}

int vm_snapshot_check(const char *path, char *err, size_t errlen)
{
	uint8_t *file = NULL, cpu[SF_CPU_ID_BYTES];
	size_t len = 0;
	struct sf_reader rd;
	struct sf_expect expect = {EMBER_VERSION, cpu, arch_cpu_describe};
	char why[512];
	int r;

	arch_cpu_identity(cpu);
	if ((r = read_state(path, &file, &len, err, errlen)) < 0)
		return r;
	if ((r = sf_open(&rd, file, len, &expect, why, sizeof(why))) < 0)
		snprintf(err, errlen, "'%s': %s", path, why);
	free(file);
	return r;
}

int vm_restore(struct vm *vm, const struct vm_restore_opts *o, const char *state_path,
               const char *mem_path, char *err, size_t errlen)
{
	uint8_t *file = NULL;
	size_t len = 0;
	struct sf_reader rd;
	struct snap_machine *m = NULL;
	struct vm_config cfg;
	uint8_t cpu[SF_CPU_ID_BYTES];
	struct sf_expect expect = {EMBER_VERSION, cpu, arch_cpu_describe};
	char why[512];
	int mem_fd = -1;
	bool built = false, mmds_put = false;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->loop.epfd = -1;
	arch_cpu_identity(cpu);
	if ((r = read_state(state_path, &file, &len, err, errlen)) < 0)
		goto out;
	if ((r = sf_open(&rd, file, len, &expect, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	m = malloc(sizeof(*m));
	if (!m)
		FAIL(-ENOMEM, "out of memory");
	if ((r = sf_get(&rd, SF_MACHINE, 0, m, sizeof(*m), "machine configuration", why,
	                sizeof(why))) < 0 ||
	    (r = machine_unpack(m, &cfg, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	if (rd.hdr.nvcpus != cfg.vcpus || sf_count(&rd, SF_VCPU_REGS) != cfg.vcpus)
		FAIL(-EINVAL,
		     "cannot restore '%s': its machine has %u vCPUs, its header says %u, "
		     "and it holds state for %u",
		     state_path, cfg.vcpus, rd.hdr.nvcpus, sf_count(&rd, SF_VCPU_REGS));
	if ((r = extras_restore(&rd, &cfg, o->mmds_store, &mmds_put, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	if ((r = apply_overrides(&cfg, o, cfg.vcpus, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	mem_fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (mem_fd < 0)
		FAIL(-errno, "cannot open memory file '%s': %s", mem_path, strerror(errno));
	struct stat st;
	if (fstat(mem_fd, &st) < 0 || (uint64_t)st.st_size != cfg.mem_mib << 20)
		FAIL(-EINVAL, "memory file '%s' is %lld bytes; the snapshot's %llu MiB need %llu",
		     mem_path, (long long)st.st_size, (unsigned long long)cfg.mem_mib,
		     (unsigned long long)(cfg.mem_mib << 20));

	/* Everything checked that can be without KVM: build the VM. */
	if ((r = vm_build_begin(vm, &cfg, err, errlen)) < 0)
		goto out;
	built = true;
	/* After vm_build_begin, which clears the VM. */
	vm->console_piped = o->console_piped;
	vm->handover = o->handover;
	vm->handover_len = o->handover_len;
	vm->restored_cfg = m;
	m = NULL;
	if (cfg.serial_out_path[0] &&
	    (r = vm->serial_fd = vm_serial_open(cfg.serial_out_path, err, errlen)) < 0)
		goto out;
	vm->linux_guest = ((struct snap_machine *)vm->restored_cfg)->linux_guest;
	if ((r = event_loop_init(&vm->loop)) < 0)
		FAIL(r, "epoll_create1: %s", strerror(-r));
	if ((r = devices_create(vm, &cfg, err, errlen)) < 0 ||
	    (r = vm_build_machine(vm, &cfg, err, errlen)) < 0)
		goto out;
	for (unsigned i = 0; i < cfg.vcpus; i++)
		if ((r = arch_vcpu_check(vm->kvm_fd, &rd, i, why, sizeof(why))) < 0)
			FAIL(r, "cannot restore '%s': %s", state_path, why);
	if ((r = gm_create_from_file(&vm->mem, mem_fd, cfg.mem_mib << 20, ARCH_RAM_HOLE,
	                             ARCH_RAM_HIGH)) < 0)
		FAIL(r, "cannot map memory file '%s': %s", mem_path, strerror(-r));
	/* A Diff of this VM is layered on this snapshot: nothing dirty yet. */
	if (cfg.track_dirty_pages && (r = gm_track_dirty(&vm->mem, 0)) < 0)
		FAIL(r, "cannot track dirty pages: %s", strerror(-r));
	/* Advice on the private file mapping: the guest's own (copied) pages may be huge. */
	if (cfg.huge_pages == HUGE_PAGES_TRANSPARENT)
		gm_advise_huge(&vm->mem);
	if ((r = vm_build_slots(vm, err, errlen)) < 0 || (r = devices_place(vm, err, errlen)) < 0 ||
	    (r = vm_build_vcpus(vm, cfg.vcpus, NULL, err, errlen)) < 0)
		goto out;
	if ((r = arch_vm_restore(vm->vm_fd, &rd, o->clock_realtime, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	for (unsigned i = 0; i < cfg.vcpus; i++)
		if ((r = arch_vcpu_restore(vm->kvm_fd, vm->vcpus[i].fd, i, &rd, why, sizeof(why))) <
		    0)
			FAIL(r, "cannot restore '%s': %s", state_path, why);
	if ((r = devices_restore(vm, &rd, why, sizeof(why))) < 0)
		FAIL(r, "cannot restore '%s': %s", state_path, why);
	for (unsigned i = 0; i < cfg.vcpus; i++)
		arch_vcpu_resumed(vm->kvm_fd, vm->vcpus[i].fd);
out:
	if (mem_fd >= 0)
		close(mem_fd);
	free(file);
	free(m);
	if (r < 0 && built)
		vm_destroy(vm);
	if (r < 0 && mmds_put)
		mmds_store_destroy(o->mmds_store); /* nothing of a refused snapshot stays */
	return r;
}

int vm_snapshot_merge(const char *base_path, const char *diff_path, uint64_t *pages, char *err,
                      size_t errlen)
{
	struct stat bst, dst;
	uint64_t bytes = 0;
	int r = 0, bfd = -1, dfd = open(diff_path, O_RDONLY | O_CLOEXEC);
	*pages = 0;
	if (dfd < 0)
		FAIL(-errno, "cannot open diff memory file '%s': %s", diff_path, strerror(errno));
	bfd = open(base_path, O_WRONLY | O_CLOEXEC);
	if (bfd < 0)
		FAIL(-errno, "cannot open base memory file '%s': %s", base_path, strerror(errno));
	if (fstat(dfd, &dst) < 0 || fstat(bfd, &bst) < 0)
		FAIL(-errno, "cannot stat the memory files: %s", strerror(errno));
	if (!S_ISREG(dst.st_mode) || !S_ISREG(bst.st_mode))
		FAIL(-EINVAL, "'%s' and '%s' must be regular files", base_path, diff_path);
	if (dst.st_size != bst.st_size)
		FAIL(-EINVAL, "'%s' is %lld bytes and '%s' %lld: not a base and its diff",
		     base_path, (long long)bst.st_size, diff_path, (long long)dst.st_size);
	if (bst.st_dev == dst.st_dev && bst.st_ino == dst.st_ino)
		FAIL(-EINVAL, "'%s' and '%s' are the same file", base_path, diff_path);
	if ((r = file_copy_data(bfd, dfd, &bytes)) < 0)
		FAIL(r, "cannot merge '%s' onto '%s': %s", diff_path, base_path, strerror(-r));
	*pages = (bytes + GM_PAGE - 1) / GM_PAGE;
out:
	if (bfd >= 0)
		close(bfd);
	if (dfd >= 0)
		close(dfd);
	return r;
}
