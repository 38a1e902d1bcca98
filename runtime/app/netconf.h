/* What the two application libraries share (lib.c for the virtio target, lib-unix.c for unix):
 * the parsing of a net device's configuration, "IP/PREFIX[,gw=IP][,dns=IP]" (docs/guest-abi.md),
 * into unik_net_info.  Static functions: each library gets its own copy, with no symbol to clash
 * with the application's. */
#ifndef UNIK_RT_APP_NETCONF_H
#define UNIK_RT_APP_NETCONF_H

#include "unik/devices-app.h"

/* A decimal number at *s, at most max; s moves past it.  -1 when there is none. */
static long unikapp_number(const char **s, long max)
{
	long v = 0;
	const char *p = *s;

	while (*p >= '0' && *p <= '9' && v <= max)
		v = v * 10 + (*p++ - '0');
	if (p == *s || v > max)
		return -1;
	*s = p;
	return v;
}

/* "a.b.c.d" at *s into *out (network byte order); s moves past it. */
static int unikapp_parse_ip(const char **s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		long b = unikapp_number(s, 255);
		if (b < 0 || (i < 3 && *(*s)++ != '.'))
			return -1;
		v = v << 8 | (uint32_t)b;
	}
	*out = __builtin_bswap32(v);
	return 0;
}

/* "IP/PREFIX[,gw=IP][,dns=IP]" into info; anything else leaves has_ip false. */
static void unikapp_parse_config(const char *s, struct unik_net_info *info)
{
	uint32_t ip;

	if (!*s || unikapp_parse_ip(&s, &ip) < 0 || *s++ != '/')
		return;
	long prefix = unikapp_number(&s, 32);
	if (prefix < 0)
		return;
	info->has_ip = true;
	info->ip = ip;
	info->prefix = (int)prefix;
	info->netmask = __builtin_bswap32(prefix ? ~0u << (32 - prefix) : 0);
	while (*s == ',') {
		s++;
		if (s[0] == 'g' && s[1] == 'w' && s[2] == '=') {
			s += 3;
			if (unikapp_parse_ip(&s, &info->gateway) < 0)
				return;
		} else {
			while (*s && *s != ',')
				s++;
		}
	}
}

#endif
