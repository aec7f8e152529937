/* The device table and what the machine does with it (devices.h). */
#include "devices.h"
#include "../base/exit_status.h"
#include "../base/log.h"
#include "../devices/i8042.h"
#include "../devices/power.h"
#include "../devices/pvpanic.h"
#include "../devices/serial.h"
#include "../devices/vmgenid.h"
#include "../virtio/balloon.h"
#include "../virtio/blk.h"
#include "../virtio/net.h"
#include "../virtio/rng.h"
#include "../virtio/virtio_state.h"
#include "../virtio/vsock.h"
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- how the platform devices reach the machine ---- */

static void irq_line(struct vm *vm, unsigned irq, int level)
{
	struct kvm_irq_level line = {.irq = irq, .level = (uint32_t)level};
	/* Only fails if the irqchip is gone, i.e. during teardown: nothing to do then. */
	(void)ioctl(vm->vm_fd, KVM_IRQ_LINE, &line);
}

static void serial_set_irq(void *ctx, int level)
{
	irq_line(ctx, SERIAL_COM1_IRQ, level);
}

static void kbd_set_irq(void *ctx, int level)
{
	irq_line(ctx, I8042_KBD_IRQ, level);
}

static void guest_reset(void *ctx)
{
	vm_stop(ctx, EXIT_GUEST_OK);
}

static void guest_poweroff(void *ctx, int status)
{
	vm_stop(ctx, status);
}

static void guest_panic(void *ctx)
{
	if (!vm_stopping(ctx))
		log_err("the guest kernel panicked");
	vm_stop(ctx, EXIT_GUEST_FAULT);
}

/* One edge: VMGenID's Generic Event Device interrupt is edge-triggered. */
static void raise_edge(void *ctx, unsigned gsi)
{
	irq_line(ctx, gsi, 1);
	irq_line(ctx, gsi, 0);
}

static unsigned one(const struct vm_config *cfg)
{
	(void)cfg;
	return 1;
}

/* ---- the rows' functions ---- */

static int serial_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                       size_t errlen)
{
	(void)cfg;
	int r = serial_init(d->dev, vm->serial_fd >= 0 ? vm->serial_fd : STDOUT_FILENO,
	                    serial_set_irq, vm);
	if (r)
		snprintf(err, errlen, "cannot set up the serial port: %s", strerror(-r));
	return r;
}

static void serial_unmake(struct vm_device *d)
{
	serial_destroy(d->dev);
}

static int i8042_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                      size_t errlen)
{
	(void)cfg;
	int r = i8042_init(d->dev, guest_reset, kbd_set_irq, vm);
	if (r)
		snprintf(err, errlen, "cannot set up the keyboard controller: %s", strerror(-r));
	return r;
}

static void i8042_unmake(struct vm_device *d)
{
	i8042_destroy(d->dev);
}

static int power_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                      size_t errlen)
{
	(void)cfg, (void)err, (void)errlen;
	power_init(d->dev, guest_poweroff, guest_reset, vm);
	return 0;
}

static int pvpanic_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                        size_t errlen)
{
	(void)cfg, (void)err, (void)errlen;
	pvpanic_init(d->dev, guest_panic, vm);
	return 0;
}

static int vmgenid_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                        size_t errlen)
{
	(void)cfg;
	int r =
	    vmgenid_init(d->dev, &vm->mem, d->kind->acpi_addr, d->kind->event_gsi, raise_edge, vm);
	if (r < 0)
		snprintf(err, errlen, "vmgenid: getrandom gave no generation ID");
	return r;
}

static int vmgenid_boot(struct vm_device *d, char *err, size_t errlen)
{
	int r = vmgenid_write(d->dev);
	if (r < 0)
		snprintf(err, errlen, "vmgenid: no RAM at 0x%llx for the generation ID",
		         (unsigned long long)d->kind->acpi_addr);
	return r;
}

static unsigned drives(const struct vm_config *cfg)
{
	return cfg->ndrives;
}

/* Drive index i in bus order: the root drive first, since Linux names disks in probe
 * order and the root must become /dev/vda. */
static const struct drive_config *drive_in_bus_order(const struct vm_config *cfg, unsigned i)
{
	for (int pass = 0; pass < 2; pass++)
		for (unsigned k = 0; k < cfg->ndrives; k++)
			if (cfg->drives[k].is_root == (pass == 0) && i-- == 0)
				return &cfg->drives[k];
	return NULL;
}

static int blk_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                    size_t errlen)
{
	(void)vm;
	struct virtio_blk *b = d->dev;
	int r = blk_create(b, drive_in_bus_order(cfg, d->index), err, errlen);
	d->vdev = &b->vdev;
	return r;
}

static void blk_unmake(struct vm_device *d)
{
	blk_destroy(d->dev);
}

/* The root drive is first on the bus, so it is /dev/vda. */
static int blk_cmdline(const struct vm_config *cfg, const struct vm_device *d, char *buf,
                       size_t len)
{
	const struct drive_config *dc = drive_in_bus_order(cfg, d->index);
	int n = 0;
	if (dc && dc->is_root)
		n = snprintf(buf, len, "root=/dev/vda %s ", dc->read_only ? "ro" : "rw");
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static unsigned nets(const struct vm_config *cfg)
{
	return cfg->nnets;
}

static int net_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                    size_t errlen)
{
	(void)vm;
	struct virtio_net *n = d->dev;
	const struct net_config *nc = &cfg->nets[d->index];
	d->vdev = &n->vdev;
	int r = net_create(n, nc, err, errlen);
	if (r < 0 || !cfg->mmds.enabled || !cfg->mmds_store)
		return r;
	for (unsigned i = 0; i < cfg->mmds.nifaces; i++)
		if (!strcmp(cfg->mmds.ifaces[i], nc->id) &&
		    (r = net_mmds_attach(n, cfg->mmds_store, cfg->mmds.ipv4)) < 0) {
			snprintf(err, errlen, "net '%s': no memory for MMDS", nc->id);
			return r;
		}
	return 0;
}

static void net_unmake(struct vm_device *d)
{
	net_destroy(d->dev);
}

static unsigned vsocks(const struct vm_config *cfg)
{
	return cfg->vsock.enabled;
}

static int vsock_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                      size_t errlen)
{
	(void)vm;
	struct virtio_vsock *v = d->dev;
	d->vdev = &v->vdev;
	return vsock_create(v, &cfg->vsock, err, errlen);
}

static void vsock_unmake(struct vm_device *d)
{
	vsock_destroy(d->dev);
}

static unsigned rngs(const struct vm_config *cfg)
{
	return cfg->entropy;
}

static int rng_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                    size_t errlen)
{
	(void)vm;
	struct virtio_rng *r = d->dev;
	d->vdev = &r->vdev;
	int ret = rng_create(r, &cfg->entropy_rate_limiter);
	if (ret < 0)
		snprintf(err, errlen, "virtio-rng: cannot make its rate limiter's timer: %s",
		         strerror(-ret));
	return ret;
}

static void rng_unmake(struct vm_device *d)
{
	rng_destroy(d->dev);
}

static unsigned balloons(const struct vm_config *cfg)
{
	return cfg->balloon.enabled;
}

static int balloon_make(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
                        size_t errlen)
{
	(void)vm;
	struct virtio_balloon *b = d->dev;
	d->vdev = &b->vdev;
	return balloon_create(b, &cfg->balloon, err, errlen);
}

static void balloon_unmake(struct vm_device *d)
{
	balloon_destroy(d->dev);
}

/* ---- snapshots: each kind's own state (the transport's is saved for virtio devices) ---- */

/* Kinds with no state of their own beyond their configuration and transport. */
static int no_state_save(const struct vm_device *d, struct sf_writer *w, char *err, size_t errlen)
{
	(void)d, (void)w, (void)err, (void)errlen;
	return 0;
}

static int no_state_restore(struct vm_device *d, const void *state, size_t len, char *err,
                            size_t errlen)
{
	(void)state;
	if (len == 0)
		return 0;
	snprintf(err, errlen, "the snapshot's %s holds %zu bytes, expected none", d->kind->name,
	         len);
	return -EINVAL;
}

static int wrong_size(const struct vm_device *d, size_t len, size_t want, char *err, size_t errlen)
{
	snprintf(err, errlen, "the snapshot's %s state is %zu bytes, expected %zu", d->kind->name,
	         len, want);
	return -EINVAL;
}

static int serial_save_state(const struct vm_device *d, struct sf_writer *w, char *err,
                             size_t errlen)
{
	(void)err, (void)errlen;
	struct serial_state st;
	serial_save(d->dev, &st);
	sf_append(w, &st, sizeof(st));
	return 0;
}

static int serial_restore_state(struct vm_device *d, const void *state, size_t len, char *err,
                                size_t errlen)
{
	struct serial_state st;
	if (len != sizeof(st))
		return wrong_size(d, len, sizeof(st), err, errlen);
	memcpy(&st, state, sizeof(st));
	if (serial_restore(d->dev, &st) < 0) {
		snprintf(err, errlen, "the snapshot's serial port state is out of range");
		return -EINVAL;
	}
	return 0;
}

static int i8042_save_state(const struct vm_device *d, struct sf_writer *w, char *err,
                            size_t errlen)
{
	(void)err, (void)errlen;
	struct i8042_state st;
	i8042_save(d->dev, &st);
	sf_append(w, &st, sizeof(st));
	return 0;
}

static int i8042_restore_state(struct vm_device *d, const void *state, size_t len, char *err,
                               size_t errlen)
{
	struct i8042_state st;
	if (len != sizeof(st))
		return wrong_size(d, len, sizeof(st), err, errlen);
	memcpy(&st, state, sizeof(st));
	if (i8042_restore(d->dev, &st) < 0) {
		snprintf(err, errlen, "the snapshot's keyboard controller state is out of range");
		return -EINVAL;
	}
	return 0;
}

static void blk_quiesce(struct vm_device *d)
{
	blk_drain(d->dev);
}

/* A request in flight has no place in a snapshot: its completion would be lost.
 * blk_quiesce completed them all; one left means io_uring failed to wait. */
static int blk_save_state(const struct vm_device *d, struct sf_writer *w, char *err, size_t errlen)
{
	(void)w;
	const struct virtio_blk *b = d->dev;
	if (b->inflight) {
		snprintf(err, errlen, "%s has %u requests in flight; try again", b->vdev.name,
		         b->inflight);
		return -EAGAIN;
	}
	return 0;
}

/* The balloon's target, what the driver holds, its statistics (its configuration is the
 * snapshot's SF_BALLOON section, so the restored VM has the device). */
static int balloon_save_state(const struct vm_device *d, struct sf_writer *w, char *err,
                              size_t errlen)
{
	(void)err, (void)errlen;
	struct balloon_state st;
	balloon_save(d->dev, &st);
	sf_append(w, &st, sizeof(st));
	return 0;
}

static int balloon_state_get(struct balloon_state *st, const void *state, size_t len, char *err,
                             size_t errlen)
{
	if (len != sizeof(*st)) {
		snprintf(err, errlen, "virtio-balloon's state is %zu bytes, expected %zu", len,
		         sizeof(*st));
		return -EINVAL;
	}
	memcpy(st, state, sizeof(*st));
	return 0;
}

static int balloon_restore_state(struct vm_device *d, const void *state, size_t len, char *err,
                                 size_t errlen)
{
	struct balloon_state st;
	int r = balloon_state_get(&st, state, len, err, errlen);
	return r < 0 ? r : balloon_restore(d->dev, &st, err, errlen);
}

static int balloon_restore_config(struct vm_device *d, const void *state, size_t len, char *err,
                                  size_t errlen)
{
	struct balloon_state st;
	int r = balloon_state_get(&st, state, len, err, errlen);
	if (r == 0)
		balloon_restore_target(d->dev, &st);
	return r;
}

static int vmgenid_save_state(const struct vm_device *d, struct sf_writer *w, char *err,
                              size_t errlen)
{
	(void)err, (void)errlen;
	struct vmgenid_state st;
	vmgenid_save(d->dev, &st);
	sf_append(w, &st, sizeof(st));
	return 0;
}

/* Every restore is a new generation: a new ID, and the guest told. */
static int vmgenid_restore_state(struct vm_device *d, const void *state, size_t len, char *err,
                                 size_t errlen)
{
	struct vmgenid_state st;
	if (len != sizeof(st))
		return wrong_size(d, len, sizeof(st), err, errlen);
	memcpy(&st, state, sizeof(st));
	int r = vmgenid_restore(d->dev, &st);
	if (r == -EINVAL)
		snprintf(err, errlen,
		         "the snapshot's VMGenID is at 0x%llx on GSI %u; this Ember puts it at "
		         "0x%llx on GSI %u",
		         (unsigned long long)st.addr, st.gsi,
		         (unsigned long long)d->kind->acpi_addr, d->kind->event_gsi);
	else if (r < 0)
		snprintf(err, errlen, "vmgenid: cannot write a new generation ID: %s",
		         strerror(-r));
	return r;
}

/* The guest's connections did not survive: tell it, as Firecracker does. */
static int vsock_restore_state(struct vm_device *d, const void *state, size_t len, char *err,
                               size_t errlen)
{
	int r = no_state_restore(d, state, len, err, errlen);
	if (r == 0 && vsock_transport_reset(d->dev) == -ENOSPC)
		log_warn("virtio-vsock: the guest left no event buffer for TRANSPORT_RESET");
	return r;
}

/* ---- the table ---- */

static const struct device_kind serial_kind = {
    .name = "serial",
    .size = sizeof(struct serial),
    .max = 1,
    .count = one,
    .create = serial_make,
    .destroy = serial_unmake,
    .ports = {{SERIAL_COM1_BASE, SERIAL_REGS, &serial_ops}},
    .nports = 1,
    .acpi_name = "COM1",
    .hid = "PNP0501",
    .hid_eisa = true,
    .uid = 0,
    .isa_irq = SERIAL_COM1_IRQ,
    .save = serial_save_state,
    .restore = serial_restore_state,
};

/* How Linux's i8042 driver finds the controller (without it, it takes the FADT's word
 * that there is none): the data port is the first IO, the command port the second, and
 * only the keyboard's interrupt is given; no aux (mouse) device. */
static const struct device_kind i8042_kind = {
    .name = "i8042",
    .size = sizeof(struct i8042),
    .max = 1,
    .count = one,
    .create = i8042_make,
    .destroy = i8042_unmake,
    .ports = {{I8042_DATA_PORT, 1, &i8042_data_ops}, {I8042_COMMAND_PORT, 1, &i8042_command_ops}},
    .nports = 2,
    .acpi_name = "KBD_",
    .hid = "PNP0303", /* PS/2 keyboard controller, IBM enhanced keyboard */
    .hid_eisa = true,
    .uid = -1,
    .isa_irq = I8042_KBD_IRQ,
    .save = i8042_save_state,
    .restore = i8042_restore_state,
};

/* The FADT describes these registers; the DSDT has no device for them. */
static const struct device_kind power_kind = {
    .name = "power",
    .size = sizeof(struct power),
    .max = 1,
    .count = one,
    .create = power_make,
    .ports = {{POWER_PORT_BASE, POWER_PORTS, &power_ops}},
    .nports = 1,
    .uid = -1,
    .isa_irq = -1,
    .save = no_state_save,
    .restore = no_state_restore,
};

static const struct device_kind pvpanic_kind = {
    .name = "pvpanic",
    .size = sizeof(struct pvpanic),
    .max = 1,
    .count = one,
    .create = pvpanic_make,
    .ports = {{PVPANIC_PORT, 1, &pvpanic_ops}},
    .nports = 1,
    .acpi_name = "PEVT",
    .hid = "QEMU0001",
    .uid = -1,
    .isa_irq = -1,
    .save = no_state_save,
    .restore = no_state_restore,
};

static const struct device_kind blk_kind = {
    .name = "virtio-blk",
    .size = sizeof(struct virtio_blk),
    .max = CONFIG_MAX_DRIVES,
    .count = drives,
    .create = blk_make,
    .destroy = blk_unmake,
    .cmdline = blk_cmdline,
    .save = blk_save_state,
    .restore = no_state_restore,
    .quiesce = blk_quiesce,
};

static const struct device_kind net_kind = {
    .name = "virtio-net",
    .size = sizeof(struct virtio_net),
    .max = CONFIG_MAX_NETS,
    .count = nets,
    .create = net_make,
    .destroy = net_unmake,
    .save = no_state_save,
    .restore = no_state_restore,
};

static const struct device_kind vsock_kind = {
    .name = "virtio-vsock",
    .size = sizeof(struct virtio_vsock),
    .max = 1,
    .count = vsocks,
    .create = vsock_make,
    .destroy = vsock_unmake,
    .save = no_state_save,
    .restore = vsock_restore_state,
};

static const struct device_kind rng_kind = {
    .name = "virtio-rng",
    .size = sizeof(struct virtio_rng),
    .max = 1,
    .count = rngs,
    .create = rng_make,
    .destroy = rng_unmake,
    .save = no_state_save,
    .restore = no_state_restore,
};

static const struct device_kind balloon_kind = {
    .name = "virtio-balloon",
    .size = sizeof(struct virtio_balloon),
    .max = 1,
    .count = balloons,
    .create = balloon_make,
    .destroy = balloon_unmake,
    .save = balloon_save_state,
    .restore = balloon_restore_state,
    .restore_config = balloon_restore_config,
};

/* Last in the table, so the other devices keep their snapshot instances. The DSDT's
 * Generic Event Device gets its interrupt from event_gsi. */
static const struct device_kind vmgenid_kind = {
    .name = "vmgenid",
    .size = sizeof(struct vmgenid),
    .max = 1,
    .count = one,
    .create = vmgenid_make,
    .acpi_name = "VGEN",
    /* Linux (5.18+) matches "VM_GEN_COUNTER": ACPICA upper-cases the _CID strings. The
     * _HID must be a valid ACPI id (iasl refuses Firecracker's "VMGENCTR"), as QEMU's
     * "QEMUVGID" is. */
    .hid = "EMBR0001",
    .cid = "VM_Gen_Counter",
    .acpi_addr = ARCH_VMGENID_ADDR,
    .event_gsi = ARCH_EVENT_GSI,
    .uid = -1,
    .isa_irq = -1,
    .boot = vmgenid_boot,
    .save = vmgenid_save_state,
    .restore = vmgenid_restore_state,
};

const struct device_kind *const device_kinds[] = {
    &serial_kind, &i8042_kind, &power_kind, &pvpanic_kind, &blk_kind,
    &net_kind,    &vsock_kind, &rng_kind,   &balloon_kind, &vmgenid_kind,
};
const unsigned device_kind_count = sizeof(device_kinds) / sizeof(device_kinds[0]);

/* ---- the machine's side ---- */

int devices_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	unsigned windows = 0;
	vm->ndevs = 0;
	for (unsigned k = 0; k < device_kind_count; k++) {
		const struct device_kind *kind = device_kinds[k];
		unsigned n = kind->count(cfg);
		if (n > kind->max || vm->ndevs + n > VM_MAX_DEVICES) {
			snprintf(err, errlen, "at most %u %s devices", kind->max, kind->name);
			devices_destroy(vm);
			return -EINVAL;
		}
		for (unsigned i = 0; i < n; i++) {
			struct vm_device *d = &vm->devs[vm->ndevs];
			*d = (struct vm_device){.kind = kind, .index = i};
			d->dev = calloc(1, kind->size);
			if (!d->dev) {
				snprintf(err, errlen, "out of memory");
				devices_destroy(vm);
				return -ENOMEM;
			}
			int r = kind->create(vm, cfg, d, err, errlen);
			if (r < 0) {
				free(d->dev);
				devices_destroy(vm);
				return r;
			}
			if (d->vdev) {
				d->mmio_base =
				    ARCH_VIRTIO_MMIO_BASE + (uint64_t)windows * VIRTIO_MMIO_SIZE;
				d->gsi = ARCH_VIRTIO_FIRST_GSI + windows;
				if (d->gsi > ARCH_LAST_GSI) {
					snprintf(err, errlen,
					         "too many virtio devices for the interrupts");
					vm->ndevs++;
					devices_destroy(vm);
					return -EINVAL;
				}
				windows++;
			}
			vm->ndevs++;
		}
	}
	return 0;
}

int devices_cmdline(const struct vm *vm, const struct vm_config *cfg, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct vm_device *d = &vm->devs[i];
		if (!d->vdev)
			continue;
		int n = snprintf(buf + used, len - used, "virtio_mmio.device=4K@0x%llx:%u ",
		                 (unsigned long long)d->mmio_base, d->gsi);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct vm_device *d = &vm->devs[i];
		if (!d->kind->cmdline)
			continue;
		int n = d->kind->cmdline(cfg, d, buf + used, len - used);
		if (n < 0)
			return -ENOSPC;
		used += (size_t)n;
	}
	return (int)used;
}

unsigned devices_acpi(const struct vm *vm, struct acpi_dev *out)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned n = 0, windows = 0;
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct vm_device *d = &vm->devs[i];
		const struct device_kind *k = d->kind;
		struct acpi_dev *a = &out[n];
		if (d->vdev) {
			unsigned w = windows++;
			*a = (struct acpi_dev){.name = {'V', 'R', hex[w >> 4 & 0xf], hex[w & 0xf]},
			                       .hid = "LNRO0005",
			                       .uid = (int)w,
			                       .isa_irq = -1,
			                       .mem_base = d->mmio_base,
			                       .mem_size = VIRTIO_MMIO_SIZE,
			                       .gsi = (int)d->gsi};
		} else if (k->acpi_name[0]) {
			*a = (struct acpi_dev){.hid = k->hid,
			                       .hid_eisa = k->hid_eisa,
			                       .uid = k->uid,
			                       .nio = k->nports,
			                       .isa_irq = k->isa_irq,
			                       .gsi = -1,
			                       .cid = k->cid,
			                       .addr = k->acpi_addr,
			                       .event_gsi = k->event_gsi};
			memcpy(a->name, k->acpi_name, sizeof(a->name));
			for (unsigned p = 0; p < k->nports; p++) {
				a->io[p].base = k->ports[p].base;
				a->io[p].len = k->ports[p].len;
			}
		} else {
			continue;
		}
		n++;
	}
	return n;
}

int devices_boot(struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct vm_device *d = &vm->devs[i];
		int r = d->kind->boot ? d->kind->boot(d, err, errlen) : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

static struct virtio_host virtio_host(struct vm *vm)
{
	return (struct virtio_host){vm->vm_fd, &vm->mem, &vm->loop, &vm->mmio, &vcpu_wait_ops, vm};
}

int devices_place(struct vm *vm, char *err, size_t errlen)
{
	const struct virtio_host host = virtio_host(vm);
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct vm_device *d = &vm->devs[i];
		const struct device_kind *k = d->kind;
		int r;
		if (d->vdev) {
			r = virtio_mmio_add(&host, d->vdev, d->mmio_base, d->gsi, err, errlen);
			if (r < 0)
				return r;
			d->nplaced = 1;
			continue;
		}
		for (unsigned p = 0; p < k->nports; p++) {
			const struct dev_ports *port = &k->ports[p];
			r = bus_add(&vm->pio, port->base, port->len, port->ops, d->dev, k->name);
			if (r) {
				snprintf(err, errlen, "cannot place %s at 0x%x: %s", k->name,
				         (unsigned)port->base, strerror(-r));
				return r;
			}
			d->nplaced = p + 1;
		}
	}
	/* The warm handover page, in every VM: the snapshot a warm run restores is taken of
	 * a VM whose init polls it (base/handover.h). */
	_Static_assert(ARCH_HANDOVER_BASE == HANDOVER_MMIO_BASE, "the init's address");
	handover_init(&vm->handover_dev, vm->handover, vm->handover_len, guest_poweroff, vm);
	int r = bus_add(&vm->mmio, ARCH_HANDOVER_BASE, HANDOVER_MMIO_SIZE, &handover_ops,
	                &vm->handover_dev, "handover");
	if (r) {
		snprintf(err, errlen, "cannot place the handover page: %s", strerror(-r));
		return r;
	}
	return 0;
}

void devices_destroy(struct vm *vm)
{
	const struct virtio_host host = virtio_host(vm);
	for (unsigned i = vm->ndevs; i-- > 0;) {
		struct vm_device *d = &vm->devs[i];
		/* A virtio device leaves the bus first: that deassigns its KVM fds and resets it.
		 */
		if (d->vdev && d->nplaced)
			virtio_mmio_remove(&host, d->vdev);
		d->nplaced = 0;
		if (d->kind->destroy)
			d->kind->destroy(d);
		free(d->dev);
		d->dev = NULL;
	}
	vm->ndevs = 0;
}

struct vm_device *vm_device_find(struct vm *vm, const char *name, unsigned index)
{
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].index == index && !strcmp(vm->devs[i].kind->name, name))
			return &vm->devs[i];
	return NULL;
}

struct virtio_blk *vm_drive_find(struct vm *vm, const char *drive_id)
{
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct vm_device *d = &vm->devs[i];
		const struct drive_config *dc =
		    d->kind == &blk_kind ? drive_in_bus_order(&vm->cfg, d->index) : NULL;
		if (dc && !strcmp(dc->id, drive_id))
			return d->dev;
	}
	return NULL;
}

void devices_quiesce(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].kind->quiesce)
			vm->devs[i].kind->quiesce(&vm->devs[i]);
}

int devices_save(struct vm *vm, struct sf_writer *w, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct vm_device *d = &vm->devs[i];
		if (!d->kind->save) {
			snprintf(err, errlen, "%s devices cannot be snapshotted yet",
			         d->kind->name);
			return -ENOTSUP;
		}
		if (d->vdev) {
			struct virtio_state st;
			if (virtio_state_save(d->vdev, &st) < 0) {
				snprintf(err, errlen, "%s: configuration too large to save",
				         d->vdev->name);
				return -EINVAL;
			}
			sf_add(w, SF_VIRTIO, i, &st, sizeof(st));
		}
		struct sf_device_hdr h = {.index = d->index};
		strncpy(h.kind, d->kind->name, sizeof(h.kind) - 1);
		sf_begin(w, SF_DEVICE, i);
		sf_append(w, &h, sizeof(h));
		int r = d->kind->save(d, w, err, errlen);
		sf_end(w);
		if (r < 0)
			return r;
	}
	return 0;
}

int devices_restore(struct vm *vm, const struct sf_reader *r, char *err, size_t errlen)
{
	if (sf_count(r, SF_DEVICE) != vm->ndevs) {
		snprintf(err, errlen, "the snapshot holds %u devices; its configuration makes %u",
		         sf_count(r, SF_DEVICE), vm->ndevs);
		return -EINVAL;
	}
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct vm_device *d = &vm->devs[i];
		struct sf_device_hdr h;
		size_t len;
		const uint8_t *p = sf_find(r, SF_DEVICE, i, &len);
		if (!p || len < sizeof(h)) {
			snprintf(err, errlen, "the snapshot has no state for device %u (%s)", i,
			         d->kind->name);
			return -EINVAL;
		}
		memcpy(&h, p, sizeof(h));
		if (strncmp(h.kind, d->kind->name, sizeof(h.kind)) || h.index != d->index) {
			snprintf(err, errlen, "the snapshot's device %u is not %s %u", i,
			         d->kind->name, d->index);
			return -EINVAL;
		}
		if (d->kind->restore_config) {
			int rc =
			    d->kind->restore_config(d, p + sizeof(h), len - sizeof(h), err, errlen);
			if (rc < 0)
				return rc;
		}
		if (d->vdev) {
			struct virtio_state st;
			int rc = sf_get(r, SF_VIRTIO, i, &st, sizeof(st), "virtio transport state",
			                err, errlen);
			if (rc < 0 || (rc = virtio_state_restore(d->vdev, &st, err, errlen)) < 0)
				return rc;
		}
		if (!d->kind->restore) {
			snprintf(err, errlen, "%s devices cannot be restored yet", d->kind->name);
			return -ENOTSUP;
		}
		int rc = d->kind->restore(d, p + sizeof(h), len - sizeof(h), err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}
