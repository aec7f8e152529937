/* Creating, announcing and placing the VM's virtio devices (vm_virtio.h). */
#include "vm_virtio.h"
#include "../arch/x86/layout.h"
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint64_t slot_base(unsigned i)
{
	return LAYOUT_MMIO_DEVICES + (uint64_t)i * VIRTIO_MMIO_SIZE;
}

int vm_virtio_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm_devices *d = &vm->dev;
	int r = 0;

	vm->nvirtio = 0;
	if (cfg->entropy) {
		rng_create(&d->rng);
		vm->virtio[vm->nvirtio++] = &d->rng.vdev;
	}
	(void)err;
	(void)errlen;
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
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		int r = virtio_mmio_add(vm, vm->virtio[i], slot_base(i), VIRTIO_FIRST_GSI + i, err,
		                        errlen);
		if (r < 0)
			return r;
		vm->nplaced = i + 1;
	}
	return 0;
}

void vm_virtio_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nplaced; i++)
		virtio_mmio_remove(vm, vm->virtio[i]);
	vm->nplaced = 0;
	vm->nvirtio = 0;
}
