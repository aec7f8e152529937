/*
 * Inside virtio-vsock, shared by its three parts: vsock.c (the device and its queues),
 * vsock_conn.c (connections and credit) and vsock_host.c (the Unix-socket side). Everything
 * here runs on the vmm thread with the device's lock held (virtio_dev_lock), and nothing
 * allocates: vsock_create sets up every slot and buffer.
 */
#ifndef EMBER_VIRTIO_VSOCK_IMPL_H
#define EMBER_VIRTIO_VSOCK_IMPL_H

#include "vsock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/un.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vsock packet headers are read as little-endian host structs"
#endif

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NUM_QUEUES };

#define VIRTIO_VSOCK_F_STREAM 0

#define VSOCK_HOST_CID    2
#define VSOCK_TYPE_STREAM 1

enum {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV  1u /* the sender will receive no more data */
#define VSOCK_SHUTDOWN_SEND 2u /* the sender will send no more data */

/* The packet header (5.10.6), little-endian as the host is. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_SIZE 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

#define VSOCK_MAX_PAYLOAD (64u << 10)  /* Linux never sends more in one packet */
#define VSOCK_BUF_ALLOC   (256u << 10) /* what each connection advertises to the guest */
/* Room past buf_alloc for the "OK <port>\n" Ember itself writes to the host side. */
#define VSOCK_BUF_SLACK 4096u
#define VSOCK_BUF_CAP   (VSOCK_BUF_ALLOC + VSOCK_BUF_SLACK)
/* Send CREDIT_UPDATE once the guest believes it has less room than this: half the buffer,
 * so a guest sending 64 KiB packets hears back before it runs dry. */
#define VSOCK_CREDIT_LOW      (VSOCK_BUF_ALLOC / 2)
#define VSOCK_LINE_MAX        32 /* "CONNECT 4294967295\n" is 19 bytes */
#define VSOCK_HOST_PORT_FIRST (1u << 30)
#define VSOCK_HASH_SIZE       256
#define VSOCK_RST_RING        64
/* Per call, so one busy connection or a flooding guest cannot starve other fds. */
#define VSOCK_RX_BUDGET     64
#define VSOCK_TX_BUDGET     64
#define VSOCK_ACCEPT_BUDGET 16

enum conn_state {
	CONN_FREE,
	CONN_LINE,       /* host-initiated: reading "CONNECT <port>\n" */
	CONN_CONNECTING, /* host-initiated: REQUEST queued or sent, awaiting RESPONSE */
	CONN_OPEN,       /* relaying */
	CONN_CLOSING,    /* the Unix side is closed: SHUTDOWN/RST still due, then the slot frees */
};

/* What a connection still has to send the guest, served in this order. */
#define TELL_REQUEST  0x01u
#define TELL_RESPONSE 0x02u
#define TELL_DATA     0x04u /* the Unix socket may hold bytes for the guest */
#define TELL_CREDIT   0x08u
#define TELL_SHUTDOWN 0x10u
#define TELL_RST      0x20u

struct vsock_conn {
	struct vsock_state *st;
	struct el_handler h;
	uint8_t *buf; /* VSOCK_BUF_CAP bytes: guest bytes the Unix side has not taken yet */

	/* Everything below is cleared when the slot is freed. */
	enum conn_state state;
	int fd;
	uint32_t host_port, guest_port;
	bool keyed; /* in the hash under (host_port, guest_port) */
	int16_t hnext;
	unsigned tell;
	uint32_t shutdown_flags; /* of the SHUTDOWN to send */
	bool watched;            /* fd is on the loop, for events */
	uint32_t events;
	bool hup;          /* the Unix peer is gone: fd off the loop, reads drain it */
	bool host_eof;     /* the Unix side sends no more; the guest was told */
	bool guest_eof;    /* the guest sends no more (SHUTDOWN SEND) */
	bool guest_no_rcv; /* the guest receives no more (SHUTDOWN RCV) */
	bool wr_shut;      /* shutdown(SHUT_WR) done on the Unix socket */
	bool credit_asked; /* the guest sent CREDIT_REQUEST */
	bool buf_touched;

	/* Host to guest: the guest's buffer and how much of what we sent it has consumed. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest to host: bytes received, bytes written to the Unix socket, and the fwd_cnt
	 * the guest last saw. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_told;
	uint32_t buf_head, buf_len;
	uint32_t buf_extra; /* bytes at the front of buf that are Ember's, not the guest's */

	uint8_t line_len;
	char line[VSOCK_LINE_MAX];
};

struct vsock_rst {
	uint64_t src_cid;
	uint32_t src_port, dst_port;
};

struct vsock_state {
	struct virtio_vsock *v;
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool path_bound; /* we created uds_path and unlink it at destroy */
	int listen_fd;
	bool listening; /* listen_fd is on the loop */
	struct el_handler listen_handler;
	bool full_logged;

	uint32_t next_host_port;
	unsigned next_slot;
	int16_t hash[VSOCK_HASH_SIZE];

	/* Connections with something to send the guest, round-robin. A slot is in runq at
	 * most once (queued[]); a freed slot's entry stays and is skipped when reached. */
	uint16_t runq[VSOCK_MAX_CONNS];
	unsigned runq_head, runq_len;
	bool queued[VSOCK_MAX_CONNS];

	/* RST answers to packets that match no connection. tx stops while it is full. */
	struct vsock_rst rst[VSOCK_RST_RING];
	unsigned rst_head, rst_len;
	bool tx_blocked;

	uint8_t *bufs;
	size_t bufs_size;
	struct iovec rx_iov[VQ_MAX_SIZE], tx_iov[VQ_MAX_SIZE], data_iov[VQ_MAX_SIZE];
	struct vsock_conn conns[VSOCK_MAX_CONNS];
};

/* The virtio device st belongs to (its name, its loop, virtio_dev_fail). */
static inline struct virtio_dev *vsock_vdev(struct vsock_state *st)
{
	return &st->v->vdev;
}

/* conn's slot number: its place in conns[], queued[] and the hash chains. */
static inline unsigned vsock_conn_index(const struct vsock_conn *conn)
{
	return (unsigned)(conn - conn->st->conns);
}

/* --- vsock.c: the device and its queues --- */

/* Queue an RST answering hdr, a guest packet that matches no connection. An RST is never
 * answered, and nothing is queued when the ring is full (tx stops popping before that). */
void vsock_rst_reply(struct vsock_state *st, const struct vsock_hdr *hdr);

/* Fill rx buffers: RST answers first, then the connections round-robin, one packet each
 * per turn. Bounded; the rest continues from a requeued notify. A malformed rx buffer fails
 * the device. Does nothing unless the device is live. */
void vsock_rx_run(struct vsock_state *st);

/* Close every connection, empty the run queue and the RST ring, and take the listening
 * socket off the loop (it stays open for the next activate): after a reset or a failure. */
void vsock_stop(struct vsock_state *st);

/* --- vsock_conn.c: connections and credit --- */

/* Map every slot's buffer (untouched pages cost nothing) and make every slot free with an
 * empty hash. Returns 0, or -errno with a message in err; st->bufs stays NULL on failure. */
int vsock_conn_table_map(struct vsock_state *st, char *err, size_t errlen);

/* Give the buffers back. Every slot must be free (vsock_stop); safe when
 * vsock_conn_table_map failed or never ran. */
void vsock_conn_table_unmap(struct vsock_state *st);

/* The keyed connection with these ports, or NULL. */
struct vsock_conn *vsock_conn_lookup(struct vsock_state *st, uint32_t host_port,
                                     uint32_t guest_port);

/* Give conn, not keyed yet, its ports and put it in the hash. */
void vsock_conn_key(struct vsock_conn *conn, uint32_t host_port, uint32_t guest_port);

/* Put conn on the run queue, once, for vsock_rx_run to serve its tell bits. */
void vsock_conn_enqueue(struct vsock_conn *conn);

/* Forget the connection: close its socket, unkey it, give its buffer's memory back and
 * clear the slot. A free slot is left as it is. */
void vsock_conn_free(struct vsock_conn *conn);

/* A free slot now holding fd, searched round-robin so a freed slot is not reused at once
 * (an event for its old fd may still be on its way); the caller sets its state. NULL when
 * every slot is in use (logged once until a slot is found again); fd is the caller's then. */
struct vsock_conn *vsock_conn_alloc(struct vsock_state *st, int fd);

/* The bytes the guest can take now: its buf_alloc less what we sent that it has not
 * consumed (virtio 1.2, 5.10.6.3); 0 however wrong the guest's numbers are. */
uint32_t vsock_conn_credit(const struct vsock_conn *conn);

/* Watch the socket for what the connection can use now: EPOLLIN while reading is possible
 * and not already pending, EPOLLOUT while guest bytes wait in the buffer. After a hang-up
 * (no more events) it queues the reads that drain the socket instead. If the loop refuses
 * the socket, the host side is closed (vsock_conn_close_host). */
void vsock_conn_sync(struct vsock_conn *conn);

/* The Unix side is done with: close it, and tell the guest `tell` (TELL_SHUTDOWN and/or
 * TELL_RST) before the slot frees. A connection the guest has not heard of frees at once. */
void vsock_conn_close_host(struct vsock_conn *conn, unsigned tell);

/* If nothing of the guest's is left to write to an open connection: pass on its shutdown,
 * or end a connection that neither side will send on again. */
void vsock_conn_drained(struct vsock_conn *conn);

/* Write what the buffer holds to the Unix socket, as far as it takes it; a failed write
 * closes the host side. Then send credit news if the guest runs low, and pass on a shutdown
 * once drained. Does nothing unless the connection is open. */
void vsock_conn_flush(struct vsock_conn *conn);

/* Append len bytes to the buffer: from src, or (src NULL) from iov[0..n) at offset off.
 * The caller checked the room (VSOCK_BUF_CAP - buf_len). */
void vsock_conn_buffer(struct vsock_conn *conn, const struct iovec *iov, unsigned n, size_t off,
                       const void *src, uint32_t len);

/* The guest's RW payload, len bytes after the header of chain c (tx_run checked that the
 * chain holds them): straight to the Unix socket when nothing is waiting, the rest into the
 * buffer. More than the buffer holds breaks the credit we gave: the connection gets RST.
 * Once the Unix peer has hung up, the bytes are counted and dropped. */
void vsock_conn_write(struct vsock_conn *conn, const struct vq_chain *c, uint32_t len);

/* The guest's SHUTDOWN on an open connection, with its flags (unknown bits ignored). */
void vsock_conn_guest_shutdown(struct vsock_conn *conn, uint32_t flags);

/* What conn should send next (one TELL_ bit), dropping wishes that no longer hold; 0:
 * nothing. */
unsigned vsock_conn_pending(struct vsock_conn *conn);

/* A host port no keyed connection uses, counting up from VSOCK_HOST_PORT_FIRST. At most
 * VSOCK_MAX_CONNS are taken, so this ends. */
uint32_t vsock_conn_new_host_port(struct vsock_state *st);

/* --- vsock_host.c: the Unix-socket side --- */

/* Start the host side: give the listening socket and every slot their event handlers, and
 * bind and listen (mode 0600) on st->uds_path after making sure no one else is listening
 * there (a stale socket is removed). Returns 0, or -errno with a message in err naming the
 * path. The socket is watched from activate (vsock.c). */
int vsock_host_open(struct vsock_state *st, char *err, size_t errlen);

/* Close the listening socket and remove uds_path if vsock_host_open created it. Safe after
 * a failed vsock_host_open. */
void vsock_host_close(struct vsock_state *st);

/* A guest REQUEST to host port hdr->dst_port that matches no connection (tx_packet checked
 * the CIDs and type): connect to "<uds_path>_<port>" and queue the RESPONSE, or answer RST
 * when the path is too long, nothing listens there or every slot is in use. */
void vsock_host_connect(struct vsock_state *st, const struct vsock_hdr *hdr);

/* The guest accepted conn, a host-initiated connection whose REQUEST it was sent: write
 * "OK <host_port>\n" to the host process, then relay. */
void vsock_host_established(struct vsock_conn *conn);

/* Whether the Unix peer has closed (both ways) or the socket has failed: POLLHUP and/or
 * POLLERR, or 0. */
short vsock_host_peer_gone(int fd);

#endif
