/* A TCP echo server (port 7) written as a mirage application that links lwIP as a library, as
 * a MirageOS application links mirage-tcpip: lwIP's raw API over the net device the Unikfile
 * declares as `service` (include/unik/lwip-netif.h), on one thread, with no system calls but
 * the device interface's.  A connection that sends "quit\n" ends the application. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unik/devices-app.h>
#include <unik/lwip-netif.h>

#include <lwip/ip4_addr.h>
#include <lwip/netif.h>
#include <lwip/tcp.h>

#define PORT 7

static int connections, quitting;

static void say(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		unik_console_write(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg, (void)err;
	if (!p) {
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		if (tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
		return ERR_OK;
	}
	/* Back-pressure, the simple way: what does not fit in the send buffer is not taken
	 * (the window stays closed for it), and lwIP offers it again. */
	if (p->tot_len > tcp_sndbuf(pcb))
		return ERR_MEM;
	for (struct pbuf *q = p; q; q = q->next) {
		if (q->len >= 4 && !memcmp(q->payload, "quit", 4))
			quitting = 1;
		tcp_write(pcb, q->payload, q->len, TCP_WRITE_FLAG_COPY);
	}
	tcp_output(pcb);
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (!connections++)
		say("echo: first connection\n");
	tcp_recv(pcb, on_recv);
	return ERR_OK;
}

int unik_app_main(const struct unik_app_info *info)
{
	struct netif *nif = unik_lwip_netif_add("service");
	struct tcp_pcb *pcb;
	unik_time_t quit_at = 0;

	(void)info;
	if (!nif)
		return 1;
	pcb = tcp_new();
	if (!pcb || tcp_bind(pcb, IP_ANY_TYPE, PORT) != ERR_OK || !(pcb = tcp_listen(pcb))) {
		say("echo: cannot listen on port %d\n", PORT);
		return 1;
	}
	tcp_accept(pcb, on_accept);
	say("echo: service %s/%d, port %d\n", ip4addr_ntoa(netif_ip4_addr(nif)),
	    __builtin_popcount(ip4_addr_get_u32(netif_ip4_netmask(nif))), PORT);
	for (;;) {
		unik_lwip_wait(quit_at);
		/* Give the last echo a moment to leave before the machine stops. */
		if (quitting && !quit_at)
			quit_at = unik_clock_monotonic() + 200000000ULL;
		if (quit_at && unik_clock_monotonic() >= quit_at)
			break;
	}
	say("echo: bye after %d connections\n", connections);
	return 0;
}
