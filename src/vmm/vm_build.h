/*
 * The steps vm_create builds a VM with, shared with vm_restore (snapshot.c), which builds
 * one from a snapshot instead of a kernel. Private to src/vmm. Each returns 0, or -errno
 * with a message in err; on failure the caller calls vm_destroy.
 */
#ifndef EMBER_VM_BUILD_H
#define EMBER_VM_BUILD_H

#include "vm.h"

/* A blank VM (nothing open, the pause lock made), remembering a copy of cfg. */
int vm_build_begin(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/* The stop eventfd, /dev/kvm, the KVM VM with the architecture's interrupt controllers. */
int vm_build_machine(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/* vm->mem (already mapped) into KVM memory slots. */
int vm_build_slots(struct vm *vm, char *err, size_t errlen);

/* n vCPUs with their run areas; set up for kernel k by the architecture, or left for a
 * restore when k is NULL. */
int vm_build_vcpus(struct vm *vm, unsigned n, const struct kernel_image *k, char *err,
                   size_t errlen);

#endif
