/* Creating, announcing and placing the VM's virtio devices (vm_virtio.h). */
#include "vm_virtio.h"
#include "../arch/x86/layout.h"
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct virtio_host vm_virtio_host(struct vm *vm)
{
	return (struct virtio_host){vm->vm_fd, &vm->mem, &vm->loop, &vm->mmio, &vcpu_wait_ops, vm};
}

static uint64_t slot_base(unsigned i)
{
	return LAYOUT_MMIO_DEVICES + (uint64_t)i * VIRTIO_MMIO_SIZE;
}

int vm_virtio_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm_devices *d = &vm->dev;
	int r = 0;

	vm->nvirtio = 0;
	/* The root drive first: Linux names disks in probe order, which is bus order. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < cfg->ndrives; i++) {
			const struct drive_config *dc = &cfg->drives[i];
			if (dc->is_root != (pass == 0))
				continue;
			if ((r = blk_create(&d->blk[d->nblk], dc, err, errlen)) < 0)
				goto fail;
			vm->virtio[vm->nvirtio++] = &d->blk[d->nblk++].vdev;
			if (dc->is_root) {
				vm->root_drive = true;
				vm->root_read_only = dc->read_only;
			}
		}
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		if ((r = net_create(&d->net[d->nnet], &cfg->nets[i], err, errlen)) < 0)
			goto fail;
		vm->virtio[vm->nvirtio++] = &d->net[d->nnet++].vdev;
	}
	if (cfg->vsock.enabled) {
		if ((r = vsock_create(&d->vsock, &cfg->vsock, err, errlen)) < 0)
			goto fail;
		d->vsock_made = true;
		vm->virtio[vm->nvirtio++] = &d->vsock.vdev;
	}
	if (cfg->entropy) {
		rng_create(&d->rng);
		vm->virtio[vm->nvirtio++] = &d->rng.vdev;
	}
	return 0;
fail:
	vm_virtio_destroy(vm);
	return r;
}

int vm_virtio_cmdline(const struct vm *vm, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		int n = snprintf(buf + used, len - used, "virtio_mmio.device=4K@0x%llx:%u ",
		                 (unsigned long long)slot_base(i), VIRTIO_FIRST_GSI + i);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	if (vm->root_drive) {
		int n = snprintf(buf + used, len - used, "root=/dev/vda %s ",
		                 vm->root_read_only ? "ro" : "rw");
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return (int)used;
}

unsigned vm_virtio_acpi(const struct vm *vm, struct acpi_virtio_dev *out)
{
	for (unsigned i = 0; i < vm->nvirtio; i++)
		out[i] =
		    (struct acpi_virtio_dev){slot_base(i), VIRTIO_MMIO_SIZE, VIRTIO_FIRST_GSI + i};
	return vm->nvirtio;
}

int vm_virtio_place(struct vm *vm, char *err, size_t errlen)
{
	const struct virtio_host host = vm_virtio_host(vm);
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		int r = virtio_mmio_add(&host, vm->virtio[i], slot_base(i), VIRTIO_FIRST_GSI + i,
		                        err, errlen);
		if (r < 0)
			return r;
		vm->nplaced = i + 1;
	}
	return 0;
}

void vm_virtio_destroy(struct vm *vm)
{
	struct vm_devices *d = &vm->dev;
	const struct virtio_host host = vm_virtio_host(vm);
	for (unsigned i = 0; i < vm->nplaced; i++)
		virtio_mmio_remove(&host, vm->virtio[i]);
	vm->nplaced = 0;
	vm->nvirtio = 0;
	for (unsigned i = 0; i < d->nblk; i++)
		blk_destroy(&d->blk[i]);
	d->nblk = 0;
	for (unsigned i = 0; i < d->nnet; i++)
		net_destroy(&d->net[i]);
	d->nnet = 0;
	if (d->vsock_made)
		vsock_destroy(&d->vsock);
	d->vsock_made = false;
	vm->root_drive = false;
}
