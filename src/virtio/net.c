/*
 * virtio-net over a tap: frames move between the guest's buffers and the tap with one readv
 * or writev on guest memory, no copy in between. Queue 0 receives, queue 1 transmits.
 */
#include "net.h"
#include "iov.h"
#include "../base/log.h"
#include "tap.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Feature bits (5.1.3). */
#define NET_F_CSUM       0
#define NET_F_GUEST_CSUM 1
#define NET_F_MTU        3
#define NET_F_MAC        5
#define NET_F_GUEST_TSO4 7
#define NET_F_GUEST_TSO6 8
#define NET_F_HOST_TSO4  11
#define NET_F_HOST_TSO6  12
#define NET_F_MRG_RXBUF  15
#define NET_F_STATUS     16

/* struct virtio_net_config (5.1.4), as far as Ember fills it. */
#define NET_CFG_MAC          0
#define NET_CFG_STATUS       6
#define NET_CFG_MAX_VQ_PAIRS 8
#define NET_CFG_MTU          10
#define NET_S_LINK_UP        1

#define NET_HDR_FLAGS       0 /* offsets in struct virtio_net_hdr */
#define NET_HDR_GSO_TYPE    1
#define NET_HDR_NUM_BUFFERS 10
#define NET_HDR_GSO_ECN     0x80

#define NET_ETH_HLEN  14
#define NET_VLAN_HLEN 4

#define NET_RXQ 0
#define NET_TXQ 1

/* Frames handled per tap event or tx kick before the rest of the vmm thread gets a turn:
 * a guest that floods tx, or a host that floods the tap, cannot starve other devices. */
#define NET_RX_BUDGET 64
#define NET_TX_BUDGET 128

#define NET_MIN_MTU 68u /* IPv4's minimum */
#define NET_MAX_MTU 65535u

_Static_assert(NET_RX_IOV >= NET_CHAIN_IOV + 1, "rx_iov must hold the longest chain and rx_spill");

static void net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* With VIRTIO_NET_F_MTU negotiated, a frame without GSO may not exceed the MTU plus its
 * Ethernet header (5.1.6.3.2): the tap's MTU may be larger than the guest's. */
static bool net_rx_too_long(const struct virtio_net *n, const struct iovec *iov, unsigned niov,
                            uint64_t len)
{
	uint8_t hdr[NET_HDR_SIZE + NET_ETH_HLEN];

	if (!n->rx_max || len - NET_HDR_SIZE <= n->rx_max)
		return false;
	memset(hdr, 0, sizeof(hdr)); /* what the buffers do not hold reads as zero */
	iov_read(iov, niov, 0, hdr, sizeof(hdr));
	if (hdr[NET_HDR_GSO_TYPE] & ~NET_HDR_GSO_ECN)
		return false;
	bool tagged = hdr[NET_HDR_SIZE + 12] == 0x81 && hdr[NET_HDR_SIZE + 13] == 0x00;
	return len - NET_HDR_SIZE > n->rx_max + (tagged ? NET_VLAN_HLEN : 0u);
}

/* Make the loop watch the tap for exactly `events` (0: not at all). */
static int net_watch(struct virtio_net *n, uint32_t events)
{
	int ret;

	if (events == n->tap_events)
		return 0;
	if (!n->tap_events)
		ret = event_loop_add(n->vdev.loop, n->tap_fd, events, &n->tap_handler);
	else if (!events)
		ret = event_loop_del(n->vdev.loop, n->tap_fd);
	else
		ret = event_loop_mod(n->vdev.loop, n->tap_fd, events, &n->tap_handler);
	if (ret < 0 && events) {
		log_err("%s: cannot watch tap '%s': %s", n->vdev.name, n->tap, strerror(-ret));
		return ret;
	}
	n->tap_events = events;
	return 0;
}

/* Watch for what the device waits for: frames to receive unless the guest's rx ring is
 * out of room (its kick resumes rx), room to send while the tap pushed back. */
static int net_watch_update(struct virtio_net *n)
{
	uint32_t events = 0;

	if (!n->rx_stalled && n->vdev.vqs[NET_RXQ].active && !n->rx_limiter.rl.blocked)
		events |= EPOLLIN;
	if (n->tx_blocked)
		events |= EPOLLOUT;
	return net_watch(n, events);
}

/* A tap error the guest did not cause (the tap was deleted, set down, ...): said once. */
static void net_tap_error(struct virtio_net *n, const char *what, int e)
{
	if (n->tap_err_logged)
		return;
	n->tap_err_logged = true;
	log_warn("%s: tap '%s': %s: %s%s; frames are dropped", n->vdev.name, n->tap, what,
	         strerror(e), e == EIO ? " (is the tap up?)" : "");
}

enum net_rx_result { NET_RX_STOP, NET_RX_DELIVERED, NET_RX_DROPPED };

/* Forget the held chains: their count, iovecs and room go together. net_rx_one starts from
 * rx_held_iov and rx_held_room even when rx_held is 0; left stale, they made its readv fill
 * the iovecs of chains already pushed (buffers the guest owns again) while it pushed a chain
 * the frame never reached, so the guest got old bytes and TCP to it stalled for good. */
static void net_rx_forget_held(struct virtio_net *n)
{
	n->rx_held = 0;
	n->rx_held_iov = 0;
	n->rx_held_room = 0;
}

/* The rx chains popped for one frame, the held ones first. */
struct net_rx_batch {
	unsigned nchains, niov; /* chains, and the rx_iov entries they fill */
	uint64_t room;          /* bytes they hold */
	bool ring_empty;        /* vq_pop found no more */
};

/* Pop rx chains into b until they can take the largest frame (one chain without
 * MRG_RXBUF), the ring runs dry, or rx_iov could not hold another. Returns false once the
 * device has failed (a malformed chain). */
static bool net_rx_gather(struct virtio_net *n, struct net_rx_batch *b)
{
	struct vq *vq = &n->vdev.vqs[NET_RXQ];
	const char *why;
	for (;;) {
		struct vq_chain *c = &n->rx_chains[b->nchains];
		c->iov = n->rx_iov + b->niov;
		c->iov_cap = NET_RX_IOV - 1 - b->niov; /* the last one is for rx_spill */
		int r = vq_pop(vq, c, &why);
		if (r < 0) {
			virtio_dev_fail(&n->vdev, "rx queue: %s", why);
			return false;
		}
		if (r == 0) {
			b->ring_empty = true;
			return true;
		}
		b->nchains++;
		if (c->nout) {
			virtio_dev_fail(&n->vdev, "rx buffer %u is device-readable", c->head);
			return false;
		}
		if (c->in_bytes < NET_HDR_SIZE) {
			virtio_dev_fail(&n->vdev,
			                "rx buffer %u has %u bytes, less than the %u-byte header",
			                c->head, c->in_bytes, NET_HDR_SIZE);
			return false;
		}
		b->niov += c->nin;
		b->room += c->in_bytes;
		if (!n->mrg_rxbuf || b->room >= NET_MAX_CHAIN)
			return true;
		/* Every descriptor is out (nothing more can come) or the next chain might
		 * not fit rx_iov: read into what there is. A frame that does not fit is
		 * dropped by the caller. */
		if (b->nchains == vq->size || NET_RX_IOV - 1 - b->niov < 2u * vq->size)
			return true;
	}
}

/* A frame the guest cannot take: cut (it reached rx_spill, or is shorter than the header)
 * or over the guest's MTU. Counted, and said once per device. */
static void net_rx_drop(struct virtio_net *n, bool cut, ssize_t len, uint64_t room)
{
	n->rx_dropped++;
	if (n->rx_drop_logged)
		return;
	n->rx_drop_logged = true;
	if (cut)
		log_warn("%s: dropped a frame from tap '%s' larger than the guest's rx buffers "
		         "(%llu bytes); said once",
		         n->vdev.name, n->tap, (unsigned long long)(room - NET_HDR_SIZE));
	else
		log_warn("%s: dropped a %zd-byte frame from tap '%s': over the guest's MTU %u (is "
		         "the tap's larger?); said once",
		         n->vdev.name, len - NET_HDR_SIZE, n->tap, n->mtu);
}

/* Give the guest the chains a len-byte frame filled, each before the next, with the
 * header's num_buffers; put the other chains of nchains back. */
static void net_rx_deliver(struct virtio_net *n, unsigned nchains, uint32_t len)
{
	struct vq *vq = &n->vdev.vqs[NET_RXQ];
	unsigned used = 0;
	for (uint64_t left = len; left; used++)
		left -= left < n->rx_chains[used].in_bytes ? left : n->rx_chains[used].in_bytes;

	/* The tun driver writes the header up to num_buffers and skips that field. It also
	 * marks frames whose checksum a NIC already checked (DATA_VALID), which a guest
	 * without GUEST_CSUM must not see: flags stay zero for it (5.1.6.4.1). */
	uint8_t nb[2];
	net_put16(nb, (uint16_t)used);
	iov_write(n->rx_chains[0].iov, n->rx_chains[0].nin, NET_HDR_NUM_BUFFERS, nb, 2);
	if (!n->guest_csum)
		iov_write(n->rx_chains[0].iov, n->rx_chains[0].nin, NET_HDR_FLAGS, "", 1);

	uint32_t left = len;
	for (unsigned i = 0; i < used; i++) {
		uint32_t l = left < n->rx_chains[i].in_bytes ? left : n->rx_chains[i].in_bytes;
		vq_mark_written(vq, &n->rx_chains[i]); /* may have been held past a snapshot */
		vq_push(vq, n->rx_chains[i].head, l);
		left -= l;
	}
	vq_unpop(vq, (uint16_t)(nchains - used));
	n->rx_frames++;
	n->rx_bytes += len - NET_HDR_SIZE;
}

/* Pop rx chains for one frame into *b (the held ones first). Returns false, with the
 * chains held and rx stalled until the guest's next kick, when they are too few, or when
 * the device failed. */
static bool net_rx_room(struct virtio_net *n, struct net_rx_batch *b)
{
	*b = (struct net_rx_batch){n->rx_held, n->rx_held_iov, n->rx_held_room, false};
	net_rx_forget_held(n); /* taken: pushed, put back or held again below */
	if (!net_rx_gather(n, b))
		return false;
	/* Out of room, and more buffers may come: wait for the guest's kick instead of
	 * polling a tap whose frames have nowhere to go. */
	if (b->nchains == 0 || (b->ring_empty && b->room < n->rx_need)) {
		/* Keep the chains rather than put them back: the empty vq_pop asked the guest
		 * (EVENT_IDX) to kick at its next buffer, and vq_unpop would move that request
		 * back behind buffers it already published, so the kick would never come. */
		n->rx_held = b->nchains;
		n->rx_held_iov = b->niov;
		n->rx_held_room = b->room;
		n->rx_stalled = true;
		n->rx_stalls++;
		net_watch_update(n);
		return false;
	}
	return true;
}

/*
 * Move one frame from the tap into the guest's rx buffers. Without MRG_RXBUF one chain
 * takes the whole frame (the driver sizes its buffers for that, 5.1.6.3.1). With it, pop
 * chains until they hold the largest frame the tap can give, or the ring runs dry; read
 * once across all of them, then give the guest the ones the frame filled and put the rest
 * back. A ring with less room than rx_need (the largest frame the guest agreed to) waits
 * for the guest's next kick.
 */
static enum net_rx_result net_rx_one(struct virtio_net *n)
{
	struct vq *vq = &n->vdev.vqs[NET_RXQ];
	struct net_rx_batch b;

	if (!net_rx_room(n, &b))
		return NET_RX_STOP;
	n->rx_iov[b.niov].iov_base = &n->rx_spill;
	n->rx_iov[b.niov].iov_len = 1;
	ssize_t len = readv(n->tap_fd, n->rx_iov, (int)b.niov + 1);
	if (len < 0) {
		int e = errno;
		vq_unpop(vq, (uint16_t)b.nchains);
		if (e != EAGAIN && e != EINTR)
			net_tap_error(n, "read", e);
		return NET_RX_STOP;
	}
	rl_charge(&n->rx_limiter.rl, (uint64_t)len, RL_BYTES, rl_now_ns());
	/* The frame reached rx_spill: it did not fit and the tun driver cut it short. Or it
	 * is longer than the guest's MTU allows. */
	bool cut = (uint64_t)len > b.room || len < NET_HDR_SIZE;
	if (cut || net_rx_too_long(n, n->rx_iov, b.niov, (uint64_t)len)) {
		vq_unpop(vq, (uint16_t)b.nchains);
		net_rx_drop(n, cut, len, b.room);
		return NET_RX_DROPPED;
	}
	net_rx_deliver(n, b.nchains, (uint32_t)len);
	return NET_RX_DELIVERED;
}

/* MMDS's frames for the guest, as many as its rx ring takes (the stack makes them on
 * demand, so a full ring only delays them). */
static void net_rx_mmds(struct virtio_net *n)
{
	bool delivered = false;
	static const uint8_t hdr[NET_HDR_SIZE]; /* no offloads; num_buffers set on delivery */

	while (n->mmds && mmds_net_pending(n->mmds) && !n->rx_stalled &&
	       virtio_dev_live(&n->vdev)) {
		struct net_rx_batch b;
		if (!net_rx_room(n, &b))
			break;
		uint64_t room = b.room - NET_HDR_SIZE; /* rx_need covers a header */
		size_t cap = room < MMDS_FRAME_MAX ? (size_t)room : MMDS_FRAME_MAX;
		size_t len = mmds_net_output(n->mmds, n->mmds->out, cap, mmds_now_ms());
		if (!len) { /* the guest's buffers are under 64 bytes: nothing fits */
			vq_unpop(&n->vdev.vqs[NET_RXQ], (uint16_t)b.nchains);
			break;
		}
		iov_write(n->rx_iov, b.niov, 0, hdr, NET_HDR_SIZE);
		iov_write(n->rx_iov, b.niov, NET_HDR_SIZE, n->mmds->out, len);
		net_rx_deliver(n, b.nchains, (uint32_t)(NET_HDR_SIZE + len));
		delivered = true;
	}
	if (delivered)
		virtio_dev_notify_used(&n->vdev, NET_RXQ);
}

/* Give tx chain c to MMDS if its frame is for the service. Returns whether it took it. */
static bool net_tx_mmds(struct virtio_net *n, const struct vq_chain *c)
{
	uint8_t head[NET_HDR_SIZE + NET_ETH_HLEN + 28];
	struct mmds_net *m = n->mmds;

	size_t got = iov_read(c->iov, c->nout, 0, head, sizeof(head));
	if (got <= NET_HDR_SIZE || !mmds_net_claims(m, head + NET_HDR_SIZE, got - NET_HDR_SIZE))
		return false;
	size_t len = c->out_bytes - NET_HDR_SIZE;
	if (len > sizeof(m->in)) {
		m->rx_frames++;
		m->rx_dropped++; /* over the window the stack offers: a guest that ignores it */
		return true;
	}
	iov_read(c->iov, c->nout, NET_HDR_SIZE, m->in, len);
	/* VIRTIO_NET_HDR_F_NEEDS_CSUM: the guest left the TCP checksum to us (CSUM offered). */
	mmds_net_input(m, m->in, len, head[NET_HDR_FLAGS] & 1, mmds_now_ms());
	return true;
}

static void net_rx(struct virtio_net *n)
{
	bool delivered = false;

	net_rx_mmds(n);

	for (unsigned i = 0; i < NET_RX_BUDGET; i++) {
		/* An op per frame, taken before the read and given back if none came. */
		if (!virtio_limiter_consume(&n->rx_limiter, 1, RL_OPS))
			break;
		enum net_rx_result r = net_rx_one(n);
		if (r == NET_RX_STOP) {
			rl_replenish(&n->rx_limiter.rl, 1, RL_OPS);
			break;
		}
		if (r == NET_RX_DELIVERED)
			delivered = true;
	}
	/* Throttled: stop watching the tap until the limiter's timer fires. */
	if (n->rx_limiter.rl.blocked)
		net_watch_update(n);
	/* Frames left in the tap keep it readable: the level-triggered loop calls again. */
	if (delivered)
		virtio_dev_notify_used(&n->vdev, NET_RXQ);
}

/*
 * Send the guest's tx chains (header and frame) to the tap, at most NET_TX_BUDGET of them
 * before yielding. A full tap puts the chain back and waits for EPOLLOUT.
 */
static void net_tx(struct virtio_net *n)
{
	struct vq *vq = &n->vdev.vqs[NET_TXQ];
	struct vq_chain *c = &n->tx_chain;
	unsigned frames = 0;
	const char *why;

	while (!n->tx_blocked && !n->tx_limiter.rl.blocked) {
		if (frames == NET_TX_BUDGET) {
			virtio_dev_requeue(&n->vdev, NET_TXQ);
			break;
		}
		int r = vq_pop(vq, c, &why);
		if (r < 0) {
			virtio_dev_fail(&n->vdev, "tx queue: %s", why);
			break;
		}
		if (r == 0)
			break;
		if (c->nin) {
			virtio_dev_fail(&n->vdev, "tx chain %u has device-writable buffers",
			                c->head);
			break;
		}
		if (c->out_bytes < NET_HDR_SIZE || c->out_bytes > NET_MAX_CHAIN) {
			virtio_dev_fail(&n->vdev, "tx chain %u has %u bytes, outside %u..%u",
			                c->head, c->out_bytes, NET_HDR_SIZE, NET_MAX_CHAIN);
			break;
		}
		if (!virtio_limiter_admit(&n->tx_limiter, c->out_bytes - NET_HDR_SIZE)) {
			vq_unpop(vq, 1);
			break;
		}
		if (n->mmds && net_tx_mmds(n, c)) {
			vq_push(vq, c->head, 0);
			frames++;
			continue;
		}
		ssize_t w = writev(n->tap_fd, c->iov, c->nout);
		int e = w < 0 ? errno : 0;
		if (e == EAGAIN || e == EINTR) {
			/* The frame goes again later and is charged then: its tokens go back. */
			rl_replenish(&n->tx_limiter.rl, 1, RL_OPS);
			rl_replenish(&n->tx_limiter.rl, c->out_bytes - NET_HDR_SIZE, RL_BYTES);
			vq_unpop(vq, 1);
			if (e == EINTR) {
				virtio_dev_requeue(&n->vdev, NET_TXQ);
				break;
			}
			n->tx_blocked = true;
			net_watch_update(n);
			break;
		}
		if (w < 0) {
			/* The tap is gone or down, or the kernel refused the guest's header:
			 * drop the frame, the guest's buffer goes back all the same. */
			net_tap_error(n, "write", e);
			n->tx_dropped++;
		} else {
			n->tx_frames++;
			n->tx_bytes += c->out_bytes - NET_HDR_SIZE;
		}
		vq_push(vq, c->head, 0);
		frames++;
	}
	if (frames) {
		n->tx_batches++;
		virtio_dev_notify_used(&n->vdev, NET_TXQ);
	}
	net_rx_mmds(n); /* what the service answered */
}

static void net_tap_event(void *ctx, uint32_t events)
{
	struct virtio_net *n = ctx;

	virtio_dev_lock(&n->vdev);
	/* Failed or reset since the event was queued: stop watching, or a tap with frames
	 * would wake the loop forever (activate watches again). */
	if (!virtio_dev_live(&n->vdev)) {
		net_watch(n, 0);
		goto out;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The tun driver says so only when the tap was deleted under us. */
		if (!n->tap_err_logged)
			log_warn("%s: tap '%s' was deleted; frames are dropped", n->vdev.name,
			         n->tap);
		n->tap_err_logged = true;
		net_watch(n, 0);
		goto out;
	}
	if ((events & EPOLLOUT) && n->tx_blocked) {
		n->tx_blocked = false;
		net_watch_update(n);
		net_tx(n);
	}
	if ((events & EPOLLIN) && !n->rx_stalled && virtio_dev_live(&n->vdev)) {
		n->rx_wakeups++;
		net_rx(n);
	}
out:
	virtio_dev_unlock(&n->vdev);
}

static void net_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, unsigned len)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);

	if (off > sizeof(n->config) || len > sizeof(n->config) - off) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, n->config + off, len);
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);
	unsigned offloads = 0;

	n->mrg_rxbuf = virtio_dev_has(vdev, NET_F_MRG_RXBUF);
	n->guest_csum = virtio_dev_has(vdev, NET_F_GUEST_CSUM);
	/* The largest frame the guest can be sent: 64 KiB with GSO, else its MTU with an
	 * Ethernet header and a VLAN tag. */
	bool mtu = virtio_dev_has(vdev, NET_F_MTU) && n->mtu;
	n->rx_max = mtu ? n->mtu + NET_ETH_HLEN : 0;
	if (virtio_dev_has(vdev, NET_F_GUEST_TSO4) || virtio_dev_has(vdev, NET_F_GUEST_TSO6))
		n->rx_need = NET_MAX_CHAIN;
	else
		n->rx_need = NET_HDR_SIZE + NET_ETH_HLEN + NET_VLAN_HLEN + (mtu ? n->mtu : 1500);
	if (n->rx_need > NET_MAX_CHAIN)
		n->rx_need = NET_MAX_CHAIN;
	/* Partial checksums and GSO frames reach the guest only if it takes them (TSO
	 * implies checksum offload, 5.1.3.1). */
	if (n->guest_csum) {
		offloads |= TUN_F_CSUM;
		if (virtio_dev_has(vdev, NET_F_GUEST_TSO4))
			offloads |= TUN_F_TSO4;
		if (virtio_dev_has(vdev, NET_F_GUEST_TSO6))
			offloads |= TUN_F_TSO6;
	}
	int ret = tap_set_offload(n->tap_fd, offloads);
	if (ret < 0) {
		log_err("%s: cannot set the offloads of tap '%s': %s", vdev->name, n->tap,
		        strerror(-ret));
		return ret;
	}
	n->rx_stalled = false;
	n->tx_blocked = false;
	if ((ret = virtio_limiter_watch(&n->rx_limiter)) < 0 ||
	    (ret = virtio_limiter_watch(&n->tx_limiter)) < 0)
		return ret;
	return net_watch_update(n);
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);

	net_watch(n, 0);
	n->rx_stalled = false;
	net_rx_forget_held(n); /* the transport resets the queue: held chains are gone */
	n->tx_blocked = false;
	rl_unblock(&n->rx_limiter.rl);
	rl_unblock(&n->tx_limiter.rl);
	n->mrg_rxbuf = false;
	if (n->mmds)
		mmds_net_reset(n->mmds);
	/* The next driver may accept less: no GSO frames queue up for it meanwhile. */
	tap_set_offload(n->tap_fd, 0);
}

static void net_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);

	if (q == NET_RXQ) {
		/* New rx buffers: frames waiting in the tap can go now. */
		if (n->rx_stalled) {
			n->rx_stalled = false;
			net_watch_update(n);
			net_rx_mmds(n);
		}
	} else if (q == NET_TXQ && !n->tx_blocked) {
		net_tx(n);
		/* What was just sent often has its answer queued on the tap already (a ping
		 * from the host's stack, a TCP ACK): take it in this pass, so the guest gets one
		 * interrupt for both queues rather than one now and one after the loop's next
		 * turn. An empty tap costs one readv (EAGAIN). */
		if (virtio_dev_live(&n->vdev) && !n->rx_stalled && (n->tap_events & EPOLLIN))
			net_rx(n);
	}
}

static void net_rx_resume(struct virtio_dev *vdev, struct virtio_limiter *l)
{
	(void)l;
	net_watch_update(container_of(vdev, struct virtio_net, vdev));
}

static void net_tx_resume(struct virtio_dev *vdev, struct virtio_limiter *l)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);
	(void)l;
	if (vdev->vqs[NET_TXQ].active && !n->tx_blocked)
		net_tx(n);
}

void net_set_rate_limiters(struct virtio_net *n, const struct rate_limiter_config *rx,
                           const struct rate_limiter_config *tx)
{
	virtio_dev_lock(&n->vdev);
	virtio_limiter_update(&n->rx_limiter, rx);
	virtio_limiter_update(&n->tx_limiter, tx);
	virtio_dev_unlock(&n->vdev);
}

static void net_stats(struct virtio_dev *vdev, char *buf, size_t len)
{
	struct virtio_net *n = container_of(vdev, struct virtio_net, vdev);
	int w = snprintf(
	    buf, len,
	    "throttled %llu, rx frames %llu (%llu bytes, %llu dropped) in %llu tap wakeups, "
	    "%llu stalls; "
	    "tx frames %llu (%llu bytes, %llu dropped) in %llu batches",
	    (unsigned long long)atomic_load(&vdev->stat_throttled),
	    (unsigned long long)n->rx_frames, (unsigned long long)n->rx_bytes,
	    (unsigned long long)n->rx_dropped, (unsigned long long)n->rx_wakeups,
	    (unsigned long long)n->rx_stalls, (unsigned long long)n->tx_frames,
	    (unsigned long long)n->tx_bytes, (unsigned long long)n->tx_dropped,
	    (unsigned long long)n->tx_batches);
	const struct mmds_net *m = n->mmds;
	if (m && w > 0 && (size_t)w < len)
		snprintf(buf + w, len - (size_t)w,
		         "; MMDS frames in %llu (%llu dropped, %llu bad checksums), out %llu, "
		         "connections evicted %llu",
		         (unsigned long long)m->rx_frames, (unsigned long long)m->rx_dropped,
		         (unsigned long long)m->bad_csum, (unsigned long long)m->tx_frames,
		         (unsigned long long)m->conns_evicted);
}

static const struct virtio_dev_ops net_ops = {
    .kind = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .queue_max_size = 256,
    .config_read = net_config_read,
    .config_write = NULL, /* the MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR */
    .activate = net_activate,
    .reset = net_reset,
    .notify = net_notify,
    .stats = net_stats,
};

int net_create(struct virtio_net *n, const struct net_config *cfg, char *err, size_t errlen)
{
	const char *id = cfg->id[0] ? cfg->id : cfg->tap;

	memset(n, 0, sizeof(*n));
	n->vdev.ops = &net_ops;
	n->tap_fd = -1;
	snprintf(n->vdev.name, sizeof(n->vdev.name), "%s %s", net_ops.kind, id);

	if (cfg->mtu && (cfg->mtu < NET_MIN_MTU || cfg->mtu > NET_MAX_MTU)) {
		snprintf(err, errlen, "net '%s': MTU %u is outside %u..%u", id, cfg->mtu,
		         NET_MIN_MTU, NET_MAX_MTU);
		return -EINVAL;
	}
	/* A group address would make the guest's NIC answer for a multicast group. */
	if (cfg->has_mac && (cfg->mac[0] & 1)) {
		snprintf(err, errlen,
		         "net '%s': MAC %02x:%02x:%02x:%02x:%02x:%02x is a multicast address", id,
		         cfg->mac[0], cfg->mac[1], cfg->mac[2], cfg->mac[3], cfg->mac[4],
		         cfg->mac[5]);
		return -EINVAL;
	}

	int fd = tap_open(cfg->tap, err, errlen);
	if (fd < 0)
		return fd;
	n->tap_fd = fd;
	int r = virtio_limiter_init(&n->rx_limiter, &n->vdev, &cfg->rx_rate_limiter, net_rx_resume);
	if (!r)
		r = virtio_limiter_init(&n->tx_limiter, &n->vdev, &cfg->tx_rate_limiter,
		                        net_tx_resume);
	if (r) {
		snprintf(err, errlen, "net '%s': cannot make its rate limiters' timers: %s", id,
		         strerror(-r));
		net_destroy(n);
		return r;
	}
	snprintf(n->tap, sizeof(n->tap), "%s", cfg->tap);
	n->tap_handler.fn = net_tap_event;
	n->tap_handler.ctx = n;
	n->tx_chain.iov = n->tx_iov;
	n->tx_chain.iov_cap = NET_CHAIN_IOV;

	n->vdev.features = 1ull << NET_F_CSUM | 1ull << NET_F_GUEST_CSUM |
	                   1ull << NET_F_GUEST_TSO4 | 1ull << NET_F_GUEST_TSO6 |
	                   1ull << NET_F_HOST_TSO4 | 1ull << NET_F_HOST_TSO6 |
	                   1ull << NET_F_MRG_RXBUF | 1ull << NET_F_STATUS;
	if (cfg->has_mac) {
		n->vdev.features |= 1ull << NET_F_MAC;
		memcpy(n->config + NET_CFG_MAC, cfg->mac, 6);
	}
	if (cfg->mtu) {
		n->mtu = (uint16_t)cfg->mtu;
		n->vdev.features |= 1ull << NET_F_MTU;
		net_put16(n->config + NET_CFG_MTU, (uint16_t)cfg->mtu);
	}
	net_put16(n->config + NET_CFG_STATUS, NET_S_LINK_UP);
	net_put16(n->config + NET_CFG_MAX_VQ_PAIRS, 1);
	n->vdev.config_size = sizeof(n->config);
	return 0;
}

int net_mmds_attach(struct virtio_net *n, struct mmds_store *store, uint32_t ip)
{
	struct mmds_net *m = malloc(sizeof(*m));
	if (!m || mmds_net_init(m, store, ip) < 0) {
		free(m);
		return -ENOMEM;
	}
	n->mmds = m;
	return 0;
}

void net_destroy(struct virtio_net *n)
{
	/* ops tells a created device from a zeroed struct, whose fd 0 is not ours. */
	if (n->vdev.ops != &net_ops)
		return;
	if (n->mmds) {
		mmds_net_destroy(n->mmds);
		free(n->mmds);
		n->mmds = NULL;
	}
	if (n->tap_fd < 0)
		return;
	virtio_limiter_destroy(&n->rx_limiter);
	virtio_limiter_destroy(&n->tx_limiter);
	if (n->tap_events && n->vdev.loop)
		event_loop_del(n->vdev.loop, n->tap_fd);
	n->tap_events = 0;
	close(n->tap_fd);
	n->tap_fd = -1;
}
