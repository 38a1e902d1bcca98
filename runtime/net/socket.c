/* The socket system calls: socket() and socketpair() make a file whose priv is the family's
 * struct sock (net/socket.h), and every other call finds it through the descriptor and hands
 * the work to the family's sock_ops.  read and write are recvmsg and sendmsg of one buffer. */
#include "kernel/sched.h"
#include "net/socket.h"
#include "sys/syscall.h"

static const struct file_ops sock_fops;

static long sock_rw(struct file *f, void *buf, uint64_t n, bool send)
{
	struct sock *s = f->priv;
	struct linux_iovec iov = {buf, n};
	struct linux_msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	int flags = f->flags & O_NONBLOCK ? MSG_DONTWAIT : 0;
	long r;

	/* Held while it may wait, as sock_hold says. */
	f->refs++;
	if (send)
		r = s->ops->sendmsg ? s->ops->sendmsg(s, &m, flags) : -EOPNOTSUPP;
	else
		r = s->ops->recvmsg ? s->ops->recvmsg(s, &m, flags) : -EOPNOTSUPP;
	file_put(f);
	return r;
}

static long sock_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return sock_rw(f, buf, n, false);
}

static long sock_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return sock_rw(f, (void *)buf, n, true);
}

static short sock_poll(struct file *f)
{
	struct sock *s = f->priv;
	return s->ops->poll ? s->ops->poll(s) : POLLIN | POLLOUT;
}

static long sock_ioctl(struct file *f, long req, long arg)
{
	struct sock *s = f->priv;
	return s->ops->ioctl ? s->ops->ioctl(s, req, arg) : -ENOTTY;
}

static void sock_release(struct file *f)
{
	struct sock *s = f->priv;
	s->ops->release(s);
}

static const struct file_ops sock_fops = {.read = sock_read,
                                          .write = sock_write,
                                          .poll = sock_poll,
                                          .ioctl = sock_ioctl,
                                          .release = sock_release,
                                          .stream = true,
                                          .wakes = true};

long sock_fd(struct sock *s, int flags)
{
	struct inode *ino = inode_new(S_IFSOCK | 0777);
	struct file *f = ino ? file_new(ino, &sock_fops, O_RDWR | (flags & O_NONBLOCK)) : NULL;

	if (!f) {
		if (ino)
			fs_put(ino);
		s->ops->release(s);
		return -ENOMEM;
	}
	f->priv = s;
	int fd = fd_alloc(f, 0, flags & O_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

uint64_t sock_deadline(uint64_t timeout_ns)
{
	return timeout_ns ? clock_monotonic_ns() + timeout_ns : 0;
}

void sock_put_addr(void *addr, uint32_t *len, const void *a, uint32_t n)
{
	if (addr && len)
		k_memcpy(addr, a, MIN(*len, n));
	if (len)
		*len = n;
}

long sock_int_opt(const void *val, uint32_t len, int *out)
{
	if (len < sizeof(int) || !val)
		return -EINVAL;
	*out = *(const int *)val;
	return 0;
}

long sock_put_int(void *val, uint32_t *len, int v)
{
	if (*len > sizeof(int))
		*len = sizeof(int);
	k_memcpy(val, &v, *len);
	return 0;
}

/* The socket behind descriptor fd: -EBADF, or -ENOTSOCK for another kind of file. */
static struct sock *sock_get(long fd, struct file **fp, long *err)
{
	struct file *f = fd_get(fd);
	*err = !f ? -EBADF : f->ops != &sock_fops ? -ENOTSOCK : 0;
	if (*err)
		return NULL;
	if (fp)
		*fp = f;
	return f->priv;
}

#define SOCK_OR_RETURN(s, fd, fp)                                                                  \
	long err_;                                                                                 \
	struct sock *s = sock_get((fd), (fp), &err_);                                              \
	if (!s)                                                                                    \
	return err_

/* The same for a call that may wait: it holds a reference to the file (dropped with file_put),
 * so that a close() by another thread meanwhile only takes the descriptor away and the socket
 * is released when the call returns, not under it. */
static struct sock *sock_hold(long fd, struct file **fp, long *err)
{
	struct sock *s = sock_get(fd, fp, err);
	if (s)
		(*fp)->refs++;
	return s;
}

static int nonblock(struct file *f, int flags)
{
	return (f->flags & O_NONBLOCK) ? flags | MSG_DONTWAIT : flags;
}

SYSCALL(41)
{
	int type = (int)a1 & SOCK_TYPE_MASK, flags = (int)a1 & ~SOCK_TYPE_MASK;
	struct sock *s = NULL;
	long r;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	switch (a0) {
	case AF_INET:
		r = inet_socket(type, (int)a2, &s);
		break;
	case AF_PACKET:
		/* The family owns its descriptors: it calls sock_fd itself. */
		return packet_socket ? packet_socket((int)a1 & SOCK_TYPE_MASK, (int)a2, flags)
		                     : -EAFNOSUPPORT;
	default:
		/* AF_UNIX sockets with names (bind, connect) are not there yet: socketpair only. */
		return -EAFNOSUPPORT;
	}
	if (r < 0)
		return r;
	s->family = (int)a0;
	s->type = type;
	return sock_fd(s, flags);
}

SYSCALL(53)
{
	int type = (int)a1 & SOCK_TYPE_MASK, flags = (int)a1 & ~SOCK_TYPE_MASK;
	int *sv = P(a3);
	struct sock *s[2];

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (a0 == AF_INET)
		return -EOPNOTSUPP;
	if (a0 != AF_UNIX)
		return -EAFNOSUPPORT;
	if (a2 != 0)
		return -EPROTONOSUPPORT;
	long r = unix_socketpair(type, &s[0], &s[1]);
	if (r < 0)
		return r;
	long fd0 = sock_fd(s[0], flags);
	if (fd0 < 0) {
		s[1]->ops->release(s[1]);
		return fd0;
	}
	long fd1 = sock_fd(s[1], flags);
	if (fd1 < 0) {
		fd_close(fd0);
		return fd1;
	}
	sv[0] = (int)fd0, sv[1] = (int)fd1;
	return 0;
}

SYSCALL(49)
{
	SOCK_OR_RETURN(s, a0, NULL);
	return s->ops->bind ? s->ops->bind(s, P(a1), (uint32_t)a2) : -EOPNOTSUPP;
}

SYSCALL(50)
{
	SOCK_OR_RETURN(s, a0, NULL);
	return s->ops->listen ? s->ops->listen(s, (int)a1) : -EOPNOTSUPP;
}

static long do_accept4(struct sock *s, struct file *f, void *addr, uint32_t *len, long flags)
{
	struct sock *n;

	if (!s->ops->accept)
		return -EOPNOTSUPP;
	long r = s->ops->accept(s, &n, nonblock(f, 0));
	if (r < 0)
		return r;
	n->family = s->family, n->type = s->type, n->protocol = s->protocol;
	if (addr && n->ops->getname)
		n->ops->getname(n, addr, len, true);
	return sock_fd(n, (int)flags);
}

static long sys_accept4(long fd, void *addr, uint32_t *len, long flags)
{
	struct file *f;
	long r;

	if (flags & ~(long)(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	struct sock *s = sock_hold(fd, &f, &r);
	if (!s)
		return r;
	r = do_accept4(s, f, addr, len, flags);
	file_put(f);
	return r;
}

SYSCALL(43)
{
	return sys_accept4(a0, P(a1), P(a2), 0);
}

SYSCALL(288)
{
	return sys_accept4(a0, P(a1), P(a2), a3);
}

static long sys_connect(long fd, const void *addr, uint32_t len)
{
	struct file *f;
	long r;
	struct sock *s = sock_hold(fd, &f, &r);
	if (!s)
		return r;
	r = s->ops->connect ? s->ops->connect(s, addr, len, nonblock(f, 0)) : -EOPNOTSUPP;
	file_put(f);
	return r;
}

SYSCALL(42)
{
	return sys_connect(a0, P(a1), (uint32_t)a2);
}

static long sys_sendmsg(long fd, const struct linux_msghdr *m, long flags)
{
	struct file *f;
	long r;
	struct sock *s = sock_hold(fd, &f, &r);
	if (!s)
		return r;
	r = s->ops->sendmsg ? s->ops->sendmsg(s, m, nonblock(f, (int)flags)) : -EOPNOTSUPP;
	file_put(f);
	return r;
}

/* MSG_WAITALL on a stream: receive into one iovec's rest at a time until all are full, or end
 * of file, an error or a signal ends it early (what came before is returned then). */
static long recv_all(struct sock *s, struct linux_msghdr *m, int flags)
{
	long done = 0;
	flags &= ~MSG_WAITALL;
	for (uint64_t i = 0, off = 0; i < m->msg_iovlen;) {
		if (off == m->msg_iov[i].iov_len) {
			i++, off = 0;
			continue;
		}
		struct linux_iovec iov = {(char *)m->msg_iov[i].iov_base + off,
		                          m->msg_iov[i].iov_len - off};
		struct linux_msghdr one = {.msg_iov = &iov, .msg_iovlen = 1};
		long r = s->ops->recvmsg(s, &one, flags);
		if (r <= 0)
			return done ? done : r;
		done += r, off += (uint64_t)r;
	}
	return done;
}

static long do_recvmsg(struct sock *s, struct file *f, struct linux_msghdr *m, long flags)
{
	m->msg_flags = 0;
	m->msg_controllen = 0; /* no ancillary data */
	if (!s->ops->recvmsg)
		return -EOPNOTSUPP;
	if ((flags & MSG_WAITALL) && !(flags & MSG_PEEK) && s->type == SOCK_STREAM &&
	    !(f->flags & O_NONBLOCK) && !(flags & MSG_DONTWAIT)) {
		if (m->msg_name)
			m->msg_namelen = 0;
		return recv_all(s, m, (int)flags);
	}
	return s->ops->recvmsg(s, m, nonblock(f, (int)flags));
}

static long sys_recvmsg(long fd, struct linux_msghdr *m, long flags)
{
	struct file *f;
	long r;
	struct sock *s = sock_hold(fd, &f, &r);
	if (!s)
		return r;
	r = do_recvmsg(s, f, m, flags);
	file_put(f);
	return r;
}

SYSCALL(44)
{
	struct linux_iovec iov = {P(a1), (uint64_t)a2};
	struct linux_msghdr m = {
	    .msg_name = P(a4), .msg_namelen = (uint32_t)a5, .msg_iov = &iov, .msg_iovlen = 1};
	return sys_sendmsg(a0, &m, a3);
}

SYSCALL(45)
{
	struct linux_iovec iov = {P(a1), (uint64_t)a2};
	uint32_t *alen = P(a5);
	struct linux_msghdr m = {.msg_name = alen ? P(a4) : NULL,
	                         .msg_namelen = alen ? *alen : 0,
	                         .msg_iov = &iov,
	                         .msg_iovlen = 1};
	long r = sys_recvmsg(a0, &m, a3);
	if (r >= 0 && alen)
		*alen = m.msg_namelen;
	return r;
}

SYSCALL(46)
{
	return sys_sendmsg(a0, P(a1), a2);
}

SYSCALL(47)
{
	return sys_recvmsg(a0, P(a1), a2);
}

SYSCALL(48)
{
	SOCK_OR_RETURN(s, a0, NULL);
	if (a1 < SHUT_RD || a1 > SHUT_RDWR)
		return -EINVAL;
	return s->ops->shutdown ? s->ops->shutdown(s, (int)a1) : -EOPNOTSUPP;
}

SYSCALL(51)
{
	SOCK_OR_RETURN(s, a0, NULL);
	return s->ops->getname ? s->ops->getname(s, P(a1), P(a2), false) : -EOPNOTSUPP;
}

SYSCALL(52)
{
	SOCK_OR_RETURN(s, a0, NULL);
	return s->ops->getname ? s->ops->getname(s, P(a1), P(a2), true) : -EOPNOTSUPP;
}

/* A timeval option (SO_RCVTIMEO, SO_SNDTIMEO) in ns. */
static long timeo_opt(const void *val, uint32_t len, uint64_t *ns)
{
	const struct linux_timeval *tv = val;
	if (len < sizeof(*tv))
		return -EINVAL;
	if (tv->tv_usec < 0 || tv->tv_usec >= 1000000)
		return -EDOM;
	*ns = tv->tv_sec < 0 ? 0 : (uint64_t)tv->tv_sec * 1000000000 + (uint64_t)tv->tv_usec * 1000;
	return 0;
}

SYSCALL(54)
{
	int level = (int)a1, name = (int)a2;
	SOCK_OR_RETURN(s, a0, NULL);
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return timeo_opt(P(a3), (uint32_t)a4,
		                 name == SO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns);
	if (level == SOL_SOCKET && (name == SO_TYPE || name == SO_DOMAIN || name == SO_PROTOCOL ||
	                            name == SO_ERROR || name == SO_ACCEPTCONN))
		return -ENOPROTOOPT; /* read-only */
	return s->ops->setsockopt ? s->ops->setsockopt(s, level, name, P(a3), (uint32_t)a4)
	                          : -ENOPROTOOPT;
}

SYSCALL(55)
{
	int level = (int)a1, name = (int)a2;
	uint32_t *len = P(a4);
	SOCK_OR_RETURN(s, a0, NULL);
	if ((int)*len < 0)
		return -EINVAL;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:
			return sock_put_int(P(a3), len, s->type);
		case SO_DOMAIN:
			return sock_put_int(P(a3), len, s->family);
		case SO_PROTOCOL:
			return sock_put_int(P(a3), len, s->protocol);
		case SO_RCVTIMEO:
		case SO_SNDTIMEO: {
			uint64_t ns = name == SO_RCVTIMEO ? s->rcvtimeo_ns : s->sndtimeo_ns;
			struct linux_timeval tv = {(int64_t)(ns / 1000000000),
			                           (int64_t)(ns % 1000000000 / 1000)};
			sock_put_addr(P(a3), len, &tv, sizeof(tv));
			return 0;
		}
		}
	}
	return s->ops->getsockopt ? s->ops->getsockopt(s, level, name, P(a3), len) : -ENOPROTOOPT;
}
