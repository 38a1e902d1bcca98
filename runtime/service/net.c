/* The includeos backend's TCP and UDP: lwIP's callback API under include/unik/service.h.  The
 * callbacks lwIP makes only record what happened on the handle (they may run in an interrupt);
 * svc_net_dispatch, in the loop, hands it to the service, and the service's own calls go
 * straight to lwIP (the loop runs with interrupts off). */
#include "drivers/netdev.h"
#include "net/lwip_config.h"
#include "net/socket.h"
#include "service/service.h"
#include "unik/service.h"

#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

/* How many datagrams wait for the service on one socket before more are dropped. */
#define UDP_QUEUE_MAX 64

struct service_tcp {
	struct service_tcp *next;
	struct tcp_pcb *pcb; /* NULL once lwIP has freed it (a reset) or it was closed */
	const struct service_tcp_ops *ops;
	void *arg;
	struct pbuf *rx; /* received, not yet handed to on_data */
	bool listener;
	bool connected; /* on_connect is due */
	bool want_room; /* a write took less than it was given */
	bool room;      /* on_writable is due */
	bool peer_gone; /* the peer closed, or the connection was reset */
	bool closing;   /* service_tcp_close was called */
	bool dead;      /* on_close has run (or a listener closed): freed by the sweep */
};

struct dgram {
	struct dgram *next;
	struct pbuf *p;
	uint32_t from;
	uint16_t port;
};

struct service_udp {
	struct service_udp *next;
	struct udp_pcb *pcb;
	service_udp_fn fn;
	void *arg;
	struct dgram *head, *tail;
	int queued;
	bool dead;
};

static struct service_tcp *tcps;
static struct service_udp *udps;

/* --- TCP: lwIP's callbacks --- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct service_tcp *c = arg;

	(void)err;
	if (!p) {
		c->peer_gone = true;
	} else if (c->closing) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	} else if (c->rx) {
		pbuf_cat(c->rx, p);
	} else {
		c->rx = p;
	}
	svc_kick();
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct service_tcp *c = arg;

	(void)pcb, (void)len;
	if (c->want_room) {
		c->room = true;
		svc_kick();
	}
	return ERR_OK;
}

/* lwIP has freed the pcb (a reset, or it gave up retransmitting). */
static void on_err(void *arg, err_t err)
{
	struct service_tcp *c = arg;

	(void)err;
	c->pcb = NULL;
	c->peer_gone = true;
	svc_kick();
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct service_tcp *l = arg, *c;

	if (err != ERR_OK || !pcb || l->closing)
		return ERR_VAL;
	c = kzalloc(sizeof(*c));
	c->pcb = pcb;
	c->ops = l->ops;
	c->arg = l->arg;
	c->connected = true;
	c->next = tcps;
	tcps = c;
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_backlog_accepted(pcb);
	svc_kick();
	return ERR_OK;
}

/* --- TCP: the service's calls --- */

struct service_tcp *service_tcp_listen(uint16_t port, const struct service_tcp_ops *ops, void *arg)
{
	struct tcp_pcb *pcb = tcp_new(), *lpcb;
	struct service_tcp *l;

	if (!pcb)
		return NULL;
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK ||
	    !(lpcb = tcp_listen_with_backlog(pcb, 16))) {
		tcp_abort(pcb);
		return NULL;
	}
	l = kzalloc(sizeof(*l));
	l->pcb = lpcb;
	l->ops = ops;
	l->arg = arg;
	l->listener = true;
	l->next = tcps;
	tcps = l;
	tcp_arg(lpcb, l);
	tcp_accept(lpcb, on_accept);
	return l;
}

void *service_tcp_arg(const struct service_tcp *c)
{
	return c->arg;
}

void service_tcp_set_arg(struct service_tcp *c, void *arg)
{
	c->arg = arg;
}

size_t service_tcp_room(const struct service_tcp *c)
{
	if (c->listener || c->closing || !c->pcb || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN)
		return 0;
	return tcp_sndbuf(c->pcb);
}

long service_tcp_write(struct service_tcp *c, const void *data, size_t len)
{
	size_t n;

	if (c->listener || c->closing || c->dead || !c->pcb)
		return -1;
	n = MIN(len, service_tcp_room(c));
	if (n && tcp_write(c->pcb, data, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
		n = 0; /* out of segments: as full as a full buffer */
	if (n)
		tcp_output(c->pcb);
	if (n < len)
		c->want_room = true;
	return (long)n;
}

uint32_t service_tcp_peer(const struct service_tcp *c, uint16_t *port)
{
	if (c->listener || !c->pcb) {
		if (port)
			*port = 0;
		return 0;
	}
	if (port)
		*port = c->pcb->remote_port;
	return lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&c->pcb->remote_ip)));
}

void service_tcp_close(struct service_tcp *c)
{
	if (!c || c->closing || c->dead)
		return;
	c->closing = true;
	if (c->listener) {
		/* A listen pcb closes at once and calls nothing more. */
		tcp_close(c->pcb);
		c->pcb = NULL;
		c->dead = true;
	}
	svc_kick();
}

/* --- TCP: the loop's side --- */

/* The end of a connection: on_close, then lwIP's pcb closed (what is queued is still sent). */
static void tcp_end(struct service_tcp *c)
{
	c->dead = true;
	if (c->ops && c->ops->on_close)
		c->ops->on_close(c);
	if (c->rx) {
		if (c->pcb)
			tcp_recved(c->pcb, c->rx->tot_len);
		pbuf_free(c->rx);
		c->rx = NULL;
	}
	if (c->pcb) {
		struct tcp_pcb *pcb = c->pcb;

		c->pcb = NULL;
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		if (tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
	}
}

static bool tcp_dispatch(struct service_tcp *c)
{
	const struct service_tcp_ops *ops = c->ops;
	bool did = false;

	if (c->dead || c->listener)
		return false;
	if (c->connected) {
		c->connected = false;
		did = true;
		if (ops && ops->on_connect && !c->closing)
			ops->on_connect(c);
	}
	if (c->rx && !c->closing) {
		struct pbuf *p = c->rx;

		c->rx = NULL;
		did = true;
		for (struct pbuf *q = p; q && !c->closing; q = q->next)
			if (ops && ops->on_data && q->len)
				ops->on_data(c, q->payload, q->len);
		if (c->pcb)
			tcp_recved(c->pcb, p->tot_len);
		pbuf_free(p);
	}
	if (c->room && !c->closing) {
		c->room = c->want_room = false;
		did = true;
		if (ops && ops->on_writable)
			ops->on_writable(c);
	}
	if (c->closing || c->peer_gone) {
		tcp_end(c);
		did = true;
	}
	return did;
}

/* --- UDP --- */

static void on_dgram(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                     u16_t port)
{
	struct service_udp *u = arg;
	struct dgram *d;

	(void)pcb;
	if (u->dead || u->queued >= UDP_QUEUE_MAX) {
		pbuf_free(p);
		return;
	}
	d = kmalloc(sizeof(*d));
	d->next = NULL;
	d->p = p;
	d->from = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr)));
	d->port = port;
	if (u->tail)
		u->tail->next = d;
	else
		u->head = d;
	u->tail = d;
	u->queued++;
	svc_kick();
}

struct service_udp *service_udp_bind(uint16_t port, service_udp_fn fn, void *arg)
{
	struct udp_pcb *pcb = udp_new();
	struct service_udp *u;

	if (!pcb)
		return NULL;
	if (udp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		udp_remove(pcb);
		return NULL;
	}
	u = kzalloc(sizeof(*u));
	u->pcb = pcb;
	u->fn = fn;
	u->arg = arg;
	u->next = udps;
	udps = u;
	udp_recv(pcb, on_dgram, u);
	return u;
}

int service_udp_send(struct service_udp *u, uint32_t to, uint16_t port, const void *data,
                     size_t len)
{
	ip_addr_t dst;
	struct pbuf *p;
	err_t e;

	if (u->dead)
		return -EBADF;
	if (len > 65507)
		return -EMSGSIZE;
	if (!(p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM)))
		return -ENOMEM;
	pbuf_take(p, data, (u16_t)len);
	ip_addr_set_ip4_u32(&dst, lwip_htonl(to));
	e = udp_sendto(u->pcb, p, &dst, port);
	pbuf_free(p);
	return e == ERR_OK ? 0 : e == ERR_RTE ? -ENETUNREACH : e == ERR_MEM ? -ENOMEM : -EIO;
}

void service_udp_close(struct service_udp *u)
{
	if (!u || u->dead)
		return;
	u->dead = true;
	udp_remove(u->pcb);
	u->pcb = NULL;
	svc_kick();
}

static bool udp_dispatch(struct service_udp *u)
{
	bool did = false;

	while (u->head && !u->dead) {
		struct dgram *d = u->head;
		struct pbuf *p = d->p;
		void *flat = NULL;

		if (!(u->head = d->next))
			u->tail = NULL;
		u->queued--;
		did = true;
		if (p->len != p->tot_len && (flat = kmalloc(p->tot_len)))
			pbuf_copy_partial(p, flat, p->tot_len, 0);
		if (flat || p->len == p->tot_len)
			u->fn(u, d->from, d->port, flat ? flat : p->payload, p->tot_len, u->arg);
		kfree(flat);
		pbuf_free(p);
		kfree(d);
	}
	return did;
}

/* --- the loop's entry points --- */

bool svc_net_dispatch(void)
{
	bool did = false;

	for (struct service_tcp *c = tcps; c; c = c->next)
		did |= tcp_dispatch(c);
	for (struct service_udp *u = udps; u; u = u->next)
		did |= udp_dispatch(u);
	for (struct service_tcp **p = &tcps; *p;) {
		struct service_tcp *c = *p;
		if (c->dead) {
			*p = c->next;
			kfree(c);
		} else {
			p = &c->next;
		}
	}
	for (struct service_udp **p = &udps; *p;) {
		struct service_udp *u = *p;
		if (u->dead) {
			*p = u->next;
			while (u->head) {
				struct dgram *d = u->head;
				u->head = d->next;
				pbuf_free(d->p);
				kfree(d);
			}
			kfree(u);
		} else {
			p = &u->next;
		}
	}
	return did;
}

bool svc_net_busy(void)
{
	return tcps || udps;
}

/* --- the configuration --- */

int service_net_count(void)
{
	return netdev_count();
}

int service_net_config(int index, struct service_netconf *out)
{
	struct netdev *d = index >= 0 ? netdev_by_index(index + 1) : NULL;
	struct netif *n;

	if (!d)
		return -1;
	k_memset(out, 0, sizeof(*out));
	k_memcpy(out->name, d->name, sizeof(out->name));
	k_memcpy(out->mac, d->mac, sizeof(out->mac));
	/* netif.c's interface for the device is the one with its MAC address. */
	NETIF_FOREACH(n)
	{
		if (n->hwaddr_len != 6 || k_memcmp(n->hwaddr, d->mac, 6))
			continue;
		out->addr = lwip_ntohl(ip4_addr_get_u32(netif_ip4_addr(n)));
		out->prefix = __builtin_popcount(ip4_addr_get_u32(netif_ip4_netmask(n)));
		out->gateway = lwip_ntohl(ip4_addr_get_u32(netif_ip4_gw(n)));
		break;
	}
	return 0;
}

char *service_ip4_format(uint32_t addr, char buf[16])
{
	k_snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
	           addr & 255);
	return buf;
}
