/* Host network plumbing for instances: the Linux bridge of a unik network and the taps that put
 * NICs on it.  The kernel's own interfaces (ioctls on an AF_INET socket, /dev/net/tun), no shell
 * and no `ip`; every call needs CAP_NET_ADMIN in the current network namespace. */
#ifndef UNIK_LIB_HOSTNET_H
#define UNIK_LIB_HOSTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/devices.h"
#include "lib/error.h"

/* Interface names are at most 15 bytes (IFNAMSIZ - 1). */
#define UNIK_IFNAME_MAX 15

/* The bridge of the network with this id: "ukbr-" and the id's first 10 characters. */
void unik_bridge_name(const char *network_id, char out[UNIK_IFNAME_MAX + 1]);
/* The tap of an instance's NIC index (0 to 15): "uk", the instance id (12), the index in hex. */
void unik_tap_name(const char *instance_id, unsigned index, char out[UNIK_IFNAME_MAX + 1]);

/* Whether an interface of this name exists. */
bool unik_netif_exists(const char *name);

/* Makes bridge name with address gw (the gateway, with the subnet's prefix) and brings it up.
 * An existing bridge of that name is reused, its address set again (what a daemon restart finds).
 * UNIK_E_PERM without CAP_NET_ADMIN, saying so. */
int unik_bridge_create(const char *name, const struct unik_cidr *gw, struct unik_error *err);
/* Removes bridge name; 0 when it does not exist. */
int unik_bridge_delete(const char *name, struct unik_error *err);

/* Makes a persistent tap name (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR offered), owned by uid/gid so
 * that an unprivileged QEMU may open it by name, puts it on bridge (when not NULL), and brings it
 * up.  An existing tap of that name is reused. */
int unik_tap_create(const char *name, const char *bridge, uid_t uid, gid_t gid,
                    struct unik_error *err);
/* Removes tap name; 0 when it does not exist. */
int unik_tap_delete(const char *name, struct unik_error *err);

/* The IPv4 subnets of the host's interfaces (addresses with their prefixes, from getifaddrs),
 * for refusing a network that overlaps one.  Caller frees *out. */
int unik_host_subnets(struct unik_cidr **out, size_t *n, struct unik_error *err);
/* Whether two subnets share an address. */
bool unik_cidr_overlap(const struct unik_cidr *a, const struct unik_cidr *b);

#endif
