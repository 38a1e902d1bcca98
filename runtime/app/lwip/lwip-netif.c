/* liblwip-app.a's glue (include/unik/lwip-netif.h): lwIP's NO_SYS platform (time, randomness)
 * and an lwIP netif over a mirage application's net device, fed by unik_net_read and sent
 * with unik_net_write.  Compiled with unik-cc like the application, beside lwIP's own files. */
#include <stdarg.h>
#include <unik/lwip-netif.h>

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

/* musl's, which the application links (runtime/ takes no host header). */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
__attribute__((noreturn)) void abort(void);

#define FRAME_MAX 1514
#define NETIF_MAX 8

struct app_netif {
	struct netif nif;
	unik_handle_t h;
	char name[16];
};

static struct app_netif netifs[NETIF_MAX];
static int n_netifs;
static uint64_t rand_state;

void unik_lwip_app_diag(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		unik_console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void unik_lwip_app_assert(const char *what, const char *file, int line)
{
	unik_lwip_app_diag("lwIP: assertion \"%s\" failed in %s:%d\n", what, file, line);
	abort();
}

u32_t sys_now(void)
{
	return (u32_t)(unik_clock_monotonic() / 1000000);
}

/* xorshift64*, seeded from the clocks: TCP's initial sequence numbers and ports want
 * unpredictable, not cryptographic. */
uint32_t unik_lwip_app_rand(void)
{
	if (!rand_state)
		rand_state = (unik_clock_wall() ^ unik_clock_monotonic() << 17) | 1;
	rand_state ^= rand_state >> 12;
	rand_state ^= rand_state << 25;
	rand_state ^= rand_state >> 27;
	return (uint32_t)((rand_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static err_t linkoutput(struct netif *nif, struct pbuf *p)
{
	struct app_netif *a = nif->state;
	uint8_t frame[FRAME_MAX];
	const uint8_t *data = p->payload;

	if (p->tot_len > sizeof(frame))
		return ERR_BUF;
	/* LWIP_NETIF_TX_SINGLE_PBUF: almost always one buffer; copy only a chain. */
	if (p->len != p->tot_len) {
		pbuf_copy_partial(p, frame, p->tot_len, 0);
		data = frame;
	}
	return unik_net_write(a->h, data, p->tot_len) == UNIK_R_OK ? ERR_OK : ERR_IF;
}

static err_t app_netif_init(struct netif *nif)
{
	struct app_netif *a = nif->state;
	struct unik_net_info info;

	if (unik_net_info(a->name, &a->h, &info) != UNIK_R_OK)
		return ERR_IF;
	nif->name[0] = 'u';
	nif->name[1] = 'a';
	nif->hwaddr_len = 6;
	__builtin_memcpy(nif->hwaddr, info.mac, 6);
	nif->mtu = (u16_t)info.mtu;
	nif->flags =
	    NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	nif->output = etharp_output;
	nif->linkoutput = linkoutput;
	NETIF_SET_CHECKSUM_CTRL(nif, NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_UDP |
	                                 NETIF_CHECKSUM_GEN_TCP | NETIF_CHECKSUM_GEN_ICMP |
	                                 NETIF_CHECKSUM_CHECK_IP | NETIF_CHECKSUM_CHECK_ICMP);
	return ERR_OK;
}

struct netif *unik_lwip_netif_add(const char *name)
{
	static bool started;
	struct unik_net_info info;
	struct app_netif *a;
	ip4_addr_t ip, mask, gw;
	unik_handle_t h;

	if (!started) {
		lwip_init();
		started = true;
	}
	if (n_netifs == NETIF_MAX) {
		unik_lwip_app_diag("lwip-netif: no more than %d interfaces\n", NETIF_MAX);
		return NULL;
	}
	a = &netifs[n_netifs];
	if (!name || __builtin_strlen(name) >= sizeof(a->name) ||
	    unik_net_info(name, &h, &info) != UNIK_R_OK) {
		unik_lwip_app_diag("lwip-netif: no net device \"%s\" (is it declared in the "
		                   "Unikfile?)\n",
		                   name ? name : "(null)");
		return NULL;
	}
	__builtin_memcpy(a->name, name, __builtin_strlen(name) + 1);
	ip4_addr_set_u32(&ip, info.has_ip ? info.ip : 0);
	ip4_addr_set_u32(&mask, info.has_ip ? info.netmask : 0);
	ip4_addr_set_u32(&gw, info.has_ip ? info.gateway : 0);
	if (!netif_add(&a->nif, &ip, &mask, &gw, a, app_netif_init, ethernet_input)) {
		unik_lwip_app_diag("lwip-netif: lwIP refused device \"%s\"\n", name);
		return NULL;
	}
	if (!n_netifs)
		netif_set_default(&a->nif);
	netif_set_up(&a->nif);
	if (!info.has_ip)
		dhcp_start(&a->nif);
	n_netifs++;
	return &a->nif;
}

unik_handle_t unik_lwip_netif_handle(const struct netif *nif)
{
	return ((const struct app_netif *)nif->state)->h;
}

int unik_lwip_poll(void)
{
	uint8_t frame[FRAME_MAX];
	int handed = 0;

	for (int i = 0; i < n_netifs; i++) {
		struct app_netif *a = &netifs[i];
		size_t len;

		/* A bounded batch per interface, so that timers and the other devices get a turn.
		 */
		for (int k = 0; k < 64; k++) {
			struct pbuf *p;

			if (unik_net_read(a->h, frame, sizeof(frame), &len) != UNIK_R_OK)
				break;
			if (!(p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM)))
				continue; /* dropped, as a full ring would */
			pbuf_take(p, frame, (u16_t)len);
			if (a->nif.input(p, &a->nif) != ERR_OK)
				pbuf_free(p);
			handed++;
		}
	}
	sys_check_timeouts();
	return handed;
}

void unik_lwip_wait(unik_time_t deadline)
{
	unik_handle_set_t ready = 0;
	u32_t sleep_ms = sys_timeouts_sleeptime();
	unik_time_t now = unik_clock_monotonic();
	unik_time_t until =
	    sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? 0 : now + (unik_time_t)sleep_ms * 1000000;

	if (deadline && (!until || deadline < until))
		until = deadline;
	/* Frames that came in while the application worked are handed over without sleeping. */
	if (unik_lwip_poll() > 0)
		return;
	unik_yield(until ? until : now + 1000000000ULL * 3600, &ready);
	unik_lwip_poll();
}
