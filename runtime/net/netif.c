/* lwIP on the network devices: one lwIP interface per registered netdev, configured from the
 * boot line's unik.NAME=IP/PREFIX[,gw=IP][,dns=IP] words (docs/guest-abi.md), else by DHCP, and
 * the scheduler's poller running lwIP's timers. */
#include "drivers/netdev.h"
#include "fs/fs.h"
#include "kernel/devices.h"
#include "kernel/init.h"
#include "kernel/kernel.h"
#include "net/lwip_config.h"
#include "net/socket.h"

#if UNIK_LWIP
#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/dhcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#include "unik_hooks.h"
#include "unik/abi.h"
#include "unik/devices.h"

/* Tells the host that this image uses a NIC (include/unik/abi.h, UNIK_NOTE_DEVICES): only the
 * network variant of the runtime links this file. */
__attribute__((section(".note.unik"), aligned(4), used)) static const struct {
	uint32_t namesz, descsz, type;
	char name[8];
	uint32_t desc;
} net_note = {5, 4, UNIK_NOTE_DEVICES, UNIK_NOTE_NAME, UNIK_DEV_BIT(UNIK_DEV_NET)};

/* One device's configuration from the boot line. */
struct net_config {
	char name[16];
	ip4_addr_t addr, mask, gw, dns;
	int prefix;
	bool used; /* a device of that name exists */
};

struct unik_netif {
	struct netif nif;
	struct netdev *dev;
	struct net_config *cfg; /* NULL: DHCP */
	ip4_addr_t dns;         /* the nameserver DHCP offered (0: none) */
	ip4_addr_t announced;   /* the address last printed */
	void (*other_rx)(struct netdev *d, const void *frame, size_t len);
};

static struct net_config configs[NETDEV_MAX];
static int nconfigs;

/* "a.b.c.d" of len characters at s. */
static bool parse_ip(const char *s, size_t len, ip4_addr_t *out)
{
	char buf[16];
	if (!len || len >= sizeof(buf))
		return false;
	k_memcpy(buf, s, len);
	buf[len] = 0;
	return ip4addr_aton(buf, out) != 0;
}

/* The value of a unik.NAME= word: IP/PREFIX, then gw= and dns= options. */
static const char *parse_config(const char *v, size_t len, struct net_config *c)
{
	const char *end = v + len, *p = v, *q;
	int prefix = 0;

	for (q = p; q < end && *q != '/'; q++)
		;
	if (q == end || !parse_ip(p, (size_t)(q - p), &c->addr))
		return "the address is not IP/PREFIX";
	for (p = ++q; q < end && *q >= '0' && *q <= '9' && q - p < 3; q++)
		prefix = prefix * 10 + (*q - '0');
	if (q == p || prefix > 32 || (q < end && *q != ','))
		return "the prefix length is not 0 to 32";
	c->prefix = prefix;
	ip4_addr_set_u32(&c->mask, lwip_htonl(prefix ? 0xffffffffu << (32 - prefix) : 0));
	while (q < end) {
		ip4_addr_t *dst;
		p = ++q;
		if (end - p > 3 && !k_memcmp(p, "gw=", 3))
			dst = &c->gw, p += 3;
		else if (end - p > 4 && !k_memcmp(p, "dns=", 4))
			dst = &c->dns, p += 4;
		else
			return "an unknown option (gw= and dns= are known)";
		for (q = p; q < end && *q != ','; q++)
			;
		if (!parse_ip(p, (size_t)(q - p), dst))
			return "an option's address is not a.b.c.d";
	}
	return NULL;
}

/* w: a NUL-terminated unik.NAME= word of len characters. */
static void take_word(const char *w, size_t len)
{
	const char *eq = w;
	while (*eq != '=')
		eq++;
	size_t nlen = (size_t)(eq - w) - 5;
	struct net_config c = {0};
	const char *why = NULL;

	k_memcpy(c.name, w + 5, nlen);
	for (int i = 0; i < nconfigs && !why; i++)
		if (!k_strcmp(configs[i].name, c.name))
			why = "a word for this device came before";
	if (!why && nconfigs == NETDEV_MAX)
		why = "more than the guest has room for";
	if (!why)
		why = parse_config(eq + 1, len - (size_t)(eq + 1 - w), &c);
	if (why) {
		kprintf(UNIK_CONSOLE_PREFIX "network configuration: ignoring \"%s\": %s\n", w, why);
		return;
	}
	configs[nconfigs++] = c;
}

/* The unik.NAME= words among the leading manifest words of the boot line, as cmdline_parse
 * takes them (kernel/cmdline.c): main.c parses the line only after the init levels have run.
 * They hold no quotes or spaces, so plain splitting finds them. */
static void read_boot_line(void)
{
	const char *s = (const char *)(uintptr_t)boot_info.cmdline,
	           *end = s + boot_info.cmdline_len;
	bool first = boot_info.drop_first_word;
	char word[96];

	if (!s)
		return;
	while (s < end) {
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
			s++;
		const char *w = s;
		while (s < end && *s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			s++;
		size_t len = (size_t)(s - w);
		if (!len)
			break;
		if (first) {
			first = false;
			continue;
		}
		if (len >= sizeof(word))
			break;
		k_memcpy(word, w, len);
		word[len] = 0;
		if (!k_strncmp(word, UNIK_DEV_WORD_PREFIX, sizeof(UNIK_DEV_WORD_PREFIX) - 1) ||
		    devices_is_hostname_word(word))
			continue;
		if (!devices_is_net_word(word))
			break;
		take_word(word, len);
	}
}

static void write_resolv_conf(const ip4_addr_t *dns)
{
	struct inode *etc, *f;
	char text[48];
	int n = k_snprintf(text, sizeof(text), "nameserver %s\n", ip4addr_ntoa(dns));

	if (fs_lookup(fs_root_ino, "/etc", LOOKUP_FOLLOW, &etc) < 0 || !S_ISDIR(etc->mode))
		return;
	if (fs_create(etc, "resolv.conf", S_IFREG | 0644, &f) < 0 &&
	    fs_lookup(etc, "resolv.conf", LOOKUP_FOLLOW, &f) < 0)
		return;
	if (S_ISREG(f->mode) && fs_truncate(f, 0) == 0)
		fs_write(f, text, (uint64_t)n, 0);
}

/* The NIC's address names the guest: "IP\tHOSTNAME" is appended to /etc/hosts, whether the
 * image brought its own file or got the defaults (docs/guest-abi.md), so that resolving the
 * hostname (uname -n) finds it, as in a container. */
static void add_hosts_entry(const ip4_addr_t *a)
{
	struct inode *etc, *f;
	char text[32 + UNIK_HOSTNAME_MAX];
	int n = k_snprintf(text, sizeof(text), "%s\t%s\n", ip4addr_ntoa(a), kern_hostname());

	if (fs_lookup(fs_root_ino, "/etc", LOOKUP_FOLLOW, &etc) < 0 || !S_ISDIR(etc->mode))
		return;
	if (fs_create(etc, "hosts", S_IFREG | 0644, &f) < 0 &&
	    fs_lookup(etc, "hosts", LOOKUP_FOLLOW, &f) < 0)
		return;
	if (S_ISREG(f->mode))
		fs_write(f, text, (uint64_t)n, f->size);
}

static int prefix_of(const ip4_addr_t *mask)
{
	return __builtin_popcount(ip4_addr_get_u32(mask));
}

/* The address is known (set from the boot line, or by DHCP): say so once per address. */
static void if_status(struct netif *nif)
{
	struct unik_netif *u = nif->state;
	const ip4_addr_t *a = netif_ip4_addr(nif);

	if (!netif_is_up(nif) || ip4_addr_isany(a) || ip4_addr_cmp(a, &u->announced))
		return;
	ip4_addr_copy(u->announced, *a);
	kprintf(UNIK_CONSOLE_PREFIX "%s up %s/%d\n", u->dev->name, ip4addr_ntoa(a),
	        prefix_of(netif_ip4_netmask(nif)));
	add_hosts_entry(a);
	if (u->cfg && !ip4_addr_isany(&u->cfg->dns))
		write_resolv_conf(&u->cfg->dns);
	else if (!ip4_addr_isany(&u->dns))
		write_resolv_conf(&u->dns);
}

void unik_dhcp_option(struct netif *nif, u8_t msg_type, u8_t option, u8_t len, struct pbuf *p,
                      u16_t offset)
{
	/* lwIP passes the netif the packet was accepted for, which for a broadcast answer can be
	 * its loopback interface (it has an address and takes broadcasts): the lease belongs to the
	 * one it came in on. */
	struct netif *in = ip_current_input_netif();
	struct unik_netif *u = in ? in->state : NULL;
	ip4_addr_t a;

	(void)nif;
	/* The first server of option 6 (DNS) in the server's acknowledgement. */
	if (!u || msg_type != DHCP_ACK || option != 6 || len < 4)
		return;
	if (pbuf_copy_partial(p, &a, 4, offset) == 4)
		ip4_addr_copy(u->dns, a);
}

void unik_dhcp_ask_dns(unsigned char *options, unsigned short *len, unsigned short cap)
{
	unsigned short at = 0;

	/* Walk the options lwIP wrote to its parameter request list (55), and put 6 at its end,
	 * moving what follows up by one. */
	while (at + 1 < *len && options[at] != 55) {
		if (options[at] == 0) { /* pad */
			at++;
			continue;
		}
		at += 2 + options[at + 1];
	}
	if (at + 1 >= *len || *len + 1 > cap)
		return;
	for (unsigned short i = 0; i < options[at + 1]; i++)
		if (options[at + 2 + i] == 6)
			return;
	{
		unsigned short end = at + 2 + options[at + 1];

		k_memmove(options + end + 1, options + end, *len - end);
		options[end] = 6;
		options[at + 1]++;
		(*len)++;
	}
}

/* Frames from lwIP to the device, in one piece (the device takes a flat buffer).  Nothing
 * waits for room here (this runs in the poller and in interrupts too): a frame the device
 * cannot take now is dropped, as a busy link would, and TCP sends it again. */
static err_t if_linkoutput(struct netif *nif, struct pbuf *p)
{
	static uint8_t flat[NETDEV_FRAME_MAX];
	struct unik_netif *u = nif->state;
	const void *frame = p->payload;

	if (p->tot_len > NETDEV_FRAME_MAX)
		return ERR_BUF;
	if (p->len != p->tot_len) {
		pbuf_copy_partial(p, flat, p->tot_len, 0);
		frame = flat;
	}
	int r = u->dev->tx(u->dev, frame, p->tot_len);
	return r == 0 ? ERR_OK : r == -EAGAIN ? ERR_MEM : ERR_IF;
}

/* Frames from the device to lwIP, copied into a pbuf (the driver reuses its buffer). */
static void if_rx(struct netdev *d, const void *frame, size_t len)
{
	struct unik_netif *u = d->stack;
	struct pbuf *p;

	if (u->other_rx)
		u->other_rx(d, frame, len);
	if (len > 0xffff || !(p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL)))
		return;
	pbuf_take(p, frame, (u16_t)len);
	if (u->nif.input(p, &u->nif) != ERR_OK)
		pbuf_free(p);
}

static err_t if_init(struct netif *nif)
{
	struct unik_netif *u = nif->state;
	struct netdev *d = u->dev;
	u16_t flags = NETIF_CHECKSUM_ENABLE_ALL;

	nif->name[0] = d->name[0];
	nif->name[1] = d->name[1] ? d->name[1] : 'x';
	nif->hwaddr_len = ETH_HWADDR_LEN;
	k_memcpy(nif->hwaddr, d->mac, ETH_HWADDR_LEN);
	nif->mtu = d->mtu ? d->mtu : 1500;
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	nif->output = etharp_output;
	nif->linkoutput = if_linkoutput;
	if (d->features & NETDEV_CSUM_TX)
		flags &= (u16_t) ~(NETIF_CHECKSUM_GEN_UDP | NETIF_CHECKSUM_GEN_TCP);
	if (d->features & NETDEV_CSUM_RX)
		flags &= (u16_t) ~(NETIF_CHECKSUM_CHECK_UDP | NETIF_CHECKSUM_CHECK_TCP);
	NETIF_SET_CHECKSUM_CTRL(nif, flags);
	return ERR_OK;
}

/* lwIP's loopback queues what a netif sends to itself (127.0.0.1, or the guest's own
 * addresses); with NO_SYS nothing delivers it but netif_poll.  Delivering can queue more (an
 * acknowledgement, an answer), so this goes on until the queues are empty, within a bound so
 * that two sockets feeding each other cannot hold the CPU. */
void net_loop_poll(void)
{
	for (int i = 0; i < 64; i++) {
		struct netif *n;
		bool any = false;
		NETIF_FOREACH(n)
		any |= n->loop_first != NULL;
		if (!any)
			return;
		netif_poll_all();
	}
}

static bool have_nic;

static uint64_t net_poll(void)
{
	sys_check_timeouts();
	net_loop_poll();
	/* With NO_SYS lwIP's timers are all cyclic, whether or not there is work for them.  With no
	 * NIC only TCP connections (on the loopback) need them: otherwise the poller asks for no
	 * deadline, so that the guest sleeps and a program waiting on itself is reported. */
	if (!have_nic && !tcp_active_pcbs && !tcp_tw_pcbs)
		return 0;
	u32_t ms = sys_timeouts_sleeptime();
	if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE)
		return 0;
	return clock_monotonic_ns() + (uint64_t)ms * 1000000;
}

static void attach(struct netdev *d)
{
	struct unik_netif *u = kmalloc(sizeof(*u));
	ip4_addr_t none = {0};

	if (!u)
		panic("out of memory attaching %s", d->name);
	k_memset(u, 0, sizeof(*u));
	u->dev = d;
	for (int i = 0; i < nconfigs; i++)
		if (!k_strcmp(configs[i].name, d->name)) {
			u->cfg = &configs[i];
			configs[i].used = true;
		}
	if (!netif_add(&u->nif, u->cfg ? &u->cfg->addr : &none, u->cfg ? &u->cfg->mask : &none,
	               u->cfg ? &u->cfg->gw : &none, u, if_init, ethernet_input)) {
		kprintf(UNIK_CONSOLE_PREFIX "%s: lwIP did not take the interface\n", d->name);
		kfree(u);
		return;
	}
	/* AF_PACKET sockets may have taken the device's frames first: they see them too. */
	have_nic = true;
	u->other_rx = d->rx;
	d->stack = u;
	d->rx = if_rx;
	netif_set_status_callback(&u->nif, if_status);
	/* The first device, or the first with a gateway, routes what no subnet claims. */
	if (!netif_default ||
	    (u->cfg && !ip4_addr_isany(&u->cfg->gw) && ip4_addr_isany(netif_ip4_gw(netif_default))))
		netif_set_default(&u->nif);
	/* Link changes are not reported by the drivers yet: a device is taken to be connected. */
	netif_set_link_up(&u->nif);
	netif_set_up(&u->nif);
	if (!u->cfg)
		dhcp_start(&u->nif);
}

static void net_init(void)
{
	int n = netdev_count();

	read_boot_line();
	/* Always, for the loopback interface (127.0.0.1) that lwip_init adds: a program can talk
	 * to itself without a NIC.  An idle stack has no timers, so the poller costs nothing. */
	lwip_init();
	for (int i = 1; i <= n; i++) {
		struct netdev *d = netdev_by_index(i);
		if (d)
			attach(d);
	}
	for (int i = 0; i < nconfigs; i++)
		if (!configs[i].used)
			kprintf(UNIK_CONSOLE_PREFIX "%s: no such network device: its configuration "
			                            "is ignored\n",
			        configs[i].name);
	sched_set_poller(net_poll);
}
UNIK_INIT(INIT_NET, net_init);
#endif
