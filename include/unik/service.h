/* The includeos backend's service API: a service defines service_start() (no main), and timers,
 * TCP and UDP events call it back from one event loop, on one stack, with no threads and no
 * system calls.  docs/backends/includeos.md describes the model; unikrt-service.o implements it.
 *
 * Ownership: every handle (timer, TCP listener or connection, UDP socket) belongs to the
 * runtime.  It stays valid until the call that ends it (a one-shot timer's callback returning,
 * service_timer_cancel, on_close returning, service_udp_close); data pointers handed to a
 * callback are valid only while it runs.  Addresses are IPv4 in host byte order: 10.0.2.15 is
 * SERVICE_IP4(10, 0, 2, 15). */
#ifndef UNIK_SERVICE_H
#define UNIK_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVICE_IP4(a, b, c, d)                                                                    \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Defined by the service: called once, after the devices and the network are up.  It sets up
 * listeners and timers and returns; the event loop then runs until service_exit(), or until
 * nothing is left that could call the service (no timer, listener, connection or UDP socket),
 * which ends it with status 0. */
void service_start(void);

/* --- the console, the clock, the end --- */

/* printf-style formatting (the runtime's subset: %d %u %x %p %s %c %% with l, ll, z, a width
 * and 0 padding; no floating point), written to the console as one piece. */
void service_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void service_write(const void *buf, size_t len);
/* Milliseconds since boot. */
uint64_t service_now_ms(void);
/* Ends the service with status (0 to 255) once the running callback returns: the console
 * shows `unik: exit status N` and the instance stops. */
void service_exit(int status);

/* --- timers --- */

struct service_timer;
typedef void (*service_timer_fn)(struct service_timer *t, void *arg);

/* fn(t, arg) once, ms milliseconds from now.  The timer ends when fn returns. */
struct service_timer *service_timer_once(uint64_t ms, service_timer_fn fn, void *arg);
/* fn(t, arg) every period_ms milliseconds (at least 1), the first time first_ms from now. */
struct service_timer *service_timer_every(uint64_t first_ms, uint64_t period_ms,
                                          service_timer_fn fn, void *arg);
/* Stops a timer that has not ended (also from its own callback). */
void service_timer_cancel(struct service_timer *t);

/* --- the network configuration the instance was given --- */

struct service_netconf {
	char name[16]; /* the device's name: "net0" */
	uint8_t mac[6];
	uint32_t addr;    /* 0 until the boot line or DHCP gives one */
	int prefix;       /* 24 for a /24 */
	uint32_t gateway; /* 0: none */
};

/* The number of network devices. */
int service_net_count(void);
/* Fills *out for device index (0 to count - 1); -1 when there is no such device. */
int service_net_config(int index, struct service_netconf *out);
/* "a.b.c.d" in buf, which it returns. */
char *service_ip4_format(uint32_t addr, char buf[16]);

/* --- TCP --- */

struct service_tcp; /* a listener, or one connection */

/* What a listener's connections call.  Any member may be NULL. */
struct service_tcp_ops {
	/* A connection was accepted; its arg starts as the listener's. */
	void (*on_connect)(struct service_tcp *c);
	/* Bytes arrived, in order; more may follow in another call. */
	void (*on_data)(struct service_tcp *c, const void *data, size_t len);
	/* Room opened up after a service_tcp_write that queued less than it was given. */
	void (*on_writable)(struct service_tcp *c);
	/* The connection ended (the peer closed or reset it, or service_tcp_close): the last
	 * call for c, which is freed when it returns. */
	void (*on_close)(struct service_tcp *c);
};

/* Listens on port of every address; NULL when the port is taken or memory ran out.  ops must
 * stay valid while the listener lives. */
struct service_tcp *service_tcp_listen(uint16_t port, const struct service_tcp_ops *ops, void *arg);
void *service_tcp_arg(const struct service_tcp *c);
void service_tcp_set_arg(struct service_tcp *c, void *arg);
/* Queues up to len bytes for sending (copied) and returns how many it took: fewer than len (0
 * too) when the send buffer is full, and on_writable follows when there is room; -1 when the
 * connection is closing or closed. */
long service_tcp_write(struct service_tcp *c, const void *data, size_t len);
/* How many bytes service_tcp_write would take now. */
size_t service_tcp_room(const struct service_tcp *c);
/* The peer's address and port (0 for a listener). */
uint32_t service_tcp_peer(const struct service_tcp *c, uint16_t *port);
/* A connection: sends what is queued, then closes; on_close follows from the loop.  A
 * listener: stops listening (its connections stay) and is freed at once. */
void service_tcp_close(struct service_tcp *c);

/* --- UDP --- */

struct service_udp;
typedef void (*service_udp_fn)(struct service_udp *u, uint32_t from, uint16_t from_port,
                               const void *data, size_t len, void *arg);

/* Receives the datagrams sent to port (0: any free port) on every address; NULL when the port
 * is taken or memory ran out. */
struct service_udp *service_udp_bind(uint16_t port, service_udp_fn fn, void *arg);
/* Sends one datagram: 0, or a negative errno value (errno.h) when it cannot. */
int service_udp_send(struct service_udp *u, uint32_t to, uint16_t port, const void *data,
                     size_t len);
void service_udp_close(struct service_udp *u);

#endif
