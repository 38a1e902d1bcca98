/* A DHCP server on a unik network's bridge: Debian's dnsmasq, DHCP only (no DNS), started as a
 * daemon that outlives the unik daemon (as the bridge does) and found again through its pid
 * file.  Its files (pid, leases, log) live in one directory per network. */
#ifndef UNIK_LIB_DNSMASQ_H
#define UNIK_LIB_DNSMASQ_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* The program run: $UNIK_DNSMASQ if set, else "dnsmasq" looked up in PATH. */
#define UNIK_DNSMASQ_ENV "UNIK_DNSMASQ"

struct unik_dnsmasq_conf {
	const char *dir;    /* its files: dnsmasq.pid, dnsmasq.leases, dnsmasq.log (must exist) */
	const char *bridge; /* the interface it serves, and only that one */
	const char *first, *last, *netmask; /* the range it leases, dotted */
	const char *router;                 /* the bridge's address, given as the router */
};

/* The pid of the dnsmasq whose pid file is in dir, when one runs (checked through
 * /proc/PID/cmdline, so a recycled pid is not taken for it); 0 otherwise. */
pid_t unik_dnsmasq_running(const char *dir);

/* Starts dnsmasq for conf and returns once it serves (it forks itself; its exit status says
 * whether it started).  A dnsmasq already running for dir is left alone.  On failure err says
 * why, with dnsmasq's own message (UNIK_E_NOTFOUND when it is not installed). */
int unik_dnsmasq_start(const struct unik_dnsmasq_conf *conf, struct unik_error *err);

/* Stops the dnsmasq of dir, if one runs (SIGTERM, then SIGKILL after 5 s), and waits until it is
 * gone; -1 if it is still there 5 s after SIGKILL. */
int unik_dnsmasq_stop(const char *dir, struct unik_error *err);

/* The address dnsmasq of dir leased to mac ("52:54:00:..."), dotted, from its lease file.
 * 0 when found, -1 when not (no lease yet, no file). */
int unik_dnsmasq_lease(const char *dir, const char *mac, char *ip, size_t len);

#endif
