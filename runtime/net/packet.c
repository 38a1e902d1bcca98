/* AF_PACKET sockets: raw Ethernet frames to and from the network devices (drivers/netdev.h).
 * Every frame a device receives is copied to each packet socket bound to that device, or to
 * none, whose protocol matches, into a bounded queue (dropped when full), as Linux does. */
#include "drivers/netdev.h"
#include "net/socket.h"

#ifndef ENODEV
#define ENODEV 19
#endif
#ifndef ESOCKTNOSUPPORT
#define ESOCKTNOSUPPORT 94
#endif
#ifndef ENETDOWN
#define ENETDOWN 100
#endif
#ifndef ENXIO
#define ENXIO 6
#endif

#define ETH_P_ALL    0x0003
#define ARPHRD_ETHER 1

#define SIOCGIFNAME   0x8910
#define SIOCGIFFLAGS  0x8913
#define SIOCGIFMTU    0x8921
#define SIOCGIFHWADDR 0x8927
#define SIOCGIFINDEX  0x8933
#define IFF_UP        0x1
#define IFF_BROADCAST 0x2
#define IFF_RUNNING   0x40

#define QUEUE_LEN 32 /* frames a socket holds before it drops */

struct sockaddr_ll {
	uint16_t family;
	uint16_t protocol; /* network byte order */
	int32_t ifindex;
	uint16_t hatype;
	uint8_t pkttype;
	uint8_t halen;
	uint8_t addr[8];
};

struct ifreq {
	char name[16];
	union {
		struct {
			uint16_t family;
			uint8_t data[14];
		} hwaddr;
		int32_t ifindex;
		int32_t mtu;
		int16_t flags;
		uint8_t pad[24];
	};
};

struct frame {
	int ifindex;
	uint16_t len;
	uint8_t data[];
};

struct psock {
	struct sock sk;    /* first: socket.c's view */
	int ifindex;       /* 0: every device */
	uint16_t protocol; /* host byte order; 0 receives nothing */
	struct frame *q[QUEUE_LEN];
	int head, n;
	struct waitq rx_wait;
	struct psock *next;
};

static struct psock *socks;

static uint16_t be16(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}

static void packet_input(struct netdev *d, const void *frame, size_t len)
{
	const uint8_t *p = frame;
	uint16_t type = len >= 14 ? (uint16_t)(p[12] << 8 | p[13]) : 0;
	for (struct psock *s = socks; s; s = s->next) {
		if ((s->ifindex && s->ifindex != d->index) || s->n == QUEUE_LEN)
			continue;
		if (s->protocol != ETH_P_ALL && s->protocol != type)
			continue;
		struct frame *f = kmalloc(sizeof(*f) + len);
		if (!f)
			continue;
		f->ifindex = d->index;
		f->len = (uint16_t)len;
		k_memcpy(f->data, frame, len);
		s->q[(s->head + s->n++) % QUEUE_LEN] = f;
		waitq_wake(&s->rx_wait);
	}
}

/* One frame into the iovecs; msg_name gets where it came from. */
static long packet_recvmsg(struct sock *sk, struct linux_msghdr *m, int flags)
{
	struct psock *s = (struct psock *)sk;
	while (!s->n) {
		if (flags & MSG_DONTWAIT)
			return -EAGAIN;
		int r = thread_wait(&s->rx_wait, sock_deadline(sk->rcvtimeo_ns));
		if (r)
			return r == -ETIMEDOUT ? -EAGAIN : r;
	}
	struct frame *f = s->q[s->head];
	uint64_t done = 0;
	for (uint64_t i = 0; i < m->msg_iovlen && done < f->len; i++) {
		uint64_t c = MIN(m->msg_iov[i].iov_len, f->len - done);
		k_memcpy(m->msg_iov[i].iov_base, f->data + done, c);
		done += c;
	}
	m->msg_flags = done < f->len ? MSG_TRUNC : 0;
	if (m->msg_name) {
		struct sockaddr_ll from = {
		    .family = AF_PACKET, .ifindex = f->ifindex, .hatype = ARPHRD_ETHER, .halen = 6};
		if (f->len >= 14) {
			const uint8_t *mine = netdev_by_index(f->ifindex)->mac;
			from.protocol = (uint16_t)(f->data[13] << 8 | f->data[12]);
			k_memcpy(from.addr, f->data + 6, 6);
			from.pkttype = f->data[0] & 1               ? (f->data[0] == 0xff ? 1 : 2)
			               : k_memcmp(f->data, mine, 6) ? 3
			                                            : 0;
		}
		sock_put_addr(m->msg_name, &m->msg_namelen, &from, sizeof(from));
	}
	long r = flags & MSG_TRUNC ? f->len : (long)done;
	if (!(flags & MSG_PEEK)) {
		s->head = (s->head + 1) % QUEUE_LEN;
		s->n--;
		kfree(f);
	}
	return r;
}

/* One frame from the iovecs, to msg_name's interface or the bound one. */
static long packet_sendmsg(struct sock *sk, const struct linux_msghdr *m, int flags)
{
	struct psock *s = (struct psock *)sk;
	const struct sockaddr_ll *a = m->msg_name;
	if (a && (m->msg_namelen < sizeof(*a) || a->family != AF_PACKET))
		return -EINVAL;
	int ifindex = a && a->ifindex ? a->ifindex : s->ifindex;
	struct netdev *d = netdev_by_index(ifindex);
	if (!d)
		return ifindex ? -ENODEV : -ENXIO;
	uint8_t frame[NETDEV_FRAME_MAX];
	uint64_t n = 0;
	for (uint64_t i = 0; i < m->msg_iovlen; i++) {
		if (m->msg_iov[i].iov_len > sizeof(frame) - n)
			return -EMSGSIZE;
		k_memcpy(frame + n, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
		n += m->msg_iov[i].iov_len;
	}
	if (n < 14)
		return -EINVAL;
	if (!d->link_up)
		return -ENETDOWN;
	for (;;) {
		int r = d->tx(d, frame, n);
		if (r != -EAGAIN)
			return r ? r : (long)n;
		if (flags & MSG_DONTWAIT)
			return r;
		if (d->poll)
			d->poll(d);
		r = thread_wait(&d->tx_wait, clock_monotonic_ns() + 1000000);
		if (r == -EINTR)
			return r;
	}
}

static long packet_bind(struct sock *sk, const void *addr, uint32_t len)
{
	struct psock *s = (struct psock *)sk;
	const struct sockaddr_ll *a = addr;
	if (len < sizeof(*a) || a->family != AF_PACKET)
		return -EINVAL;
	if (a->ifindex && !netdev_by_index(a->ifindex))
		return -ENODEV;
	s->ifindex = a->ifindex;
	if (a->protocol)
		s->protocol = be16(a->protocol);
	return 0;
}

static short packet_poll(struct sock *sk)
{
	return (((struct psock *)sk)->n ? POLLIN : 0) | POLLOUT;
}

static long packet_ioctl(struct sock *sk, long req, long arg)
{
	struct ifreq *ifr = (struct ifreq *)arg;
	struct netdev *d;
	(void)sk;
	if (req == SIOCGIFNAME) {
		if (!(d = netdev_by_index(ifr->ifindex)))
			return -ENODEV;
		k_memcpy(ifr->name, d->name, sizeof(ifr->name));
		return 0;
	}
	if (req != SIOCGIFINDEX && req != SIOCGIFHWADDR && req != SIOCGIFMTU && req != SIOCGIFFLAGS)
		return -ENOTTY;
	char name[16];
	k_memcpy(name, ifr->name, sizeof(name));
	name[15] = 0;
	if (!(d = netdev_by_name(name)))
		return -ENODEV;
	if (req == SIOCGIFINDEX) {
		ifr->ifindex = d->index;
	} else if (req == SIOCGIFMTU) {
		ifr->mtu = d->mtu;
	} else if (req == SIOCGIFFLAGS) {
		ifr->flags = IFF_UP | IFF_BROADCAST | (d->link_up ? IFF_RUNNING : 0);
	} else {
		k_memset(&ifr->hwaddr, 0, sizeof(ifr->hwaddr));
		ifr->hwaddr.family = ARPHRD_ETHER;
		k_memcpy(ifr->hwaddr.data, d->mac, 6);
	}
	return 0;
}

static void packet_release(struct sock *sk)
{
	struct psock *s = (struct psock *)sk;
	for (struct psock **pp = &socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	for (; s->n; s->n--, s->head = (s->head + 1) % QUEUE_LEN)
		kfree(s->q[s->head]);
	kfree(s);
}

static const struct sock_ops packet_ops = {.bind = packet_bind,
                                           .sendmsg = packet_sendmsg,
                                           .recvmsg = packet_recvmsg,
                                           .poll = packet_poll,
                                           .ioctl = packet_ioctl,
                                           .release = packet_release};

/* socket(AF_PACKET, SOCK_RAW, protocol), from net/socket.c. */
long packet_socket(int type, int protocol, int flags)
{
	if (type != SOCK_RAW)
		return -ESOCKTNOSUPPORT;
	struct psock *s = kzalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sk = (struct sock){
	    .ops = &packet_ops, .family = AF_PACKET, .type = type, .protocol = protocol};
	s->protocol = be16((uint16_t)protocol);
	s->rx_wait = (struct waitq){NULL, "receive on a packet socket", true};
	s->next = socks;
	socks = s;
	netdev_tap = packet_input;
	netdev_count(); /* probe the devices now, so that frames queue from here on */
	return sock_fd(&s->sk, flags);
}
