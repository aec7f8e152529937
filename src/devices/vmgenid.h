/*
 * VMGenID (Microsoft's "Virtual Machine Generation ID", as Linux's drivers/virt/vmgenid.c
 * reads it): a 16-byte random generation ID in guest memory that changes whenever the VM
 * starts again from a snapshot, so the guest reseeds its RNG and forgets per-instance
 * secrets. The DSDT announces it (_CID VM_Gen_Counter, ADDR) and a Generic Event
 * Device turns its interrupt into Notify(VGEN, 0x80).
 *
 * The device has no registers: the guest only reads the ID. Ember keeps its own copy and
 * never reads the guest's, so whatever the guest writes there is never used.
 */
#ifndef EMBER_VMGENID_H
#define EMBER_VMGENID_H

#include "../base/guest_mem.h"

#include <stdint.h>

#define VMGENID_SIZE 16

struct vmgenid {
	uint8_t id[VMGENID_SIZE];
	gpa_t addr;   /* where the guest finds the ID (E820-reserved, 8-byte aligned) */
	unsigned gsi; /* the Generic Event Device's interrupt for it */
	const struct guest_mem *mem;
	void (*raise)(void *ctx, unsigned gsi); /* one edge on gsi */
	void *ctx;
};

/* What a snapshot keeps (the ID, so a restore-of-a-restore moves on from it, and where the
 * guest looks, which its DSDT in RAM says). Little-endian, fixed size. */
struct vmgenid_state {
	uint8_t id[VMGENID_SIZE];
	uint64_t addr;
	uint32_t gsi;
	uint32_t pad;
};

/* A device at addr in mem (guest memory may be mapped later: mem is only used by
 * vmgenid_write and vmgenid_restore) raising gsi through raise(ctx, gsi), with a fresh ID
 * from getrandom(2). Returns 0, or -EIO if the kernel gave no random bytes. */
int vmgenid_init(struct vmgenid *g, const struct guest_mem *mem, gpa_t addr, unsigned gsi,
                 void (*raise)(void *ctx, unsigned gsi), void *ctx);

/* Put the ID into guest memory (first boot). Returns 0, or -EFAULT if addr is not RAM. */
int vmgenid_write(const struct vmgenid *g);

void vmgenid_save(const struct vmgenid *g, struct vmgenid_state *st);

/* The snapshot's device st is this one's (same addr and gsi, else -EINVAL) and the VM
 * starts again from it: a new ID, different from the snapshot's, into guest memory, and the
 * interrupt raised so the guest reads it. Runs after the interrupt controllers were
 * restored. Returns 0, -EINVAL, -EIO (no random bytes) or -EFAULT. */
int vmgenid_restore(struct vmgenid *g, const struct vmgenid_state *st);

#endif
