/* Bridges and taps by ioctl (lib/hostnet.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/hostnet.h"
#include "lib/util.h"

void unik_bridge_name(const char *network_id, char out[UNIK_IFNAME_MAX + 1])
{
	snprintf(out, UNIK_IFNAME_MAX + 1, "ukbr-%.10s", network_id);
}

void unik_tap_name(const char *instance_id, unsigned index, char out[UNIK_IFNAME_MAX + 1])
{
	snprintf(out, UNIK_IFNAME_MAX + 1, "uk%.12s%x", instance_id, index & 0xf);
}

bool unik_netif_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* An error for a failed ioctl, with the hint that matters most often. */
static int net_fail(struct unik_error *err, int e, const char *what, const char *name)
{
	if (e == EPERM || e == EACCES) {
		unik_error_set(err, UNIK_E_PERM,
		               "%s %s: permission denied (host networks need root, or "
		               "CAP_NET_ADMIN)",
		               what, name);
		return -1;
	}
	unik_error_sys(err, e, "%s %s", what, name);
	return -1;
}

/* A datagram socket to aim interface ioctls at. */
static int ctl_socket(struct unik_error *err)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		unik_error_sys(err, errno, "socket");
	return s;
}

static void ifr_set(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
}

static int link_up(int s, const char *name, struct unik_error *err)
{
	struct ifreq ifr;

	ifr_set(&ifr, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return net_fail(err, errno, "read the flags of", name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return net_fail(err, errno, "bring up", name);
	return 0;
}

static int set_v4(int s, unsigned long req, const char *name, uint32_t addr)
{
	struct ifreq ifr;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};

	ifr_set(&ifr, name);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, req, &ifr);
}

int unik_bridge_create(const char *name, const struct unik_cidr *gw, struct unik_error *err)
{
	int s = ctl_socket(err);
	int rc = -1;

	if (s < 0)
		return -1;
	if (ioctl(s, SIOCBRADDBR, name) < 0 && errno != EEXIST) {
		net_fail(err, errno, "create bridge", name);
		goto out;
	}
	if (set_v4(s, SIOCSIFADDR, name, gw->addr) < 0 ||
	    set_v4(s, SIOCSIFNETMASK, name, unik_cidr_mask(gw->prefix)) < 0) {
		net_fail(err, errno, "set the address of bridge", name);
		goto out;
	}
	rc = link_up(s, name, err);
out:
	close(s);
	return rc;
}

int unik_bridge_delete(const char *name, struct unik_error *err)
{
	int s, rc = 0;
	struct ifreq ifr;

	if (!unik_netif_exists(name))
		return 0;
	s = ctl_socket(err);
	if (s < 0)
		return -1;
	/* A bridge that is up cannot be deleted. */
	ifr_set(&ifr, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags &= ~IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (ioctl(s, SIOCBRDELBR, name) < 0 && errno != ENXIO && errno != ENODEV)
		rc = net_fail(err, errno, "delete bridge", name);
	close(s);
	return rc;
}

/* Opens /dev/net/tun attached to tap name (made when missing). */
static int tun_open(const char *name, struct unik_error *err)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		unik_error_sys(err, errno, "open /dev/net/tun (is the tun module loaded?)");
		return -1;
	}
	ifr_set(&ifr, name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		return net_fail(err, e, "create tap", name);
	}
	return fd;
}

int unik_tap_create(const char *name, const char *bridge, uid_t uid, gid_t gid,
                    struct unik_error *err)
{
	int fd, s = -1, rc = -1;
	struct ifreq ifr;

	fd = tun_open(name, err);
	if (fd < 0)
		return -1;
	if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
	    ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0 || ioctl(fd, TUNSETPERSIST, 1UL) < 0) {
		net_fail(err, errno, "make persistent tap", name);
		goto out;
	}
	s = ctl_socket(err);
	if (s < 0)
		goto out;
	if (bridge) {
		ifr_set(&ifr, bridge);
		ifr.ifr_ifindex = (int)if_nametoindex(name);
		if (ifr.ifr_ifindex == 0 || (ioctl(s, SIOCBRADDIF, &ifr) < 0 && errno != EBUSY)) {
			net_fail(err, errno, "put the tap on bridge", bridge);
			goto out;
		}
	}
	rc = link_up(s, name, err);
out:
	if (rc < 0) {
		ioctl(fd, TUNSETPERSIST, 0UL);
	}
	if (s >= 0)
		close(s);
	close(fd);
	return rc;
}

int unik_tap_delete(const char *name, struct unik_error *err)
{
	int fd;

	if (!unik_netif_exists(name))
		return 0;
	fd = tun_open(name, err);
	if (fd < 0)
		return -1;
	/* The last close of a tap that is no longer persistent removes it. */
	if (ioctl(fd, TUNSETPERSIST, 0UL) < 0) {
		int e = errno;

		close(fd);
		return net_fail(err, e, "remove tap", name);
	}
	close(fd);
	return 0;
}

int unik_host_subnets(struct unik_cidr **out, size_t *n, struct unik_error *err)
{
	struct ifaddrs *ifa, *i;

	*out = NULL;
	*n = 0;
	if (getifaddrs(&ifa) < 0) {
		unik_error_sys(err, errno, "list the host's addresses");
		return -1;
	}
	for (i = ifa; i; i = i->ifa_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)i->ifa_addr;
		const struct sockaddr_in *m = (const struct sockaddr_in *)i->ifa_netmask;
		uint32_t mask;
		int prefix = 0;

		if (!a || !m || a->sin_family != AF_INET)
			continue;
		mask = ntohl(m->sin_addr.s_addr);
		while (prefix < 32 && (mask & (0x80000000u >> prefix)))
			prefix++;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[*n].addr = ntohl(a->sin_addr.s_addr) & unik_cidr_mask(prefix);
		(*out)[*n].prefix = prefix;
		(*n)++;
	}
	freeifaddrs(ifa);
	return 0;
}

bool unik_cidr_overlap(const struct unik_cidr *a, const struct unik_cidr *b)
{
	uint32_t mask = unik_cidr_mask(a->prefix < b->prefix ? a->prefix : b->prefix);

	return (a->addr & mask) == (b->addr & mask);
}
