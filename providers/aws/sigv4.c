/* AWS Signature Version 4, written from AWS's "Create a signed AWS API request" reference:
 * canonical request, string to sign, the HMAC key chain and the Authorization header. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

void aws_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char digits[] = "0123456789abcdef";

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

static bool unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

char *aws_uri_encode(const char *s, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = xmalloc(3 * len + 1);
	char *p = out;

	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (unreserved(*q) || (keep_slash && *q == '/')) {
			*p++ = (char)*q;
		} else {
			*p++ = '%';
			*p++ = digits[*q >> 4];
			*p++ = digits[*q & 15];
		}
	}
	*p = '\0';
	return out;
}

static void hmac_sha256(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* RFC 3986 section 5.2.4 without the empty segments, as AWS's services (all but S3) want. */
static char *normalize_path(const char *path)
{
	_cleanup_strv_ struct strv segs = {0};
	size_t len = strlen(path), total = 2;
	char *out, *p;

	if (!len)
		return xstrdup("/");
	for (const char *s = path; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (segs.n) {
				free(segs.v[--segs.n]);
				segs.v[segs.n] = NULL;
			}
		} else if (n && !(n == 1 && s[0] == '.')) {
			strv_push_take(&segs, xstrndup(s, n));
		}
		s += n + (e ? 1 : 0);
	}
	for (size_t i = 0; i < segs.n; i++)
		total += strlen(segs.v[i]) + 1;
	out = p = xmalloc(total + 1);
	if (path[0] == '/')
		*p++ = '/';
	for (size_t i = 0; i < segs.n; i++) {
		size_t n = strlen(segs.v[i]);

		if (i)
			*p++ = '/';
		memcpy(p, segs.v[i], n);
		p += n;
	}
	if (path[len - 1] == '/' && segs.n)
		*p++ = '/';
	*p = '\0';
	return out;
}

struct kv {
	char *key;
	char *value;
};

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : strcmp(x->value, y->value);
}

/* The query's pairs sorted by name, then value; a bare "uploads" becomes "uploads=". */
static char *canonical_query(const char *query)
{
	struct kv *kvs = NULL;
	size_t n = 0, total = 1;
	char *out, *p;

	if (!query || !*query)
		return xstrdup("");
	for (const char *s = query;; s++) {
		const char *e = strchr(s, '&');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		const char *eq = memchr(s, '=', len);

		kvs = xrealloc(kvs, (n + 1) * sizeof(*kvs));
		if (eq) {
			kvs[n].key = xstrndup(s, (size_t)(eq - s));
			kvs[n].value = xstrndup(eq + 1, len - (size_t)(eq - s) - 1);
		} else {
			kvs[n].key = xstrndup(s, len);
			kvs[n].value = xstrdup("");
		}
		total += strlen(kvs[n].key) + strlen(kvs[n].value) + 2;
		n++;
		if (!e)
			break;
		s = e;
	}
	qsort(kvs, n, sizeof(*kvs), kv_cmp);
	out = p = xmalloc(total);
	for (size_t i = 0; i < n; i++) {
		p += snprintf(p, total - (size_t)(p - out), "%s%s=%s", i ? "&" : "", kvs[i].key,
		              kvs[i].value);
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
	return out;
}

/* Trimall: leading and trailing white space dropped, inner runs become one space. */
static char *trim_all(const char *v)
{
	char *out = xmalloc(strlen(v) + 1), *p = out;
	bool space = false;

	for (; *v; v++) {
		if (isspace((unsigned char)*v)) {
			space = true;
			continue;
		}
		if (space && p != out)
			*p++ = ' ';
		space = false;
		*p++ = *v;
	}
	*p = '\0';
	return out;
}

struct hdr {
	char *name; /* lowercase */
	char *value;
	size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void add_hdr(struct hdr **h, size_t *n, const char *name, size_t name_len, const char *value)
{
	*h = xrealloc(*h, (*n + 1) * sizeof(**h));
	(*h)[*n].name = xstrndup(name, name_len);
	for (char *p = (*h)[*n].name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	(*h)[*n].value = trim_all(value);
	(*h)[*n].order = *n;
	(*n)++;
}

static bool header_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

int aws_sigv4_sign_debug(const struct aws_config *c, const struct aws_sign_req *r, char ***out,
                         char **canonical_request, char **string_to_sign, struct unik_error *err)
{
	_cleanup_free_ char *path = NULL, *query = NULL, *creq = NULL, *sts = NULL;
	_cleanup_free_ char *signed_names = NULL, *canon_headers = NULL, *key = NULL;
	_cleanup_strv_ struct strv res = {0};
	struct hdr *h = NULL;
	size_t nh = 0, names_len = 1, canon_len = 1;
	char amz_date[17], date[9], creq_hash[65], sig_hex[65];
	unsigned char k[32], sig[32];
	bool s3 = strcmp(r->service, "s3") == 0;
	struct tm tm;
	int ret = -1;

	if (!c->access_key_id || !c->secret_access_key) {
		unik_error_set(err, UNIK_E_PERM, "sign an AWS request: no credentials");
		return -1;
	}
	if (!gmtime_r(&r->when, &tm) ||
	    !strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm)) {
		unik_error_set(err, UNIK_E_INVALID, "sign an AWS request: bad time %lld",
		               (long long)r->when);
		return -1;
	}
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	for (const char *const *l = r->headers; l && *l; l++) {
		const char *colon = strchr(*l, ':');
		size_t name_len;

		if (!colon || colon == *l) {
			unik_error_set(err, UNIK_E_INTERNAL,
			               "sign an AWS request: bad header \"%s\"", *l);
			goto out;
		}
		name_len = (size_t)(colon - *l);
		if (header_is(*l, name_len, "host") || header_is(*l, name_len, "x-amz-date") ||
		    header_is(*l, name_len, "authorization")) {
			unik_error_set(
			    err, UNIK_E_INTERNAL,
			    "sign an AWS request: the signer sets the %.*s header itself",
			    (int)name_len, *l);
			goto out;
		}
		/* botocore never signs these: proxies and clients change them. */
		if (header_is(*l, name_len, "expect") || header_is(*l, name_len, "user-agent") ||
		    header_is(*l, name_len, "x-amzn-trace-id"))
			continue;
		if ((c->session_token && header_is(*l, name_len, "x-amz-security-token")) ||
		    (s3 && header_is(*l, name_len, "x-amz-content-sha256")))
			continue;
		add_hdr(&h, &nh, *l, name_len, colon + 1);
	}
	add_hdr(&h, &nh, "host", 4, r->host);
	add_hdr(&h, &nh, "x-amz-date", 10, amz_date);
	strv_pushf(&res, "X-Amz-Date: %s", amz_date);
	if (c->session_token) {
		add_hdr(&h, &nh, "x-amz-security-token", 20, c->session_token);
		strv_pushf(&res, "X-Amz-Security-Token: %s", c->session_token);
	}
	if (s3) {
		add_hdr(&h, &nh, "x-amz-content-sha256", 20, r->payload_sha256);
		strv_pushf(&res, "X-Amz-Content-Sha256: %s", r->payload_sha256);
	}
	qsort(h, nh, sizeof(*h), hdr_cmp);

	for (size_t i = 0; i < nh; i++) {
		names_len += strlen(h[i].name) + 1;
		canon_len += strlen(h[i].name) + strlen(h[i].value) + 3;
	}
	signed_names = xcalloc(1, names_len);
	canon_headers = xcalloc(1, canon_len);
	for (size_t i = 0, cn = 0, sn = 0; i < nh; i++) {
		bool same = i && strcmp(h[i].name, h[i - 1].name) == 0;

		if (same) {
			cn +=
			    (size_t)snprintf(canon_headers + cn, canon_len - cn, ",%s", h[i].value);
			continue;
		}
		cn += (size_t)snprintf(canon_headers + cn, canon_len - cn, "%s%s:%s",
		                       cn ? "\n" : "", h[i].name, h[i].value);
		sn += (size_t)snprintf(signed_names + sn, names_len - sn, "%s%s", sn ? ";" : "",
		                       h[i].name);
	}

	/* S3 signs the path as sent; every other service normalizes it and encodes it again. */
	if (s3) {
		path = xstrdup(r->path && *r->path ? r->path : "/");
	} else {
		_cleanup_free_ char *norm = normalize_path(r->path ? r->path : "");

		path = aws_uri_encode(norm, true);
	}
	query = canonical_query(r->query);
	creq = xasprintf("%s\n%s\n%s\n%s\n\n%s\n%s", r->method, path, query, canon_headers,
	                 signed_names, r->payload_sha256);
	aws_sha256_hex(creq, strlen(creq), creq_hash);
	sts = xasprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
	                r->region, r->service, creq_hash);

	key = xasprintf("AWS4%s", c->secret_access_key);
	hmac_sha256(key, strlen(key), date, k);
	hmac_sha256(k, 32, r->region, k);
	hmac_sha256(k, 32, r->service, k);
	hmac_sha256(k, 32, "aws4_request", k);
	hmac_sha256(k, 32, sts, sig);
	for (int i = 0; i < 32; i++)
		snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
	OPENSSL_cleanse(k, sizeof(k));

	strv_pushf(&res,
	           "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
	           "SignedHeaders=%s, Signature=%s",
	           c->access_key_id, date, r->region, r->service, signed_names, sig_hex);
	*out = unik_steal_ptr(&res.v);
	res.n = res.cap = 0;
	if (canonical_request)
		*canonical_request = unik_steal_ptr(&creq);
	if (string_to_sign)
		*string_to_sign = unik_steal_ptr(&sts);
	ret = 0;
out:
	for (size_t i = 0; i < nh; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	if (key)
		OPENSSL_cleanse(key, strlen(key));
	return ret;
}

int aws_sigv4_sign(const struct aws_config *c, const struct aws_sign_req *r, char ***out,
                   struct unik_error *err)
{
	return aws_sigv4_sign_debug(c, r, out, NULL, NULL, err);
}

void aws_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
