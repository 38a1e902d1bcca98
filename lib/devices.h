/* The host side of the device model (include/unik/devices.h): the devices an instance runs with,
 * checked once, and the manifest words that tell the guest about them.  Providers attach the
 * devices (providers/provider.h, unik_run_spec.devices); the core fills them in from a run. */
#ifndef UNIK_LIB_DEVICES_H
#define UNIK_LIB_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* enum unik_dev_kind's values, for code above lib/, which may not include include/unik/. */
enum unik_device_kind {
	UNIK_DEVICE_CONSOLE = 0,
	UNIK_DEVICE_NET,
	UNIK_DEVICE_BLK,
	UNIK_DEVICE_FS,
	UNIK_DEVICE_KINDS
};
#define UNIK_DEVICE_BIT(kind) (1u << (kind))

/* A published port: traffic to host_ip:host_port on the host reaches the guest's guest_port on the
 * NIC that carries it (`unik run -p [HOSTIP:]HOSTPORT:GUESTPORT[/udp]`). */
enum unik_port_proto { UNIK_PORT_TCP = 0, UNIK_PORT_UDP };
struct unik_port {
	enum unik_port_proto proto;
	char host_ip[46]; /* an IPv4 address; "" is every address of the host (0.0.0.0) */
	uint16_t host_port, guest_port;
};

/* Parses "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]" (Docker's spelling; ports 1 to 65535).  -1
 * with err (UNIK_E_INVALID, quoting spec and naming the form) otherwise. */
int unik_port_parse(const char *spec, struct unik_port *p, struct unik_error *err);
/* "0.0.0.0:8080->80/tcp", as `docker ps` shows ports. */
void unik_port_format(const struct unik_port *p, char *buf, size_t len);
/* "[HOSTIP:]HOSTPORT:GUESTPORT/PROTO", which unik_port_parse reads back. */
void unik_port_spec(const struct unik_port *p, char *buf, size_t len);
/* "tcp" or "udp". */
const char *unik_port_proto_name(enum unik_port_proto proto);

/* An IPv4 address with a prefix length, "10.88.0.5/24".  addr is in host byte order. */
struct unik_cidr {
	uint32_t addr;
	int prefix; /* 0 to 32 */
};
/* Parses "A.B.C.D/N"; with want_prefix false a bare "A.B.C.D" is /32.  -1 with err
 * (UNIK_E_INVALID, quoting s) otherwise. */
int unik_cidr_parse(const char *s, bool want_prefix, struct unik_cidr *c, struct unik_error *err);
/* "A.B.C.D/N" (with_prefix) or "A.B.C.D". */
void unik_cidr_format(const struct unik_cidr *c, bool with_prefix, char *buf, size_t len);
/* The mask of a prefix length, host byte order. */
uint32_t unik_cidr_mask(int prefix);

/* One device of an instance.  Strings are owned by whoever filled the struct. */
struct unik_device {
	enum unik_device_kind kind;
	const char *name; /* the guest's name for it: [a-z][a-z0-9_-]{0,14} */
	/* Backing, by kind: */
	const char *network; /* net: the named network (a bridge) the NIC joins, or NULL */
	const char *tap;     /* net: an existing host tap device to use, or NULL (the provider
	                        makes one, or uses user-mode networking where it has it) */
	const char *bridge;  /* net: the Linux bridge of network (lib/hostnet.h), when network is
	                        set: the provider puts the NIC's tap on it */
	const char *ip;      /* net: "IP/PREFIX" the guest takes (unik.NAME= on its command line),
	                        or NULL: the guest asks DHCP */
	const char *gateway; /* net: the default gateway, or NULL */
	const char *dns;     /* net: the name server, or NULL */
	/* net: the ports published to this NIC.  On user-mode networking the provider forwards
	 * them (QEMU's hostfwd); on a network, to ip (a forwarder or DNAT).  A port the provider
	 * cannot bind fails the run before the guest starts (UNIK_E_EXISTS, naming the port). */
	const struct unik_port *ports;
	size_t nports;
	const char *path;   /* blk: the disk file; fs: the host directory */
	const char *format; /* blk: "raw" or "qcow2" */
	const char *mount;  /* blk, fs: where the guest mounts it ("/data"), or NULL */
	bool readonly;
	char mac[18]; /* net: "52:54:00:xx:xx:xx"; unik_devices_check fills it when empty */
};

/* "net", ...; NULL for a value out of range. */
const char *unik_device_kind_name(enum unik_device_kind kind);
/* The kind named name; -1 if none. */
int unik_device_kind_parse(const char *name);
/* "net, blk" for a capability mask (console left out); "none" when no bit is set. */
void unik_device_caps_string(unsigned caps, char *buf, size_t len);

/* Checks n devices for a provider with capability mask caps: names valid and unique, kinds the
 * provider attaches (else UNIK_E_UNSUPPORTED naming the kind, the provider and what it does
 * attach), backing present for the kind, MACs well formed.  A net device without a MAC gets one
 * derived from instance_id and its index (52:54:00:..., stable across restarts).  A net device's
 * ip must be IP/PREFIX, its gateway and dns bare addresses, and no two published ports (over all
 * devices) may take the same host port and protocol on overlapping host addresses.  At most
 * UNIK_DEV_MAX devices. */
int unik_devices_check(struct unik_device *devs, size_t n, unsigned caps, const char *provider,
                       const char *instance_id, struct unik_error *err);

/* The manifest words for the guest's command line (include/unik/devices.h), then for each net
 * device with an ip its "unik.NAME=IP/PREFIX[,gw=IP][,dns=IP]" word (docs/guest-abi.md), each
 * shell-quoted
 * when it needs it, joined by blanks, and then cmdline ("" for the image's defaults): the boot
 * command line a v2 guest gets.  Caller frees.  With no devices, a copy of cmdline. */
char *unik_devices_cmdline(const struct unik_device *devs, size_t n, const char *cmdline);

/* The guest's hostname word (unik.hostname=NAME, docs/guest-abi.md "Hostname"), quoted when
 * it needs it.  Caller frees. */
char *unik_hostname_word(const char *name);

/* s past a leading hostname word and the blank after it (s itself when it starts with none);
 * for words unik_hostname_word made of a name that needs no quoting. */
const char *unik_skip_hostname_word(const char *s);

#endif
