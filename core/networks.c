/* Networks (a Linux bridge with an IPv4 subnet, lib/hostnet.h) and the NICs of instances: which
 * network each joins, the address unik hands it, and the ports published on it.  Addresses are
 * the store's to give: an instance keeps its NICs' addresses until it is removed, so a restart,
 * of the instance or of the daemon, finds them as they were. */
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/dnsmasq.h"
#include "lib/hostnet.h"
#include "lib/names.h"
#include "unik/devices.h"

/* QEMU's user-mode network (and passt's, which copies it): the guest's address, the gateway and
 * the name server it forwards to the host's.  Given statically, so the guest need not ask DHCP. */
#define USER_IP  "10.0.2.15/24"
#define USER_GW  "10.0.2.2"
#define USER_DNS "10.0.2.3"

/* The names a run gives for "no NIC" and "a NIC on user-mode networking". */
#define NET_NONE "none"
#define NET_USER "user"

/* The word of `--network NAME:dhcp`: a lease from the network's dnsmasq, no fixed address. */
#define NET_DHCP "dhcp"

/* At most this many NICs per instance. */
#define NICS_MAX 8

/* Prefixes a network may have: /30 leaves two addresses, the gateway and one guest. */
#define PREFIX_MIN 8
#define PREFIX_MAX 30

static struct unik_network *find_network(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->nnetworks; i++)
		if (strcmp(c->networks[i]->name, name) == 0)
			return c->networks[i];
	return NULL;
}

const struct unik_network *unik_core_network(struct unik_core *c, const char *ref,
                                             struct unik_error *err)
{
	return resolve_network(c, ref, err);
}

/* Whether sub overlaps a network of c (but skip) or a subnet of the host; if so err says which. */
static bool overlaps(struct unik_core *c, const struct unik_cidr *sub, struct unik_error *err)
{
	struct unik_cidr *host = NULL;
	size_t nhost = 0;
	char a[32], b[32];
	bool hit = false;

	unik_cidr_format(sub, true, a, sizeof(a));
	for (size_t i = 0; i < c->nnetworks; i++) {
		struct unik_cidr other;

		if (unik_cidr_parse(c->networks[i]->subnet, true, &other, NULL) == 0 &&
		    unik_cidr_overlap(sub, &other)) {
			if (err)
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "subnet %s overlaps network \"%s\" (%s): pick another "
				    "with --subnet",
				    a, c->networks[i]->name, c->networks[i]->subnet);
			return true;
		}
	}
	if (unik_host_subnets(&host, &nhost, NULL) < 0)
		return false;
	for (size_t i = 0; i < nhost && !hit; i++) {
		if (unik_cidr_overlap(sub, &host[i])) {
			unik_cidr_format(&host[i], true, b, sizeof(b));
			if (err)
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "subnet %s overlaps %s, which this host already has on an "
				    "interface: pick another with --subnet",
				    a, b);
			hit = true;
		}
	}
	free(host);
	return hit;
}

/* The directory of network id's dnsmasq files: $UNIK_HOME/networks/ID.  Caller frees. */
static char *dhcp_dir(struct unik_core *c, const char *id)
{
	_cleanup_free_ char *top = unik_path_join(c->home, "networks");

	return unik_path_join(top, id);
}

/* The range dnsmasq leases on sub: its upper half, up to the last address before the
 * broadcast.  unik's own allocator stays below *first. */
static void dhcp_range(const struct unik_cidr *sub, uint32_t *first, uint32_t *last)
{
	uint32_t size = ~unik_cidr_mask(sub->prefix) + 1;

	*first = sub->addr + size / 2;
	*last = (sub->addr | ~unik_cidr_mask(sub->prefix)) - 1;
}

/* Starts n's dnsmasq (its directory made first) unless one runs. */
static int dhcp_start(struct unik_core *c, const struct unik_network *n, struct unik_error *err)
{
	_cleanup_free_ char *top = unik_path_join(c->home, "networks");
	_cleanup_free_ char *dir = dhcp_dir(c, n->id);
	struct unik_cidr sub, a;
	uint32_t first, last;
	char f[32], l[32], mask[32];

	if (unik_cidr_parse(n->subnet, true, &sub, err) < 0)
		return -1;
	if ((mkdir(top, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		unik_error_set(err, UNIK_E_IO, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	dhcp_range(&sub, &first, &last);
	a = (struct unik_cidr){first, 32};
	unik_cidr_format(&a, false, f, sizeof(f));
	a.addr = last;
	unik_cidr_format(&a, false, l, sizeof(l));
	a.addr = unik_cidr_mask(sub.prefix);
	unik_cidr_format(&a, false, mask, sizeof(mask));
	return unik_dnsmasq_start(&(struct unik_dnsmasq_conf){.dir = dir,
	                                                      .bridge = n->bridge,
	                                                      .first = f,
	                                                      .last = l,
	                                                      .netmask = mask,
	                                                      .router = n->gateway},
	                          err);
}

/* Stops network id's dnsmasq, if one runs, and removes its files. */
static int dhcp_stop(struct unik_core *c, const char *id, struct unik_error *err)
{
	_cleanup_free_ char *dir = dhcp_dir(c, id);

	if (unik_dnsmasq_stop(dir, err) < 0)
		return -1;
	return unik_rmtree(dir, err);
}

static int subnet_pick(struct unik_core *c, const char *text, struct unik_cidr *sub,
                       struct unik_error *err)
{
	if (!text || !text[0]) {
		for (uint32_t n = 0; n < 256; n++) {
			*sub = (struct unik_cidr){.addr = (10u << 24) | (88u << 16) | (n << 8),
			                          .prefix = 24};
			if (!overlaps(c, sub, NULL))
				return 0;
		}
		unik_error_set(err, UNIK_E_STATE,
		               "no free subnet in 10.88.0.0/16: give one with --subnet CIDR");
		return -1;
	}
	if (unik_cidr_parse(text, true, sub, err) < 0) {
		unik_error_prefix(err, "--subnet");
		return -1;
	}
	if (sub->prefix < PREFIX_MIN || sub->prefix > PREFIX_MAX) {
		unik_error_set(err, UNIK_E_INVALID,
		               "subnet %s: the prefix must be /%d to /%d (a bridge needs a gateway "
		               "and at least one guest address)",
		               text, PREFIX_MIN, PREFIX_MAX);
		return -1;
	}
	{
		uint32_t top = sub->addr >> 24;

		if (top == 0 || top == 127 || top >= 224 || (sub->addr >> 16) == 0xa9fe) {
			unik_error_set(err, UNIK_E_INVALID,
			               "subnet %s is not for a network: 0/8, loopback (127/8), "
			               "link-local (169.254/16), multicast and reserved addresses "
			               "are refused",
			               text);
			return -1;
		}
	}
	if (sub->addr & ~unik_cidr_mask(sub->prefix)) {
		struct unik_cidr first = {sub->addr & unik_cidr_mask(sub->prefix), sub->prefix};
		char want[32];

		unik_cidr_format(&first, true, want, sizeof(want));
		unik_error_set(err, UNIK_E_INVALID,
		               "subnet %s does not start at its first address: did you mean %s?",
		               text, want);
		return -1;
	}
	return overlaps(c, sub, err) ? -1 : 0;
}

int unik_core_network_create(struct unik_core *c, const char *name, const char *subnet, bool dhcp,
                             struct unik_network **out, struct unik_error *err)
{
	struct unik_network *n;
	struct unik_cidr sub, gw;
	char text[32], bridge[UNIK_IFNAME_MAX + 1];

	if (unik_name_check("network", name, err) < 0)
		return -1;
	if (strcmp(name, NET_NONE) == 0 || strcmp(name, NET_USER) == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "\"%s\" is not a network name unik can give: `--network %s` already "
		               "means %s",
		               name, name,
		               strcmp(name, NET_NONE) == 0 ? "no NIC" : "user-mode networking");
		return -1;
	}
	core_lock(c);
	if (find_network(c, name)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS, "network \"%s\" exists", name);
		return -1;
	}
	if (subnet_pick(c, subnet, &sub, err) < 0) {
		core_unlock(c);
		return -1;
	}
	n = xcalloc(1, sizeof(*n));
	unik_new_id(n->id);
	n->name = xstrdup(name);
	n->created = unik_now_rfc3339(3);
	unik_cidr_format(&sub, true, text, sizeof(text));
	n->subnet = xstrdup(text);
	gw = (struct unik_cidr){sub.addr + 1, sub.prefix};
	unik_cidr_format(&gw, false, text, sizeof(text));
	n->gateway = xstrdup(text);
	unik_bridge_name(n->id, bridge);
	n->bridge = xstrdup(bridge);
	n->seq = ++c->seq;
	n->dhcp = dhcp;
	/* The bridge, then dnsmasq, then the store row: a daemon killed before the row is written
	 * leaves a dnsmasq that the next start finds in no network and stops (networks_start). */
	if (unik_bridge_create(n->bridge, &gw, err) < 0 || (dhcp && dhcp_start(c, n, err) < 0)) {
		core_unlock(c);
		/* A bridge half made (created, but its address refused) goes again. */
		if (dhcp)
			dhcp_stop(c, n->id, NULL);
		unik_bridge_delete(n->bridge, NULL);
		unik_error_prefix(err, "network \"%s\"", name);
		unik_network_free(n);
		return -1;
	}
	if (db_begin(c) < 0 || unik_store_put_network(c->store, n, err) < 0 ||
	    db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		if (dhcp)
			dhcp_stop(c, n->id, NULL);
		unik_bridge_delete(n->bridge, NULL);
		unik_network_free(n);
		return -1;
	}
	c->networks = xrealloc(c->networks, (c->nnetworks + 1) * sizeof(*c->networks));
	c->networks[c->nnetworks++] = n;
	if (out)
		*out = unik_network_dup(n);
	core_unlock(c);
	return 0;
}

int unik_core_network_delete(struct unik_core *c, const char *ref, struct unik_error *err)
{
	struct unik_network *n;
	_cleanup_strv_ struct strv users = {0};

	core_lock(c);
	n = resolve_network(c, ref, err);
	if (!n) {
		core_unlock(c);
		return -1;
	}
	for (size_t i = 0; i < c->ninsts; i++)
		for (size_t k = 0; k < c->insts[i]->nnics; k++)
			if (c->insts[i]->nics[k].network &&
			    strcmp(c->insts[i]->nics[k].network, n->name) == 0) {
				strv_push(&users, c->insts[i]->name);
				break;
			}
	if (users.n) {
		_cleanup_free_ char *list = strv_join(&users, ", ");

		core_unlock(c);
		unik_error_set(err, UNIK_E_STATE,
		               "network \"%s\" is used by instance(s) %.300s: remove them first",
		               n->name, list);
		return -1;
	}
	/* dnsmasq first: the store row goes last, so a daemon killed on the way finds the network
	 * again and brings its dnsmasq back. */
	if ((n->dhcp && dhcp_stop(c, n->id, err) < 0) || unik_bridge_delete(n->bridge, err) < 0) {
		core_unlock(c);
		unik_error_prefix(err, "network \"%s\"", n->name);
		return -1;
	}
	if (db_begin(c) < 0 || unik_store_del_network(c->store, n->id, err) < 0 ||
	    db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		return -1;
	}
	for (size_t i = 0; i < c->nnetworks; i++)
		if (c->networks[i] == n) {
			memmove(&c->networks[i], &c->networks[i + 1],
			        (c->nnetworks - i - 1) * sizeof(*c->networks));
			c->nnetworks--;
			break;
		}
	core_unlock(c);
	unik_network_free(n);
	return 0;
}

/* Stops the dnsmasqs (and removes the bridges) of networks the store does not hold: what a
 * daemon killed in the middle of `network create --dhcp` leaves.  Lock held. */
static void dhcp_sweep(struct unik_core *c)
{
	_cleanup_free_ char *top = unik_path_join(c->home, "networks");
	DIR *d = opendir(top);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		bool known = false;
		char bridge[UNIK_IFNAME_MAX + 1];

		if (e->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < c->nnetworks && !known; i++)
			known = strcmp(c->networks[i]->id, e->d_name) == 0 && c->networks[i]->dhcp;
		if (known)
			continue;
		fprintf(stderr, "unik: network %s: not in the store, its DHCP server goes\n",
		        e->d_name);
		dhcp_stop(c, e->d_name, NULL);
		unik_bridge_name(e->d_name, bridge);
		for (size_t i = 0; i < c->nnetworks; i++)
			if (strcmp(c->networks[i]->bridge, bridge) == 0)
				bridge[0] = '\0';
		if (bridge[0])
			unik_bridge_delete(bridge, NULL);
	}
	closedir(d);
}

void networks_start(struct unik_core *c)
{
	core_lock(c);
	for (size_t i = 0; i < c->nnetworks; i++) {
		const struct unik_network *n = c->networks[i];
		struct unik_cidr sub, gw;
		struct unik_error err = {0};

		if (unik_cidr_parse(n->subnet, true, &sub, &err) < 0 ||
		    unik_cidr_parse(n->gateway, false, &gw, &err) < 0) {
			fprintf(stderr, "unik: network %s: %s\n", n->name, err.msg);
			continue;
		}
		gw.prefix = sub.prefix;
		if (n->dhcp && !unik_netif_exists(n->bridge)) {
			/* A dnsmasq that outlived its bridge serves an interface that is gone. */
			_cleanup_free_ char *dir = dhcp_dir(c, n->id);

			unik_dnsmasq_stop(dir, NULL);
		}
		if (unik_bridge_create(n->bridge, &gw, &err) < 0) {
			fprintf(stderr, "unik: network %s: bridge %s: %s\n", n->name, n->bridge,
			        err.msg);
			continue;
		}
		/* One dnsmasq per network: the one an earlier daemon started is kept. */
		if (n->dhcp && dhcp_start(c, n, &err) < 0)
			fprintf(stderr, "unik: network %s: DHCP server: %s\n", n->name, err.msg);
	}
	dhcp_sweep(c);
	core_unlock(c);
}

/* Whether addr is given to a NIC on network name already (lock held). */
static bool ip_taken(struct unik_core *c, const char *name, uint32_t addr)
{
	for (size_t i = 0; i < c->ninsts; i++)
		for (size_t k = 0; k < c->insts[i]->nnics; k++) {
			const struct unik_nic *nic = &c->insts[i]->nics[k];
			struct unik_cidr have;

			if (nic->network && nic->ip && strcmp(nic->network, name) == 0 &&
			    unik_cidr_parse(nic->ip, true, &have, NULL) == 0 && have.addr == addr)
				return true;
		}
	return false;
}

/* The address of a NIC on n: want ("10.88.0.7", or NULL for the first free one) checked. */
static int ip_pick(struct unik_core *c, const struct unik_network *n, const char *want,
                   char out[32], struct unik_error *err)
{
	struct unik_cidr sub, gw, ip;
	uint32_t first, last;

	if (unik_cidr_parse(n->subnet, true, &sub, err) < 0 ||
	    unik_cidr_parse(n->gateway, false, &gw, err) < 0)
		return -1;
	first = sub.addr + 1;
	last = (sub.addr | ~unik_cidr_mask(sub.prefix)) - 1;
	if (n->dhcp) {
		uint32_t dfirst, dlast;

		dhcp_range(&sub, &dfirst, &dlast);
		if (want && unik_cidr_parse(want, false, &ip, NULL) == 0 && ip.addr >= dfirst &&
		    ip.addr <= dlast) {
			char a[32], b[32];

			unik_cidr_format(&(struct unik_cidr){dfirst, 32}, false, a, sizeof(a));
			unik_cidr_format(&(struct unik_cidr){dlast, 32}, false, b, sizeof(b));
			unik_error_set(err, UNIK_E_INVALID,
			               "address %s on network \"%s\" is in its DHCP range (%s to "
			               "%s): give one below it, or --network %s:dhcp",
			               want, n->name, a, b, n->name);
			return -1;
		}
		last = dfirst - 1;
	}
	if (want) {
		if (unik_cidr_parse(want, false, &ip, err) < 0) {
			unik_error_prefix(err, "--network %s:%s", n->name, want);
			return -1;
		}
		if (ip.addr < first || ip.addr > last || ip.addr == gw.addr) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "address %s is not one network \"%s\" can give: its subnet is "
			    "%s, and %s is its gateway",
			    want, n->name, n->subnet, n->gateway);
			return -1;
		}
		if (ip_taken(c, n->name, ip.addr)) {
			unik_error_set(err, UNIK_E_EXISTS,
			               "address %s on network \"%s\" is taken by another instance",
			               want, n->name);
			return -1;
		}
	} else {
		for (ip.addr = first; ip.addr <= last; ip.addr++)
			if (ip.addr != gw.addr && !ip_taken(c, n->name, ip.addr))
				break;
		if (ip.addr > last) {
			unik_error_set(err, UNIK_E_STATE,
			               "network \"%s\" (%s) has no free address left", n->name,
			               n->subnet);
			return -1;
		}
	}
	ip.prefix = sub.prefix;
	unik_cidr_format(&ip, true, out, 32);
	return 0;
}

static void nic_add(struct unik_instance *in, const char *network, const char *ip)
{
	in->nics = xrealloc(in->nics, (in->nnics + 1) * sizeof(*in->nics));
	in->nics[in->nnics++] = (struct unik_nic){
	    .network = network ? xstrdup(network) : NULL,
	    .ip = ip ? xstrdup(ip) : NULL,
	};
}

int nics_assign(struct unik_core *c, struct unik_instance *in, const struct unik_run_request *rr,
                unsigned image_devices, struct unik_error *err)
{
	bool none = rr->networks.n == 1 && strcmp(rr->networks.v[0], NET_NONE) == 0;

	if (rr->ports.n) {
		in->ports = xcalloc(rr->ports.n, sizeof(*in->ports));
		for (size_t i = 0; i < rr->ports.n; i++, in->nports++)
			if (unik_port_parse(rr->ports.v[i], &in->ports[i], err) < 0)
				return -1;
	}
	if (none) {
		if (in->nports) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--network none gives the instance no NIC, so it cannot "
			               "publish ports (-p)");
			return -1;
		}
		return 0;
	}
	if (rr->networks.n == 0) {
		if (in->nports || (image_devices & UNIK_DEV_BIT(UNIK_DEV_NET)))
			nic_add(in, NULL, USER_IP);
	}
	if (rr->networks.n > NICS_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "%zu networks: an instance has at most %d NICs",
		               rr->networks.n, NICS_MAX);
		return -1;
	}
	for (size_t i = 0; i < rr->networks.n; i++) {
		_cleanup_free_ char *name = xstrdup(rr->networks.v[i]);
		char *colon = strchr(name, ':'), ip[32];
		const struct unik_network *n;

		if (colon)
			*colon++ = '\0';
		if (strcmp(name, NET_NONE) == 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--network none cannot be given with other networks");
			return -1;
		}
		if (strcmp(name, NET_USER) == 0) {
			if (colon) {
				unik_error_set(err, UNIK_E_INVALID,
				               "--network user takes no address: the guest is %.*s "
				               "on user-mode networking",
				               (int)strlen(USER_IP) - 3, USER_IP);
				return -1;
			}
			nic_add(in, NULL, USER_IP);
			continue;
		}
		n = resolve_network(c, name, err);
		if (!n && err->code == UNIK_E_NOTFOUND)
			unik_error_set(err, UNIK_E_NOTFOUND,
			               "no network \"%.60s\" (see unik networks; make it with unik "
			               "network create %.60s)",
			               name, name);
		if (!n)
			return -1;
		for (size_t k = 0; k < in->nnics; k++)
			if (in->nics[k].network && strcmp(in->nics[k].network, n->name) == 0) {
				unik_error_set(err, UNIK_E_INVALID,
				               "network \"%s\" is given twice: one NIC per network",
				               n->name);
				return -1;
			}
		if (colon && strcmp(colon, NET_DHCP) == 0) {
			if (!n->dhcp) {
				unik_error_set(err, UNIK_E_INVALID,
				               "network \"%s\" has no DHCP server: give --network "
				               "%s or %s:IP, or make a network with `unik network "
				               "create --dhcp`",
				               n->name, n->name, n->name);
				return -1;
			}
			if (in->nnics == 0 && in->nports) {
				unik_error_set(err, UNIK_E_INVALID,
				               "-p publishes ports on the first NIC, and --network "
				               "%s:dhcp gives it no address unik knows in advance: "
				               "give it one (--network %s or %s:IP)",
				               n->name, n->name, n->name);
				return -1;
			}
			nic_add(in, n->name, NULL);
			continue;
		}
		if (ip_pick(c, n, colon, ip, err) < 0)
			return -1;
		nic_add(in, n->name, ip);
	}
	if (in->nnics && in->nics[0].ip) {
		const char *slash = strchr(in->nics[0].ip, '/');

		snprintf(in->ip, sizeof(in->ip), "%.*s",
		         (int)(slash ? slash - in->nics[0].ip : (ptrdiff_t)strlen(in->nics[0].ip)),
		         in->nics[0].ip);
	}
	return 0;
}

bool unik_core_nic_address(struct unik_core *c, const struct unik_nic *nic, char *buf, size_t len)
{
	(void)c;
	if (nic->ip || nic->lease[0]) {
		snprintf(buf, len, "%s", nic->ip ? nic->ip : nic->lease);
		return true;
	}
	return false;
}

bool nics_leases_refresh(struct unik_core *c, struct unik_instance *in)
{
	bool changed = false;

	for (size_t i = 0; i < in->nnics; i++) {
		struct unik_nic *nic = &in->nics[i];
		const struct unik_network *n = nic->network ? find_network(c, nic->network) : NULL;
		_cleanup_free_ char *dir = NULL;
		struct unik_cidr sub;
		char ip[64], now[32] = "";

		if (nic->ip || !n || !n->dhcp || unik_cidr_parse(n->subnet, true, &sub, NULL) < 0)
			continue;
		dir = dhcp_dir(c, n->id);
		if (unik_dnsmasq_lease(dir, nic->mac, ip, sizeof(ip)) == 0)
			snprintf(now, sizeof(now), "%.20s/%d", ip, sub.prefix);
		if (strcmp(now, nic->lease) != 0) {
			snprintf(nic->lease, sizeof(nic->lease), "%s", now);
			changed = true;
		}
		if (i == 0 && now[0]) {
			now[strcspn(now, "/")] = '\0';
			if (strcmp(in->ip, now) != 0) {
				snprintf(in->ip, sizeof(in->ip), "%s", now);
				changed = true;
			}
		}
	}
	return changed;
}

size_t nics_devices(struct unik_core *c, const struct unik_instance *in, struct unik_device *devs,
                    size_t max)
{
	static const char *const names[NICS_MAX] = {"net0", "net1", "net2", "net3",
	                                            "net4", "net5", "net6", "net7"};
	size_t n = 0;

	for (size_t i = 0; i < in->nnics && i < NICS_MAX && n < max; i++, n++) {
		const struct unik_nic *nic = &in->nics[i];
		const struct unik_network *net =
		    nic->network ? find_network(c, nic->network) : NULL;

		devs[n] = (struct unik_device){
		    .kind = UNIK_DEVICE_NET,
		    .name = names[i],
		    .network = nic->network,
		    .bridge = net ? net->bridge : NULL,
		    .ip = nic->ip,
		    .gateway = nic->network ? (net ? net->gateway : NULL) : USER_GW,
		    .dns = nic->network ? NULL : USER_DNS,
		    .ports = i == 0 ? in->ports : NULL,
		    .nports = i == 0 ? in->nports : 0,
		};
		snprintf(devs[n].mac, sizeof(devs[n].mac), "%s", nic->mac);
	}
	return n;
}
