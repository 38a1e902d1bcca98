/* The port forwarder of unik-shim (forward.h): one epoll loop in one thread.  A TCP connection
 * accepted on the host is matched by a connection to the guest, and bytes are copied both ways
 * through a buffer per direction; an end of file is passed on as a half-close (shutdown of the
 * other side's writing), and the pair is closed once both directions are done.  A UDP client
 * (by its source address) gets a socket of its own toward the guest, so replies go back to the
 * client that asked; a flow idle for UDP_IDLE_MS is closed. */
#include "cmd/unik-shim/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"

#define MAX_FORWARDS 64
#define TCP_BUF      16384
/* How long a UDP flow lives without a datagram either way (Docker's proxy waits 90 s). */
#define UDP_IDLE_MS 60000
/* UDP flows per published port, beyond which new clients' datagrams are dropped. */
#define UDP_MAX_FLOWS 1024
/* Reads or writes per connection per wake-up, so one busy stream cannot starve the others. */
#define PUMP_ROUNDS 16

enum ep_type { EP_LISTEN, EP_CONN, EP_FLOW };

/* What an epoll registration points at. */
struct ep {
	enum ep_type type;
	int side; /* EP_CONN: 0 the client's socket, 1 the guest's */
	void *obj;
};

struct flow;

struct forward {
	struct ep ep;
	bool udp;
	struct sockaddr_in host, guest;
	int fd;
	bool paused; /* out of descriptors: accepting waits for a connection to close */
	struct flow *flows;
	size_t nflows;
};

/* Bytes read from one side, waiting to be written to the other. */
struct half {
	char buf[TCP_BUF];
	size_t off, len;
	bool eof;  /* the reading side ended */
	bool shut; /* and the writing side was told (shutdown SHUT_WR) */
};

struct conn {
	struct ep ep[2];
	int fd[2];
	uint32_t ev[2]; /* what each socket is registered for; 0: not registered */
	bool connecting;
	bool dead;         /* closed; freed after the events of this wake-up */
	struct conn *next; /* on the dead list */
	struct half h[2];  /* h[s]: read from side s, written to side !s */
};

struct flow {
	struct ep ep;
	struct forward *f;
	int fd;
	struct sockaddr_in client;
	long long last;
	struct flow *next;
};

static struct forward forwards[MAX_FORWARDS];
static struct conn *dead;
static size_t nforwards;
static int epfd = -1, logfd = -1;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	if (logfd < 0)
		return;
	dprintf(logfd, "unik-shim[%d]: forward: ", (int)getpid());
	va_start(ap, fmt);
	vdprintf(logfd, fmt, ap);
	va_end(ap);
	dprintf(logfd, "\n");
}

static bool parse_addr(const char *ip, size_t iplen, const char *port, struct sockaddr_in *sin)
{
	char buf[INET_ADDRSTRLEN];
	char *end;
	long p = strtol(port, &end, 10);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (end == port || (*end && *end != ':') || p < 1 || p > 65535 || iplen >= sizeof(buf))
		return false;
	sin->sin_port = htons((uint16_t)p);
	if (!iplen)
		return true; /* INADDR_ANY */
	memcpy(buf, ip, iplen);
	buf[iplen] = '\0';
	return inet_pton(AF_INET, buf, &sin->sin_addr) == 1;
}

int fwd_add(const char *spec, struct unik_error *err)
{
	const char *f[5];
	struct forward *fw;
	size_t n = 0;

	f[n++] = spec;
	for (const char *p = spec; *p && n < 5; p++)
		if (*p == ':')
			f[n++] = p + 1;
	if (nforwards == MAX_FORWARDS) {
		unik_error_set(err, UNIK_E_INVALID, "more than %d forwarded ports", MAX_FORWARDS);
		return -1;
	}
	fw = &forwards[nforwards];
	if (n != 5 || strchr(f[4], ':') || (strncmp(spec, "tcp:", 4) && strncmp(spec, "udp:", 4)) ||
	    !parse_addr(f[1], (size_t)(f[2] - f[1] - 1), f[2], &fw->host) ||
	    !parse_addr(f[3], (size_t)(f[4] - f[3] - 1), f[4], &fw->guest) ||
	    fw->guest.sin_addr.s_addr == INADDR_ANY) {
		unik_error_set(err, UNIK_E_INVALID,
		               "forward `%s`: expected tcp|udp:[HOSTIP]:HOSTPORT:GUESTIP:GUESTPORT",
		               spec);
		return -1;
	}
	fw->udp = spec[0] == 'u';
	fw->fd = -1;
	fw->ep = (struct ep){EP_LISTEN, 0, fw};
	nforwards++;
	return 0;
}

static void close_listeners(void)
{
	for (size_t i = 0; i < nforwards; i++) {
		if (forwards[i].fd >= 0)
			close(forwards[i].fd);
		forwards[i].fd = -1;
	}
}

int fwd_bind(struct unik_error *err)
{
	struct rlimit rl;

	/* Two descriptors per relayed connection: as many as the hard limit allows. */
	if (nforwards && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (size_t i = 0; i < nforwards; i++) {
		struct forward *fw = &forwards[i];
		char ip[INET_ADDRSTRLEN];
		int one = 1, e;

		fw->fd =
		    socket(AF_INET,
		           (fw->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fw->fd < 0) {
			unik_error_sys(err, errno, "forward: socket");
			goto fail;
		}
		/* TCP: connections of a previous run in TIME_WAIT do not hold the port, a
		 * listener does.  UDP: never, it would share the port with another socket. */
		if (!fw->udp)
			(void)setsockopt(fw->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fw->fd, (struct sockaddr *)&fw->host, sizeof(fw->host)) == 0 &&
		    (fw->udp || listen(fw->fd, 512) == 0))
			continue;
		e = errno;
		inet_ntop(AF_INET, &fw->host.sin_addr, ip, sizeof(ip));
		if (e == EADDRINUSE)
			unik_error_set(
			    err, UNIK_E_EXISTS,
			    "port %u/%s on %s is in use (by another instance or program); "
			    "pick another with -p HOSTPORT:GUESTPORT",
			    ntohs(fw->host.sin_port), fw->udp ? "udp" : "tcp", ip);
		else
			unik_error_sys(err, e, "port %u/%s on %s cannot be bound",
			               ntohs(fw->host.sin_port), fw->udp ? "udp" : "tcp", ip);
		goto fail;
	}
	return 0;
fail:
	close_listeners();
	return -1;
}

/* ---- epoll registrations --------------------------------------------------------------------- */

/* Registers fd for ev (0: not at all), so a socket with nothing wanted of it never wakes the
 * loop, not even for a hang-up that level-triggered epoll would report again and again. */
static void watch(int fd, uint32_t *cur, uint32_t ev, struct ep *ep)
{
	struct epoll_event e = {.events = ev, .data.ptr = ep};
	int op = !*cur ? EPOLL_CTL_ADD : !ev ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

	if (ev == *cur)
		return;
	if (epoll_ctl(epfd, op, fd, &e) < 0)
		logf_("epoll_ctl: %s", strerror(errno));
	*cur = ev;
}

static void resume_listeners(void)
{
	for (size_t i = 0; i < nforwards; i++) {
		struct forward *fw = &forwards[i];
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &fw->ep};

		if (fw->paused && epoll_ctl(epfd, EPOLL_CTL_ADD, fw->fd, &e) == 0)
			fw->paused = false;
	}
}

/* ---- TCP ---------------------------------------------------------------------------------------
 */

static void conn_close(struct conn *c, bool reset)
{
	for (int s = 0; s < 2; s++) {
		if (c->fd[s] < 0)
			continue;
		/* A client whose guest end failed sees a reset, as if it had reached the guest
		 * and been refused. */
		if (reset && s == 0) {
			struct linger l = {1, 0};

			(void)setsockopt(c->fd[s], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->fd[s]); /* also leaves the epoll set */
		c->fd[s] = -1;
	}
	/* Another event of this wake-up may still name it. */
	c->dead = true;
	c->next = dead;
	dead = c;
	resume_listeners();
}

/* Copies what can be copied in both directions without waiting; returns false when the
 * connection is over (closed here). */
static bool pump(struct conn *c)
{
	for (int s = 0; s < 2; s++) {
		struct half *h = &c->h[s];

		for (int round = 0; round < PUMP_ROUNDS; round++) {
			ssize_t n;

			if (h->len) {
				n = send(c->fd[!s], h->buf + h->off, h->len, MSG_NOSIGNAL);
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (n < 0) {
					conn_close(c, false);
					return false;
				}
				h->off += (size_t)n;
				h->len -= (size_t)n;
				if (h->len)
					break; /* the other side's buffer is full: wait for it */
			}
			if (h->eof)
				break;
			n = recv(c->fd[s], h->buf, sizeof(h->buf), 0);
			if (n > 0) {
				h->off = 0;
				h->len = (size_t)n;
			} else if (n == 0) {
				h->eof = true;
			} else if (errno == EAGAIN || errno == EINTR) {
				break;
			} else {
				conn_close(c, false);
				return false;
			}
		}
		if (h->eof && !h->len && !h->shut) {
			(void)shutdown(c->fd[!s], SHUT_WR);
			h->shut = true;
		}
	}
	if (c->h[0].shut && c->h[1].shut) {
		conn_close(c, false);
		return false;
	}
	return true;
}

static void conn_watch(struct conn *c)
{
	for (int s = 0; s < 2; s++) {
		uint32_t ev = 0;

		if (c->connecting)
			ev = s == 1 ? EPOLLOUT : 0;
		else
			ev = (!c->h[s].eof && !c->h[s].len ? EPOLLIN : 0) |
			     (c->h[!s].len ? EPOLLOUT : 0);
		watch(c->fd[s], &c->ev[s], ev, &c->ep[s]);
	}
}

static void conn_event(struct conn *c, int side, uint32_t events)
{
	if (c->dead)
		return;
	if (c->connecting) {
		int e = 0;
		socklen_t len = sizeof(e);

		if (side != 1 || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e) {
			conn_close(c, true);
			return;
		}
		c->connecting = false;
	}
	if (pump(c))
		conn_watch(c);
}

static void tcp_accept(struct forward *fw)
{
	for (int i = 0; i < 64; i++) {
		int one = 1, cfd, gfd;
		struct conn *c;

		cfd = accept4(fw->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: stop accepting (a level-triggered listener
				 * would wake the loop at once) until a connection closes. */
				logf_("accept: %s (waiting for a connection to close)",
				      strerror(errno));
				if (epoll_ctl(epfd, EPOLL_CTL_DEL, fw->fd, NULL) == 0)
					fw->paused = true;
			}
			return;
		}
		gfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		c = gfd >= 0 ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			if (gfd >= 0)
				close(gfd);
			close(cfd);
			continue;
		}
		c->fd[0] = cfd;
		c->fd[1] = gfd;
		c->ep[0] = (struct ep){EP_CONN, 0, c};
		c->ep[1] = (struct ep){EP_CONN, 1, c};
		/* Each write is passed on as it comes: no Nagle delay added in the middle. */
		(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void)setsockopt(gfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(gfd, (struct sockaddr *)&fw->guest, sizeof(fw->guest)) < 0) {
			if (errno != EINPROGRESS) {
				conn_close(c, true);
				continue;
			}
			c->connecting = true;
		}
		conn_watch(c);
	}
}

/* ---- UDP ---------------------------------------------------------------------------------------
 */

static char dgram[65536];

static void flow_close(struct flow *fl)
{
	struct flow **pp = &fl->f->flows;

	while (*pp != fl)
		pp = &(*pp)->next;
	*pp = fl->next;
	fl->f->nflows--;
	close(fl->fd);
	free(fl);
}

static struct flow *flow_get(struct forward *fw, const struct sockaddr_in *from)
{
	struct epoll_event e = {.events = EPOLLIN};
	struct flow *fl;

	for (fl = fw->flows; fl; fl = fl->next)
		if (fl->client.sin_addr.s_addr == from->sin_addr.s_addr &&
		    fl->client.sin_port == from->sin_port)
			return fl;
	if (fw->nflows >= UDP_MAX_FLOWS)
		return NULL;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return NULL;
	fl->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fl->fd < 0 || connect(fl->fd, (struct sockaddr *)&fw->guest, sizeof(fw->guest)) < 0) {
		if (fl->fd >= 0)
			close(fl->fd);
		free(fl);
		return NULL;
	}
	fl->ep = (struct ep){EP_FLOW, 0, fl};
	fl->f = fw;
	fl->client = *from;
	e.data.ptr = &fl->ep;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fl->fd, &e) < 0) {
		close(fl->fd);
		free(fl);
		return NULL;
	}
	fl->next = fw->flows;
	fw->flows = fl;
	fw->nflows++;
	return fl;
}

static void udp_in(struct forward *fw)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n =
		    recvfrom(fw->fd, dgram, sizeof(dgram), 0, (struct sockaddr *)&from, &flen);
		struct flow *fl;

		if (n < 0)
			return;
		fl = flow_get(fw, &from);
		if (!fl)
			continue; /* dropped, as a full network would */
		fl->last = unik_now_ms();
		(void)send(fl->fd, dgram, (size_t)n, 0);
	}
}

static void udp_back(struct flow *fl)
{
	for (int i = 0; i < 64; i++) {
		/* ECONNREFUSED (nothing listens in the guest yet) is reported here too: the
		 * datagram is lost, as it would be without the forwarder. */
		ssize_t n = recv(fl->fd, dgram, sizeof(dgram), 0);

		if (n < 0)
			return;
		fl->last = unik_now_ms();
		(void)sendto(fl->f->fd, dgram, (size_t)n, 0, (struct sockaddr *)&fl->client,
		             sizeof(fl->client));
	}
}

/* Closes idle flows; returns how long until the next one may expire (-1: none left). */
static int udp_expire(void)
{
	long long now = unik_now_ms(), next = -1;

	for (size_t i = 0; i < nforwards; i++) {
		struct flow *fl = forwards[i].flows, *nx;

		for (; fl; fl = nx) {
			long long left = fl->last + UDP_IDLE_MS - now;

			nx = fl->next;
			if (left <= 0)
				flow_close(fl);
			else if (next < 0 || left < next)
				next = left;
		}
	}
	return (int)next;
}

/* ---- the loop -----------------------------------------------------------------------------------
 */

static void *loop(void *arg)
{
	struct epoll_event evs[64];
	int timeout = -1;

	(void)arg;
	for (;;) {
		int n = epoll_wait(epfd, evs, 64, timeout);

		if (n < 0 && errno != EINTR) {
			logf_("epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct ep *ep = evs[i].data.ptr;

			switch (ep->type) {
			case EP_LISTEN: {
				struct forward *fw = ep->obj;

				if (fw->udp)
					udp_in(fw);
				else
					tcp_accept(fw);
				break;
			}
			case EP_CONN:
				conn_event(ep->obj, ep->side, evs[i].events);
				break;
			case EP_FLOW:
				udp_back(ep->obj);
				break;
			}
		}
		while (dead) {
			struct conn *c = dead;

			dead = c->next;
			free(c);
		}
		timeout = udp_expire();
	}
	return NULL;
}

int fwd_start(int log_fd, struct unik_error *err)
{
	pthread_t t;
	sigset_t all, old;
	int rc;

	if (!nforwards)
		return 0;
	logfd = log_fd;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		unik_error_sys(err, errno, "forward: epoll");
		return -1;
	}
	for (size_t i = 0; i < nforwards; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &forwards[i].ep};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, forwards[i].fd, &e) < 0) {
			unik_error_sys(err, errno, "forward: epoll_ctl");
			return -1;
		}
	}
	/* Signals stay with the main thread, which supervises QEMU. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&t, NULL, loop, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		unik_error_sys(err, rc, "forward: thread");
		return -1;
	}
	pthread_detach(t);
	return 0;
}
