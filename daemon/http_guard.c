/* Deadlines and admission for HTTP connections: see http_guard.h.  A connection past its
 * deadline, or evicted, is shut down (not closed: libmicrohttpd owns the descriptor, and its
 * thread then sees the end of the stream and cleans up). */
#include "daemon/http_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/util.h"

struct http_guard_limits http_limits;

enum phase { PH_WAIT, PH_BODY, PH_BUSY, PH_CLOSING };

struct track {
	struct track *prev, *next;
	int fd;
	bool tcp;
	bool authed; /* has sent complete headers once: never evicted, only timed out */
	char peer[INET6_ADDRSTRLEN];
	enum phase phase;
	uint64_t since, deadline; /* ms, monotonic; deadline 0 = none */
};

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_cond = PTHREAD_COND_INITIALIZER;
static struct track *tracks;
static pthread_t reaper;
static bool reaper_running, reaper_stop;

static unsigned lim(unsigned v, unsigned def)
{
	return v ? v : def;
}

static bool pending(const struct track *t)
{
	return t->tcp && !t->authed && t->phase == PH_WAIT;
}

/* Caller holds guard_lock. */
static void evict(struct track *t)
{
	t->phase = PH_CLOSING;
	t->deadline = 0;
	shutdown(t->fd, SHUT_RDWR);
}

/* The oldest pending connection of peer (any peer when NULL). */
static struct track *oldest_pending(const char *peer)
{
	struct track *best = NULL;

	for (struct track *t = tracks; t; t = t->next)
		if (pending(t) && (!peer || strcmp(t->peer, peer) == 0) &&
		    (!best || t->since < best->since))
			best = t;
	return best;
}

/* A new connection is pending too: make room for it by closing the oldest pending one of its
 * own address, or, when all addresses together are at the cap, of the address that holds the
 * most.  Clients send their headers at once; only those that hold back get old. */
static void admit(struct track *nt)
{
	unsigned same = 0, total = 0, best_n = 0;
	const char *best_peer = NULL;

	for (struct track *t = tracks; t; t = t->next) {
		if (!pending(t) || t == nt)
			continue;
		total++;
		if (strcmp(t->peer, nt->peer) == 0)
			same++;
	}
	if (same >= lim(http_limits.pending_per_ip, HTTP_PENDING_PER_IP)) {
		struct track *o = oldest_pending(nt->peer);
		if (o && o != nt)
			evict(o);
		return;
	}
	if (total < lim(http_limits.pending_max, HTTP_PENDING_MAX))
		return;
	for (struct track *t = tracks; t; t = t->next) {
		unsigned n = 0;

		if (!pending(t) || t == nt)
			continue;
		for (struct track *u = tracks; u; u = u->next)
			n += pending(u) && u != nt && strcmp(u->peer, t->peer) == 0;
		if (n > best_n) {
			best_n = n;
			best_peer = t->peer;
		}
	}
	if (best_peer) {
		struct track *o = oldest_pending(best_peer);
		if (o)
			evict(o);
	}
}

static void peer_name(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "local");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)len);
}

void guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe)
{
	struct track *t = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = xcalloc(1, sizeof(*t));
		t->fd = ci ? ci->connect_fd : -1;
		t->tcp = cls != NULL;
		peer_name(c, t->peer, sizeof(t->peer));
		t->since = unik_now_ms();
		t->deadline =
		    t->since + 1000ull * lim(http_limits.header_timeout_s, HTTP_HEADER_TIMEOUT_S);
		pthread_mutex_lock(&guard_lock);
		t->next = tracks;
		if (tracks)
			tracks->prev = t;
		tracks = t;
		if (t->tcp)
			admit(t);
		pthread_cond_signal(&guard_cond);
		pthread_mutex_unlock(&guard_lock);
		*socket_context = t;
		return;
	}
	if (!t)
		return;
	/* Closed: libmicrohttpd closes the descriptor only after this returns. */
	pthread_mutex_lock(&guard_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		tracks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&guard_lock);
	free(t);
	*socket_context = NULL;
}

static void set_phase(struct MHD_Connection *c, enum phase ph, unsigned timeout_s, bool authed)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct track *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&guard_lock);
	if (t->phase != PH_CLOSING) {
		t->phase = ph;
		t->since = unik_now_ms();
		t->deadline = timeout_s ? t->since + 1000ull * timeout_s : 0;
		t->authed |= authed;
		pthread_cond_signal(&guard_cond);
	}
	pthread_mutex_unlock(&guard_lock);
}

void guard_headers_in(struct MHD_Connection *c, bool authed)
{
	set_phase(c, PH_BODY, lim(http_limits.body_timeout_s, HTTP_BODY_TIMEOUT_S), authed);
}

void guard_body_progress(struct MHD_Connection *c)
{
	set_phase(c, PH_BODY, lim(http_limits.body_timeout_s, HTTP_BODY_TIMEOUT_S), false);
}

void guard_busy(struct MHD_Connection *c)
{
	set_phase(c, PH_BUSY, 0, false);
}

void guard_idle(struct MHD_Connection *c)
{
	set_phase(c, PH_WAIT, lim(http_limits.header_timeout_s, HTTP_HEADER_TIMEOUT_S), false);
}

static void *reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&guard_lock);
	while (!reaper_stop) {
		uint64_t now = unik_now_ms(), next = now + 1000;
		struct timespec ts;

		for (struct track *t = tracks; t; t = t->next) {
			if (!t->deadline || t->phase == PH_CLOSING)
				continue;
			if (t->deadline <= now)
				evict(t);
			else if (t->deadline < next)
				next = t->deadline;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (next - now) * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		pthread_cond_timedwait(&guard_cond, &guard_lock, &ts);
	}
	pthread_mutex_unlock(&guard_lock);
	return NULL;
}

int guard_start(struct unik_error *err)
{
	int rc;

	if (reaper_running)
		return 0;
	reaper_stop = false;
	rc = pthread_create(&reaper, NULL, reaper_main, NULL);
	if (rc) {
		unik_error_sys(err, rc, "start the HTTP connection reaper");
		return -1;
	}
	reaper_running = true;
	return 0;
}

void guard_stop(void)
{
	if (!reaper_running)
		return;
	pthread_mutex_lock(&guard_lock);
	reaper_stop = true;
	pthread_cond_signal(&guard_cond);
	pthread_mutex_unlock(&guard_lock);
	pthread_join(reaper, NULL);
	reaper_running = false;
}
