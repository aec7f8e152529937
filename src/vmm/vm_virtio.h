/*
 * The VM's virtio devices, in one place and in one order: drives (the root drive first,
 * so it becomes /dev/vda), network interfaces, vsock, entropy. Device i sits at
 * LAYOUT_MMIO_DEVICES + i * 4 KiB with interrupt VIRTIO_FIRST_GSI + i.
 */
#ifndef EMBER_VM_VIRTIO_H
#define EMBER_VM_VIRTIO_H

#include "../arch/x86/acpi_tables.h"
#include "../base/config.h"

#include <stddef.h>

#define VIRTIO_FIRST_GSI 5 /* GSIs 5..23: above the ISA devices Ember has (0, 1, 4) */
#define VM_MAX_VIRTIO    (CONFIG_MAX_DRIVES + CONFIG_MAX_NETS + 2)

struct vm;

/* Open every device's host side (files, taps, sockets) in the order above. Returns 0, or
 * -errno with a message in err and nothing left open. */
int vm_virtio_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/* The kernel command-line words announcing the devices ("virtio_mmio.device=4K@ADDR:GSI"
 * each, and "root=/dev/vda rw|ro" for a root drive), space-separated with a trailing
 * space, into buf. Returns the length or -ENOSPC. */
int vm_virtio_cmdline(const struct vm *vm, char *buf, size_t len);

/* The ACPI description of the devices, at most VM_MAX_VIRTIO entries; returns the count. */
unsigned vm_virtio_acpi(const struct vm *vm, struct acpi_virtio_dev *out);

/* Place every device on the VM's bus with its ioeventfds and irqfd (after the KVM VM and
 * its memory exist). Returns 0 or -errno with a message in err. */
int vm_virtio_place(struct vm *vm, char *err, size_t errlen);

/* Take the devices off the VM and close their host side. Safe at any point of setup. */
void vm_virtio_destroy(struct vm *vm);

#endif
