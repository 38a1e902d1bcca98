/* AF_PACKET sockets: raw Ethernet frames to and from the network devices (drivers/netdev.h).
 * Every frame a device receives is copied to each packet socket bound to that device, or to
 * none, whose protocol matches, into a bounded queue (dropped when full), as Linux does. */
#include "drivers/netdev.h"
#include "fs/file.h"
#include "sys/syscall.h"

#ifndef ENODEV
#define ENODEV 19
#endif
#ifndef ENOTSOCK
#define ENOTSOCK 88
#endif
#ifndef ESOCKTNOSUPPORT
#define ESOCKTNOSUPPORT 94
#endif
#ifndef EAFNOSUPPORT
#define EAFNOSUPPORT 97
#endif
#ifndef ENETDOWN
#define ENETDOWN 100
#endif
#ifndef ENXIO
#define ENXIO 6
#endif

#define AF_PACKET     17
#define SOCK_RAW      3
#define SOCK_NONBLOCK 04000
#define SOCK_CLOEXEC  02000000
#define ETH_P_ALL     0x0003
#define MSG_PEEK      0x2
#define MSG_TRUNC     0x20
#define MSG_DONTWAIT  0x40
#define ARPHRD_ETHER  1

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

static long recv_frame(struct file *file, void *buf, uint64_t n, int flags,
                       struct sockaddr_ll *from)
{
	struct psock *s = file->priv;
	long r = 0;
	file->refs++; /* another thread may close the descriptor while this one waits */
	while (!s->n) {
		if ((file->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT)) {
			r = -EAGAIN;
			goto out;
		}
		r = thread_wait(&s->rx_wait, 0);
		if (r)
			goto out;
	}
	struct frame *f = s->q[s->head];
	uint64_t copy = MIN(n, (uint64_t)f->len);
	k_memcpy(buf, f->data, copy);
	if (from) {
		*from = (struct sockaddr_ll){
		    .family = AF_PACKET, .ifindex = f->ifindex, .hatype = ARPHRD_ETHER, .halen = 6};
		if (f->len >= 14) {
			const uint8_t *mine = netdev_by_index(f->ifindex)->mac;
			from->protocol = (uint16_t)(f->data[13] << 8 | f->data[12]);
			k_memcpy(from->addr, f->data + 6, 6);
			from->pkttype = f->data[0] & 1               ? (f->data[0] == 0xff ? 1 : 2)
			                : k_memcmp(f->data, mine, 6) ? 3
			                                             : 0;
		}
	}
	r = flags & MSG_TRUNC ? f->len : (long)copy;
	if (!(flags & MSG_PEEK)) {
		s->head = (s->head + 1) % QUEUE_LEN;
		s->n--;
		kfree(f);
	}
out:
	file_put(file);
	return r;
}

static long send_frame(struct file *file, const void *buf, uint64_t n, int flags, int ifindex)
{
	struct psock *s = file->priv;
	struct netdev *d = netdev_by_index(ifindex ? ifindex : s->ifindex);
	if (!d)
		return ifindex || s->ifindex ? -ENODEV : -ENXIO;
	if (n > NETDEV_FRAME_MAX)
		return -EMSGSIZE;
	if (n < 14)
		return -EINVAL;
	if (!d->link_up)
		return -ENETDOWN;
	for (;;) {
		int r = d->tx(d, buf, n);
		if (r != -EAGAIN)
			return r ? r : (long)n;
		if ((file->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT))
			return r;
		if (d->poll)
			d->poll(d);
		r = thread_wait(&d->tx_wait, clock_monotonic_ns() + 1000000);
		if (r == -EINTR)
			return r;
	}
}

static long packet_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return recv_frame(f, buf, n, 0, NULL);
}

static long packet_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return send_frame(f, buf, n, 0, 0);
}

static short packet_poll(struct file *f)
{
	struct psock *s = f->priv;
	return (s->n ? POLLIN : 0) | POLLOUT;
}

static long packet_ioctl(struct file *f, long req, long arg)
{
	struct ifreq *ifr = P(arg);
	struct netdev *d;
	(void)f;
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

static void packet_release(struct file *f)
{
	struct psock *s = f->priv;
	for (struct psock **pp = &socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	for (; s->n; s->n--, s->head = (s->head + 1) % QUEUE_LEN)
		kfree(s->q[s->head]);
	kfree(s);
}

static const struct file_ops packet_ops = {.read = packet_read,
                                           .write = packet_write,
                                           .poll = packet_poll,
                                           .ioctl = packet_ioctl,
                                           .release = packet_release,
                                           .stream = true,
                                           .wakes = true};

static long sys_socket(long domain, long type, long protocol)
{
	if (domain != AF_PACKET)
		return -EAFNOSUPPORT;
	if ((type & ~(long)(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_RAW)
		return -ESOCKTNOSUPPORT;
	struct psock *s = kzalloc(sizeof(*s));
	struct inode *ino = inode_new(S_IFSOCK | 0777);
	struct file *f = ino ? file_new(ino, &packet_ops, O_RDWR | (type & SOCK_NONBLOCK)) : NULL;
	if (!f) {
		if (ino)
			fs_put(ino);
		kfree(s);
		return -ENOMEM;
	}
	s->protocol = be16((uint16_t)protocol);
	s->rx_wait = (struct waitq){NULL, "receive on a packet socket", true};
	f->priv = s;
	s->next = socks;
	socks = s;
	int fd = fd_alloc(f, 0, type & SOCK_CLOEXEC);
	if (fd < 0)
		file_put(f);
	netdev_tap = packet_input;
	netdev_count(); /* probe the devices now, so that frames queue from here on */
	return fd;
}

static struct file *packet_file(long fd, long *err)
{
	struct file *f = fd_get(fd);
	*err = !f ? -EBADF : f->ops != &packet_ops ? -ENOTSOCK : 0;
	return *err ? NULL : f;
}

static long sys_bind(long fd, const struct sockaddr_ll *a, long len)
{
	long err;
	struct file *f = packet_file(fd, &err);
	if (!f)
		return err;
	if (len < (long)sizeof(*a) || a->family != AF_PACKET)
		return -EINVAL;
	if (a->ifindex && !netdev_by_index(a->ifindex))
		return -ENODEV;
	struct psock *s = f->priv;
	s->ifindex = a->ifindex;
	if (a->protocol)
		s->protocol = be16(a->protocol);
	return 0;
}

static long sys_sendto(long fd, const void *buf, long n, long flags, const struct sockaddr_ll *a,
                       long alen)
{
	long err;
	struct file *f = packet_file(fd, &err);
	if (!f)
		return err;
	if (a && (alen < (long)sizeof(*a) || a->family != AF_PACKET))
		return -EINVAL;
	return send_frame(f, buf, (uint64_t)n, (int)flags, a ? a->ifindex : 0);
}

static long sys_recvfrom(long fd, void *buf, long n, long flags, struct sockaddr_ll *a,
                         uint32_t *alen)
{
	long err;
	struct sockaddr_ll from;
	struct file *f = packet_file(fd, &err);
	if (!f)
		return err;
	long r = recv_frame(f, buf, (uint64_t)n, (int)flags, a ? &from : NULL);
	if (r >= 0 && a) {
		k_memcpy(a, &from, MIN((uint64_t)*alen, sizeof(from)));
		*alen = sizeof(from);
	}
	return r;
}

SYSCALL(41)
{
	return sys_socket(a0, a1, a2);
}

SYSCALL(44)
{
	return sys_sendto(a0, P(a1), a2, a3, P(a4), a5);
}

SYSCALL(45)
{
	return sys_recvfrom(a0, P(a1), a2, a3, P(a4), P(a5));
}

SYSCALL(49)
{
	return sys_bind(a0, P(a1), a2);
}
