/*
 * The warm handover (`ember run --warm`, docs/CONTRACTS.md): what Ember gives a restored
 * default guest's init through the power device's handover registers. Shared by the init
 * (guest/init.c) and Ember; plain C, no other include.
 */
#ifndef EMBER_HANDOVER_H
#define EMBER_HANDOVER_H

#include <stdint.h>

/* A 4 KiB MMIO page (x86: after the boot timer's, in the 32-bit device hole). The init maps
 * it through /dev/mem and ends a restored VM through it too: in the nested test rig, port
 * I/O from user mode (the exit port 0x603 after ioperm) raised a #GP in a restored VM, and
 * Debian's kernel has no /dev/port. */
#define HANDOVER_MMIO_BASE 0xc0001000ULL
#define HANDOVER_MMIO_SIZE 0x1000
#define HANDOVER_STATUS    0  /* a byte: 1 once a message waits, else 0 */
#define HANDOVER_DATA      8  /* each read of 1 to 8 bytes: the message's next bytes; 0 past it */
#define HANDOVER_EXIT      16 /* a byte written: the VM ends with it as its status (as port 0x603) */

#define HANDOVER_MAGIC    "EMBERWRM"
#define HANDOVER_RANDOM   64        /* bytes for the guest's RNG */
#define HANDOVER_MAX_BODY (1 << 20) /* as /ember.cmd's limit */
/* What the init prints on the console once ready: Ember snapshots it then. */
#define HANDOVER_READY "ember-init: warm-ready"

/* Little-endian, sizeof a multiple of 8, then body_len bytes: exactly /ember.cmd's contents
 * (settings, an empty string, argv; every string NUL-terminated). */
struct handover_header {
	char magic[8];
	uint32_t body_len;
	uint32_t realtime_nsec; /* the host's wall clock when Ember sent it */
	uint64_t realtime_sec;
	uint8_t random[HANDOVER_RANDOM]; /* from the host's getrandom(2) */
};

#endif
