/* The OCI distribution API over libcurl (lib/registry.h).  Auth follows what registries answer:
 * a 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` is a token fetched from
 * the realm (with basic credentials when there are some), `Basic` is the credentials themselves.
 */
#include "lib/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"

#define DEFAULT_CHUNK   (4u << 20)
#define MAX_SMALL_BODY  (16u << 20) /* manifests, tokens, errors */
#define DOCKER_HUB      "docker.io"
#define DOCKER_HUB_HOST "registry-1.docker.io"

/* ------------------------------------------------------------------------------------------ */
/* References */

void unik_registry_ref_free(struct unik_registry_ref *r)
{
	free(r->registry);
	free(r->repository);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

static bool repo_component_ok(const char *s, size_t n)
{
	if (!n || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int unik_registry_ref_parse(const char *text, struct unik_registry_ref *out, struct unik_error *err)
{
	_cleanup_free_ char *s = xstrdup(text ? text : "");
	char *rest = s, *at, *slash, *colon;

	memset(out, 0, sizeof(*out));
	if (!*s || strlen(s) > 512 || strchr(s, ' ') || strstr(s, "://")) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "\"%.80s\" is not an image reference (REGISTRY/REPOSITORY[:TAG], e.g. "
		    "127.0.0.1:5000/hello:latest)",
		    text ? text : "");
		return -1;
	}
	if ((at = strchr(rest, '@'))) {
		*at++ = '\0';
		size_t n = strlen(at);
		bool hex = n == 7 + 64 && strncmp(at, "sha256:", 7) == 0;
		for (size_t i = 7; hex && i < n; i++)
			hex = isxdigit((unsigned char)at[i]) && !isupper((unsigned char)at[i]);
		if (!hex) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "\"%.80s\": a digest is sha256: and 64 lower-case hex digits", text);
			return -1;
		}
		out->digest = xstrdup(at);
	}
	slash = strchr(rest, '/');
	if (slash && (memchr(rest, '.', (size_t)(slash - rest)) ||
	              memchr(rest, ':', (size_t)(slash - rest)) ||
	              (slash - rest == 9 && strncmp(rest, "localhost", 9) == 0))) {
		out->registry = xstrndup(rest, (size_t)(slash - rest));
		rest = slash + 1;
	} else {
		out->registry = xstrdup(DOCKER_HUB);
	}
	colon = strrchr(rest, ':');
	if (colon) {
		*colon++ = '\0';
		size_t n = strlen(colon);
		bool ok =
		    n > 0 && n <= 128 && (isalnum((unsigned char)colon[0]) || colon[0] == '_');
		for (size_t i = 0; ok && i < n; i++)
			ok = isalnum((unsigned char)colon[i]) || strchr("_.-", colon[i]);
		if (!ok) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "\"%.80s\": a tag is up to 128 letters, digits, '_', '.' or '-'", text);
			unik_registry_ref_free(out);
			return -1;
		}
		out->tag = xstrdup(colon);
	}
	for (const char *p = rest;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!repo_component_ok(p, n)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"%.80s\": a repository is lower-case letters, digits and "
			               "'.', '_' or '-' between them, in '/'-separated parts",
			               text);
			unik_registry_ref_free(out);
			return -1;
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (strcmp(out->registry, DOCKER_HUB) == 0 && !strchr(rest, '/'))
		out->repository = xasprintf("library/%s", rest);
	else
		out->repository = xstrdup(rest);
	if (!out->tag && !out->digest)
		out->tag = xstrdup("latest");
	return 0;
}

char *unik_registry_ref_string(const struct unik_registry_ref *r)
{
	if (r->digest)
		return xasprintf("%s/%s@%s", r->registry, r->repository, r->digest);
	return xasprintf("%s/%s:%s", r->registry, r->repository, r->tag);
}

const char *unik_registry_ref_reference(const struct unik_registry_ref *r)
{
	return r->digest ? r->digest : r->tag;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

struct unik_registry {
	CURL *easy;
	char *base;       /* "https://host:port" */
	char *repository; /* "team/hello" */
	char *registry;   /* as the user named it, for messages */
	char *authz;      /* the Authorization header's value, once known */
	char *username, *password;
	bool insecure;
	char *ca_file;
	size_t chunk;
};

struct resp {
	long status;
	char *body;
	size_t len, max;
	bool too_big;
	char *location, *www_auth, *content_type, *digest;
	/* a body that is downloaded and checked on the way (blobs) */
	EVP_MD_CTX *md;
	unik_registry_progress_fn progress;
	void *ctx;
	const char *what;
	uint64_t total;
};

static void resp_free(struct resp *p)
{
	free(p->body);
	free(p->location);
	free(p->www_auth);
	free(p->content_type);
	free(p->digest);
	p->body = p->location = p->www_auth = p->content_type = p->digest = NULL;
	p->len = 0;
	p->status = 0;
	p->too_big = false;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct resp *p = ctx;
	size_t n = size * nmemb;

	if (p->len + n > p->max) {
		p->too_big = true;
		return 0;
	}
	p->body = xrealloc(p->body, p->len + n + 1);
	memcpy(p->body + p->len, data, n);
	p->len += n;
	p->body[p->len] = '\0';
	if (p->md)
		EVP_DigestUpdate(p->md, data, n);
	if (p->progress && p->status < 300)
		p->progress(p->ctx, p->what, p->len, p->total);
	return n;
}

/* Keeps the value of a header we need (names are case-insensitive). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct resp *p = ctx;
	size_t n = size * nmemb;
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
	    {"location:", offsetof(struct resp, location)},
	    {"www-authenticate:", offsetof(struct resp, www_auth)},
	    {"content-type:", offsetof(struct resp, content_type)},
	    {"docker-content-digest:", offsetof(struct resp, digest)},
	};

	/* A new response (after a redirect or a 100 Continue) starts with its status line. */
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		free(p->location);
		free(p->www_auth);
		free(p->content_type);
		free(p->digest);
		p->location = p->www_auth = p->content_type = p->digest = NULL;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name);
		if (n > k && strncasecmp(data, want[i].name, k) == 0) {
			const char *v = data + k;
			const char *e = data + n;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
				e--;
			char **slot = (char **)((char *)p + want[i].off);
			free(*slot);
			*slot = xstrndup(v, (size_t)(e - v));
		}
	}
	return n;
}

/* The registry's own message from an error body ({"errors":[{"code","message"}]}), or "". */
static char *registry_message(const struct resp *p)
{
	json_t *j = p->body ? json_loadb(p->body, p->len, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));
	char *out;

	if (code || msg)
		out = xasprintf(": %s%s%s", code ? code : "", code && msg ? ": " : "",
		                msg ? msg : "");
	else
		out = xstrdup("");
	json_decref(j);
	return out;
}

struct upload {
	const char *data;
	size_t len;
};

/* One request; no auth retry.  url is absolute. */
static int perform(struct unik_registry *r, const char *method, const char *url,
                   const char *const *headers, const void *body, size_t len, bool basic,
                   struct resp *p, struct unik_error *err)
{
	CURL *e = r->easy;
	struct curl_slist *hl = NULL;
	_cleanup_free_ char *authz = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "unik/" UNIK_VERSION);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Blobs are often served by a redirect to storage, which must not get our token. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, strcmp(method, "GET") == 0 ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
	if (r->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
	}
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	if (basic && r->username) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, r->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, r->password ? r->password : "");
	} else if (!basic && r->authz) {
		authz = xasprintf("Authorization: %s", r->authz);
		hl = curl_slist_append(hl, authz);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(e);
	curl_slist_free_all(hl);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &p->status);
	if (rc != CURLE_OK) {
		if (p->too_big)
			unik_error_set(err, UNIK_E_INVALID, "%s %s: the answer is over %zu bytes",
			               method, url, p->max);
		else
			unik_error_set(err, UNIK_E_IO, "%s %s: %s", method, url,
			               errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

/* The value of param in a WWW-Authenticate challenge (`realm="..."`), or NULL. */
static char *challenge_param(const char *h, const char *param)
{
	size_t k = strlen(param);

	for (const char *p = h; (p = strcasestr(p, param)); p += k) {
		if ((p != h && isalnum((unsigned char)p[-1])) || p[k] != '=')
			continue;
		const char *v = p + k + 1;
		if (*v == '"') {
			const char *e = strchr(v + 1, '"');
			return e ? xstrndup(v + 1, (size_t)(e - v - 1)) : NULL;
		}
		size_t n = strcspn(v, ", ");
		return xstrndup(v, n);
	}
	return NULL;
}

/* Answers a 401's challenge: sets r->authz. */
static int authenticate(struct unik_registry *r, const char *challenge, struct unik_error *err)
{
	if (strncasecmp(challenge, "Basic", 5) == 0) {
		if (!r->username) {
			unik_error_set(
			    err, UNIK_E_PERM,
			    "%s asks for a login: give --username and --password-stdin, or "
			    "log in with `docker login %s`",
			    r->registry, r->registry);
			return -1;
		}
		/* perform() sends the credentials itself when authz is "basic". */
		free(r->authz);
		r->authz = xstrdup("basic");
		return 0;
	}
	if (strncasecmp(challenge, "Bearer", 6) != 0) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "%s asks for an unknown kind of login: %.60s", r->registry,
		               challenge);
		return -1;
	}
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	if (!realm || strncmp(realm, "http", 4) != 0) {
		unik_error_set(err, UNIK_E_IO, "%s: a token login without a realm URL",
		               r->registry);
		return -1;
	}
	_cleanup_free_ char *esc_service = service ? curl_easy_escape(r->easy, service, 0) : NULL;
	_cleanup_free_ char *esc_scope = scope ? curl_easy_escape(r->easy, scope, 0) : NULL;
	_cleanup_free_ char *url = xasprintf(
	    "%s%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?", esc_service ? "service=" : "",
	    esc_service ? esc_service : "", esc_scope ? (esc_service ? "&scope=" : "scope=") : "",
	    esc_scope ? esc_scope : "");
	struct resp p = {.max = MAX_SMALL_BODY};
	int rc = -1;

	if (perform(r, "GET", url, NULL, NULL, 0, r->username != NULL, &p, err) < 0)
		goto out;
	if (p.status == 401 || p.status == 403) {
		unik_error_set(err, UNIK_E_PERM, "%s refused the login%s%s", r->registry,
		               r->username ? " of " : " (no credentials given)",
		               r->username ? r->username : "");
		goto out;
	}
	json_t *j = p.status == 200 ? json_loadb(p.body ? p.body : "", p.len, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok) {
		unik_error_set(err, UNIK_E_IO, "%s: the token server answered %ld without a token",
		               r->registry, p.status);
		json_decref(j);
		goto out;
	}
	free(r->authz);
	r->authz = xasprintf("Bearer %s", tok);
	json_decref(j);
	rc = 0;
out:
	resp_free(&p);
	return rc;
}

/* A request with auth: a 401 is answered once, then the request is sent again.  path is under
 * base (starts with '/') or an absolute URL. */
static int request(struct unik_registry *r, const char *method, const char *path,
                   const char *const *headers, const void *body, size_t len, struct resp *p,
                   struct unik_error *err)
{
	_cleanup_free_ char *url =
	    strncmp(path, "http", 4) == 0 ? xstrdup(path) : xasprintf("%s%s", r->base, path);

	for (int attempt = 0;; attempt++) {
		bool basic = r->authz && strcmp(r->authz, "basic") == 0;
		resp_free(p);
		if (p->md)
			EVP_DigestInit_ex(p->md, EVP_sha256(), NULL);
		if (perform(r, method, url, headers, body, len, basic, p, err) < 0)
			return -1;
		if (p->status != 401 || attempt > 0 || !p->www_auth)
			break;
		if (authenticate(r, p->www_auth, err) < 0)
			return -1;
	}
	if (p->status == 401) {
		unik_error_set(err, UNIK_E_PERM, "%s: %s %s: unauthorized%s", r->registry, method,
		               path,
		               r->username ? " (check the user name and password)"
		                           : " (give --username and --password-stdin, or `docker "
		                             "login`)");
		return -1;
	}
	return 0;
}

static int http_fail(struct unik_registry *r, const char *what, const struct resp *p,
                     struct unik_error *err)
{
	_cleanup_free_ char *msg = registry_message(p);

	unik_error_set(err,
	               p->status == 404   ? UNIK_E_NOTFOUND
	               : p->status == 403 ? UNIK_E_PERM
	                                  : UNIK_E_IO,
	               "%s: %s: HTTP %ld%s", r->registry, what, p->status, msg);
	return -1;
}

int unik_registry_open(const struct unik_registry_ref *ref, const struct unik_registry_opts *o,
                       struct unik_registry **out, struct unik_error *err)
{
	struct unik_registry *r = xcalloc(1, sizeof(*r));
	const char *host = strcmp(ref->registry, DOCKER_HUB) == 0 ? DOCKER_HUB_HOST : ref->registry;
	struct resp p = {.max = MAX_SMALL_BODY};

	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		unik_error_set(err, UNIK_E_IO, "libcurl: cannot make a handle");
		return -1;
	}
	r->repository = xstrdup(ref->repository);
	r->registry = xstrdup(ref->registry);
	r->username = o->username ? xstrdup(o->username) : NULL;
	r->password = o->password ? xstrdup(o->password) : NULL;
	r->insecure = o->insecure;
	r->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
	r->chunk = o->chunk_size ? o->chunk_size : DEFAULT_CHUNK;
	/* HTTPS first; an insecure registry may speak plain HTTP instead. */
	r->base = xasprintf("https://%s", host);
	if (request(r, "GET", "/v2/", NULL, NULL, 0, &p, err) < 0 && err->code != UNIK_E_PERM) {
		if (!o->insecure) {
			_cleanup_free_ char *msg = xstrdup(err->msg);

			unik_error_set(
			    err, UNIK_E_IO,
			    "%s (for a local registry without TLS, or with a certificate "
			    "of its own, give --insecure)",
			    msg);
			goto fail;
		}
		free(r->base);
		r->base = xasprintf("http://%s", host);
		if (request(r, "GET", "/v2/", NULL, NULL, 0, &p, err) < 0 &&
		    err->code != UNIK_E_PERM)
			goto fail;
	}
	/* A 401 at /v2/ is normal (a login per repository comes later); a 404 is no registry. */
	if (p.status == 404) {
		unik_error_set(err, UNIK_E_NOTFOUND, "%s does not serve the registry API (/v2/)",
		               r->registry);
		goto fail;
	}
	resp_free(&p);
	memset(err, 0, sizeof(*err));
	*out = r;
	return 0;
fail:
	resp_free(&p);
	unik_registry_close(r);
	return -1;
}

void unik_registry_close(struct unik_registry *r)
{
	if (!r)
		return;
	curl_easy_cleanup(r->easy);
	free(r->base);
	free(r->repository);
	free(r->registry);
	free(r->authz);
	free(r->username);
	if (r->password)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r->ca_file);
	free(r);
}

int unik_registry_blob_exists(struct unik_registry *r, const char *digest, bool *exists,
                              struct unik_error *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/blobs/%s", r->repository, digest);
	struct resp p = {.max = MAX_SMALL_BODY};
	int rc = 0;

	if (request(r, "HEAD", path, NULL, NULL, 0, &p, err) < 0)
		rc = -1;
	else if (p.status == 200)
		*exists = true;
	else if (p.status == 404)
		*exists = false;
	else
		rc = http_fail(r, path, &p, err);
	resp_free(&p);
	return rc;
}

/* An upload's next URL from a Location (which may be relative). */
static char *next_url(struct unik_registry *r, const char *loc)
{
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		return xstrdup(loc);
	return xasprintf("%s%s%s", r->base, loc[0] == '/' ? "" : "/", loc);
}

int unik_registry_blob_put(struct unik_registry *r, const char *digest, const void *data,
                           size_t len, unik_registry_progress_fn progress, void *ctx,
                           struct unik_error *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/blobs/uploads/", r->repository);
	_cleanup_free_ char *url = NULL;
	struct resp p = {.max = MAX_SMALL_BODY};
	int rc = -1;

	if (request(r, "POST", path, NULL, NULL, 0, &p, err) < 0)
		goto out;
	if (p.status != 202 || !p.location) {
		http_fail(r, "start an upload", &p, err);
		goto out;
	}
	url = next_url(r, p.location);
	if (progress)
		progress(ctx, digest, 0, len);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < r->chunk ? len - off : r->chunk;
		char range[64];
		const char *hdr[] = {"Content-Type: application/octet-stream", range, NULL};

		snprintf(range, sizeof(range), "Content-Range: %zu-%zu", off, off + n - 1);
		if (request(r, "PATCH", url, hdr, (const char *)data + off, n, &p, err) < 0)
			goto out;
		if (p.status != 202 || !p.location) {
			http_fail(r, "upload a chunk", &p, err);
			goto out;
		}
		free(url);
		url = next_url(r, p.location);
		off += n;
		if (progress)
			progress(ctx, digest, off, len);
	}
	{
		_cleanup_free_ char *esc = curl_easy_escape(r->easy, digest, 0);
		_cleanup_free_ char *put =
		    xasprintf("%s%sdigest=%s", url, strchr(url, '?') ? "&" : "?", esc);
		const char *hdr[] = {"Content-Type: application/octet-stream", NULL};

		if (request(r, "PUT", put, hdr, NULL, 0, &p, err) < 0)
			goto out;
		if (p.status != 201 && p.status != 204) {
			http_fail(r, "finish an upload", &p, err);
			goto out;
		}
	}
	rc = 0;
out:
	resp_free(&p);
	return rc;
}

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int unik_registry_blob_get(struct unik_registry *r, const char *digest, uint64_t max,
                           unik_registry_progress_fn progress, void *ctx, char **data, size_t *len,
                           struct unik_error *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/blobs/%s", r->repository, digest);
	struct resp p = {.max = (size_t)max, .progress = progress, .ctx = ctx, .what = digest};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char got[7 + 64 + 1] = "sha256:";
	int rc = -1;

	if (strncmp(digest, "sha256:", 7) != 0) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "blob %.80s: only sha256 digests are checked", digest);
		return -1;
	}
	p.md = EVP_MD_CTX_new();
	if (request(r, "GET", path, NULL, NULL, 0, &p, err) < 0)
		goto out;
	if (p.status != 200) {
		http_fail(r, path, &p, err);
		goto out;
	}
	EVP_DigestFinal_ex(p.md, md, &mdlen);
	hex_of(md, mdlen, got + 7);
	if (strcmp(got, digest) != 0) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "%s: blob %s: digest mismatch: its content hashes to %s (the registry's "
		    "copy is damaged or was changed); nothing was stored",
		    r->registry, digest, got);
		goto out;
	}
	*data = p.body ? p.body : xstrdup("");
	*len = p.len;
	p.body = NULL;
	rc = 0;
out:
	EVP_MD_CTX_free(p.md);
	resp_free(&p);
	return rc;
}

int unik_registry_manifest_put(struct unik_registry *r, const char *reference,
                               const char *media_type, const void *data, size_t len,
                               struct unik_error *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", r->repository, reference);
	_cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
	const char *hdr[] = {ct, NULL};
	struct resp p = {.max = MAX_SMALL_BODY};
	int rc = 0;

	if (request(r, "PUT", path, hdr, data, len, &p, err) < 0)
		rc = -1;
	else if (p.status != 201 && p.status != 200 && p.status != 202)
		rc = http_fail(r, "put the manifest", &p, err);
	resp_free(&p);
	return rc;
}

int unik_registry_manifest_get(struct unik_registry *r, const char *reference, char **data,
                               size_t *len, char **media_type, char **digest,
                               struct unik_error *err)
{
	_cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", r->repository, reference);
	const char *hdr[] = {"Accept: application/vnd.oci.image.manifest.v1+json, "
	                     "application/vnd.oci.image.index.v1+json, "
	                     "application/vnd.docker.distribution.manifest.v2+json, "
	                     "application/vnd.docker.distribution.manifest.list.v2+json",
	                     NULL};
	struct resp p = {.max = MAX_SMALL_BODY};
	unsigned char md[32];
	unsigned mdlen = 0;
	char got[7 + 64 + 1] = "sha256:";
	int rc = -1;

	if (request(r, "GET", path, hdr, NULL, 0, &p, err) < 0)
		goto out;
	if (p.status == 404) {
		unik_error_set(err, UNIK_E_NOTFOUND, "%s has no %s:%s", r->registry, r->repository,
		               reference);
		goto out;
	}
	if (p.status != 200) {
		http_fail(r, path, &p, err);
		goto out;
	}
	EVP_Digest(p.body ? p.body : "", p.len, md, &mdlen, EVP_sha256(), NULL);
	hex_of(md, mdlen, got + 7);
	if ((strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, got) != 0) ||
	    (p.digest && strncmp(p.digest, "sha256:", 7) == 0 && strcmp(p.digest, got) != 0)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s: manifest %s: digest mismatch: it hashes to %s, not %s; nothing "
		               "was stored",
		               r->registry, reference, got,
		               strncmp(reference, "sha256:", 7) == 0 ? reference : p.digest);
		goto out;
	}
	*data = p.body ? p.body : xstrdup("");
	*len = p.len;
	p.body = NULL;
	if (media_type) {
		size_t n = p.content_type ? strcspn(p.content_type, "; ") : 0;
		*media_type = xstrndup(p.content_type ? p.content_type : "", n);
	}
	if (digest)
		*digest = xstrdup(got);
	rc = 0;
out:
	resp_free(&p);
	return rc;
}

int unik_registry_decode_auth(const char *b64, char **user, char **password, struct unik_error *err)
{
	size_t n = strlen(b64);
	unsigned char *buf = xmalloc(n + 4);
	int k = n % 4 == 0 ? EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n) : -1;
	char *colon;

	if (k < 0) {
		free(buf);
		unik_error_set(err, UNIK_E_INVALID, "auth: not base64 of USER:PASSWORD");
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n > 0 && b64[n - 1] == '=' && k > 0) {
		k--;
		n--;
	}
	buf[k] = '\0';
	colon = strchr((char *)buf, ':');
	if (!colon || colon == (char *)buf) {
		explicit_bzero(buf, (size_t)k);
		free(buf);
		unik_error_set(err, UNIK_E_INVALID, "auth: not base64 of USER:PASSWORD");
		return -1;
	}
	*user = xstrndup((char *)buf, (size_t)(colon - (char *)buf));
	*password = xstrdup(colon + 1);
	explicit_bzero(buf, (size_t)k);
	free(buf);
	return 0;
}
