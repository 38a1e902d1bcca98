/* socketpair(AF_UNIX): two connected ends in memory, each with a ring buffer of the bytes (or
 * datagrams) sent to it, as a pipe in each direction (fs/pipe.c).  A datagram is kept in the
 * ring behind a 4-byte length, so that a read takes one whole message.  Both ends are inside
 * the guest, so waiting on one is a deadlock when no other thread can wake it. */
#include "kernel/sched.h"
#include "net/socket.h"

#define UNIX_CAP 65536

struct unix_ring {
	char *buf; /* allocated by the first send */
	uint32_t head, len;
	struct waitq wq; /* readers of this ring and writers into it */
};

struct unix_pair {
	struct unix_ring ring[2]; /* ring[i]: what end i reads */
	bool open[2], shut_rd[2], shut_wr[2];
};

struct unix_sock {
	struct sock sk;
	struct unix_pair *p;
	int side;
};

static const struct sock_ops unix_ops;

static void ring_copy(struct unix_ring *r, uint32_t at, void *buf, uint32_t n, bool to)
{
	at %= UNIX_CAP;
	uint32_t first = MIN(n, UNIX_CAP - at);
	if (to) {
		k_memcpy(r->buf + at, buf, first);
		k_memcpy(r->buf, (char *)buf + first, n - first);
	} else {
		k_memcpy(buf, r->buf + at, first);
		k_memcpy((char *)buf + first, r->buf, n - first);
	}
}

/* Copy n bytes at ring offset at (from head) to or from the iovecs, starting at byte skip. */
static void ring_iov(struct unix_ring *r, uint32_t at, const struct linux_msghdr *m, uint32_t n,
                     bool to)
{
	uint32_t done = 0;
	for (uint64_t i = 0; i < m->msg_iovlen && done < n; i++) {
		uint32_t c = (uint32_t)MIN(m->msg_iov[i].iov_len, (uint64_t)(n - done));
		ring_copy(r, r->head + at + done, m->msg_iov[i].iov_base, c, to);
		done += c;
	}
}

static uint64_t total_of(const struct linux_msghdr *m)
{
	uint64_t t = 0;
	for (uint64_t i = 0; i < m->msg_iovlen; i++)
		t += m->msg_iov[i].iov_len;
	return t;
}

static long unix_wait(struct unix_ring *r, int flags, uint64_t deadline)
{
	if (flags & MSG_DONTWAIT)
		return -EAGAIN;
	int e = thread_wait(&r->wq, deadline);
	return e == -ETIMEDOUT ? -EAGAIN : e;
}

static long unix_sendmsg(struct sock *sk, const struct linux_msghdr *m, int flags)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_pair *p = u->p;
	int peer = !u->side;
	struct unix_ring *r = &p->ring[peer];
	bool dgram = sk->type != SOCK_STREAM;
	uint64_t total = total_of(m), done = 0, deadline = sock_deadline(sk->sndtimeo_ns);
	uint32_t hdr = dgram ? 4 : 0;

	if (m->msg_name)
		return -EISCONN;
	if (dgram && total + hdr > UNIX_CAP)
		return -EMSGSIZE;
	if (!r->buf && !(r->buf = kmalloc(UNIX_CAP)))
		return -ENOMEM;
	for (;;) {
		if (p->shut_wr[u->side] || !p->open[peer] || p->shut_rd[peer]) {
			if (!(flags & MSG_NOSIGNAL))
				signal_pend(SIGPIPE);
			return done ? (long)done : -EPIPE;
		}
		uint32_t room = UNIX_CAP - r->len;
		if (dgram ? room >= total + hdr : room > 0 || done == total)
			break;
		if (done && (flags & MSG_DONTWAIT))
			return (long)done;
		long e = unix_wait(r, flags, deadline);
		if (e)
			return done ? (long)done : e;
	}
	if (dgram) {
		uint32_t n = (uint32_t)total;
		ring_copy(r, r->head + r->len, &n, 4, true);
		r->len += 4;
		ring_iov(r, r->len, m, n, true);
		r->len += n;
		waitq_wake(&r->wq);
		return (long)total;
	}
	/* A stream: as much as fits each time, waiting for room for the rest. */
	uint64_t i = 0, off = 0;
	while (done < total) {
		uint32_t room = UNIX_CAP - r->len;
		if (!room) {
			waitq_wake(&r->wq);
			if (flags & MSG_DONTWAIT)
				break;
			long e = unix_wait(r, flags, deadline);
			if (e)
				return done ? (long)done : e;
			if (p->shut_wr[u->side] || !p->open[peer] || p->shut_rd[peer]) {
				if (!(flags & MSG_NOSIGNAL))
					signal_pend(SIGPIPE);
				return done ? (long)done : -EPIPE;
			}
			continue;
		}
		while (off == m->msg_iov[i].iov_len)
			i++, off = 0;
		uint32_t c = (uint32_t)MIN((uint64_t)room, m->msg_iov[i].iov_len - off);
		ring_copy(r, r->head + r->len, (char *)m->msg_iov[i].iov_base + off, c, true);
		r->len += c, off += c, done += c;
	}
	waitq_wake(&r->wq);
	return (long)done;
}

static long unix_recvmsg(struct sock *sk, struct linux_msghdr *m, int flags)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_pair *p = u->p;
	struct unix_ring *r = &p->ring[u->side];
	uint64_t room = total_of(m), deadline = sock_deadline(sk->rcvtimeo_ns);
	uint32_t n, size;

	if (m->msg_name)
		m->msg_namelen = 0;
	while (!r->len) {
		if (p->shut_rd[u->side] || !p->open[!u->side] || p->shut_wr[!u->side])
			return 0;
		long e = unix_wait(r, flags, deadline);
		if (e)
			return e;
	}
	if (sk->type == SOCK_STREAM) {
		n = size = (uint32_t)MIN(room, (uint64_t)r->len);
		ring_iov(r, 0, m, n, false);
	} else {
		ring_copy(r, r->head, &size, 4, false);
		n = (uint32_t)MIN(room, (uint64_t)size);
		ring_iov(r, 4, m, n, false);
		if (n < size)
			m->msg_flags |= MSG_TRUNC;
	}
	if (!(flags & MSG_PEEK)) {
		uint32_t used = sk->type == SOCK_STREAM ? n : size + 4;
		r->head = (r->head + used) % UNIX_CAP;
		r->len -= used;
		waitq_wake(&r->wq);
	}
	return sk->type != SOCK_STREAM && (flags & MSG_TRUNC) ? (long)size : (long)n;
}

static long unix_shutdown(struct sock *sk, int how)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	if (how != SHUT_WR)
		u->p->shut_rd[u->side] = true;
	if (how != SHUT_RD)
		u->p->shut_wr[u->side] = true;
	waitq_wake(&u->p->ring[0].wq);
	waitq_wake(&u->p->ring[1].wq);
	return 0;
}

static long unix_getname(struct sock *sk, void *addr, uint32_t *len, bool peer)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	uint16_t family = AF_UNIX;
	if (peer && !u->p->open[!u->side])
		return -ENOTCONN;
	sock_put_addr(addr, len, &family, sizeof(family));
	return 0;
}

static long unix_setsockopt(struct sock *sk, int level, int name, const void *val, uint32_t len)
{
	int v;
	(void)sk;
	if (level != SOL_SOCKET)
		return -EOPNOTSUPP;
	if (sock_int_opt(val, len, &v))
		return -EINVAL;
	return name == SO_RCVBUF || name == SO_SNDBUF || name == SO_REUSEADDR ? 0 : -ENOPROTOOPT;
}

static long unix_getsockopt(struct sock *sk, int level, int name, void *val, uint32_t *len)
{
	(void)sk;
	if (level != SOL_SOCKET)
		return -EOPNOTSUPP;
	if (name == SO_ERROR)
		return sock_put_int(val, len, 0);
	if (name == SO_RCVBUF || name == SO_SNDBUF)
		return sock_put_int(val, len, UNIX_CAP);
	return -ENOPROTOOPT;
}

static short unix_poll(struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_pair *p = u->p;
	int me = u->side, peer = !me;
	short r = 0;
	bool rd_end = p->shut_rd[me] || !p->open[peer] || p->shut_wr[peer];
	bool wr_end = p->shut_wr[me] || !p->open[peer] || p->shut_rd[peer];

	if (p->ring[me].len || rd_end)
		r |= POLLIN;
	if (wr_end || UNIX_CAP - p->ring[peer].len >= (sk->type == SOCK_STREAM ? 1 : 4096))
		r |= POLLOUT;
	if (rd_end && wr_end)
		r |= POLLHUP;
	return r;
}

static long unix_ioctl(struct sock *sk, long req, long arg)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_ring *r = &u->p->ring[u->side];
	uint32_t size = r->len;
	if (req != FIONREAD)
		return -ENOTTY;
	if (sk->type != SOCK_STREAM && r->len)
		ring_copy(r, r->head, &size, 4, false);
	*(int *)arg = (int)size;
	return 0;
}

static void unix_release(struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_pair *p = u->p;

	p->open[u->side] = false;
	waitq_wake(&p->ring[0].wq);
	waitq_wake(&p->ring[1].wq);
	if (!p->open[!u->side]) {
		kfree(p->ring[0].buf);
		kfree(p->ring[1].buf);
		kfree(p);
	}
	kfree(u);
}

static const struct sock_ops unix_ops = {
    .sendmsg = unix_sendmsg,
    .recvmsg = unix_recvmsg,
    .shutdown = unix_shutdown,
    .getname = unix_getname,
    .setsockopt = unix_setsockopt,
    .getsockopt = unix_getsockopt,
    .poll = unix_poll,
    .ioctl = unix_ioctl,
    .release = unix_release,
};

long unix_socketpair(int type, struct sock **a, struct sock **b)
{
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return -EINVAL;
	struct unix_pair *p = kzalloc(sizeof(*p));
	struct unix_sock *u[2] = {p ? kzalloc(sizeof(**u)) : NULL, p ? kzalloc(sizeof(**u)) : NULL};
	if (!u[0] || !u[1]) {
		kfree(u[0]);
		kfree(u[1]);
		kfree(p);
		return -ENOMEM;
	}
	for (int i = 0; i < 2; i++) {
		p->open[i] = true;
		p->ring[i].wq.what = "a read or write on a socketpair";
		u[i]->p = p;
		u[i]->side = i;
		u[i]->sk.ops = &unix_ops;
		u[i]->sk.family = AF_UNIX;
		u[i]->sk.type = type;
	}
	*a = &u[0]->sk, *b = &u[1]->sk;
	return 0;
}
