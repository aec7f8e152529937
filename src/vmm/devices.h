/*
 * The machine's devices, in one table (devices.c): one row per device kind, in the order
 * they are created, placed on the buses and described to the guest. Bus order matters:
 * Linux probes virtio-mmio devices, and so names disks, in the order of their windows.
 *
 * A row says how many of its kind the configuration asks for, how to create and destroy
 * one, where it sits (its port ranges; a virtio device gets the next virtio-mmio window
 * and GSI instead), its ACPI description and its kernel command-line words. The DSDT's
 * devices and the command line's virtio_mmio.device= words are generated from the
 * instances, so a port or an interrupt is written once. Adding a device: its own file(s),
 * one row, its configuration fields (docs/ARCHITECTURE.md, "Adding a device").
 */
#ifndef EMBER_DEVICES_H
#define EMBER_DEVICES_H

#include "../arch/arch.h"
#include "../base/bus.h"
#include "../base/config.h"
#include "../base/snapshot_file.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_device;
struct virtio_dev;
struct virtio_blk;

/* A port range a platform device answers on, with the handlers for it. */
struct dev_ports {
	uint16_t base;
	uint8_t len;
	const struct bus_ops *ops;
};

struct device_kind {
	const char *name; /* "serial", "virtio-blk": for messages and vm_device_find */
	size_t size;      /* bytes of the device's own struct, allocated for each instance */
	unsigned max;     /* at most this many; the rows' sum is at most VM_MAX_DEVICES */
	/* How many the configuration asks for. */
	unsigned (*count)(const struct vm_config *cfg);
	/* Make instance d->index from cfg into d->dev (zeroed, d->kind->size bytes); a virtio
	 * device also sets d->vdev. Returns 0, or -errno with a message in err, leaving
	 * nothing for destroy to do. */
	int (*create)(struct vm *vm, const struct vm_config *cfg, struct vm_device *d, char *err,
	              size_t errlen);
	/* Release what create acquired (after the device left the bus); NULL: nothing. */
	void (*destroy)(struct vm_device *d);
	/* Platform devices: the port ranges placed on the port-I/O bus. */
	struct dev_ports ports[2];
	unsigned nports;
	/* The ACPI description: a platform device's name ("COM1"; empty: not in the DSDT)
	 * and hid, with its ports and isa_irq (-1: none) as resources. Virtio devices are
	 * named VRxx after their window and need none of this. */
	char acpi_name[5];
	const char *hid;
	bool hid_eisa;
	int uid; /* -1: none */
	int isa_irq;
	const char *cid;    /* a _CID string, or NULL */
	uint64_t acpi_addr; /* not 0: an ADDR method returns it (VMGenID) */
	unsigned event_gsi; /* not 0: the Generic Event Device notifies the device on it */
	/* A guest that boots from a kernel (not a restore) is about to run, its memory
	 * filled: put what the device shows in guest memory there. NULL: nothing. Returns 0
	 * or -errno with a message in err. */
	int (*boot)(struct vm_device *d, char *err, size_t errlen);
	/* Kernel command-line words beyond virtio_mmio.device= (a root drive's root=), for
	 * the instance d made from cfg, or NULL. Writes at most len bytes with the NUL;
	 * returns the length or -ENOSPC. */
	int (*cmdline)(const struct vm_config *cfg, const struct vm_device *d, char *buf,
	               size_t len);
	/* Snapshots (docs/SNAPSHOT.md): the device's own state appended to w's open section
	 * (a virtio device's transport and queues are saved for it), and put back from the
	 * len bytes at state into the instance create and devices_place just made from the
	 * snapshot's configuration, before any vCPU runs. restore checks len. Both return 0
	 * or -errno with a message in err. NULL save: the kind cannot be snapshotted. */
	int (*save)(const struct vm_device *d, struct sf_writer *w, char *err, size_t errlen);
	int (*restore)(struct vm_device *d, const void *state, size_t len, char *err,
	               size_t errlen);
	/* Before anything of a snapshot is read: finish the work the device took from the
	 * guest (its answers in the used ring, interrupts raised), so none is lost. NULL:
	 * nothing pending outlives an event. */
	void (*quiesce)(struct vm_device *d);
	/* Optional, before the transport's state is checked against the device (its
	 * configuration bytes must match): set the configuration the guest and PATCH
	 * changed from the kind's saved state (the balloon's target and actual). */
	int (*restore_config)(struct vm_device *d, const void *state, size_t len, char *err,
	                      size_t errlen);
};

/* One device of the VM. */
struct vm_device {
	const struct device_kind *kind;
	unsigned index;          /* among its kind, in creation order */
	void *dev;               /* its own struct (struct serial, struct virtio_blk, ...) */
	struct virtio_dev *vdev; /* a virtio device's transport state; NULL otherwise */
	uint64_t mmio_base;      /* a virtio device's window */
	unsigned gsi;            /* and its interrupt */
	unsigned nplaced;        /* port ranges on the bus, or 1 once on the virtio-mmio bus */
};

/* The most devices one VM has: the rows' maxima added up (a unit test checks). */
#define VM_MAX_DEVICES (5 + CONFIG_MAX_DRIVES + CONFIG_MAX_NETS + 3)

/* The table, in order, and its length. */
extern const struct device_kind *const device_kinds[];
extern const unsigned device_kind_count;

/* Create every device cfg asks for, in table order, into vm->devs (files, taps and
 * sockets opened; nothing on a bus yet). Returns 0, or -errno with a message in err and
 * nothing left (devices_destroy is not needed). */
int devices_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/* The kernel command-line words announcing the devices ("virtio_mmio.device=4K@ADDR:GSI"
 * each, then the rows' own words), space-separated with a trailing space, into buf.
 * Returns the length or -ENOSPC. */
int devices_cmdline(const struct vm *vm, const struct vm_config *cfg, char *buf, size_t len);

/* The ACPI description of every device that has one, in order, into out (room for
 * VM_MAX_DEVICES). Returns the count. */
unsigned devices_acpi(const struct vm *vm, struct acpi_dev *out);

/* Call every row's boot hook (a VM booting from a kernel, its memory loaded). Returns 0 or
 * -errno with a message in err. */
int devices_boot(struct vm *vm, char *err, size_t errlen);

/* Put every device on its bus: port ranges on vm->pio, virtio devices on vm->mmio with
 * their ioeventfds and irqfd (after the KVM VM and its memory exist). Returns 0 or -errno
 * with a message in err. */
int devices_place(struct vm *vm, char *err, size_t errlen);

/* Take every device off the VM and release it, in reverse order. Safe at any point. */
void devices_destroy(struct vm *vm);

/* Quiesce every device (its kind's quiesce), VM paused, before the snapshot reads any
 * state: what they complete then (interrupts too) is in the snapshot. */
void devices_quiesce(struct vm *vm);

/* Save every device into w: per device, its transport (SF_VIRTIO, virtio devices) and its
 * own state (SF_DEVICE, struct sf_device_hdr then the kind's bytes), instance = its place
 * in vm->devs. The VM must be paused. Returns 0, or -errno with a message in err. */
int devices_save(struct vm *vm, struct sf_writer *w, char *err, size_t errlen);

/* Put every device's state back from r into the devices made for it. Returns 0, or -errno
 * with a message in err. */
int devices_restore(struct vm *vm, const struct sf_reader *r, char *err, size_t errlen);

/* What starts each SF_DEVICE section: which device it belongs to. */
struct sf_device_hdr {
	char kind[24]; /* the row's name, NUL-padded */
	uint32_t index;
	uint32_t pad;
};

/* Instance index of the kind named name, or NULL. */
struct vm_device *vm_device_find(struct vm *vm, const char *name, unsigned index);

/* The virtio-blk device of the drive with this id in the VM's configuration, or NULL. */
struct virtio_blk *vm_drive_find(struct vm *vm, const char *drive_id);

#endif
