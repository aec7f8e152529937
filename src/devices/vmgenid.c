/* VMGenID: a random generation ID in guest memory, renewed and announced at every restore. */
#include "vmgenid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static int new_id(uint8_t id[VMGENID_SIZE])
{
	return getrandom(id, VMGENID_SIZE, 0) == VMGENID_SIZE ? 0 : -EIO;
}

int vmgenid_init(struct vmgenid *g, const struct guest_mem *mem, gpa_t addr, unsigned gsi,
                 void (*raise)(void *ctx, unsigned gsi), void *ctx)
{
	*g = (struct vmgenid){.addr = addr, .gsi = gsi, .mem = mem, .raise = raise, .ctx = ctx};
	return new_id(g->id);
}

int vmgenid_write(const struct vmgenid *g)
{
	uint8_t *p = gm_ptr(g->mem, g->addr, VMGENID_SIZE);
	if (!p)
		return -EFAULT;
	memcpy(p, g->id, VMGENID_SIZE);
	return 0;
}

void vmgenid_save(const struct vmgenid *g, struct vmgenid_state *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->id, g->id, VMGENID_SIZE);
	st->addr = g->addr;
	st->gsi = g->gsi;
}

int vmgenid_restore(struct vmgenid *g, const struct vmgenid_state *st)
{
	if (st->addr != g->addr || st->gsi != g->gsi || st->pad)
		return -EINVAL;
	/* A repeat of the snapshot's ID would tell the guest nothing changed (Linux compares
	 * the two): draw again, however unlikely. */
	for (int tries = 0; !memcmp(g->id, st->id, VMGENID_SIZE); tries++)
		if (tries == 4 || new_id(g->id) < 0)
			return -EIO;
	int r = vmgenid_write(g);
	if (r == 0)
		g->raise(g->ctx, g->gsi);
	return r;
}
