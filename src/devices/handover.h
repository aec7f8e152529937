/*
 * The warm handover page (base/handover.h): an MMIO page through which a restored default
 * guest's init reads the message `ember run --warm` leaves for it.
 */
#ifndef EMBER_HANDOVER_DEV_H
#define EMBER_HANDOVER_DEV_H

#include "../base/bus.h"
#include "../base/handover.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct handover {
	const uint8_t *msg; /* borrowed; NULL: none */
	size_t len;
	atomic_size_t pos;
	void (*on_exit)(void *ctx, int status);
	void *ctx;
};

/*
 * Register handover_ops over HANDOVER_MMIO_SIZE bytes. Byte HANDOVER_STATUS reads 1 when
 * there is a message, else 0; each read at HANDOVER_DATA (1 to 8 bytes, within the 8
 * bytes from it) gives the message's next bytes in order, 0 past its end. A 1-byte write
 * of N at HANDOVER_EXIT calls on_exit(ctx, N) on the writing vCPU's thread. Everything
 * else reads 0 and other writes are ignored. The read position advances atomically:
 * vCPUs reading at once get interleaved bytes, never bytes outside the message.
 */
extern const struct bus_ops handover_ops;

/* Serve msg (len bytes, the caller's, which must outlive the VM), or nothing (NULL). */
void handover_init(struct handover *h, const uint8_t *msg, size_t len,
                   void (*on_exit)(void *ctx, int status), void *ctx);

#endif
