/* An IncludeOS-style UDP echo service: every datagram to port 7007 goes back to its sender.
 * A datagram that reads "quit" ends the service with status 0. */
#include <string.h>
#include <unik/service.h>

#define PORT 7007

static unsigned long echoed;

static void on_packet(struct service_udp *u, uint32_t from, uint16_t port, const void *data,
                      size_t len, void *arg)
{
	char ip[16];

	(void)arg;
	if (len == 4 && !memcmp(data, "quit", 4)) {
		service_log("udp-echo: %lu datagrams echoed, quitting\n", echoed);
		service_exit(0);
		return;
	}
	if (service_udp_send(u, from, port, data, len) == 0)
		echoed++;
	else
		service_log("udp-echo: cannot answer %s:%u\n", service_ip4_format(from, ip), port);
}

void service_start(void)
{
	if (!service_udp_bind(PORT, on_packet, NULL)) {
		service_log("udp-echo: cannot bind port %d\n", PORT);
		service_exit(1);
		return;
	}
	service_log("udp-echo: listening on UDP port %d\n", PORT);
}
