/* The warm handover page: a message, read from its start to its end, once; an exit register. */
#include "handover.h"

#include <string.h>

static void handover_read(void *dev, uint64_t offset, uint8_t *data, unsigned len)
{
	struct handover *h = dev;
	memset(data, 0, len);
	if (offset == HANDOVER_STATUS) {
		data[0] = h->msg != NULL;
		return;
	}
	if (offset < HANDOVER_DATA || offset + len > HANDOVER_DATA + 8 || !h->msg)
		return;
	for (unsigned i = 0; i < len; i++) {
		if (atomic_load(&h->pos) >= h->len)
			return;
		size_t at = atomic_fetch_add(&h->pos, 1);
		if (at < h->len)
			data[i] = h->msg[at];
	}
}

static void handover_write(void *dev, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct handover *h = dev;
	if (offset == HANDOVER_EXIT && len == 1)
		h->on_exit(h->ctx, data[0]);
}

const struct bus_ops handover_ops = {.read = handover_read, .write = handover_write};

void handover_init(struct handover *h, const uint8_t *msg, size_t len,
                   void (*on_exit)(void *ctx, int status), void *ctx)
{
	h->on_exit = on_exit;
	h->ctx = ctx;
	h->msg = msg;
	h->len = msg ? len : 0;
	atomic_store(&h->pos, 0);
}
