/* virtio-net (virtio 1.2, 5.1) over a host tap device. */
#ifndef EMBER_VIRTIO_NET_H
#define EMBER_VIRTIO_NET_H

#include "../base/config.h"
#include "../mmds/mmds.h"
#include "virtio.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* Header on every frame in both directions: virtio 1.x struct virtio_net_hdr, num_buffers
 * included whether or not MRG_RXBUF is negotiated (5.1.6). */
#define NET_HDR_SIZE  12
#define NET_MAX_FRAME 65550                          /* 64 KiB GSO frame + Ethernet/VLAN */
#define NET_MAX_CHAIN (NET_HDR_SIZE + NET_MAX_FRAME) /* a whole rx or tx buffer */
#define NET_RX_IOV    1024                           /* UIO_MAXIOV: one readv takes no more */
/* The most buffers vq_pop accepts in one chain: direct descriptors, the last of which may
 * point to an indirect table, each at most the queue size. */
#define NET_CHAIN_IOV (2 * VQ_MAX_SIZE)

struct virtio_net {
	struct virtio_dev vdev;
	/* private: owned by net.c */
	int tap_fd;                    /* -1 when closed */
	char tap[16];                  /* its name, for messages */
	struct el_handler tap_handler; /* watches tap_fd on vdev.loop */
	uint32_t tap_events;           /* what the loop watches tap_fd for now; 0: not added */
	bool rx_stalled;  /* the rx ring had no room: EPOLLIN is off until the guest kicks rx */
	bool tx_blocked;  /* the tap said EAGAIN: tx waits for EPOLLOUT */
	bool mrg_rxbuf;   /* MRG_RXBUF negotiated (activate) */
	bool guest_csum;  /* GUEST_CSUM negotiated (activate) */
	uint16_t mtu;     /* announced to the guest; 0: none */
	uint32_t rx_max;  /* with MTU negotiated: the largest untagged frame without GSO */
	uint32_t rx_need; /* MRG_RXBUF: rx waits for this much buffer room (activate) */
	bool rx_drop_logged, tap_err_logged; /* each said once */
	uint8_t config[12];                  /* struct virtio_net_config up to mtu, little-endian */

	/* Preallocated so the I/O path allocates nothing. An rx frame may span up to one
	 * chain per descriptor (MRG_RXBUF); their iovecs go into rx_iov back to back so that
	 * one readv fills them all. */
	struct vq_chain rx_chains[VQ_MAX_SIZE];
	unsigned rx_held;      /* chains popped before rx stalled, kept for the next frame */
	unsigned rx_held_iov;  /* their iovecs in rx_iov */
	uint64_t rx_held_room; /* and bytes */
	struct iovec rx_iov[NET_RX_IOV];
	uint8_t rx_spill; /* one byte past the guest's buffers: a frame that reaches it did
	                     not fit (the tun driver truncates silently) */
	struct vq_chain tx_chain;
	struct iovec tx_iov[NET_CHAIN_IOV];

	/* MMDS on this interface (net_mmds_attach), else NULL: the guest's frames for the
	 * service go to it instead of the tap, and its answers come before the tap's frames. */
	struct mmds_net *mmds;

	/* Counters for metrics; guarded by vdev.lock. */
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_wakeups, rx_stalls, tx_batches; /* --stats: tap reads woken, ... */

	/* Rate limiters (none: no limit). rx's bytes are charged after the read (a frame's
	 * size is known only then), its op before; while rx is blocked the tap is not
	 * watched for input. */
	struct virtio_limiter rx_limiter, tx_limiter;
};

/*
 * Attach to the existing tap cfg->tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, non-blocking)
 * and make n a virtio-net device for it, ready for virtio_mmio_add. Returns 0, or -errno
 * with a message naming the tap in err.
 */
int net_create(struct virtio_net *n, const struct net_config *cfg, char *err, size_t errlen);

/* Serve MMDS (store, at ip, host order) on n, before the guest runs. Returns 0 or
 * -ENOMEM. */
int net_mmds_attach(struct virtio_net *n, struct mmds_store *store, uint32_t ip);

/* PATCH /network-interfaces/{id} at run time (vmm thread): new limiters apply now and a
 * parked queue resumes. */
void net_set_rate_limiters(struct virtio_net *n, const struct rate_limiter_config *rx,
                           const struct rate_limiter_config *tx);

/* Close the tap (after virtio_mmio_remove) and drop MMDS. Safe after a failed create. */
void net_destroy(struct virtio_net *n);

#endif
