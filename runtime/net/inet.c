/* AF_INET sockets over lwIP's raw API: SOCK_STREAM on a tcp_pcb, SOCK_DGRAM on a udp_pcb.
 * lwIP calls back in kernel context (a system call, the poller, a NIC interrupt) and the
 * kernel is not preemptible, so the callbacks and the calls below never overlap.  Every change
 * a caller could wait for wakes the socket's queue, which is external: the peer may be outside
 * the guest.  A tcp_pcb's error callback comes after lwIP has freed it, so the socket forgets
 * it there; and when a connection reaches TIME_WAIT lwIP frees it later without a word, so the
 * socket lets go of it as soon as it sees that state. */
#include "kernel/sched.h"
#include "net/lwip_config.h"
#include "net/socket.h"

#if UNIK_LWIP
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/tcp.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

/* Datagrams waiting beyond these are dropped, as a full socket buffer drops them. */
#define UDP_QUEUE_BYTES (256 * 1024)
#define UDP_QUEUE_MAX   256
#define UDP_MAX         65507

enum inet_state { INET_NEW, INET_LISTEN, INET_CONNECTING, INET_CONNECTED, INET_CLOSED };

struct dgram {
	struct dgram *next;
	struct pbuf *p;
	ip4_addr_t from;
	u16_t port;
};

struct inet_sock {
	struct sock sk;
	enum inet_state state;
	struct tcp_pcb *tcp; /* NULL once lwIP freed it or the socket let go */
	struct udp_pcb *udp;
	struct pbuf *rx;            /* TCP: the bytes received and not read yet */
	struct dgram *dq, *dq_tail; /* UDP: the datagrams received */
	uint32_t dq_bytes, dq_count;
	struct inet_sock *aq, *aq_tail; /* listening: connections not accepted yet */
	struct inet_sock *anext;
	bool eof, shut_rd, shut_wr, connected_once;
	bool reuse, keepalive, nodelay;
	int err; /* the pending error (SO_ERROR), -errno */
	int rcvbuf, sndbuf;
	struct linux_linger linger;
	ip4_addr_t laddr, raddr;
	u16_t lport, rport;
	struct waitq wq;
};

static const struct sock_ops inet_ops;

static struct inet_sock *inet_new(void)
{
	struct inet_sock *s = kzalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->sk.ops = &inet_ops;
	s->sk.family = AF_INET;
	s->wq.what = "an AF_INET socket";
	s->wq.external = true;
	return s;
}

static void wake(struct inet_sock *s)
{
	waitq_wake(&s->wq);
}

/* Wait for s to change: -EAGAIN when not blocking or when the timeout passed. */
static long inet_wait(struct inet_sock *s, int flags, uint64_t deadline)
{
	if (flags & MSG_DONTWAIT)
		return -EAGAIN;
	int r = thread_wait(&s->wq, deadline);
	return r == -ETIMEDOUT ? -EAGAIN : r;
}

static long lwip_errno(err_t e)
{
	switch (e) {
	case ERR_OK:
		return 0;
	case ERR_MEM:
	case ERR_BUF:
		return -ENOMEM;
	case ERR_RTE:
		return -ENETUNREACH;
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_ISCONN:
		return -EISCONN;
	case ERR_ALREADY:
		return -EALREADY;
	case ERR_CONN:
		return -ENOTCONN;
	case ERR_RST:
		return -ECONNRESET;
	case ERR_ABRT:
		return -ECONNABORTED;
	case ERR_VAL:
	case ERR_ARG:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static long get_sin(const void *addr, uint32_t len, ip4_addr_t *ip, u16_t *port)
{
	const struct linux_sockaddr_in *sin = addr;
	if (!addr || len < sizeof(*sin))
		return -EINVAL;
	if (sin->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	ip4_addr_set_u32(ip, sin->sin_addr);
	*port = lwip_ntohs(sin->sin_port);
	return 0;
}

static void put_sin(void *addr, uint32_t *len, const ip4_addr_t *ip, u16_t port)
{
	struct linux_sockaddr_in sin = {AF_INET, lwip_htons(port), ip4_addr_get_u32(ip), {0}};
	sock_put_addr(addr, len, &sin, sizeof(sin));
}

/* The addresses from the pcb, kept for when it is gone. */
static void take_names(struct inet_sock *s)
{
	if (s->tcp) {
		ip4_addr_copy(s->laddr, s->tcp->local_ip);
		s->lport = s->tcp->local_port;
		if (s->tcp->state != LISTEN) {
			ip4_addr_copy(s->raddr, s->tcp->remote_ip);
			s->rport = s->tcp->remote_port;
		}
	} else if (s->udp) {
		ip4_addr_copy(s->laddr, s->udp->local_ip);
		s->lport = s->udp->local_port;
		ip4_addr_copy(s->raddr, s->udp->remote_ip);
		s->rport = s->udp->remote_port;
	}
}

/* lwIP's TCP_INPACKET hook (lwipopts.h): RFC 793 accepts an empty segment at RCV.NXT when
 * RCV.WND is zero, but lwIP finds it outside the window and acknowledges it at once.  With
 * lwIP at both ends (127.0.0.1) and both windows zero, each acknowledgement then answers the
 * other's without end, inside one netif_poll.  A window of one byte makes the segment
 * acceptable; it is announced to no one (the announced window moves by whole segments) and
 * lets in at most one byte more, which the peer's window probe would carry. */
signed char unik_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, const struct pbuf *p)
{
	if (pcb->state != LISTEN && pcb->state != CLOSED && !pcb->rcv_wnd && !p->tot_len &&
	    !(TCPH_FLAGS(hdr) & (TCP_SYN | TCP_FIN | TCP_RST)) && hdr->seqno == pcb->rcv_nxt)
		pcb->rcv_wnd = 1;
	return ERR_OK;
}

/* ---- TCP callbacks ---- */

static void tcp_detach(struct inet_sock *s)
{
	struct tcp_pcb *p = s->tcp;
	if (!p)
		return;
	take_names(s);
	tcp_arg(p, NULL);
	if (p->state != LISTEN) {
		tcp_recv(p, NULL);
		tcp_sent(p, NULL);
		tcp_err(p, NULL);
	} else {
		tcp_accept(p, NULL);
	}
	s->tcp = NULL;
}

static void on_err(void *arg, err_t e)
{
	struct inet_sock *s = arg;
	if (!s)
		return;
	s->tcp = NULL; /* lwIP freed it */
	s->eof = true; /* nothing more comes: reads return 0 once the error is taken */
	if (e == ERR_RST && s->state == INET_CONNECTING)
		s->err = -ECONNREFUSED;
	else if (e != ERR_CLSD)
		s->err = e == ERR_RST ? -ECONNRESET : e == ERR_ABRT ? -ECONNABORTED : -ECONNRESET;
	s->state = INET_CLOSED;
	wake(s);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct inet_sock *s = arg;
	(void)e;
	if (!p) {
		s->eof = true;
		/* lwIP frees a TIME_WAIT pcb on its own, and a CLOSING one becomes TIME_WAIT. */
		if (pcb->state == TIME_WAIT || pcb->state == CLOSING)
			tcp_detach(s);
		wake(s);
		return ERR_OK;
	}
	if (s->shut_rd) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	/* lwIP keeps what is refused and offers it again (the window makes this rare). */
	if (s->rx && (uint32_t)s->rx->tot_len + p->tot_len > 0xffff)
		return ERR_MEM;
	if (s->rx)
		pbuf_cat(s->rx, p);
	else
		s->rx = p;
	wake(s);
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)pcb, (void)len;
	wake(arg);
	return ERR_OK;
}

static void tcp_callbacks(struct inet_sock *s)
{
	tcp_arg(s->tcp, s);
	tcp_recv(s->tcp, on_recv);
	tcp_sent(s->tcp, on_sent);
	tcp_err(s->tcp, on_err);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct inet_sock *s = arg;
	(void)pcb, (void)e;
	s->state = INET_CONNECTED;
	s->connected_once = true;
	take_names(s);
	wake(s);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct inet_sock *l = arg, *s;
	if (e != ERR_OK || !pcb || !l)
		return ERR_VAL;
	if (!(s = inet_new()))
		return ERR_MEM;
	s->sk.type = SOCK_STREAM;
	s->sk.protocol = IPPROTO_TCP;
	s->state = INET_CONNECTED;
	s->connected_once = true;
	s->tcp = pcb;
	s->nodelay = l->nodelay;
	s->keepalive = l->keepalive;
	if (s->nodelay)
		tcp_nagle_disable(pcb);
	take_names(s);
	tcp_callbacks(s);
	/* Counted against the backlog until accept() takes it. */
	tcp_backlog_delayed(pcb);
	if (l->aq_tail)
		l->aq_tail->anext = s;
	else
		l->aq = s;
	l->aq_tail = s;
	wake(l);
	return ERR_OK;
}

/* ---- receive buffers ---- */

/* Copy up to the iovecs' room from p at offset off into m's iovecs; returns the count. */
static uint32_t copy_out(struct pbuf *p, uint32_t off, uint32_t n, const struct linux_msghdr *m)
{
	uint32_t done = 0;
	for (uint64_t i = 0; i < m->msg_iovlen && done < n; i++) {
		uint32_t c = (uint32_t)MIN(m->msg_iov[i].iov_len, (uint64_t)(n - done));
		if (c)
			pbuf_copy_partial(p, m->msg_iov[i].iov_base, (u16_t)c, (u16_t)(off + done));
		done += c;
	}
	return done;
}

static uint64_t iov_total(const struct linux_msghdr *m)
{
	uint64_t t = 0;
	for (uint64_t i = 0; i < m->msg_iovlen; i++)
		t += m->msg_iov[i].iov_len;
	return t;
}

static void drop_rx(struct inet_sock *s)
{
	if (s->rx) {
		if (s->tcp)
			tcp_recved(s->tcp, s->rx->tot_len);
		pbuf_free(s->rx);
		s->rx = NULL;
	}
	while (s->dq) {
		struct dgram *d = s->dq;
		s->dq = d->next;
		pbuf_free(d->p);
		kfree(d);
	}
	s->dq_tail = NULL;
	s->dq_bytes = s->dq_count = 0;
}

/* ---- UDP callback ---- */

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *from,
                   u16_t port)
{
	struct inet_sock *s = arg;
	struct dgram *d;
	(void)pcb;
	if (s->shut_rd || s->dq_count >= UDP_QUEUE_MAX ||
	    s->dq_bytes + p->tot_len > UDP_QUEUE_BYTES || !(d = kmalloc(sizeof(*d)))) {
		pbuf_free(p);
		return;
	}
	d->next = NULL;
	d->p = p;
	ip4_addr_copy(d->from, *from);
	d->port = port;
	if (s->dq_tail)
		s->dq_tail->next = d;
	else
		s->dq = d;
	s->dq_tail = d;
	s->dq_bytes += p->tot_len;
	s->dq_count++;
	wake(s);
}

/* ---- the calls ---- */

long inet_socket(int type, int protocol, struct sock **out)
{
	struct inet_sock *s;

	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return type == SOCK_RAW ? -EPERM : -EINVAL;
	if (protocol && protocol != (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP))
		return -EPROTONOSUPPORT;
	if (!(s = inet_new()))
		return -ENOMEM;
	s->sk.protocol = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	if (type == SOCK_STREAM) {
		if ((s->tcp = tcp_new()))
			tcp_callbacks(s);
	} else if ((s->udp = udp_new())) {
		udp_recv(s->udp, on_udp, s);
	}
	if (!s->tcp && !s->udp) {
		kfree(s);
		return -ENOMEM;
	}
	*out = &s->sk;
	return 0;
}

/* lwIP binds to any address; Linux only to the wildcard, a loopback address or one of the
 * machine's own (without IP_FREEBIND), and a UDP socket to a broadcast or multicast one. */
static bool local_addr(const ip4_addr_t *ip, bool udp)
{
	struct netif *n;

	if (ip4_addr_isany(ip) || ip4_addr_isloopback(ip))
		return true;
	if (udp && (ip4_addr_ismulticast(ip) || ip4_addr_get_u32(ip) == IPADDR_BROADCAST))
		return true;
	NETIF_FOREACH(n)
	if (ip4_addr_cmp(ip, netif_ip4_addr(n)))
		return true;
	return false;
}

static long inet_bind(struct sock *sk, const void *addr, uint32_t len)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	ip4_addr_t ip;
	u16_t port;
	long r = get_sin(addr, len, &ip, &port);

	if (r)
		return r;
	if (s->lport || s->state != INET_NEW)
		return -EINVAL;
	if (!local_addr(&ip, s->udp != NULL))
		return -EADDRNOTAVAIL;
	if (s->tcp)
		r = lwip_errno(tcp_bind(s->tcp, &ip, port));
	else if (s->udp)
		r = lwip_errno(udp_bind(s->udp, &ip, port));
	else
		return -EINVAL;
	take_names(s);
	return r;
}

static long inet_listen(struct sock *sk, int backlog)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	err_t e = ERR_OK;

	if (!s->tcp)
		return s->udp ? -EOPNOTSUPP : -EINVAL;
	if (s->state == INET_LISTEN)
		return 0;
	if (s->state != INET_NEW)
		return -EINVAL;
	if (!s->lport && tcp_bind(s->tcp, IP4_ADDR_ANY, 0) != ERR_OK)
		return -EADDRINUSE;
	backlog = backlog < 1 ? 1 : backlog > 255 ? 255 : backlog;
	struct tcp_pcb *l = tcp_listen_with_backlog_and_err(s->tcp, (u8_t)backlog, &e);
	if (!l)
		return lwip_errno(e);
	s->tcp = l; /* the old pcb is freed */
	tcp_arg(l, s);
	tcp_accept(l, on_accept);
	s->state = INET_LISTEN;
	take_names(s);
	return 0;
}

static long inet_accept(struct sock *sk, struct sock **out, int flags)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	uint64_t deadline = sock_deadline(sk->rcvtimeo_ns);

	while (!s->aq) {
		/* shutdown() of a listening socket ends its accepts, as on Linux. */
		if (s->state != INET_LISTEN || s->shut_rd)
			return -EINVAL;
		long r = inet_wait(s, flags, deadline);
		if (r)
			return r;
	}
	struct inet_sock *n = s->aq;
	if (!(s->aq = n->anext))
		s->aq_tail = NULL;
	n->anext = NULL;
	if (n->tcp)
		tcp_backlog_accepted(n->tcp);
	*out = &n->sk;
	return 0;
}

static long inet_connect(struct sock *sk, const void *addr, uint32_t len, int flags)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	ip4_addr_t ip;
	u16_t port;
	long r;

	if (s->udp) {
		const struct linux_sockaddr_in *sin = addr;
		if (addr && len >= 2 && sin->sin_family == 0) {
			udp_disconnect(s->udp);
			s->state = INET_NEW;
			return 0;
		}
		if ((r = get_sin(addr, len, &ip, &port)))
			return r;
		if ((r = lwip_errno(udp_connect(s->udp, &ip, port))))
			return r;
		s->state = INET_CONNECTED;
		take_names(s);
		return 0;
	}
	switch (s->state) {
	case INET_CONNECTING:
		return -EALREADY;
	case INET_CONNECTED:
		return -EISCONN;
	case INET_LISTEN:
		return -EINVAL;
	case INET_CLOSED:
		if (s->connected_once)
			return -EISCONN;
		break;
	default:
		break;
	}
	if ((r = get_sin(addr, len, &ip, &port)))
		return r;
	/* A connection that failed left no pcb: a new attempt needs one. */
	if (!s->tcp) {
		if (!(s->tcp = tcp_new()))
			return -ENOMEM;
		tcp_callbacks(s);
		if (s->nodelay)
			tcp_nagle_disable(s->tcp);
	}
	s->err = 0;
	s->eof = false;
	if ((r = lwip_errno(tcp_connect(s->tcp, &ip, port, on_connected))))
		return r;
	s->state = INET_CONNECTING;
	take_names(s);
	net_loop_poll();
	if (flags & MSG_DONTWAIT)
		return -EINPROGRESS;
	uint64_t deadline = sock_deadline(sk->sndtimeo_ns);
	while (s->state == INET_CONNECTING) {
		if ((r = inet_wait(s, 0, deadline)))
			return r == -EAGAIN ? -EINPROGRESS : r;
	}
	r = s->err;
	s->err = 0;
	return r;
}

static long tcp_send(struct inet_sock *s, const struct linux_msghdr *m, int flags)
{
	uint64_t total = iov_total(m), done = 0, i = 0, off = 0;
	uint64_t deadline = sock_deadline(s->sk.sndtimeo_ns);
	long r = 0;

	while (done < total || !total) {
		if (s->err) {
			r = s->err;
			s->err = 0;
			break;
		}
		if (s->shut_wr || !s->tcp ||
		    (s->state != INET_CONNECTED && s->state != INET_CONNECTING)) {
			if (!(flags & MSG_NOSIGNAL))
				signal_pend(SIGPIPE);
			r = -EPIPE;
			break;
		}
		if (!total)
			break;
		uint32_t room = s->state == INET_CONNECTED ? tcp_sndbuf(s->tcp) : 0;
		if (room && tcp_sndqueuelen(s->tcp) >= TCP_SND_QUEUELEN - 1)
			room = 0;
		while (i < m->msg_iovlen && off == m->msg_iov[i].iov_len)
			i++, off = 0;
		uint32_t c = (uint32_t)MIN((uint64_t)room, m->msg_iov[i].iov_len - off);
		c = MIN(c, 0xffffu);
		err_t e = c ? tcp_write(s->tcp, (char *)m->msg_iov[i].iov_base + off, (u16_t)c,
		                        TCP_WRITE_FLAG_COPY |
		                            (done + c < total ? TCP_WRITE_FLAG_MORE : 0))
		            : ERR_MEM;
		if (e == ERR_OK) {
			done += c, off += c;
			continue;
		}
		if (e != ERR_MEM) {
			r = lwip_errno(e);
			break;
		}
		/* No room: send what is queued, and wait for acknowledgements. */
		tcp_output(s->tcp);
		net_loop_poll();
		if (s->tcp && s->state == INET_CONNECTED && tcp_sndbuf(s->tcp) &&
		    tcp_sndqueuelen(s->tcp) < TCP_SND_QUEUELEN - 1)
			continue;
		if (done && (flags & MSG_DONTWAIT))
			break;
		if ((r = inet_wait(s, flags, deadline)))
			break;
	}
	if (s->tcp && done) {
		tcp_output(s->tcp);
		net_loop_poll();
	}
	return done ? (long)done : r;
}

static long udp_send_msg(struct inet_sock *s, const struct linux_msghdr *m)
{
	uint64_t total = iov_total(m);
	ip4_addr_t ip;
	u16_t port;
	long r;

	if (!s->udp)
		return -EPIPE;
	if (total > UDP_MAX)
		return -EMSGSIZE;
	if (m->msg_name) {
		if ((r = get_sin(m->msg_name, m->msg_namelen, &ip, &port)))
			return r;
	} else if (s->state != INET_CONNECTED) {
		return -EDESTADDRREQ;
	}
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)total, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	uint64_t at = 0;
	for (uint64_t i = 0; i < m->msg_iovlen; i++) {
		pbuf_take_at(p, m->msg_iov[i].iov_base, (u16_t)m->msg_iov[i].iov_len, (u16_t)at);
		at += m->msg_iov[i].iov_len;
	}
	err_t e = m->msg_name ? udp_sendto(s->udp, p, &ip, port) : udp_send(s->udp, p);
	pbuf_free(p);
	take_names(s);
	net_loop_poll();
	return e == ERR_OK ? (long)total : lwip_errno(e);
}

static long inet_sendmsg(struct sock *sk, const struct linux_msghdr *m, int flags)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	return sk->type == SOCK_STREAM ? tcp_send(s, m, flags) : udp_send_msg(s, m);
}

static long tcp_recv_msg(struct inet_sock *s, struct linux_msghdr *m, int flags)
{
	uint64_t deadline = sock_deadline(s->sk.rcvtimeo_ns);
	long r;

	if (m->msg_name)
		m->msg_namelen = 0;
	while (!s->rx || !s->rx->tot_len) {
		if (s->err) {
			r = s->err;
			if (!(flags & MSG_PEEK))
				s->err = 0;
			return r;
		}
		if (s->eof || s->shut_rd || s->state == INET_CLOSED)
			return 0;
		if (s->state != INET_CONNECTED && s->state != INET_CONNECTING)
			return -ENOTCONN;
		if ((r = inet_wait(s, flags, deadline)))
			return r;
	}
	uint32_t n = copy_out(s->rx, 0, (uint32_t)MIN(iov_total(m), (uint64_t)s->rx->tot_len), m);
	if (!(flags & MSG_PEEK) && n) {
		s->rx = pbuf_free_header(s->rx, (u16_t)n);
		if (s->tcp) {
			tcp_recved(s->tcp, (u16_t)n);
			net_loop_poll();
		}
	}
	return n;
}

static long udp_recv_msg(struct inet_sock *s, struct linux_msghdr *m, int flags)
{
	uint64_t deadline = sock_deadline(s->sk.rcvtimeo_ns);
	long r;

	while (!s->dq) {
		if (s->shut_rd)
			return 0;
		if ((r = inet_wait(s, flags, deadline)))
			return r;
	}
	struct dgram *d = s->dq;
	uint64_t room = iov_total(m);
	uint32_t n = copy_out(d->p, 0, (uint32_t)MIN(room, (uint64_t)d->p->tot_len), m);
	uint32_t size = d->p->tot_len;
	if (n < size)
		m->msg_flags |= MSG_TRUNC;
	if (m->msg_name)
		put_sin(m->msg_name, &m->msg_namelen, &d->from, d->port);
	if (!(flags & MSG_PEEK)) {
		if (!(s->dq = d->next))
			s->dq_tail = NULL;
		s->dq_bytes -= size;
		s->dq_count--;
		pbuf_free(d->p);
		kfree(d);
	}
	return (flags & MSG_TRUNC) ? (long)size : (long)n;
}

static long inet_recvmsg(struct sock *sk, struct linux_msghdr *m, int flags)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	if (flags & MSG_OOB)
		return -EINVAL;
	return sk->type == SOCK_STREAM ? tcp_recv_msg(s, m, flags) : udp_recv_msg(s, m, flags);
}

static long inet_shutdown(struct sock *sk, int how)
{
	struct inet_sock *s = (struct inet_sock *)sk;

	if (s->state == INET_LISTEN) {
		if (how != SHUT_WR) {
			s->shut_rd = true;
			wake(s);
		}
		return 0;
	}
	if (s->state == INET_NEW || (sk->type == SOCK_STREAM && s->state == INET_CONNECTING))
		return -ENOTCONN;
	if (how != SHUT_WR) {
		s->shut_rd = true;
		drop_rx(s);
	}
	if (how != SHUT_RD && !s->shut_wr) {
		s->shut_wr = true;
		if (s->tcp)
			tcp_shutdown(s->tcp, 0, 1);
		net_loop_poll();
	}
	wake(s);
	return 0;
}

static long inet_getname(struct sock *sk, void *addr, uint32_t *len, bool peer)
{
	struct inet_sock *s = (struct inet_sock *)sk;

	take_names(s);
	if (!peer) {
		put_sin(addr, len, &s->laddr, s->lport);
		return 0;
	}
	if (s->state != INET_CONNECTED && !(s->state == INET_CLOSED && s->connected_once))
		return -ENOTCONN;
	put_sin(addr, len, &s->raddr, s->rport);
	return 0;
}

/* The pcb's common fields (so_options, tos, ttl), whichever kind it is. */
static void set_so_option(struct inet_sock *s, u8_t opt, bool on)
{
	if (s->tcp) {
		if (on)
			ip_set_option(s->tcp, opt);
		else
			ip_reset_option(s->tcp, opt);
	} else if (s->udp) {
		if (on)
			ip_set_option(s->udp, opt);
		else
			ip_reset_option(s->udp, opt);
	}
}

static long inet_setsockopt(struct sock *sk, int level, int name, const void *val, uint32_t len)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	int v = 0;
	long r;

	if (level == SOL_SOCKET && name == SO_LINGER) {
		if (len < sizeof(struct linux_linger))
			return -EINVAL;
		k_memcpy(&s->linger, val, sizeof(s->linger));
		return 0;
	}
	if ((r = sock_int_opt(val, len, &v)))
		return r;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			s->reuse = v != 0;
			set_so_option(s, SOF_REUSEADDR, s->reuse);
			return 0;
		case SO_KEEPALIVE:
			s->keepalive = v != 0;
			set_so_option(s, SOF_KEEPALIVE, s->keepalive);
			return 0;
		case SO_BROADCAST:
			set_so_option(s, SOF_BROADCAST, v != 0);
			return 0;
		case SO_RCVBUF:
			s->rcvbuf = v < 1024 ? 2048 : v > 0x3fffffff ? 0x7ffffffe : 2 * v;
			return 0;
		case SO_SNDBUF:
			s->sndbuf = v < 2048 ? 4608 : v > 0x3fffffff ? 0x7ffffffe : 2 * v;
			return 0;
		case SO_REUSEPORT:
		case 5:  /* SO_DONTROUTE */
		case 10: /* SO_OOBINLINE */
		case 12: /* SO_PRIORITY */
		case 18: /* SO_RCVLOWAT */
			return 0;
		}
		return -ENOPROTOOPT;
	}
	if (level == IPPROTO_TCP && sk->type == SOCK_STREAM) {
		switch (name) {
		case TCP_NODELAY:
			s->nodelay = v != 0;
			if (s->tcp && s->state != INET_LISTEN) {
				if (v)
					tcp_nagle_disable(s->tcp);
				else
					tcp_nagle_enable(s->tcp);
			}
			return 0;
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (v < 1)
				return -EINVAL;
			if (s->tcp && s->state != INET_LISTEN) {
				if (name == TCP_KEEPIDLE)
					s->tcp->keep_idle = (u32_t)v * 1000;
				else if (name == TCP_KEEPINTVL)
					s->tcp->keep_intvl = (u32_t)v * 1000;
				else
					s->tcp->keep_cnt = (u32_t)v;
			}
			return 0;
		}
		return -ENOPROTOOPT;
	}
	if (level == IPPROTO_IP && (name == 1 /* IP_TOS */ || name == 2 /* IP_TTL */))
		return 0;
	return -ENOPROTOOPT;
}

static long inet_getsockopt(struct sock *sk, int level, int name, void *val, uint32_t *len)
{
	struct inet_sock *s = (struct inet_sock *)sk;

	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR: {
			int e = -s->err;
			s->err = 0;
			return sock_put_int(val, len, e);
		}
		case SO_REUSEADDR:
			return sock_put_int(val, len, s->reuse);
		case SO_KEEPALIVE:
			return sock_put_int(val, len, s->keepalive);
		case SO_ACCEPTCONN:
			return sock_put_int(val, len, s->state == INET_LISTEN);
		case SO_RCVBUF:
			return sock_put_int(val, len, s->rcvbuf ? s->rcvbuf : 131072);
		case SO_SNDBUF:
			return sock_put_int(val, len, s->sndbuf ? s->sndbuf : 16384);
		case SO_LINGER:
			sock_put_addr(val, len, &s->linger, sizeof(s->linger));
			return 0;
		}
		return -ENOPROTOOPT;
	}
	if (level == IPPROTO_TCP && sk->type == SOCK_STREAM && name == TCP_NODELAY)
		return sock_put_int(val, len, s->nodelay);
	return -ENOPROTOOPT;
}

static short inet_poll(struct sock *sk)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	short r = s->err ? POLLERR : 0;

	if (sk->type == SOCK_DGRAM)
		return r | POLLOUT | (s->dq || s->shut_rd ? POLLIN : 0);
	switch (s->state) {
	case INET_LISTEN:
		return r | (s->aq || s->shut_rd ? POLLIN : 0) | (s->shut_rd ? POLLHUP : 0);
	case INET_CONNECTING:
		return r;
	case INET_NEW:
		return r | POLLOUT | POLLHUP;
	default:
		break;
	}
	if ((s->rx && s->rx->tot_len) || s->eof || s->shut_rd || !s->tcp)
		r |= POLLIN;
	if (!s->tcp || s->shut_wr ||
	    (tcp_sndbuf(s->tcp) && tcp_sndqueuelen(s->tcp) < TCP_SND_QUEUELEN - 1))
		r |= POLLOUT;
	if (!s->tcp && !s->connected_once)
		r |= POLLHUP;
	if ((s->eof || s->shut_rd) && (s->shut_wr || !s->tcp))
		r |= POLLHUP;
	return r;
}

static long inet_ioctl(struct sock *sk, long req, long arg)
{
	struct inet_sock *s = (struct inet_sock *)sk;
	if (req != FIONREAD)
		return -ENOTTY;
	*(int *)arg = sk->type == SOCK_STREAM ? (s->rx ? s->rx->tot_len : 0)
	                                      : (s->dq ? s->dq->p->tot_len : 0);
	return 0;
}

static void inet_free(struct inet_sock *s)
{
	drop_rx(s);
	kfree(s);
}

static void inet_release(struct sock *sk)
{
	struct inet_sock *s = (struct inet_sock *)sk;

	if (s->udp)
		udp_remove(s->udp);
	/* Connections nobody accepted are reset, as Linux resets them. */
	while (s->aq) {
		struct inet_sock *n = s->aq;
		s->aq = n->anext;
		if (n->tcp) {
			struct tcp_pcb *p = n->tcp;
			tcp_detach(n);
			tcp_abort(p);
		}
		inet_free(n);
	}
	if (s->tcp) {
		struct tcp_pcb *p = s->tcp;
		bool listening = s->state == INET_LISTEN;
		bool abort = !listening && s->linger.l_onoff && !s->linger.l_linger;
		tcp_detach(s);
		if (abort || tcp_close(p) != ERR_OK)
			tcp_abort(p);
	}
	inet_free(s);
	net_loop_poll();
}

static const struct sock_ops inet_ops = {
    .bind = inet_bind,
    .listen = inet_listen,
    .accept = inet_accept,
    .connect = inet_connect,
    .sendmsg = inet_sendmsg,
    .recvmsg = inet_recvmsg,
    .shutdown = inet_shutdown,
    .getname = inet_getname,
    .setsockopt = inet_setsockopt,
    .getsockopt = inet_getsockopt,
    .poll = inet_poll,
    .ioctl = inet_ioctl,
    .release = inet_release,
};

#else

/* Without lwIP the family is there but has no stack. */
long inet_socket(int type, int protocol, struct sock **out)
{
	(void)type, (void)protocol, (void)out;
	return -EAFNOSUPPORT;
}

void net_loop_poll(void)
{
}
#endif
