/*
 * libFuzzer target for MMDS's guest-facing path (src/mmds/: the ARP/IPv4/TCP stack, the
 * HTTP under it, the store's lookups): a sequence of frames from a hostile guest, each
 * followed by the service's answers drained into buffers of a size the input picks. Fails
 * on a crash or a sanitizer report, on an answer frame larger than the room given or than
 * MMDS_FRAME_MAX, and on a stack that never stops producing frames (a livelock).
 *
 * Input: a list of records, each [kind][time step][len hi][len lo][len bytes]:
 *   kind bit 0: the bytes are a whole Ethernet frame, else a TCP segment the harness wraps
 *               in Ethernet and IPv4 headers to the service (valid IP checksum), so the
 *               fuzzer reaches the TCP states without solving checksums;
 *   kind bit 1: the TCP checksum is trusted (the guest's NEEDS_CSUM);
 *   kind bit 2: MMDS V2 for this frame, else V1;
 *   kind bit 3: the harness sets a wrapped segment's seq and ack near what the service
 *               expects of a connection from its source port (if there is one; fix_seq),
 *               so the fuzzer reaches requests and answers without guessing them;
 *   kind bits 4-7: the rx room for the answers, 64 + 100 * n bytes (15: imds_compat).
 * Initial sequence numbers restart from the same seed for every input.
 * Run it: `make fuzz` (FUZZ_TIME seconds each target, seeds in tests/fuzz/corpus_mmds, words
 * in tests/fuzz/mmds.dict); `make test` runs it for 8 s (fuzz-smoke).
 */
#include "mmds/mmds.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MMDS_IP 0xa9fea9feu

static struct mmds_store store;
static struct mmds_net net;
static uint8_t frame[MMDS_IN_MAX];
static uint8_t out[MMDS_FRAME_MAX + 64];

static void init_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	if (mmds_store_init(&store, 4096))
		abort();
	json_t *v = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"n\":[1,{\"a\":"
	                       "\"b\"}],\"z\":{\"k\":\"v\"}}},\"s\":\"text\"}",
	                       0, NULL);
	if (!v || mmds_store_put(&store, v))
		abort();
	json_decref(v);
	if (mmds_net_init(&net, &store, MMDS_IP))
		abort();
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Sequence numbers near what the connection from this segment's source port expects: the
 * segment's own seq, as a signed offset in its low byte, from rcv_nxt (old, overlapping or
 * future data), and its ack anywhere from snd_una to snd_nxt: 0 all, 1 none (a duplicate
 * ACK), else snd_una + ack % (what is in flight + 1). */
static void fix_seq(uint8_t *tcp, size_t n)
{
	if (n < 20)
		return;
	uint16_t port = (uint16_t)(tcp[0] << 8 | tcp[1]);
	for (unsigned i = 0; i < MMDS_CONNS; i++) {
		const struct mmds_conn *c = &net.conns[i];
		if (c->state != MMDS_TCP_FREE && c->port == port) {
			uint32_t ack = (uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 |
			               (uint32_t)tcp[10] << 8 | tcp[11];
			uint32_t span = c->snd_nxt - c->snd_una, want = c->snd_nxt;
			if (ack == 1) /* nothing new: a duplicate ACK */
				want = c->snd_una;
			else if (ack && span != UINT32_MAX) /* 0: all of it */
				want = c->snd_una + ack % (span + 1);
			put32(tcp + 4, c->rcv_nxt + (uint32_t)(int32_t)(int8_t)tcp[7]);
			put32(tcp + 8, want);
			return;
		}
	}
}

/* Ethernet and IPv4 (from 169.254.0.2 to the service) around a TCP segment of n bytes. */
static size_t wrap(const uint8_t *tcp, size_t n)
{
	static const uint8_t hdr[34] = {
	    0x06, 0x01, 0x23, 0x45, 0x67, 0x01, 0x02, 0, 0, 0,   0,   2, 0x08, 0,   0x45, 0,   0,
	    0,    0,    0,    0,    0,    64,   6,    0, 0, 169, 254, 0, 2,    169, 254,  169, 254};
	if (n > sizeof(frame) - sizeof(hdr))
		n = sizeof(frame) - sizeof(hdr);
	memcpy(frame, hdr, sizeof(hdr));
	put16(frame + 16, (uint16_t)(20 + n));
	uint32_t sum = 0;
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(frame[i] << 8 | frame[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(frame + 24, (uint16_t)~sum);
	memcpy(frame + sizeof(hdr), tcp, n);
	return sizeof(hdr) + n;
}

static size_t wrap_fixed(const uint8_t *tcp, size_t n, bool fix)
{
	size_t len = wrap(tcp, n);
	if (fix)
		fix_seq(frame + 34, len - 34);
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = 1000000;
	init_once();
	mmds_net_reset(&net);
	net.isn_state = 0x2545f491u;
	while (size >= 4) {
		uint8_t kind = data[0];
		now += data[1] * 50u;
		size_t len = (size_t)data[2] << 8 | data[3];
		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		size_t n;
		if (kind & 1) {
			n = len < sizeof(frame) ? len : sizeof(frame);
			memcpy(frame, data, n);
		} else {
			n = wrap_fixed(data, len, (kind & 8) != 0);
		}
		data += len;
		size -= len;
		store.version = (kind & 4) ? MMDS_V2 : MMDS_V1;
		store.imds_compat = (kind >> 4) == 15;
		if (mmds_net_claims(&net, frame, n) || (kind & 1))
			mmds_net_input(&net, frame, n, (kind & 2) != 0, now);
		size_t room = 64 + 100u * (kind >> 4);
		/* Each connection sends at most its answer, its FIN and an ACK, each cut to the
		 * room; 100 * answer buffer of frames is far more than any honest drain. */
		for (unsigned i = 0;; i++) {
			if (i > 100000)
				abort(); /* a livelock */
			size_t got = mmds_net_output(&net, out, room, now);
			if (!got)
				break;
			if (got > room || got > MMDS_FRAME_MAX)
				abort();
		}
		if (mmds_net_pending(&net) && room >= 64)
			abort(); /* pending says a frame waits, output gave none */
	}
	return 0;
}
