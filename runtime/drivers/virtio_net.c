/* virtio-net: one struct netdev per device, named and numbered as the boot manifest lists the
 * NICs (matched by MAC).  Each device has a receive queue kept full of 2 KiB buffers and a
 * transmit queue whose descriptors each own a 2 KiB buffer the frame is copied into, behind the
 * 12-byte virtio_net_hdr.  Checksums are offloaded where the device offers it: with CSUM the
 * device completes TCP and UDP checksums on send (the header says where, the frame holds the
 * pseudo-header's sum), with GUEST_CSUM it has checked (or will not need) those of what it
 * delivers, so lwIP computes and checks neither (net/netif.c). */
#include "drivers/netdev.h"
#include "drivers/virtio.h"
#include "kernel/devices.h"

#define NET_F_CSUM       0
#define NET_F_GUEST_CSUM 1
#define NET_F_MAC        5
#define NET_F_STATUS     16
#define HDR_F_NEEDS_CSUM 1
/* struct virtio_net_hdr: with num_buffers under VERSION_1, without it on a legacy device */
#define NET_HDR(n) ((n)->v->legacy ? 10 : 12)
#define BUF_SIZE   2048
#define RXQ        0
#define TXQ        1

struct vnet {
	struct netdev nd;
	struct virtio_dev *v;
	struct virtq rxq, txq;
	uint8_t *rxbuf, *txbuf;
	uint16_t tx_free[VQ_SIZE_MAX]; /* descriptors the device has given back */
	int ntx_free;
	bool registered;
};

static struct vnet *found[NETDEV_MAX];
static int nfound;

/* Hand what has arrived to the network code and give the buffers back to the device. */
static void rx_drain(struct vnet *n)
{
	struct vq_used_elem *e;
	bool any = false;
	while ((e = virtq_next_used(&n->rxq))) {
		uint16_t id = (uint16_t)e->id;
		if (e->len > (uint32_t)NET_HDR(n))
			netdev_input(&n->nd, n->rxbuf + id * BUF_SIZE + NET_HDR(n),
			             e->len - NET_HDR(n));
		virtq_push(&n->rxq, id);
		any = true;
	}
	if (any)
		virtq_kick(n->v, &n->rxq);
}

static bool tx_reclaim(struct vnet *n)
{
	struct vq_used_elem *e;
	bool any = false;
	while ((e = virtq_next_used(&n->txq))) {
		n->tx_free[n->ntx_free++] = (uint16_t)e->id;
		any = true;
	}
	return any;
}

static void link_update(struct vnet *n)
{
	n->nd.link_up = !(n->v->features >> NET_F_STATUS & 1) || (virtio_config16(n->v, 6) & 1);
}

static void vnet_irq(struct virtio_dev *v)
{
	struct vnet *n = v->priv;
	rx_drain(n);
	if (tx_reclaim(n))
		waitq_wake(&n->nd.tx_wait);
	link_update(n);
}

static void vnet_poll(struct netdev *d)
{
	struct vnet *n = d->priv;
	rx_drain(n);
	if (tx_reclaim(n))
		waitq_wake(&n->nd.tx_wait);
}

/* Asks the device to complete the TCP or UDP checksum of an unfragmented IPv4 frame in buf
 * (behind its virtio_net_hdr hdr): the checksum field gets the pseudo-header's sum, and the header
 * says where the checksum starts and where it goes. */
static void csum_offload(uint8_t *hdr, uint8_t *f, size_t len)
{
	size_t ihl, l4;
	uint32_t sum;
	uint16_t total, l4len, off;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4)
		return;
	ihl = (size_t)(f[14] & 15) * 4;
	total = (uint16_t)(f[16] << 8 | f[17]);
	/* Fragments carry no whole segment to sum over. */
	if (ihl < 20 || 14 + (size_t)total > len || total < ihl || (f[20] & 0x3f) || f[21])
		return;
	l4 = 14 + ihl;
	l4len = (uint16_t)(total - ihl);
	if (f[23] == 6 && l4len >= 20)
		off = 16;
	else if (f[23] == 17 && l4len >= 8)
		off = 6;
	else
		return;
	/* The pseudo header: source, destination, protocol, length; folded, not inverted. */
	sum = (uint32_t)(f[26] << 8 | f[27]) + (uint32_t)(f[28] << 8 | f[29]) +
	      (uint32_t)(f[30] << 8 | f[31]) + (uint32_t)(f[32] << 8 | f[33]) + f[23] + l4len;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[l4 + off] = (uint8_t)(sum >> 8);
	f[l4 + off + 1] = (uint8_t)sum;
	hdr[0] = HDR_F_NEEDS_CSUM;
	hdr[6] = (uint8_t)l4; /* csum_start, little-endian */
	hdr[7] = (uint8_t)(l4 >> 8);
	hdr[8] = (uint8_t)off; /* csum_offset */
	hdr[9] = 0;
}

static int vnet_tx(struct netdev *d, const void *frame, size_t len)
{
	struct vnet *n = d->priv;
	if (len > NETDEV_FRAME_MAX)
		return -EMSGSIZE;
	if (!n->ntx_free)
		tx_reclaim(n);
	if (!n->ntx_free)
		return -EAGAIN;
	uint16_t id = n->tx_free[--n->ntx_free];
	uint8_t *buf = n->txbuf + id * BUF_SIZE;
	k_memset(buf, 0, NET_HDR(n));
	k_memcpy(buf + NET_HDR(n), frame, len);
	if (n->nd.features & NETDEV_CSUM_TX)
		csum_offload(buf, buf + NET_HDR(n), len);
	n->txq.desc[id] = (struct vq_desc){(uint64_t)buf, (uint32_t)(NET_HDR(n) + len), 0, 0};
	virtq_push(&n->txq, id);
	virtq_kick(n->v, &n->txq);
	return 0;
}

static uint8_t *bufs_alloc(struct virtq *q)
{
	return (uint8_t *)pages_alloc(q->size * BUF_SIZE / PAGE_SIZE);
}

static void vnet_found(struct virtio_dev *v)
{
	if (nfound == NETDEV_MAX)
		return;
	struct vnet *n = kzalloc(sizeof(*n));
	n->v = v;
	v->priv = n;
	v->irq = vnet_irq;
	if (virtio_negotiate(v, 1ULL << NET_F_MAC | 1ULL << NET_F_STATUS | 1ULL << NET_F_CSUM |
	                            1ULL << NET_F_GUEST_CSUM) ||
	    virtio_queue_init(v, &n->rxq, RXQ) || virtio_queue_init(v, &n->txq, TXQ) ||
	    !(n->rxbuf = bufs_alloc(&n->rxq)) || !(n->txbuf = bufs_alloc(&n->txq))) {
		kprintf(UNIK_CONSOLE_PREFIX "virtio-net: transport %d cannot be set up\n", v->slot);
		return;
	}
	for (uint16_t i = 0; i < n->rxq.size; i++) {
		n->rxq.desc[i] = (struct vq_desc){(uint64_t)(n->rxbuf + i * BUF_SIZE), BUF_SIZE,
		                                  VQ_DESC_F_WRITE, 0};
		virtq_push(&n->rxq, i);
	}
	for (uint16_t i = 0; i < n->txq.size; i++)
		n->tx_free[n->ntx_free++] = i;
	for (int i = 0; i < 6; i++)
		n->nd.mac[i] = virtio_config8(v, i);
	n->nd.mtu = 1500;
	if (v->features >> NET_F_CSUM & 1)
		n->nd.features |= NETDEV_CSUM_TX;
	if (v->features >> NET_F_GUEST_CSUM & 1)
		n->nd.features |= NETDEV_CSUM_RX;
	n->nd.tx = vnet_tx;
	n->nd.poll = vnet_poll;
	n->nd.tx_wait = (struct waitq){NULL, "send on a network device", true};
	n->nd.priv = n;
	if (virtio_start(v)) {
		kprintf(UNIK_CONSOLE_PREFIX "virtio-net: no interrupt vector for transport %d\n",
		        v->slot);
		return;
	}
	link_update(n);
	virtq_kick(v, &n->rxq);
	found[nfound++] = n;
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static bool mac_is(const uint8_t mac[6], const char *s)
{
	for (int i = 0; i < 6; i++)
		if (mac[i] != (hexval(s[3 * i]) << 4 | hexval(s[3 * i + 1])))
			return false;
	return true;
}

static void add(struct vnet *n, const char *name)
{
	k_snprintf(n->nd.name, sizeof(n->nd.name), "%s", name);
	n->registered = true;
	netdev_register(&n->nd);
}

void virtio_net_probe(void)
{
	char name[16];
	int eth = 0;
	virtio_probe(VIRTIO_ID_NET, vnet_found);
	/* The manifest's NICs first, in its order, under its names; then the others. */
	for (int i = 0; i < boot_devices.n; i++) {
		const struct rt_device *d = &boot_devices.d[i];
		if (d->kind != UNIK_DEV_NET || !d->mac[0])
			continue;
		for (int j = 0; j < nfound; j++)
			if (!found[j]->registered && mac_is(found[j]->nd.mac, d->mac)) {
				add(found[j], d->name);
				break;
			}
	}
	for (int j = 0; j < nfound; j++)
		if (!found[j]->registered) {
			k_snprintf(name, sizeof(name), "eth%d", eth++);
			add(found[j], name);
		}
}
