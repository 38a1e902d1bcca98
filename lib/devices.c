/* The host side of the device model: checking an instance's devices and writing the manifest
 * words of guest ABI v2 (include/unik/devices.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <unik/devices.h>

#include "lib/cmdline.h"
#include "lib/devices.h"
#include "lib/util.h"

#define FAIL(...) (unik_error_set(err, __VA_ARGS__), -1)

_Static_assert((int)UNIK_DEVICE_NET == (int)UNIK_DEV_NET &&
                   (int)UNIK_DEVICE_BLK == (int)UNIK_DEV_BLK &&
                   (int)UNIK_DEVICE_FS == (int)UNIK_DEV_FS &&
                   (int)UNIK_DEVICE_KINDS == (int)UNIK_DEV_KINDS,
               "lib/devices.h's kinds are include/unik/devices.h's");

static const char *const kind_names[] = UNIK_DEV_KIND_NAMES;

const char *unik_device_kind_name(enum unik_device_kind kind)
{
	if ((unsigned)kind >= UNIK_DEVICE_KINDS)
		return NULL;
	return kind_names[kind];
}

int unik_device_kind_parse(const char *name)
{
	for (int k = 0; k < UNIK_DEVICE_KINDS; k++)
		if (name && strcmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

void unik_device_caps_string(unsigned caps, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int k = UNIK_DEVICE_NET; k < UNIK_DEVICE_KINDS; k++) {
		if (!(caps & UNIK_DEVICE_BIT(k)))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", kind_names[k]);
		if (w < 0 || (size_t)w >= len - used)
			return;
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(buf, len, "none");
}

static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > UNIK_DEV_NAME_MAX || !islower((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static bool mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	}
	/* A unicast address: the group bit of the first octet clear. */
	return (strtol((char[3]){m[0], m[1], 0}, NULL, 16) & 1) == 0;
}

/* 52:54:00 (QEMU's prefix), then three bytes from an FNV-1a hash of the instance id and the
 * device's index: the same instance gets the same MACs every time it runs. */
static void mac_derive(const char *instance_id, size_t index, char out[18])
{
	uint32_t h = 2166136261u;

	for (const char *p = instance_id ? instance_id : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ (uint32_t)index) * 16777619u;
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

const char *unik_port_proto_name(enum unik_port_proto proto)
{
	return proto == UNIK_PORT_UDP ? "udp" : "tcp";
}

/* A port number: digits only, 1 to 65535. */
static bool port_number(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

int unik_port_parse(const char *spec, struct unik_port *p, struct unik_error *err)
{
	const char *slash, *last, *first;
	size_t len;

	memset(p, 0, sizeof(*p));
	if (!spec || !spec[0])
		return FAIL(UNIK_E_INVALID, "empty port: give [HOSTIP:]HOSTPORT:GUESTPORT[/udp]");
	len = strlen(spec);
	slash = strchr(spec, '/');
	if (slash) {
		if (strcmp(slash + 1, "udp") == 0)
			p->proto = UNIK_PORT_UDP;
		else if (strcmp(slash + 1, "tcp") != 0)
			return FAIL(UNIK_E_INVALID,
			            "port \"%.80s\": the protocol after / is tcp or udp", spec);
		len = (size_t)(slash - spec);
	}
	last = memrchr(spec, ':', len);
	if (!last)
		return FAIL(UNIK_E_INVALID,
		            "port \"%.80s\" is not [HOSTIP:]HOSTPORT:GUESTPORT[/udp], e.g. 8080:80",
		            spec);
	if (!port_number(last + 1, len - (size_t)(last + 1 - spec), &p->guest_port))
		return FAIL(UNIK_E_INVALID, "port \"%.80s\": the guest port is not 1 to 65535",
		            spec);
	first = memrchr(spec, ':', (size_t)(last - spec));
	if (!port_number(first ? first + 1 : spec, (size_t)(last - (first ? first + 1 : spec)),
	                 &p->host_port))
		return FAIL(UNIK_E_INVALID, "port \"%.80s\": the host port is not 1 to 65535",
		            spec);
	if (first) {
		size_t iplen = (size_t)(first - spec);
		struct in_addr a;

		if (iplen == 0 || iplen >= sizeof(p->host_ip))
			return FAIL(UNIK_E_INVALID,
			            "port \"%.80s\": the host address before the ports is empty "
			            "or too long",
			            spec);
		memcpy(p->host_ip, spec, iplen);
		p->host_ip[iplen] = '\0';
		if (inet_pton(AF_INET, p->host_ip, &a) != 1)
			return FAIL(UNIK_E_INVALID,
			            "port \"%.80s\": host address \"%s\" is not an IPv4 address",
			            spec, p->host_ip);
		if (a.s_addr == htonl(INADDR_ANY))
			p->host_ip[0] = '\0';
	}
	return 0;
}

void unik_port_format(const struct unik_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u->%u/%s", p->host_ip[0] ? p->host_ip : "0.0.0.0", p->host_port,
	         p->guest_port, unik_port_proto_name(p->proto));
}

void unik_port_spec(const struct unik_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%u:%u/%s", p->host_ip, p->host_ip[0] ? ":" : "", p->host_port,
	         p->guest_port, unik_port_proto_name(p->proto));
}

uint32_t unik_cidr_mask(int prefix)
{
	return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int unik_cidr_parse(const char *s, bool want_prefix, struct unik_cidr *c, struct unik_error *err)
{
	char ip[16];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : s ? strlen(s) : 0;
	struct in_addr a;
	uint16_t prefix = 32;

	if (!s || n == 0 || n >= sizeof(ip))
		goto bad;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		goto bad;
	if (slash) {
		if (strcmp(slash + 1, "0") == 0)
			prefix = 0;
		else if (!port_number(slash + 1, strlen(slash + 1), &prefix) || prefix > 32)
			goto bad;
	} else if (want_prefix) {
		goto bad;
	}
	c->addr = ntohl(a.s_addr);
	c->prefix = prefix;
	return 0;
bad:
	return FAIL(UNIK_E_INVALID, "\"%.60s\" is not %s", s ? s : "",
	            want_prefix ? "an IPv4 address with a prefix length, e.g. 10.88.0.0/24"
	                        : "an IPv4 address, e.g. 10.88.0.5");
}

void unik_cidr_format(const struct unik_cidr *c, bool with_prefix, char *buf, size_t len)
{
	struct in_addr a = {htonl(c->addr)};
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (with_prefix)
		snprintf(buf, len, "%s/%d", ip, c->prefix);
	else
		snprintf(buf, len, "%s", ip);
}

/* Whether two published ports would take the same host socket. */
static bool ports_clash(const struct unik_port *a, const struct unik_port *b)
{
	return a->proto == b->proto && a->host_port == b->host_port &&
	       (!a->host_ip[0] || !b->host_ip[0] || strcmp(a->host_ip, b->host_ip) == 0);
}

static int check_net(const struct unik_device *devs, size_t i, struct unik_error *err)
{
	const struct unik_device *d = &devs[i];
	struct unik_cidr c;

	if (d->ip && unik_cidr_parse(d->ip, true, &c, err) < 0) {
		unik_error_prefix(err, "net device \"%s\": address", d->name);
		return -1;
	}
	if (d->gateway && unik_cidr_parse(d->gateway, false, &c, err) < 0) {
		unik_error_prefix(err, "net device \"%s\": gateway", d->name);
		return -1;
	}
	if (d->dns && unik_cidr_parse(d->dns, false, &c, err) < 0) {
		unik_error_prefix(err, "net device \"%s\": name server", d->name);
		return -1;
	}
	for (size_t k = 0; k < d->nports; k++) {
		char a[96], b[96];

		if (d->ports[k].host_port == 0 || d->ports[k].guest_port == 0)
			return FAIL(UNIK_E_INVALID, "net device \"%s\": a published port is 0",
			            d->name);
		for (size_t j = 0; j <= i; j++)
			for (size_t m = 0; m < (j == i ? k : devs[j].nports); m++) {
				if (devs[j].kind != UNIK_DEVICE_NET ||
				    !ports_clash(&devs[j].ports[m], &d->ports[k]))
					continue;
				unik_port_format(&devs[j].ports[m], a, sizeof(a));
				unik_port_format(&d->ports[k], b, sizeof(b));
				return FAIL(UNIK_E_INVALID,
				            "ports %s and %s take the same host port", a, b);
			}
	}
	return 0;
}

int unik_devices_check(struct unik_device *devs, size_t n, unsigned caps, const char *provider,
                       const char *instance_id, struct unik_error *err)
{
	if (n > UNIK_DEV_MAX)
		return FAIL(UNIK_E_INVALID, "too many devices: %zu (at most %d)", n, UNIK_DEV_MAX);
	for (size_t i = 0; i < n; i++) {
		struct unik_device *d = &devs[i];
		const char *kind = unik_device_kind_name(d->kind);
		char have[64];

		if (!kind || d->kind == UNIK_DEVICE_CONSOLE)
			return FAIL(UNIK_E_INVALID, "device %zu: not a kind that can be attached",
			            i + 1);
		if (!name_ok(d->name))
			return FAIL(
			    UNIK_E_INVALID,
			    "device name \"%s\" is not valid: 1 to %d characters from a-z, 0-9, "
			    "_ and -, starting with a letter",
			    d->name ? d->name : "", UNIK_DEV_NAME_MAX);
		/* unik.hostname= names the guest: no device's configuration word may look so. */
		if (!strcmp(d->name, "hostname"))
			return FAIL(
			    UNIK_E_INVALID,
			    "device name \"hostname\" is reserved (unik.hostname= names the "
			    "guest): choose another");
		for (size_t j = 0; j < i; j++)
			if (strcmp(devs[j].name, d->name) == 0)
				return FAIL(UNIK_E_INVALID, "two devices are named \"%s\"",
				            d->name);
		if (!(caps & UNIK_DEVICE_BIT(d->kind))) {
			unik_device_caps_string(caps, have, sizeof(have));
			return FAIL(
			    UNIK_E_UNSUPPORTED,
			    "provider %s cannot attach %s devices (\"%s\"); it attaches: %s",
			    provider, kind, d->name, have);
		}
		if ((d->kind == UNIK_DEVICE_BLK || d->kind == UNIK_DEVICE_FS) &&
		    (!d->path || !d->path[0]))
			return FAIL(UNIK_E_INVALID, "%s device \"%s\" has no %s", kind, d->name,
			            d->kind == UNIK_DEVICE_BLK ? "disk file" : "host directory");
		if (d->kind == UNIK_DEVICE_BLK && d->format && strcmp(d->format, "raw") != 0 &&
		    strcmp(d->format, "qcow2") != 0)
			return FAIL(UNIK_E_INVALID,
			            "blk device \"%s\": disk format \"%s\" is not raw or qcow2",
			            d->name, d->format);
		if (d->mount && d->mount[0] != '/')
			return FAIL(UNIK_E_INVALID,
			            "%s device \"%s\": mount point \"%s\" is not an absolute path",
			            kind, d->name, d->mount);
		if (d->kind != UNIK_DEVICE_NET)
			continue;
		if (check_net(devs, i, err) < 0)
			return -1;
		if (!d->mac[0])
			mac_derive(instance_id, i, d->mac);
		else if (!mac_ok(d->mac))
			return FAIL(
			    UNIK_E_INVALID,
			    "net device \"%s\": MAC \"%s\" is not a unicast XX:XX:XX:XX:XX:XX",
			    d->name, d->mac);
	}
	return 0;
}

char *unik_devices_cmdline(const struct unik_device *devs, size_t n, const char *cmdline)
{
	struct strv words = {0};
	char *out;

	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];
		_cleanup_free_ char *word = NULL;

		word = xasprintf("%s%s=%s%s%s%s%s%s", UNIK_DEV_WORD_PREFIX, d->name,
		                 unik_device_kind_name(d->kind), d->readonly ? ",ro" : "",
		                 d->kind == UNIK_DEVICE_NET ? ",mac=" : "",
		                 d->kind == UNIK_DEVICE_NET ? d->mac : "", d->mount ? ",at=" : "",
		                 d->mount ? d->mount : "");
		strv_push_take(&words, unik_cmdline_quote_word(word));
	}
	/* The network configuration after every manifest word (docs/guest-abi.md). */
	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];
		_cleanup_free_ char *word = NULL;

		if (d->kind != UNIK_DEVICE_NET || !d->ip)
			continue;
		word = xasprintf("unik.%s=%s%s%s%s%s", d->name, d->ip, d->gateway ? ",gw=" : "",
		                 d->gateway ? d->gateway : "", d->dns ? ",dns=" : "",
		                 d->dns ? d->dns : "");
		strv_push_take(&words, unik_cmdline_quote_word(word));
	}
	if (cmdline && cmdline[0])
		strv_push(&words, cmdline);
	out = strv_join(&words, " ");
	strv_free(&words);
	return out;
}

char *unik_hostname_word(const char *name)
{
	_cleanup_free_ char *word = xasprintf("%s%s", UNIK_HOSTNAME_WORD_PREFIX, name);

	return unik_cmdline_quote_word(word);
}

const char *unik_skip_hostname_word(const char *s)
{
	if (strncmp(s, UNIK_HOSTNAME_WORD_PREFIX, strlen(UNIK_HOSTNAME_WORD_PREFIX)))
		return s;
	s += strcspn(s, " ");
	return s + (*s == ' ');
}
