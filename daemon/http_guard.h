/* The HTTP door's guard against slow and idle clients: deadlines for each connection's phase,
 * and a cap on connections that have not yet sent their headers (and so their token), so that
 * such connections, from one address or many, never take the places of authorised clients. */
#ifndef UNIK_DAEMON_HTTP_GUARD_H
#define UNIK_DAEMON_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>

#include "lib/error.h"

struct http_guard_limits {
	unsigned header_timeout_s; /* from opening (or the previous answer) to complete headers */
	unsigned body_timeout_s;   /* longest silence while a request body arrives */
	unsigned pending_per_ip;   /* connections without complete headers, per client address */
	unsigned pending_max;      /* the same, per listener, all addresses together */
};

#define HTTP_HEADER_TIMEOUT_S 30
#define HTTP_BODY_TIMEOUT_S   60
#define HTTP_PENDING_PER_IP   32
#define HTTP_PENDING_MAX      256

/* Set before http_serve(); zeros keep the defaults above. */
extern struct http_guard_limits http_limits;

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is non-NULL for TCP listeners, whose
 * connections the pending caps apply to. */
void guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe);

/* A request's headers are in (authed: with the token, or none was needed): its body has
 * body_timeout_s of silence at a time. */
void guard_headers_in(struct MHD_Connection *c, bool authed);
/* Part of the body arrived. */
void guard_body_progress(struct MHD_Connection *c);
/* The handler runs and then its answer streams: the daemon, not the client, sets the pace, and
 * long streams (logs -f, build logs, wait) are never cut. */
void guard_busy(struct MHD_Connection *c);
/* The answer is sent: a kept-alive connection has header_timeout_s for its next request. */
void guard_idle(struct MHD_Connection *c);

int guard_start(struct unik_error *err);
void guard_stop(void);

#endif
