/* lwIP as a library for mirage applications (docs/backends/mirage.md "lwIP over a net device"),
 * as MirageOS applications link mirage-tcpip: an lwIP interface over a declared net device
 * (unik_net_read/write), and the loop that feeds it (unik_yield, lwIP's timers).  lwIP's raw
 * API ("lwip/tcp.h", "lwip/udp.h", ...) is the application's to call, from its one thread.
 *
 * Compile and link with `unik-cc --unik-app --unik-lwip` (the mirage backend adds --unik-lwip
 * when a source includes this header): it adds lwIP's headers and the configuration of
 * liblwip-app.a, built from the same Debian lwIP source as the runtime's stack, and links it. */
#ifndef UNIK_LWIP_NETIF_H
#define UNIK_LWIP_NETIF_H

#ifndef UNIK_LWIP_APP
#error "unik/lwip-netif.h needs unik-cc --unik-app --unik-lwip (lwIP's headers and liblwip-app.a)"
#endif

#include <unik/devices-app.h>

struct netif;

/* Starts lwIP (once) and adds the net device declared as `name` as an lwIP interface: its MAC
 * and MTU, and the address the host gave it (unik_net_info), else it starts DHCP.  The first
 * interface added is the default route.  The interface belongs to the library (at most 8); NULL,
 * with a line on the console, when the device is not declared. */
struct netif *unik_lwip_netif_add(const char *name);

/* The device handle behind an interface unik_lwip_netif_add made (for unik_yield's ready set). */
unik_handle_t unik_lwip_netif_handle(const struct netif *nif);

/* Hands lwIP the frames waiting on the library's interfaces (at most 64 per interface) and runs
 * lwIP's due timers; lwIP calls the application's callbacks from here.  Returns how many
 * frames it handed over. */
int unik_lwip_poll(void);

/* Polls; if nothing came in, sleeps in unik_yield until a frame arrives, lwIP's next timer is due
 * or `deadline` passes (unik_clock_monotonic nanoseconds; 0: none of the application's), then
 * polls again.  An application's loop is `for (;;) unik_lwip_wait(next_deadline);`. */
void unik_lwip_wait(unik_time_t deadline);

#endif
