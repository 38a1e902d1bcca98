/* The unik daemon's REST client over libcurl.  Every request goes through curl's multi interface
 * so that a cancel flag set by a signal handler (Ctrl-C in `unik run`) ends even a stream that
 * is waiting for data, within one poll interval. */
#include "lib/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "lib/util.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

#define POLL_MS            50
#define CONNECT_TIMEOUT_MS 5000
#define ERROR_BODY_MAX     (1 << 20)

/* Retries of a busy daemon: the first wait, the longest single wait, and how long a refused
 * connection (nobody listening, as while a daemon restarts) is retried at most. */
#define RETRY_FIRST_MS   10
#define RETRY_MAX_WAIT   1000
#define RETRY_REFUSED_MS 2000

/* ------------------------------------------------------------------------------------------- */
/* client-config.yaml */

static int yaml_fail(yaml_parser_t *p, struct unik_error *err)
{
	unik_error_set(err, UNIK_E_INVALID, "line %zu: %s", (size_t)p->problem_mark.line + 1,
	               p->problem ? p->problem : "malformed YAML");
	return -1;
}

int unik_client_config_parse(const char *text, size_t len, char **host, struct unik_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, r = -1;
	bool want_key = true, is_host = false, done = false;
	_cleanup_free_ char *found = NULL;

	*host = NULL;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			yaml_fail(&p, err);
			goto out;
		}
		size_t line = ev.start_mark.line + 1;

		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 0 && ev.type == YAML_SEQUENCE_START_EVENT) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "line %zu: expected a mapping such as host: \"h:port\"", line);
				yaml_event_delete(&ev);
				goto out;
			}
			if (depth == 1 && is_host) {
				unik_error_set(err, UNIK_E_INVALID,
				               "line %zu: host must be a string such as \"h:port\"",
				               line);
				yaml_event_delete(&ev);
				goto out;
			}
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			/* A nested value of some other key ends with its collection. */
			depth--;
			if (depth == 1)
				want_key = true;
			break;
		case YAML_SCALAR_EVENT:
			if (depth == 0) {
				/* An empty document reads as one empty plain scalar. */
				if (ev.data.scalar.length != 0) {
					unik_error_set(err, UNIK_E_INVALID,
					               "line %zu: expected a mapping such as host: "
					               "\"h:port\"",
					               line);
					yaml_event_delete(&ev);
					goto out;
				}
			} else if (depth == 1 && want_key) {
				is_host = strcmp((char *)ev.data.scalar.value, "host") == 0;
				want_key = false;
			} else if (depth == 1) {
				if (is_host) {
					free(found);
					found = xstrndup((char *)ev.data.scalar.value,
					                 ev.data.scalar.length);
				}
				want_key = true;
				is_host = false;
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (found && *found)
		*host = unik_steal_ptr(&found);
	r = 0;
out:
	yaml_parser_delete(&p);
	return r;
}

int unik_client_config_load(const char *path, char **host, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct unik_error e;

	*host = NULL;
	if (unik_read_file(path, &text, &len, &e) < 0) {
		if (e.code == UNIK_E_NOTFOUND)
			return 0;
		if (err)
			*err = e;
		return -1;
	}
	if (unik_client_config_parse(text, len, host, err) < 0) {
		unik_error_prefix(err, "%s", path);
		return -1;
	}
	return 0;
}

int unik_client_config_write(const char *path, const char *host, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t n = strlen(host);
	_cleanup_free_ char *q = xmalloc(2 * n + 1);
	char *w = q;

	for (size_t i = 0; i < n; i++) {
		if (host[i] == '"' || host[i] == '\\')
			*w++ = '\\';
		*w++ = host[i];
	}
	*w = '\0';
	text = xasprintf("host: \"%s\"\n", q);
	return unik_write_file_atomic(path, text, strlen(text), 0644, err);
}

/* ------------------------------------------------------------------------------------------- */
/* Hosts */

static int parse_port(const char *s, const char *host, struct unik_error *err)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > 65535) {
		unik_error_set(err, UNIK_E_INVALID, "host `%s`: bad port `%s` (want 1-65535)", host,
		               s);
		return -1;
	}
	return (int)v;
}

int unik_client_parse_host(const char *host, char **socket_path, char **base_url,
                           struct unik_error *err)
{
	_cleanup_free_ char *name = NULL;
	const char *colon;
	int port = UNIK_CLIENT_DEFAULT_PORT;

	*socket_path = NULL;
	*base_url = NULL;
	if (!host || !*host) {
		unik_error_set(err, UNIK_E_INVALID, "empty host");
		return -1;
	}
	if (unik_str_has_prefix(host, "unix:")) {
		const char *p = host + 5;

		while (p[0] == '/' && p[1] == '/')
			p++;
		if (!*p) {
			unik_error_set(err, UNIK_E_INVALID, "host `%s`: no socket path", host);
			return -1;
		}
		*socket_path = xstrdup(p);
		return 0;
	}
	if (host[0] == '/') {
		*socket_path = xstrdup(host);
		return 0;
	}
	if (unik_str_has_prefix(host, "http://") || unik_str_has_prefix(host, "https://")) {
		size_t n = strlen(host);

		while (n > 0 && host[n - 1] == '/')
			n--;
		*base_url = xstrndup(host, n);
		return 0;
	}
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (!close) {
			unik_error_set(err, UNIK_E_INVALID, "host `%s`: missing `]`", host);
			return -1;
		}
		name = xstrndup(host, (size_t)(close - host) + 1);
		if (close[1] == ':') {
			if ((port = parse_port(close + 2, host, err)) < 0)
				return -1;
		} else if (close[1]) {
			unik_error_set(err, UNIK_E_INVALID, "host `%s`: unexpected `%s`", host,
			               close + 1);
			return -1;
		}
	} else if ((colon = strchr(host, ':')) && !strchr(colon + 1, ':')) {
		name = xstrndup(host, (size_t)(colon - host));
		if (!*name) {
			unik_error_set(err, UNIK_E_INVALID, "host `%s`: no host name before `:`",
			               host);
			return -1;
		}
		if ((port = parse_port(colon + 1, host, err)) < 0)
			return -1;
	} else if (colon) {
		name = xasprintf("[%s]", host); /* a bare IPv6 address */
	} else {
		name = xstrdup(host);
	}
	*base_url = xasprintf("http://%s:%d", name, port);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* The client */

struct unik_client {
	CURL *easy;
	CURLM *multi;
	char *socket_path;
	char *base_url;
	char *auth;
	char *where;
	const volatile sig_atomic_t *cancel;
	long last_status;
	long retry_ms;
	unsigned last_attempts;
	uint64_t rng;
	char errbuf[CURL_ERROR_SIZE];
};

struct buf {
	char *data;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

struct xfer {
	struct unik_client *c;
	unik_client_data_fn fn;
	void *ctx;
	bool stopped;
	bool delivered; /* fn has been given some of the answer */
	struct buf body;
	unik_client_progress_fn progress;
	void *progress_ctx;
};

static bool curl_ready;

struct unik_client *unik_client_new(const char *socket_path, const char *base_url,
                                    const char *token)
{
	struct unik_client *c = xcalloc(1, sizeof(*c));

	if (!curl_ready) {
		/* TLS set-up costs milliseconds that a local socket never needs. */
		long flags = base_url && unik_str_has_prefix(base_url, "https:")
		                 ? CURL_GLOBAL_DEFAULT
		                 : CURL_GLOBAL_NOTHING;

		if (curl_global_init(flags) != CURLE_OK)
			abort();
		curl_ready = true;
	}
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->easy || !c->multi) {
		fputs("unik: cannot set up libcurl\n", stderr);
		abort();
	}
	if (socket_path) {
		c->socket_path = xstrdup(socket_path);
		c->base_url = xstrdup("http://localhost");
		c->where = xasprintf("unix socket %s", socket_path);
	} else {
		c->base_url = xstrdup(base_url ? base_url : "http://127.0.0.1:3000");
		c->where = xstrdup(c->base_url);
	}
	if (token && *token)
		c->auth = xasprintf("Authorization: Bearer %s", token);
	c->retry_ms = UNIK_CLIENT_RETRY_DEFAULT_MS;
	return c;
}

void unik_client_free(struct unik_client *c)
{
	if (!c)
		return;
	curl_multi_cleanup(c->multi);
	curl_easy_cleanup(c->easy);
	free(c->socket_path);
	free(c->base_url);
	free(c->auth);
	free(c->where);
	free(c);
}

const char *unik_client_where(const struct unik_client *c)
{
	return c->where;
}

void unik_client_set_cancel(struct unik_client *c, const volatile sig_atomic_t *flag)
{
	c->cancel = flag;
}

long unik_client_last_status(const struct unik_client *c)
{
	return c->last_status;
}

void unik_client_set_retry(struct unik_client *c, long total_ms)
{
	c->retry_ms = total_ms > 0 ? total_ms : 0;
}

unsigned unik_client_last_attempts(const struct unik_client *c)
{
	return c->last_attempts;
}

int unik_client_parse_retry(const char *text, long *ms, struct unik_error *err)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = text && *text ? strtod(text, &end) : -1;
	if (!text || !*text || *end || errno || !(v >= 0) || v > 86400) {
		unik_error_set(err, UNIK_E_INVALID,
		               "retry timeout `%s`: give seconds from 0 to 86400, e.g. 30 (0 turns "
		               "retries off)",
		               text ? text : "");
		return -1;
	}
	*ms = (long)(v * 1000 + 0.5);
	return 0;
}

char *unik_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *w = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*w++ = (char)ch;
		} else {
			*w++ = '%';
			*w++ = hex[ch >> 4];
			*w++ = hex[ch & 15];
		}
	}
	*w = '\0';
	return out;
}

int unik_client_error_code(const char *name, long status)
{
	int code = unik_error_code_from_name(name);

	if (code > 0)
		return code;
	switch (status) {
	case 400:
	case 413:
	case 422:
		return UNIK_E_INVALID;
	case 401:
	case 403:
		return UNIK_E_PERM;
	case 404:
		return UNIK_E_NOTFOUND;
	case 409:
	case 412:
		return UNIK_E_STATE;
	case 501:
		return UNIK_E_UNSUPPORTED;
	default:
		return UNIK_E_IO;
	}
}

/* The daemon's error body into err: its JSON message, else the text itself. */
static void error_from_body(struct buf *b, long status, struct unik_error *err)
{
	json_error_t jerr;
	json_t *j = b->len ? json_loadb(b->data, b->len, 0, &jerr) : NULL;
	json_t *e = j ? json_object_get(j, "error") : NULL;
	const char *code = NULL, *msg = NULL;

	if (json_is_object(e)) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
	} else if (json_is_string(e)) {
		msg = json_string_value(e);
	} else if (j && json_is_string(json_object_get(j, "message"))) {
		msg = json_string_value(json_object_get(j, "message"));
	}
	if (msg && *msg) {
		unik_error_set(err, unik_client_error_code(code, status), "%s", msg);
	} else if (!j && b->len) {
		size_t n = b->len;

		while (n > 0 && isspace((unsigned char)b->data[n - 1]))
			n--;
		unik_error_set(err, unik_client_error_code(NULL, status), "%.*s", (int)n, b->data);
	} else {
		unik_error_set(err, unik_client_error_code(NULL, status),
		               "the daemon answered HTTP %ld with no message", status);
	}
	json_decref(j);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(x->c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->fn && status >= 200 && status < 300) {
		x->delivered = true;
		if (x->fn(x->ctx, p, len) != 0) {
			x->stopped = true;
			return 0;
		}
		return len;
	}
	if (x->fn && x->body.len + len > ERROR_BODY_MAX)
		return len;
	buf_add(&x->body, p, len);
	return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct xfer *x = ud;

	(void)dltotal;
	(void)dlnow;
	if (x->progress && ultotal > 0)
		x->progress(x->progress_ctx, (uint64_t)ulnow, (uint64_t)ultotal);
	return x->c->cancel && *x->c->cancel ? 1 : 0;
}

static void lower_first(char *s)
{
	if (s[0] && isupper((unsigned char)s[0]) && !isupper((unsigned char)s[1]))
		s[0] = (char)tolower((unsigned char)s[0]);
}

int unik_client_probe_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = errno == EWOULDBLOCK ? EAGAIN : errno;
	close(fd);
	return r;
}

/* Why a request that failed may be tried again. */
enum retry {
	RETRY_NO,      /* a real answer, or a failure a retry cannot mend */
	RETRY_REFUSED, /* nobody listens (yet): retried only briefly */
	RETRY_BUSY,    /* a full listen queue, a connection reset or dropped before any answer */
};

struct attempt {
	enum retry retry;
	bool sent;      /* some of the request may have reached the daemon */
	bool timed_out; /* the connect timed out */
	char why[CURL_ERROR_SIZE + 64];
};

static void describe(struct unik_client *c, CURLcode res, long os_errno, struct attempt *a)
{
	if (os_errno &&
	    (res == CURLE_COULDNT_CONNECT || res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR))
		snprintf(a->why, sizeof(a->why), "%s", strerror((int)os_errno));
	else if (c->errbuf[0])
		snprintf(a->why, sizeof(a->why), "%s", c->errbuf);
	else
		snprintf(a->why, sizeof(a->why), "%s", curl_easy_strerror(res));
	lower_first(a->why);
}

/* Sorts a failed transfer: a connection that never got through has sent nothing, so any request
 * may go again; one reset after it got through may have delivered the request. */
static void classify(struct unik_client *c, struct xfer *x, CURLcode res, long status,
                     struct attempt *a)
{
	long os_errno = 0, req_size = 0;

	curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &req_size);
	describe(c, res, os_errno, a);
	a->retry = RETRY_NO;
	a->sent = true;
	if (status != 0 || x->delivered)
		return;
	switch (res) {
	case CURLE_COULDNT_CONNECT:
		a->sent = false;
		/* A unix socket whose listen queue is full refuses a non-blocking connect with
		 * EAGAIN, which libcurl takes for "in progress" and then fails without an errno:
		 * ask the socket again.  (One that answers now was full a moment ago.) */
		if (os_errno == 0 && c->socket_path) {
			int why = unik_client_probe_socket(c->socket_path);

			os_errno = why ? why : EAGAIN;
			snprintf(a->why, sizeof(a->why), "%s", strerror((int)os_errno));
			lower_first(a->why);
		}
		/* A missing socket (ENOENT) is no busy daemon. */
		if (os_errno == EAGAIN || os_errno == EWOULDBLOCK || os_errno == ECONNRESET ||
		    os_errno == ETIMEDOUT)
			a->retry = RETRY_BUSY;
		else if (os_errno == ECONNREFUSED)
			a->retry = RETRY_REFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		/* Only the connect has a time limit: a TCP listen queue that drops our SYNs. */
		a->sent = req_size > 0;
		a->retry = RETRY_BUSY;
		a->timed_out = !c->socket_path; /* a unix socket is never out of reach */
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		a->sent = req_size > 0;
		a->retry = RETRY_BUSY;
		break;
	default:
		break;
	}
}

/* Runs the request set up on c->easy once.  0 on a 2xx, 1 when x->fn asked to stop, -1
 * otherwise, with a->retry saying whether it may be tried again. */
static int perform_once(struct unik_client *c, struct xfer *x, struct attempt *a,
                        struct unik_error *err)
{
	CURLcode res = CURLE_OK;
	bool done = false, cancelled = false;
	long status = 0;

	a->retry = RETRY_NO;
	c->last_status = 0;
	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
		unik_error_set(err, UNIK_E_INTERNAL, "libcurl refused the request");
		return -1;
	}
	for (;;) {
		int running = 0, left = 0;
		CURLMcode mc = curl_multi_perform(c->multi, &running);
		CURLMsg *msg;

		while ((msg = curl_multi_info_read(c->multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
				res = msg->data.result;
				done = true;
			}
		if (done)
			break;
		if (c->cancel && *c->cancel) {
			cancelled = true;
			break;
		}
		if (mc != CURLM_OK) {
			unik_error_set(err, UNIK_E_IO, "libcurl: %s", curl_multi_strerror(mc));
			curl_multi_remove_handle(c->multi, c->easy);
			return -1;
		}
		if (!running) {
			res = CURLE_RECV_ERROR;
			break;
		}
		/* A signal interrupts the poll; the flag is checked on the next round. */
		curl_multi_poll(c->multi, NULL, 0, POLL_MS, NULL);
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(c->multi, c->easy);
	if (cancelled || (res == CURLE_ABORTED_BY_CALLBACK && c->cancel && *c->cancel)) {
		unik_error_set(err, UNIK_E_IO, "interrupted");
		return -1;
	}
	if (res == CURLE_WRITE_ERROR && x->stopped) {
		c->last_status = status;
		return 1;
	}
	if (res != CURLE_OK) {
		classify(c, x, res, status, a);
		if (status != 0)
			unik_error_set(err, UNIK_E_IO,
			               "lost the connection to the unik daemon at %s: %s", c->where,
			               a->why);
		else
			unik_error_set(err, UNIK_E_IO, "cannot reach the unik daemon at %s: %s",
			               c->where, a->why);
		return -1;
	}
	c->last_status = status;
	if (status < 200 || status >= 300) {
		error_from_body(&x->body, status, err);
		return -1;
	}
	return 0;
}

/* A request may go again when none of it went out, or when sending it twice does no harm. */
static bool idempotent(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Sleeps ms, or less when the cancel flag is set; false when it was. */
static bool nap(struct unik_client *c, long ms)
{
	long end = unik_now_ms() + ms;

	for (;;) {
		long left = end - unik_now_ms();
		struct timespec ts;

		if (c->cancel && *c->cancel)
			return false;
		if (left <= 0)
			return true;
		if (left > POLL_MS)
			left = POLL_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* A wait of between half and all of step: clients that failed together do not all come back
 * together. */
static long jitter(struct unik_client *c, long step)
{
	if (!c->rng)
		c->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)unik_now_ms() ^ (uintptr_t)c;
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return step / 2 + (long)(c->rng % (uint64_t)(step / 2 + 1));
}

/* Runs the request, and again, with exponential backoff and jitter, while the daemon is too busy
 * to take the connection (or reset it before answering), for at most c->retry_ms.  A request
 * that may have reached the daemon goes again only when its method is idempotent, so a POST is
 * never done twice. */
static int perform(struct unik_client *c, const char *method, struct xfer *x,
                   struct unik_error *err)
{
	long start = unik_now_ms(), step = RETRY_FIRST_MS;

	c->last_attempts = 0;
	for (;;) {
		struct attempt a = {0};
		long limit, elapsed;
		int r;

		c->last_attempts++;
		r = perform_once(c, x, &a, err);
		if (r >= 0 || a.retry == RETRY_NO || (a.sent && !idempotent(method)))
			return r;
		limit = c->retry_ms;
		if (a.retry == RETRY_REFUSED && limit > RETRY_REFUSED_MS)
			limit = RETRY_REFUSED_MS;
		elapsed = unik_now_ms() - start;
		if (elapsed >= limit) {
			/* A connect that times out may as well be a host that drops packets. */
			if (a.retry == RETRY_BUSY && c->retry_ms > 0)
				unik_error_set(
				    err, UNIK_E_IO,
				    "the unik daemon at %s is overloaded%s: %s, %u times in "
				    "%.1f s; try again later, give it more time with "
				    "--retry-timeout SECONDS or UNIK_RETRY_TIMEOUT (now %.1f "
				    "s), or send it fewer requests at once",
				    c->where, a.timed_out ? " or unreachable" : "", a.why,
				    c->last_attempts, (double)elapsed / 1000,
				    (double)c->retry_ms / 1000);
			return -1;
		}
		if (!nap(c, jitter(c, step < limit - elapsed ? step : limit - elapsed))) {
			unik_error_set(err, UNIK_E_IO, "interrupted");
			return -1;
		}
		step = step * 2 < RETRY_MAX_WAIT ? step * 2 : RETRY_MAX_WAIT;
		x->body.len = 0;
		x->stopped = false;
	}
}

static struct curl_slist *setup(struct unik_client *c, const char *method, const char *path,
                                struct xfer *x, bool json_body)
{
	_cleanup_free_ char *url = xasprintf("%s%s", c->base_url, path);
	struct curl_slist *h = NULL;
	CURL *e = c->easy;

	curl_easy_reset(e);
	c->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (c->socket_path)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "unik/" UNIK_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
	if (c->auth)
		h = curl_slist_append(h, c->auth);
	/* Never wait for a 100 Continue before sending a body. */
	h = curl_slist_append(h, "Expect:");
	if (json_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json, text/plain");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	return h;
}

int unik_client_json(struct unik_client *c, const char *method, const char *path, json_t *body,
                     json_t **out, struct unik_error *err)
{
	struct xfer x = {.c = c};
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *h = setup(c, method, path, &x, body != NULL);
	int r;

	if (out)
		*out = NULL;
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, text ? text : "");
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)(text ? strlen(text) : 0));
	}
	r = perform(c, method, &x, err);
	curl_slist_free_all(h);
	if (r == 0 && out) {
		json_error_t jerr;

		if (x.body.len == 0) {
			*out = json_null();
		} else if (!(*out = json_loadb(x.body.data, x.body.len, 0, &jerr))) {
			unik_error_set(err, UNIK_E_IO, "%s %s: the daemon's answer is not JSON: %s",
			               method, path, jerr.text);
			r = -1;
		}
	}
	free(x.body.data);
	return r;
}

int unik_client_stream(struct unik_client *c, const char *method, const char *path,
                       unik_client_data_fn fn, void *ctx, struct unik_error *err)
{
	return unik_client_stream_json(c, method, path, NULL, fn, ctx, err);
}

int unik_client_stream_json(struct unik_client *c, const char *method, const char *path,
                            json_t *body, unik_client_data_fn fn, void *ctx, struct unik_error *err)
{
	struct xfer x = {.c = c, .fn = fn, .ctx = ctx};
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *h = setup(c, method, path, &x, body != NULL);
	int r;

	if (body || strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, text ? text : "");
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)(text ? strlen(text) : 0));
	}
	r = perform(c, method, &x, err);
	curl_slist_free_all(h);
	free(x.body.data);
	return r;
}

int unik_client_upload(struct unik_client *c, const char *path,
                       const struct unik_client_part *parts, size_t nparts,
                       unik_client_progress_fn progress, void *progress_ctx, json_t **out,
                       struct unik_error *err)
{
	struct xfer x = {.c = c, .progress = progress, .progress_ctx = progress_ctx};
	struct curl_slist *h = setup(c, "POST", path, &x, false);
	curl_mime *mime = curl_mime_init(c->easy);
	int r;

	if (out)
		*out = NULL;
	for (size_t i = 0; i < nparts; i++) {
		curl_mimepart *part = curl_mime_addpart(mime);

		curl_mime_name(part, parts[i].name);
		curl_mime_data(part, parts[i].data, parts[i].len);
		if (parts[i].filename)
			curl_mime_filename(part, parts[i].filename);
		if (parts[i].type)
			curl_mime_type(part, parts[i].type);
	}
	curl_easy_setopt(c->easy, CURLOPT_MIMEPOST, mime);
	r = perform(c, "POST", &x, err);
	curl_slist_free_all(h);
	curl_easy_setopt(c->easy, CURLOPT_MIMEPOST, NULL);
	curl_mime_free(mime);
	if (r == 0 && out) {
		json_error_t jerr;

		if (x.body.len == 0) {
			*out = json_null();
		} else if (!(*out = json_loadb(x.body.data, x.body.len, 0, &jerr))) {
			unik_error_set(err, UNIK_E_IO,
			               "POST %s: the daemon's answer is not JSON: %s", path,
			               jerr.text);
			r = -1;
		}
	}
	free(x.body.data);
	return r;
}
