/* AF_PACKET in the guest: on interface N (argv[1], default 1) get the name, index and MAC, send a
 * DHCP DISCOVER and wait up to 5 s for the OFFER of QEMU's user-mode network.  Guest only: a
 * native run would need CAP_NET_RAW and a DHCP server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netpacket/packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define XID 0x756e696b /* "unik" */

static uint16_t ip_checksum(const uint8_t *p, int n)
{
	uint32_t sum = 0;
	for (int i = 0; i < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int discover(uint8_t *f, const uint8_t mac[6])
{
	int n = 0;
	memset(f, 0, 600);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	b[4] = XID >> 24, b[5] = XID >> 16 & 0xff, b[6] = XID >> 8 & 0xff, b[7] = XID & 0xff;
	b[10] = 0x80; /* answer by broadcast: there is no address yet */
	memcpy(b + 28, mac, 6);
	uint8_t *o = b + 236;
	const uint8_t opts[] = {99, 130, 83, 99, 53, 1, 1, 55, 3, 1, 3, 6, 255};
	memcpy(o, opts, sizeof(opts));
	n = 236 + 64; /* at least the 300 bytes of a BOOTP message */
	int ulen = 8 + n, iplen = 20 + ulen;
	udp[1] = 68, udp[3] = 67, udp[4] = ulen >> 8, udp[5] = ulen & 0xff;
	ip[0] = 0x45, ip[2] = iplen >> 8, ip[3] = iplen & 0xff, ip[8] = 64, ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	uint16_t c = ip_checksum(ip, 20);
	ip[10] = c >> 8, ip[11] = c & 0xff;
	return 14 + iplen;
}

/* The OFFER's address and server, or 0 when the frame is something else. */
static int offer(const uint8_t *f, int n, char *yi, char *server)
{
	if (n < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0 || f[14 + 9] != 17)
		return 0;
	const uint8_t *udp = f + 14 + (f[14] & 15) * 4, *b = udp + 8;
	if ((udp[2] << 8 | udp[3]) != 68 || b[0] != 2)
		return 0;
	if ((uint32_t)(b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]) != XID)
		return 0;
	int type = 0;
	const uint8_t *sid = b + 20; /* siaddr, unless option 54 names the server */
	for (const uint8_t *o = b + 240; o < f + n && *o != 255; o += *o ? 2 + o[1] : 1) {
		if (*o == 53)
			type = o[2];
		if (*o == 54)
			sid = o + 2;
	}
	if (type != 2)
		return 0;
	sprintf(yi, "%d.%d.%d.%d", b[16], b[17], b[18], b[19]);
	sprintf(server, "%d.%d.%d.%d", sid[0], sid[1], sid[2], sid[3]);
	return 1;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
	int want = argc > 1 ? atoi(argv[1]) : 1;
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	printf("unknown family: %s\n",
	       socket(AF_INET6 + 100, SOCK_RAW, 0) < 0 && errno == EAFNOSUPPORT ? "EAFNOSUPPORT"
	                                                                        : "?");
	struct ifreq ifr = {0};
	ifr.ifr_ifindex = want;
	if (ioctl(fd, SIOCGIFNAME, &ifr) < 0) {
		printf("SIOCGIFNAME %d: %s\n", want, strerror(errno));
		return 1;
	}
	char name[IFNAMSIZ];
	snprintf(name, sizeof(name), "%s", ifr.ifr_name);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0 || ifr.ifr_ifindex != want) {
		printf("SIOCGIFINDEX %s: %s\n", name, strerror(errno));
		return 1;
	}
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		printf("SIOCGIFHWADDR: %s\n", strerror(errno));
		return 1;
	}
	uint8_t mac[6];
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	printf("interface %d %s %02x:%02x:%02x:%02x:%02x:%02x\n", want, name, mac[0], mac[1],
	       mac[2], mac[3], mac[4], mac[5]);
	struct sockaddr_ll ll = {
	    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = want};
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		printf("bind: %s\n", strerror(errno));
		return 1;
	}
	uint8_t frame[1600];
	/* A socket for an EtherType nobody sends (IEEE's local experimental one) has nothing. */
	int quiet = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(0x88b5));
	printf("quiet recv: %s\n",
	       recv(quiet, frame, sizeof(frame), 0) < 0 && errno == EAGAIN ? "EAGAIN" : "?");
	ll.sll_ifindex = 99;
	printf("bind to index 99: %s\n",
	       bind(quiet, (struct sockaddr *)&ll, sizeof(ll)) < 0 && errno == ENODEV ? "ENODEV"
	                                                                              : "?");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "nope0");
	printf("SIOCGIFINDEX nope0: %s\n",
	       ioctl(quiet, SIOCGIFINDEX, &ifr) < 0 && errno == ENODEV ? "ENODEV" : "?");
	close(quiet);
	int n = discover(frame, mac);
	if (sendto(fd, frame, n, 0, NULL, 0) != n) {
		printf("sendto: %s\n", strerror(errno));
		return 1;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long left; (left = 5000 - ms_since(&t0)) > 0;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, (int)left) <= 0)
			break;
		struct sockaddr_ll from;
		socklen_t flen = sizeof(from);
		int r = recvfrom(fd, frame, sizeof(frame), 0, (struct sockaddr *)&from, &flen);
		if (r < 0) {
			printf("recvfrom: %s\n", strerror(errno));
			return 1;
		}
		char yi[16], server[16];
		if (from.sll_ifindex == want && offer(frame, r, yi, server)) {
			printf("offer %s from %s\n", yi, server);
			return 0;
		}
	}
	printf("no offer in 5 s\n");
	return 1;
}
