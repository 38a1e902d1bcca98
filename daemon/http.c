/* The daemon's HTTP server: libmicrohttpd on the unix socket (and TCP listeners when asked),
 * a thread per connection, bodies collected (JSON) or streamed to a file (multipart uploads),
 * bearer-token checks, routing, and chunked streaming of logs. */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/http_form.h"
#include "daemon/http_guard.h"
#include "daemon/internal.h"
#include "lib/utf8.h"

#define JSON_BODY_MAX (1u << 20)
#define DRAIN_MAX     (8u << 20)  /* most excess a Content-Length may announce and be read */
#define DISCARD_MAX   (64u << 20) /* most bytes dropped after a body is refused, to answer it */

struct listener {
	struct MHD_Daemon *mhd;
	int fd;
	bool tcp;
	bool need_token;
	char *addr;
};

static struct listener *listeners;
static size_t nlisteners;

/* Per request: what arrives before the handler runs. */
struct conn {
	struct listener *l;
	char *raw_target; /* as sent, before any decoding */
	struct http_target target;
	bool started; /* the headers were seen (on_request called once) */
	const struct route *route;
	bool method_mismatch;
	char *buf;
	size_t len, cap;
	bool multipart;
	struct MHD_PostProcessor *pp;
	uint64_t discarded;
	struct http_form f; /* the multipart parts, and the error that ends the request early */
};

/* ------------------------------------------------------------------------------------------ */
/* Replies */

static void add_common_headers(struct MHD_Response *resp, const char *ctype)
{
	if (!resp)
		return;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
}

/* A reply that cannot be encoded (a handler built a NULL or unencodable value) is a 500 with a
 * fixed body: never a crash. */
static void reply_internal(struct req *r)
{
	static const char fixed[] =
	    "{\"error\":{\"code\":\"internal\",\"message\":\"the reply could not be encoded\"}}\n";

	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = MHD_create_response_from_buffer(sizeof(fixed) - 1, (void *)fixed,
	                                          MHD_RESPMEM_PERSISTENT);
	add_common_headers(r->resp, "application/json");
	r->status = 500;
}

void reply_json(struct req *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	size_t len;

	json_decref(j);
	if (!text) {
		reply_internal(r);
		return;
	}
	len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	reply_raw_json(r, status, text, len);
}

void reply_raw_json(struct req *r, int status, char *text, size_t len)
{
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r->resp) {
		free(text);
		reply_internal(r);
		return;
	}
	add_common_headers(r->resp, "application/json");
	r->status = status;
}

void reply_text(struct req *r, int status, const char *text)
{
	if (!text)
		text = "";
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	add_common_headers(r->resp, "text/plain; charset=utf-8");
	r->status = status;
}

/* Messages quote what clients sent: bytes that are not UTF-8 go out as \xNN, in JSON and in
 * the original UniK's plain-text errors alike. */
static void error_reply(struct req *r, int status, const char *code, const char *msg)
{
	size_t len;

	if (r->compat) {
		_cleanup_free_ char *m = unik_utf8_escape(msg, strlen(msg));
		_cleanup_free_ char *t = xasprintf("%s\n", m);
		reply_text(r, status, t);
		return;
	}
	char *body = http_error_body(code, msg, &len);
	reply_raw_json(r, status, body, len);
}

static void error_reply_status(struct req *r, const struct unik_error *err, int status)
{
	int code = err->code ? err->code : UNIK_E_INTERNAL;

	if (!status)
		status = unik_error_http_status(code);
	error_reply(r, status, unik_error_api_name(code, status),
	            err->msg[0] ? err->msg : "internal error");
}

void reply_error(struct req *r, const struct unik_error *err)
{
	error_reply_status(r, err, 0);
}

void reply_errorf(struct req *r, int code, const char *fmt, ...)
{
	struct unik_error e = {.code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	reply_error(r, &e);
}

const char *req_query(struct req *r, const char *key)
{
	return r->target ? http_target_query(r->target, key) : NULL;
}

bool req_query_bool(struct req *r, const char *key)
{
	const char *v = req_query(r, key);

	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
	             strcmp(v, "") == 0);
}

json_t *req_json(struct req *r, bool allow_empty)
{
	json_error_t je;
	json_t *j;

	if (r->multipart) {
		reply_errorf(r, UNIK_E_INVALID, "this route takes a JSON body, not multipart");
		return NULL;
	}
	if (r->body_len == 0 && allow_empty)
		return json_object();
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		reply_errorf(r, UNIK_E_INVALID,
		             "bad JSON in the request body (line %d, column %d): %s", je.line,
		             je.column, je.text);
		return NULL;
	}
	return j;
}

json_t *req_options(struct req *r, const char *parts)
{
	const char *text, *k;
	json_t *v, *opts;
	json_error_t je;

	if (!r->multipart) {
		opts = req_json(r, false);
		if (opts && !json_is_object(opts)) {
			json_decref(opts);
			reply_errorf(r, UNIK_E_INVALID, "the request body must be a JSON object");
			return NULL;
		}
		return opts;
	}
	json_object_foreach(r->form, k, v) if (strcmp(k, "options") != 0)
	{
		reply_errorf(r, UNIK_E_INVALID,
		             "unexpected form part \"%.*s\" (parts: %s, options)",
		             UNIK_UTF8_CUT(k, 60), parts);
		return NULL;
	}
	text = json_string_value(json_object_get(r->form, "options"));
	if (!text)
		return json_object();
	opts = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!opts) {
		reply_errorf(r, UNIK_E_INVALID, "bad JSON in the \"options\" part: %s", je.text);
		return NULL;
	}
	if (!json_is_object(opts)) {
		json_decref(opts);
		reply_errorf(r, UNIK_E_INVALID, "the \"options\" part must be a JSON object");
		return NULL;
	}
	return opts;
}

bool req_gone(void *arg)
{
	struct req *r = arg;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (!ci)
		return false;
	p.fd = ci->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void reply_file(struct req *r, int fd, uint64_t size, const char *ctype, const char *filename)
{
	_cleanup_free_ char *disp = NULL;

	r->resp = MHD_create_response_from_fd64(size, fd);
	if (!r->resp) {
		close(fd);
		reply_errorf(r, UNIK_E_IO, "cannot send the file");
		return;
	}
	add_common_headers(r->resp, ctype);
	/* The name is an image name and a format name: no quotes or backslashes in either. */
	disp = xasprintf("attachment; filename=\"%s\"", filename);
	MHD_add_response_header(r->resp, "Content-Disposition", disp);
	r->status = 200;
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming a log */

struct tail {
	char *path;
	int fd;
	uint64_t off;
	bool follow, truncate_after;
	bool (*ended)(const char *id);
	char id[UNIK_ID_LEN + 1];
	int sock;
	bool draining;
};

static bool sock_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Whether t->path now names another file than the one t->fd reads. */
static bool rotated(const struct tail *t)
{
	struct stat a, b;

	return fstat(t->fd, &a) == 0 && stat(t->path, &b) == 0 &&
	       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

static ssize_t tail_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tail *t = cls;

	(void)pos;
	for (;;) {
		if (t->fd < 0)
			t->fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (t->fd >= 0) {
			ssize_t n = pread(t->fd, buf, max, (off_t)t->off);

			if (n > 0) {
				t->off += (uint64_t)n;
				return n;
			}
			/* Read to its end, and a capped console log has been rotated: the new
			 * output is in a new file by the same name. */
			if (t->follow && rotated(t)) {
				close(t->fd);
				t->fd = -1;
				t->off = 0;
				continue;
			}
		}
		if (!t->follow || t->draining)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (t->ended(t->id)) {
			/* Read once more: what was written before the end is still to come. */
			t->draining = true;
			continue;
		}
		if (D.stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (sock_gone(t->sock))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		struct timespec ts = {0, 30 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void tail_free(void *cls)
{
	struct tail *t = cls;

	if (t->truncate_after && t->fd >= 0) {
		int wfd = open(t->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

		if (wfd >= 0) {
			(void)ftruncate(wfd, 0);
			close(wfd);
		}
	}
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t);
}

static bool never_ends(const char *id)
{
	(void)id;
	return true;
}

static void tail_start(struct req *r, const char *path, uint64_t off, bool follow,
                       bool (*ended)(const char *id), const char *id, bool truncate_after);

void reply_tail(struct req *r, const char *path, bool follow, bool (*ended)(const char *id),
                const char *id, bool truncate_after)
{
	tail_start(r, path, 0, follow, ended, id, truncate_after);
}

void reply_tail_at(struct req *r, const char *path, uint64_t off, bool follow,
                   bool (*ended)(const char *id), const char *id)
{
	tail_start(r, path, off, follow, ended, id, false);
}

static void tail_start(struct req *r, const char *path, uint64_t off, bool follow,
                       bool (*ended)(const char *id), const char *id, bool truncate_after)
{
	struct tail *t = xcalloc(1, sizeof(*t));
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);

	t->path = xstrdup(path);
	t->fd = -1;
	t->off = off;
	t->follow = follow;
	t->truncate_after = truncate_after;
	t->ended = ended ? ended : never_ends;
	snprintf(t->id, sizeof(t->id), "%s", id ? id : "");
	t->sock = ci ? ci->connect_fd : -1;
	r->resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, tail_read, t, tail_free);
	if (!r->resp) {
		tail_free(t);
		reply_internal(r);
		return;
	}
	add_common_headers(r->resp, "text/plain; charset=utf-8");
	MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
	r->status = 200;
}

/* ------------------------------------------------------------------------------------------ */
/* Bodies */

static bool token_ok(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *tok = D.cfg.token;
	size_t tl, hl;
	unsigned char diff = 0;

	if (!tok)
		return false;
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	tl = strlen(tok);
	hl = strlen(h);
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)(tok[i] ^ (i < hl ? h[i] : 0));
	return diff == 0 && hl == tl;
}

static void conn_free(struct conn *cx)
{
	if (!cx)
		return;
	if (cx->pp)
		MHD_destroy_post_processor(cx->pp);
	http_form_free(&cx->f);
	free(cx->buf);
	free(cx->raw_target);
	http_target_free(&cx->target);
	free(cx);
}

/* Called with the request line's target as sent, before libmicrohttpd decodes it (which would
 * turn %00 into the end of the string): the request's state starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *cx = xcalloc(1, sizeof(*cx));

	(void)c;
	cx->l = cls;
	cx->raw_target = xstrdup(uri ? uri : "");
	http_form_init(&cx->f, D.tmp_dir, (uint64_t)D.cfg.max_upload_mb << 20);
	return cx;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	conn_free(*con_cls);
	*con_cls = NULL;
	guard_idle(c);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct req *r)
{
	enum MHD_Result ret;

	if (!r->resp) {
		struct unik_error e = {.code = UNIK_E_INTERNAL};
		snprintf(e.msg, sizeof(e.msg), "the handler gave no answer");
		reply_error(r, &e);
	}
	ret = MHD_queue_response(c, (unsigned)r->status, r->resp);
	MHD_destroy_response(r->resp);
	return ret;
}

static bool compat_path(const char *target)
{
	return strncmp(target, "/v1/", 4) != 0 && strcmp(target, "/v1") != 0 &&
	       strncmp(target, "/v1?", 4) != 0;
}

/* An answer before the body is read (or in place of the rest of it): the connection is closed
 * after it, so that what the client still sends is never taken for a request. */
static enum MHD_Result early_reply(struct MHD_Connection *c, struct conn *cx, int status,
                                   const struct unik_error *err, bool close)
{
	struct req r = {.c = c, .compat = compat_path(cx->raw_target)};

	error_reply_status(&r, err, status);
	if (status == 401)
		MHD_add_response_header(r.resp, "WWW-Authenticate", "Bearer");
	if (close)
		MHD_add_response_header(r.resp, "Connection", "close");
	guard_busy(c);
	return queue(c, &r);
}

/* The first call: headers are in, nothing of the body yet.  Whatever can be refused from the
 * headers alone is refused here, before a byte of the body is read. */
static enum MHD_Result on_headers(struct MHD_Connection *c, struct conn *cx, const char *method)
{
	struct listener *l = cx->l;
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	struct unik_error e = {0};
	uint64_t len = 0, max;
	int st;

	cx->started = true;
	if (l->need_token && !token_ok(c)) {
		guard_headers_in(c, false);
		unik_error_set(&e, UNIK_E_PERM,
		               "this daemon needs a token: send \"Authorization: Bearer TOKEN\" "
		               "(unik --token or UNIK_TOKEN)");
		return early_reply(c, cx, 401, &e, true);
	}
	guard_headers_in(c, true);
	if ((st = http_target_parse(cx->raw_target, strlen(cx->raw_target), &cx->target, &e)))
		return early_reply(c, cx, st, &e, true);
	cx->route = http_route_match(daemon_routes, method, &cx->target, &cx->method_mismatch);
	if (!cx->route) {
		_cleanup_free_ char *shown = NULL;
		size_t plen = strcspn(cx->raw_target, "?");

		shown = xstrndup(cx->raw_target, unik_utf8_cut(cx->raw_target, plen, 200));
		unik_error_set(&e, cx->method_mismatch ? UNIK_E_INVALID : UNIK_E_NOTFOUND,
		               cx->method_mismatch ? "%.20s is not allowed on %s"
		                                   : "no such route: %.20s %s",
		               method, shown);
		return early_reply(c, cx, cx->method_mismatch ? 405 : 404, &e, true);
	}
	cx->multipart =
	    cx->route->upload && ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0;
	max = cx->multipart ? ((uint64_t)D.cfg.max_upload_mb << 20) + FORM_MAX : JSON_BODY_MAX;
	if (clen && http_content_length(clen, &len) == 0 && len > max) {
		const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");

		if (cx->multipart)
			unik_error_set(&e, UNIK_E_INVALID,
			               "the upload is larger than %lld MiB (build.max_upload_mb)",
			               (long long)D.cfg.max_upload_mb);
		else
			unik_error_set(&e, UNIK_E_INVALID,
			               "the request body is larger than %u bytes", JSON_BODY_MAX);
		/* Refused from the Content-Length alone.  A client that waits for "100 Continue",
		 * or announces more than DRAIN_MAX too many, gets the answer now and the connection
		 * is closed; one that sends a modest excess without waiting has it read and
		 * dropped, or it would see its connection reset instead of the 413. */
		if ((expect && strcasecmp(expect, "100-continue") == 0) || len - max > DRAIN_MAX)
			return early_reply(c, cx, 413, &e, true);
		cx->f.status = 413;
		cx->f.err = e;
	}
	if (cx->multipart) {
		cx->pp = MHD_create_post_processor(c, 64 * 1024, http_form_part, &cx->f);
		if (!cx->pp) {
			cx->f.status = 400;
			unik_error_set(&cx->f.err, UNIK_E_INVALID,
			               "malformed multipart request: the Content-Type has no "
			               "boundary");
		}
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct conn *cx = *con_cls;

	(void)version;
	(void)url; /* decoded by libmicrohttpd; the raw target (on_uri) is what counts */
	if (!cx) {
		/* Not reached: on_uri made it.  Be safe all the same. */
		cx = on_uri(cls, url, c);
		*con_cls = cx;
	}
	if (!cx->started)
		return on_headers(c, cx, method);
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		guard_body_progress(c);
		if (cx->f.status) {
			/* A body already refused: drop it (to answer at its end), but not for
			 * ever. */
			cx->discarded += n;
			return cx->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (cx->multipart) {
			if (MHD_post_process(cx->pp, upload_data, n) != MHD_YES && !cx->f.status) {
				cx->f.status = 400;
				unik_error_set(&cx->f.err, UNIK_E_INVALID,
				               "malformed multipart body");
			}
			return MHD_YES;
		}
		if (cx->len + n > JSON_BODY_MAX) {
			cx->f.status = 413;
			unik_error_set(&cx->f.err, UNIK_E_INVALID,
			               "the request body is larger than %u bytes", JSON_BODY_MAX);
			return MHD_YES;
		}
		if (cx->len + n + 1 > cx->cap) {
			cx->cap = (cx->len + n + 1) * 2;
			cx->buf = xrealloc(cx->buf, cx->cap);
		}
		memcpy(cx->buf + cx->len, upload_data, n);
		cx->len += n;
		return MHD_YES;
	}
	guard_busy(c);
	if (cx->multipart && cx->pp && !cx->f.status) {
		MHD_destroy_post_processor(cx->pp);
		cx->pp = NULL;
		if (cx->f.upload_fd >= 0 && fsync(cx->f.upload_fd) < 0 && !cx->f.status) {
			cx->f.status = 500;
			unik_error_sys(&cx->f.err, errno, "write the upload");
		}
	}
	if (cx->f.status) {
		http_form_discard(&cx->f);
		return early_reply(c, cx, cx->f.status, &cx->f.err, false);
	}

	struct req r = {
	    .c = c,
	    .method = method,
	    .path = cx->raw_target,
	    .target = &cx->target,
	    .compat = cx->route->compat,
	    .body = cx->buf ? cx->buf : "",
	    .body_len = cx->len,
	    .multipart = cx->multipart,
	    .upload_path = cx->f.got_file ? cx->f.upload_path : NULL,
	    .form = cx->f.form,
	};

	if (cx->buf)
		cx->buf[cx->len] = '\0';
	r.nseg = cx->target.nseg;
	for (int i = 0; i < r.nseg; i++)
		r.segs[i] = cx->target.segs[i];
	cx->route->fn(&r);
	http_form_discard(&cx->f);
	return queue(c, &r);
}

/* ------------------------------------------------------------------------------------------ */
/* Listeners */

static int tcp_socket(const char *spec, const struct sockaddr_storage *ss, socklen_t sl,
                      struct unik_error *err)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unik_error_sys(err, errno, "socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sl) < 0 || listen(fd, 512) < 0) {
		unik_error_sys(err, errno, "listen on %s", spec);
		close(fd);
		return -1;
	}
	return fd;
}

static int unix_socket(const char *path, struct unik_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "the socket path %s is too long for a unix socket (UNIK_HOME is too "
		               "deep)",
		               path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A socket file nobody answers on is left over from a daemon that died: replace it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unik_error_sys(err, errno, "socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		unik_error_set(err, UNIK_E_EXISTS, "a daemon is already running on %s", path);
		return -1;
	}
	close(fd);
	struct stat sb;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			unik_error_set(err, UNIK_E_EXISTS,
			               "%s exists and is not a socket; remove it if it is stale",
			               path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unik_error_sys(err, errno, "socket");
		return -1;
	}
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 512) < 0) {
		unik_error_sys(err, errno, "listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int start_mhd(struct listener *l, struct unik_error *err)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_POLL | MHD_USE_ITC;

	/* No libmicrohttpd timeout: it would also cut long answers (logs -f) and handlers that
	 * wait; http_guard.c sets the deadlines, phase by phase. */
	l->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, l,
	    MHD_OPTION_NOTIFY_CONNECTION, guard_notify, l->tcp ? l : NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512, MHD_OPTION_END);
	if (!l->mhd) {
		unik_error_set(err, UNIK_E_IO, "cannot start the HTTP server on %s", l->addr);
		return -1;
	}
	return 0;
}

/* The sockets a service manager passed (systemd's socket activation, sd_listen_fds(3)): when
 * $LISTEN_PID is this process, $LISTEN_FDS listening sockets from fd 3 on.  The variables are
 * removed so that no child takes them for its own.  Returns how many (0 when none), or -1. */
static int passed_fds(struct unik_error *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long n;

	if (!pid || !fds)
		return 0;
	errno = 0;
	if (strtol(pid, &end, 10) != (long)getpid() || *end || errno) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return 0;
	}
	n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end || !*fds || n < 0 || n > 64) {
		unik_error_set(err, UNIK_E_INVALID,
		               "LISTEN_FDS \"%.20s\" is not a count of sockets", fds);
		return -1;
	}
	for (int fd = 3; fd < 3 + n; fd++) {
		int type = 0, acc = 0;
		socklen_t tl = sizeof(type), al = sizeof(acc);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
		    type != SOCK_STREAM || !acc) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "fd %d from the service manager (LISTEN_FDS) is not a listening "
			    "stream socket: give unik.socket ListenStream= lines only",
			    fd);
			return -1;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return (int)n;
}

/* A passed socket as a listener: its address as text, and whether it is TCP on loopback. */
static int passed_listener(int fd, struct listener *l, bool *loopback, struct unik_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "";

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		unik_error_sys(err, errno, "the address of fd %d (LISTEN_FDS)", fd);
		return -1;
	}
	l->fd = fd;
	*loopback = false;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *su = (const struct sockaddr_un *)&ss;

		l->addr = su->sun_path[0] ? xstrndup(su->sun_path, sizeof(su->sun_path))
		                          : xstrdup("(abstract unix socket)");
		return 0;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *si = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &si->sin_addr, host, sizeof(host));
		l->addr = xasprintf("%s:%u", host, (unsigned)ntohs(si->sin_port));
		*loopback = (ntohl(si->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *si = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &si->sin6_addr, host, sizeof(host));
		l->addr = xasprintf("[%s]:%u", host, (unsigned)ntohs(si->sin6_port));
		*loopback = IN6_IS_ADDR_LOOPBACK(&si->sin6_addr);
	} else {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "fd %d from the service manager (LISTEN_FDS) is neither a unix nor a "
		    "TCP socket",
		    fd);
		return -1;
	}
	l->tcp = true;
	l->need_token = D.cfg.token != NULL;
	if (!*loopback && !D.cfg.token) {
		unik_error_set(err, UNIK_E_INVALID,
		               "listening on %s (not loopback, from the service manager) needs a "
		               "token: --token, UNIK_TOKEN or \"token:\" in daemon-config.yaml",
		               l->addr);
		return -1;
	}
	return 0;
}

int http_start(struct unik_error *err)
{
	int npassed = passed_fds(err);
	bool have_unix = false;

	if (npassed < 0)
		return -1;
	listeners = xcalloc(1 + (size_t)npassed + D.cfg.listen.n, sizeof(*listeners));
	for (int i = 0; i < npassed; i++) {
		struct listener *l = &listeners[nlisteners];
		bool loopback;

		if (passed_listener(3 + i, l, &loopback, err) < 0) {
			free(l->addr);
			l->addr = NULL;
			return -1;
		}
		nlisteners++;
		/* The first unix socket is the one the daemon names as its own; the service
		 * manager owns its file. */
		if (!l->tcp && !have_unix) {
			have_unix = true;
			free(D.sock_path);
			D.sock_path = xstrdup(l->addr);
			D.sock_passed = true;
		}
	}
	if (!have_unix) {
		struct listener *l = &listeners[nlisteners];

		l->fd = unix_socket(D.sock_path, err);
		l->addr = xstrdup(D.sock_path);
		if (l->fd < 0)
			return -1;
		nlisteners++;
	}
	/* Every address is checked before any port is bound: a refused listener never holds its
	 * port, not even for a moment. */
	struct sockaddr_storage *ss = xcalloc(D.cfg.listen.n + 1, sizeof(*ss));
	unsigned *sl = xcalloc(D.cfg.listen.n + 1, sizeof(*sl));
	int rc = -1;

	for (size_t i = 0; i < D.cfg.listen.n; i++) {
		bool loopback = false;

		if (http_listen_parse(D.cfg.listen.v[i], &ss[i], &sl[i], &loopback, err) < 0)
			goto out;
		if (!loopback && !D.cfg.token) {
			unik_error_set(err, UNIK_E_INVALID,
			               "listening on %s (not loopback) needs a token: --token, "
			               "UNIK_TOKEN or \"token:\" in daemon-config.yaml",
			               D.cfg.listen.v[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < D.cfg.listen.n; i++) {
		struct listener *l = &listeners[nlisteners];

		l->fd = tcp_socket(D.cfg.listen.v[i], &ss[i], (socklen_t)sl[i], err);
		if (l->fd < 0)
			goto out;
		nlisteners++;
		l->tcp = true;
		l->addr = xstrdup(D.cfg.listen.v[i]);
		l->need_token = D.cfg.token != NULL;
	}
	rc = 0;
out:
	free(ss);
	free(sl);
	return rc;
}

/* Serving starts only once the daemon is fully up; until then connections wait in the
 * listen backlog, so no client ever sees a half-started daemon. */
int http_serve(struct unik_error *err)
{
	if (guard_start(err) < 0)
		return -1;
	for (size_t i = 0; i < nlisteners; i++)
		if (start_mhd(&listeners[i], err) < 0)
			return -1;
	return 0;
}

void http_quiesce(void);
void http_quiesce(void)
{
	for (size_t i = 0; i < nlisteners; i++)
		if (listeners[i].mhd) {
			MHD_socket s = MHD_quiesce_daemon(listeners[i].mhd);
			if (s != MHD_INVALID_SOCKET)
				close(s);
			listeners[i].fd = -1;
		}
	if (nlisteners && !D.sock_passed)
		unlink(D.sock_path);
}

void http_addresses(struct strv *out)
{
	for (size_t i = 0; i < nlisteners; i++)
		if (listeners[i].addr)
			strv_push(out, listeners[i].addr);
}

void http_stop(void)
{
	for (size_t i = 0; i < nlisteners; i++) {
		if (listeners[i].mhd)
			MHD_stop_daemon(listeners[i].mhd);
		if (listeners[i].fd >= 0)
			close(listeners[i].fd);
		free(listeners[i].addr);
	}
	free(listeners);
	listeners = NULL;
	nlisteners = 0;
	guard_stop();
}
