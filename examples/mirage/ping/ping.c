/* Answers ARP and ICMP echo on its one net device, over raw Ethernet frames: the smallest mirage
 * application that a host can talk to.  Its address is the one the host gave the device. */
#include <stdio.h>
#include <string.h>

#include <unik/devices-app.h>

#define ETH_ARP  0x0806
#define ETH_IPV4 0x0800

static uint8_t frame[1514];

static void say(const char *s)
{
	unik_console_write(s, strlen(s));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An ARP request for our address becomes the reply, in place. */
static bool arp(uint8_t *f, size_t len, const struct unik_net_info *ni)
{
	uint8_t *a = f + 14;

	if (len < 42 || get16(a) != 1 || get16(a + 2) != ETH_IPV4 || get16(a + 6) != 1 ||
	    memcmp(a + 24, &ni->ip, 4))
		return false;
	put16(a + 6, 2);
	memcpy(a + 18, a + 8, 10); /* the asker's MAC and IP become the target's */
	memcpy(a + 8, ni->mac, 6);
	memcpy(a + 14, &ni->ip, 4);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, ni->mac, 6);
	return true;
}

/* An ICMP echo request to our address becomes the echo reply, in place. */
static bool echo(uint8_t *f, size_t len, const struct unik_net_info *ni)
{
	uint8_t *ip = f + 14, *icmp;
	size_t hl, total;

	if (len < 34 || (ip[0] >> 4) != 4 || ip[9] != 1 || memcmp(ip + 16, &ni->ip, 4))
		return false;
	hl = (size_t)(ip[0] & 15) * 4;
	total = get16(ip + 2);
	if (hl < 20 || total < hl + 8 || 14 + total > len)
		return false;
	icmp = ip + hl;
	if (icmp[0] != 8)
		return false;
	icmp[0] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 2, checksum(icmp, total - hl));
	memcpy(ip + 16, ip + 12, 4);
	memcpy(ip + 12, &ni->ip, 4);
	ip[8] = 64;
	put16(ip + 10, 0);
	put16(ip + 10, checksum(ip, hl));
	memcpy(f, f + 6, 6);
	memcpy(f + 6, ni->mac, 6);
	return true;
}

int unik_app_main(const struct unik_app_info *info)
{
	struct unik_net_info ni;
	unik_handle_t h;
	char line[128];
	uint8_t *ip = (uint8_t *)&ni.ip;
	unsigned long answered = 0;

	(void)info;
	if (unik_net_info("service", &h, &ni) != UNIK_R_OK) {
		say("ping: no net device \"service\"\n");
		return 1;
	}
	if (!ni.has_ip) {
		say("ping: the host gave \"service\" no address\n");
		return 1;
	}
	snprintf(line, sizeof(line),
	         "ping: service %u.%u.%u.%u/%d %02x:%02x:%02x:%02x:%02x:%02x mtu %zu\n", ip[0],
	         ip[1], ip[2], ip[3], ni.prefix, ni.mac[0], ni.mac[1], ni.mac[2], ni.mac[3],
	         ni.mac[4], ni.mac[5], ni.mtu);
	say(line);
	for (;;) {
		unik_handle_set_t ready;
		size_t len;

		unik_yield(unik_clock_monotonic() + 1000000000ull, &ready);
		while (unik_net_read(h, frame, sizeof(frame), &len) == UNIK_R_OK) {
			uint16_t type = len >= 14 ? get16(frame + 12) : 0;
			bool reply = (type == ETH_ARP && arp(frame, len, &ni)) ||
			             (type == ETH_IPV4 && echo(frame, len, &ni));

			if (reply && unik_net_write(h, frame, len) == UNIK_R_OK &&
			    type == ETH_IPV4 && ++answered == 1)
				say("ping: answered the first echo request\n");
		}
	}
}
