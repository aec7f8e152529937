/* Talks to the host through virtio-net: the guest is 10.0.2.15 and asks, by a broadcast
 * ARP request, for 10.0.2.1 (the test gives the host's tap that address), then pings it
 * and checks the echo reply's payload. Frames that are neither (IPv6 chatter from the
 * host) are counted and skipped.
 *   vnet: device 0x<base> irq <n>
 *   vnet: mac <xx:xx:xx:xx:xx:xx>			(the device's, when it offers MAC)
 *   vnet: sent arp request for 10.0.2.1
 *   vnet: received <n> bytes			(per frame, virtio-net header excluded)
 *   vnet: arp reply from 10.0.2.1 at <mac>
 *   vnet: sent ping to 10.0.2.1
 *   vnet: ping reply from 10.0.2.1, <n> bytes of payload intact
 *   vnet: ok
 * A failed check prints "vnet: FAIL <what>" and exits 3; no device: exit 4. */
#include "virtio.h"

#define VIO_NET_F_MAC (1ULL << 5)

#define RX_BUFS    8
#define RX_BUF_LEN 2048 /* >= 1526: a full frame and the header, without MRG_RXBUF */
#define ETH_HLEN   14

static const u8 guest_ip[4] = {10, 0, 2, 15};
static const u8 host_ip[4] = {10, 0, 2, 1};
static const char payload[] = "ember vnet ping 0123456789abcdef";

/* virtio 1.2, 5.1.6: with VERSION_1 the header always has num_buffers: 12 bytes. */
struct net_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len;
	u16 gso_size;
	u16 csum_start;
	u16 csum_offset;
	u16 num_buffers;
};

static struct vio_dev dev;
static struct vio_queue rxq, txq;
static u8 rx_buf[RX_BUFS][RX_BUF_LEN];
static u8 rx_of_head[VIO_QSIZE_MAX];
static struct net_hdr tx_hdr;
static u8 tx_frame[128];
static u8 mac[6], host_mac[6];

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static u16 get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

/* The Internet checksum (RFC 1071) of len bytes. */
static u16 csum(const u8 *p, size_t len)
{
	u32 sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (u32)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

static void fmt_mac(char *out, const u8 *m)
{
	fmt_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void post_rx(unsigned k)
{
	struct vio_buf b = VIO_BUF(rx_buf[k], RX_BUF_LEN, true);
	int head = vio_submit(&rxq, &b, 1, VIO_DIRECT);

	if (head < 0)
		vio_die("vnet: FAIL no free receive descriptor");
	rx_of_head[head] = (u8)k;
}

static void send(size_t len)
{
	struct vio_buf b[2] = {VIO_BUF(&tx_hdr, sizeof(tx_hdr), false),
	                       VIO_BUF(tx_frame, len, false)};
	u32 used;
	int r;

	tx_hdr = (struct net_hdr){0};
	r = vio_request(&txq, b, 2, VIO_DIRECT, &used);
	if (r)
		vio_die("vnet: FAIL transmit: %s", vio_strerror(r));
}

static void send_arp_request(void)
{
	u8 *f = tx_frame;

	memset(f, 0, 60); /* the shortest Ethernet frame, padded */
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, guest_ip, 4);
	memcpy(f + 38, host_ip, 4);
	send(60);
	gprintf("vnet: sent arp request for 10.0.2.1\n");
}

static void send_ping(void)
{
	u8 *f = tx_frame, *ip = f + ETH_HLEN, *icmp = ip + 20;
	size_t icmp_len = 8 + sizeof(payload);

	memset(f, 0, sizeof(tx_frame));
	memcpy(f, host_mac, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (u16)(20 + icmp_len));
	put16(ip + 4, 1);
	put16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	put16(ip + 10, csum(ip, 20));
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, 0x4242);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, payload, sizeof(payload));
	put16(icmp + 2, csum(icmp, icmp_len));
	send(ETH_HLEN + 20 + icmp_len);
	gprintf("vnet: sent ping to 10.0.2.1\n");
}

static bool is_arp_reply(const u8 *f, u32 len)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
	       !memcmp(f + 28, host_ip, 4) && !memcmp(f + 32, mac, 6) &&
	       !memcmp(f + 38, guest_ip, 4);
}

/* An echo reply to our ping: IPv4 from the host to us, ICMP type 0, our id, sequence and
 * payload. Returns the payload length, or 0. */
static u32 echo_reply(const u8 *f, u32 len)
{
	const u8 *ip = f + ETH_HLEN, *icmp;
	u32 ihl, tot;

	if (len < ETH_HLEN + 20 || get16(f + 12) != 0x0800 || (ip[0] >> 4) != 4 || ip[9] != 1)
		return 0;
	ihl = (ip[0] & 15) * 4u;
	tot = get16(ip + 2);
	if (ihl < 20 || tot < ihl + 8 || ETH_HLEN + tot > len)
		return 0;
	icmp = ip + ihl;
	if (memcmp(ip + 12, host_ip, 4) || memcmp(ip + 16, guest_ip, 4) || icmp[0] != 0 ||
	    get16(icmp + 4) != 0x4242 || get16(icmp + 6) != 1)
		return 0;
	if (tot - ihl - 8 != sizeof(payload) || memcmp(icmp + 8, payload, sizeof(payload)))
		vio_die("vnet: FAIL the echo reply's payload differs from the request's");
	if (csum(icmp, tot - ihl))
		vio_die("vnet: FAIL the echo reply's ICMP checksum is wrong");
	return tot - ihl - 8;
}

int main(void)
{
	char s[18];
	bool got_arp = false;
	u64 t0;

	if (!vio_find(VIO_ID_NET, 0, &dev)) {
		gprintf("vnet: no virtio-net device\n");
		vio_exit(VIO_EXIT_NODEV);
	}
	gprintf("vnet: device 0x%lx irq %u\n", dev.base, dev.irq);
	if (!vio_init(&dev, VIO_NET_F_MAC | VIO_F_INDIRECT_DESC | VIO_F_EVENT_IDX, "vnet") ||
	    !vio_queue_setup(&dev, &rxq, 0, 16, "vnet") ||
	    !vio_queue_setup(&dev, &txq, 1, 16, "vnet") || !vio_driver_ok(&dev, "vnet"))
		vio_exit(VIO_EXIT_FAIL);
	if (dev.features & VIO_NET_F_MAC) {
		for (unsigned i = 0; i < 6; i++)
			mac[i] = vio_config8(&dev, i);
		fmt_mac(s, mac);
		gprintf("vnet: mac %s\n", s);
	} else {
		static const u8 own[6] = {0x02, 0x45, 0x4d, 0x42, 0x52, 0x01};

		memcpy(mac, own, 6);
	}

	for (unsigned k = 0; k < RX_BUFS; k++)
		post_rx(k);
	vio_notify(&rxq);
	send_arp_request();

	t0 = rdtsc();
	for (;;) {
		u16 head;
		u32 len, plen;
		int r = vio_take_used(&rxq, &head, &len);
		const u8 *f;

		if (r < 0)
			vio_die("vnet: FAIL receive: %s", vio_strerror(r));
		if (!r) {
			if (rdtsc() - t0 > 2 * VIO_WAIT_CYCLES)
				vio_die("vnet: FAIL no %s from 10.0.2.1",
				        got_arp ? "echo reply" : "arp reply");
			if (vio_status(&dev) & VIO_S_NEEDS_RESET)
				vio_die("vnet: FAIL the device set NEEDS_RESET");
			tsc_delay(100000);
			continue;
		}
		if (len < sizeof(struct net_hdr) || len > RX_BUF_LEN)
			vio_die("vnet: FAIL a received buffer of %u bytes", len);
		f = rx_buf[rx_of_head[head]] + sizeof(struct net_hdr);
		len -= sizeof(struct net_hdr);
		gprintf("vnet: received %u bytes\n", len);
		if (!got_arp && is_arp_reply(f, len)) {
			got_arp = true;
			memcpy(host_mac, f + 22, 6);
			fmt_mac(s, host_mac);
			gprintf("vnet: arp reply from 10.0.2.1 at %s\n", s);
			send_ping();
		} else if (got_arp && (plen = echo_reply(f, len))) {
			gprintf("vnet: ping reply from 10.0.2.1, %u bytes of payload intact\n",
			        plen);
			break;
		}
		post_rx(rx_of_head[head]);
		vio_notify(&rxq);
	}
	gprintf("vnet: ok\n");
	return 0;
}
