/* libvirt connections for the kvm provider: one per URI, cached under a mutex and reopened when
 * it dies, with libvirt's default event loop on a thread of its own (for lifecycle events and
 * keepalives) and libvirt's stderr error printing silenced. */
#include "providers/kvm/kvm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* A hung libvirtd is declared dead after about KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1) s:
 * calls then fail instead of blocking the daemon. */
#define KEEPALIVE_INTERVAL 2
#define KEEPALIVE_COUNT    3

/* An open of a connection, on a thread of its own: a libvirtd that accepts a connection and
 * never answers (hung, or stopped with SIGSTOP) costs a caller its timeout, not forever.  The
 * thread and the cache entry share it; whichever lets go last frees it, under lock. */
struct opener {
	char *uri;
	struct timespec started; /* CLOCK_MONOTONIC */
	bool done;
	virConnectPtr conn;   /* once done: the connection, or NULL and ... */
	char *error;          /* ... libvirt's message */
	struct kvm_conn info; /* once done with a connection: its capabilities */
	bool connected;       /* the connection is made; its capabilities are being asked */
	int refs;
};

struct cached {
	char *uri;
	virConnectPtr conn;
	struct kvm_conn info;
	int callback;           /* lifecycle event callback id, -1 if none */
	struct opener *pending; /* an open under way (or done, not yet collected) */
};

struct domstate {
	char uuid[VIR_UUID_STRING_BUFLEN];
	int running;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t open_cond; /* an opener is done; CLOCK_MONOTONIC, set up in init_once */
static struct cached **cache;
static size_t n_cache;
static bool events_ok;          /* the event loop thread runs */
static atomic_bool events_live; /* lifecycle events are registered on the last connection opened */

/* Lifecycle events: a counter, a condition for waiters and the last state per domain. */
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static unsigned long ev_gen;
static struct domstate *ev_states;
static size_t n_ev_states, cap_ev_states;

static void quiet(void *data, virErrorPtr e)
{
	(void)data, (void)e;
}

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			usleep(100000); /* a broken loop must not spin */
	return NULL;
}

static void init_once(void)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&open_cond, &ca);
	pthread_condattr_destroy(&ca);

	/* libvirt prints every error to stderr by default; unik reports them itself. */
	virSetErrorFunc(NULL, quiet);
	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	events_ok = pthread_create(&t, &a, event_loop, NULL) == 0;
	pthread_attr_destroy(&a);
}

const char *kvm_last_error(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* ---- lifecycle events ---------------------------------------------------------------------- */

static struct domstate *find_state(const char *uuid)
{
	for (size_t i = 0; i < n_ev_states; i++)
		if (!strcmp(ev_states[i].uuid, uuid))
			return &ev_states[i];
	return NULL;
}

static void set_state(const char *uuid, int running)
{
	struct domstate *s = find_state(uuid);

	if (!s) {
		if (n_ev_states == cap_ev_states) {
			cap_ev_states = cap_ev_states ? cap_ev_states * 2 : 64;
			ev_states = xrealloc(ev_states, cap_ev_states * sizeof(*ev_states));
		}
		s = &ev_states[n_ev_states++];
		snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
	}
	s->running = running;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	int running = -1;

	(void)conn, (void)detail, (void)opaque;
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
	case VIR_DOMAIN_EVENT_RESUMED:
	case VIR_DOMAIN_EVENT_SUSPENDED:
	case VIR_DOMAIN_EVENT_PMSUSPENDED:
		running = 1;
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
	case VIR_DOMAIN_EVENT_UNDEFINED:
		running = 0;
		break;
	default:
		break; /* defined, shutdown (still up until STOPPED), crashed (then STOPPED) */
	}
	pthread_mutex_lock(&ev_lock);
	if (running >= 0 && virDomainGetUUIDString(dom, uuid) == 0)
		set_state(uuid, running);
	ev_gen++;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
	return 0;
}

/* After a reconnect events may have been missed: forget what they said. */
static void forget_states(void)
{
	pthread_mutex_lock(&ev_lock);
	n_ev_states = 0;
	ev_gen++;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

int kvm_event_state(const char *uuid)
{
	struct domstate *s;
	int r;

	pthread_mutex_lock(&ev_lock);
	s = find_state(uuid);
	r = s ? s->running : -1;
	pthread_mutex_unlock(&ev_lock);
	return r;
}

unsigned long kvm_event_gen(void)
{
	unsigned long g;

	pthread_mutex_lock(&ev_lock);
	g = ev_gen;
	pthread_mutex_unlock(&ev_lock);
	return g;
}

void kvm_event_note(const char *uuid, int running, unsigned long gen)
{
	if (!events_live)
		return; /* nothing would ever correct it */
	pthread_mutex_lock(&ev_lock);
	if (ev_gen == gen)
		set_state(uuid, running);
	pthread_mutex_unlock(&ev_lock);
}

void kvm_wait_event(unsigned long *seen, int timeout_ms)
{
	struct timespec ts;

	if (timeout_ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ev_lock);
	while (ev_gen == *seen)
		if (pthread_cond_timedwait(&ev_cond, &ev_lock, &ts) != 0)
			break;
	*seen = ev_gen;
	pthread_mutex_unlock(&ev_lock);
}

/* ---- connections ---------------------------------------------------------------------------- */

/* What the capabilities XML says about x86_64 guests: the <guest> blocks are short, and a
 * substring search within each one is all that is needed. */
static void read_caps(virConnectPtr conn, struct kvm_conn *info)
{
	_cleanup_free_ char *caps = virConnectGetCapabilities(conn);
	const char *p = caps;

	info->has_kvm = info->has_microvm = false;
	while (p && (p = strstr(p, "<guest>"))) {
		const char *end = strstr(p, "</guest>");
		_cleanup_free_ char *g = end ? xstrndup(p, (size_t)(end - p)) : xstrdup(p);

		if (strstr(g, "<arch name='x86_64'>")) {
			if (strstr(g, "<domain type='kvm'"))
				info->has_kvm = true;
			if (strstr(g, ">microvm</machine>"))
				info->has_microvm = true;
		}
		p = end ? end : p + 1;
	}
}

static bool uri_is_system(virConnectPtr conn)
{
	_cleanup_free_ char *u = virConnectGetURI(conn);
	size_t n = u ? strlen(u) : 0;

	return n >= 7 && !strcmp(u + n - 7, "/system");
}

static void drop(struct cached *c)
{
	if (c->callback >= 0)
		virConnectDomainEventDeregisterAny(c->conn, c->callback);
	virConnectClose(c->conn); /* holders keep theirs through their own references */
	c->conn = NULL;
	c->callback = -1;
}

/* Under lock. */
static void opener_release(struct opener *o)
{
	if (--o->refs > 0)
		return;
	if (o->conn)
		virConnectClose(o->conn);
	free(o->error);
	free(o->uri);
	free(o);
}

/* Opens the connection and asks its capabilities, both on this thread, so that a libvirtd that
 * answers neither (hung, stopped, or busy probing a QEMU that never answers it) costs a caller
 * its timeout and never blocks it under the lock. */
static void *open_thread(void *arg)
{
	struct opener *o = arg;
	virConnectPtr conn = virConnectOpenAuth(o->uri, virConnectAuthPtrDefault, 0);
	/* libvirt's last error is per thread: the message travels in the opener. */
	char *error = conn ? NULL : xstrdup(kvm_last_error());
	struct kvm_conn info = {0};

	if (conn) {
		pthread_mutex_lock(&lock);
		o->connected = true;
		pthread_mutex_unlock(&lock);
		read_caps(conn, &info);
		info.system = uri_is_system(conn);
	}
	pthread_mutex_lock(&lock);
	o->info = info;
	o->conn = conn;
	o->error = error;
	o->done = true;
	pthread_cond_broadcast(&open_cond);
	opener_release(o);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* Under lock: starts opening c's URI on a thread of its own. */
static int start_open(struct cached *c, struct unik_error *err)
{
	struct opener *o = xcalloc(1, sizeof(*o));
	pthread_attr_t a;
	pthread_t t;
	int rc;

	o->uri = xstrdup(c->uri);
	o->refs = 2;
	clock_gettime(CLOCK_MONOTONIC, &o->started);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, open_thread, o);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		free(o->uri);
		free(o);
		unik_error_sys(err, rc, "libvirt: connect to %s: start a thread", c->uri);
		return -1;
	}
	c->pending = o;
	return 0;
}

/* Under lock: waits until o is done or timeout_ms after it began (the lock is let go
 * meanwhile). */
static void wait_open(struct opener *o, int timeout_ms)
{
	struct timespec deadline = o->started;

	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!o->done && pthread_cond_timedwait(&open_cond, &lock, &deadline) != ETIMEDOUT)
		;
}

/* Under lock: c's entry, added when the URI is new.  Entries are never freed or moved, since
 * callers keep them across waits. */
static struct cached *entry(const char *uri)
{
	struct cached *c;

	for (size_t i = 0; i < n_cache; i++)
		if (!strcmp(cache[i]->uri, uri))
			return cache[i];
	c = xcalloc(1, sizeof(*c));
	c->uri = xstrdup(uri);
	c->callback = -1;
	cache = xrealloc(cache, (n_cache + 1) * sizeof(*cache));
	cache[n_cache++] = c;
	return c;
}

/* Under lock: makes conn c's connection, with keepalives, lifecycle events and the
 * capabilities the opener read. */
static void install(struct cached *c, virConnectPtr conn, const struct kvm_conn *info)
{
	c->conn = conn;
	c->callback = -1;
	if (events_ok) {
		/* Keepalives are answered by the event loop; without one they would kill the
		 * connection. */
		virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
		c->callback = virConnectDomainEventRegisterAny(
		    conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		    VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
	}
	events_live = c->callback >= 0;
	c->info = *info;
}

int kvm_conn_get(const char *uri, int timeout_ms, struct kvm_conn *out, struct unik_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct cached *c;
	struct opener *o;

	memset(out, 0, sizeof(*out));
	pthread_once(&once, init_once);
	pthread_mutex_lock(&lock);
	c = entry(uri);
	for (;;) {
		if (c->conn && virConnectIsAlive(c->conn) == 1)
			break;
		if (c->conn) {
			drop(c);
			forget_states();
		}
		/* An open that failed before this call is not the answer now: try again. */
		if (c->pending && c->pending->done && !c->pending->conn) {
			opener_release(c->pending);
			c->pending = NULL;
		}
		if (!c->pending && start_open(c, err) < 0)
			goto fail;
		o = c->pending;
		o->refs++; /* this caller's, across the wait */
		wait_open(o, timeout_ms);
		if (!o->done) {
			/* The open goes on: a later call collects it (or, once its time is up,
			 * fails at once). */
			if (o->connected)
				unik_error_set(
				    err, UNIK_E_IO,
				    "libvirt: %s: connected, but libvirtd did not give its "
				    "capabilities within %d s (it may be probing a QEMU "
				    "that does not answer it: see libvirtd's log)",
				    c->uri, (timeout_ms + 999) / 1000);
			else
				unik_error_set(
				    err, UNIK_E_IO,
				    "libvirt: connect to %s: no answer within %d s (libvirtd "
				    "accepts connections but does not answer them: is it hung or "
				    "stopped?)",
				    c->uri, (timeout_ms + 999) / 1000);
			opener_release(o);
			goto fail;
		}
		if (c->pending == o) {
			c->pending = NULL;
			opener_release(o); /* the entry's */
		}
		if (o->conn) {
			install(c, o->conn, &o->info);
			o->conn = NULL;
			opener_release(o);
			break; /* fresh: not checked again */
		}
		if (o->error) {
			unik_error_set(err, UNIK_E_IO,
			               "libvirt: connect to %s: %s (is libvirtd running? as root "
			               "without systemd: `virtlogd -d && libvirtd -d`)",
			               c->uri, o->error);
			opener_release(o);
			goto fail;
		}
		/* Else another waiter installed its connection: the loop finds it. */
		opener_release(o);
	}
	virConnectRef(c->conn);
	out->conn = c->conn;
	out->has_kvm = c->info.has_kvm;
	out->has_microvm = c->info.has_microvm;
	out->system = c->info.system;
	pthread_mutex_unlock(&lock);
	return 0;
fail:
	pthread_mutex_unlock(&lock);
	return -1;
}

void kvm_conn_put(struct kvm_conn *c)
{
	if (c->conn)
		virConnectClose(c->conn);
	c->conn = NULL;
}
