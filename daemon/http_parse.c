/* Request targets, routes, Content-Length and error bodies: see http_parse.h. */
#include "daemon/http_parse.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/http.h"
#include "lib/utf8.h"
#include "lib/util.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into out (which has room for len + 1 bytes): 0, or the HTTP status. */
static int decode(const char *s, size_t len, bool plus_space, const char *what, char *out,
                  struct unik_error *err)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
				unik_error_set(err, UNIK_E_INVALID,
				               "the URL's %s has a bad %%-escape at character %zu: "
				               "write a %% sign as %%25",
				               what, i + 1);
				return 400;
			}
			c = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c < 0x20 || c == 0x7f) {
			unik_error_set(err, UNIK_E_INVALID,
			               "the URL's %s holds the control character 0x%02x: names and "
			               "values cannot contain control characters (%%00 included)",
			               what, c);
			return 400;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int http_target_parse(const char *raw, size_t len, struct http_target *t, struct unik_error *err)
{
	const char *q = memchr(raw, '?', len);
	size_t plen = q ? (size_t)(q - raw) : len;
	char *o;
	int st;

	memset(t, 0, sizeof(*t));
	if (len > HTTP_TARGET_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "the URL is longer than %d bytes",
		               HTTP_TARGET_MAX);
		return 414;
	}
	/* Decoding only shrinks; each piece adds a NUL, and a query argument two. */
	t->buf = o = xmalloc(3 * len + 4);
	for (size_t i = 0; i < plen;) {
		size_t j = i;

		while (j < plen && raw[j] != '/')
			j++;
		if (j > i) {
			/* Past MAX_SEGS no route matches, but the bytes are still checked. */
			if ((st = decode(raw + i, j - i, false, "path", o, err)))
				goto fail;
			if (t->nseg == MAX_SEGS || t->nseg < 0) {
				t->nseg = -1;
			} else {
				t->segs[t->nseg++] = o;
				o += strlen(o) + 1;
			}
		}
		i = j + 1;
	}
	for (size_t i = q ? plen + 1 : len; i < len;) {
		size_t j = i, eq;

		while (j < len && raw[j] != '&')
			j++;
		for (eq = i; eq < j && raw[eq] != '='; eq++)
			;
		if (j > i) {
			char *k = o, *v;

			if ((st = decode(raw + i, eq - i, true, "query", k, err)))
				goto fail;
			v = k + strlen(k) + 1;
			if ((st = decode(raw + (eq < j ? eq + 1 : j), eq < j ? j - eq - 1 : 0, true,
			                 "query", v, err)))
				goto fail;
			o = v + strlen(v) + 1;
			if (t->nq == HTTP_MAX_QUERY) {
				unik_error_set(err, UNIK_E_INVALID,
				               "the URL has more than %d query arguments",
				               HTTP_MAX_QUERY);
				st = 400;
				goto fail;
			}
			t->qkey[t->nq] = k;
			t->qval[t->nq++] = v;
		}
		i = j + 1;
	}
	return 0;
fail:
	http_target_free(t);
	return st;
}

void http_target_free(struct http_target *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

const char *http_target_query(const struct http_target *t, const char *key)
{
	for (int i = 0; i < t->nq; i++)
		if (strcmp(t->qkey[i], key) == 0)
			return t->qval[i];
	return NULL;
}

const struct route *http_route_match(const struct route *table, const char *method,
                                     const struct http_target *t, bool *mismatch)
{
	*mismatch = false;
	if (t->nseg < 0)
		return NULL;
	for (const struct route *rt = table; rt->pattern; rt++) {
		const char *p = rt->pattern;
		bool ok = true;
		int n = 0;

		while (ok && *p) {
			const char *e;
			size_t l;

			while (*p == '/')
				p++;
			if (!*p)
				break;
			e = strchr(p, '/');
			l = e ? (size_t)(e - p) : strlen(p);
			ok = n < t->nseg &&
			     ((l == 1 && *p == '*') ||
			      (strlen(t->segs[n]) == l && memcmp(t->segs[n], p, l) == 0));
			n++;
			p += l;
		}
		if (!ok || n != t->nseg)
			continue;
		if (strcmp(rt->method, method) == 0)
			return rt;
		*mismatch = true;
	}
	return NULL;
}

int http_content_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!v || !*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return 0;
}

char *http_error_body(const char *code, const char *msg, size_t *len)
{
	static const char fixed[] =
	    "{\"error\":{\"code\":\"internal\",\"message\":\"the error could not be encoded\"}}\n";
	_cleanup_free_ char *m = unik_utf8_escape(msg ? msg : "", msg ? strlen(msg) : 0);
	json_t *j =
	    json_pack("{s:{s:s, s:s}}", "error", "code", code ? code : "internal", "message", m);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(j);
	if (!text) {
		*len = sizeof(fixed) - 1;
		return xstrdup(fixed);
	}
	n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	text[n] = '\0';
	*len = n;
	return text;
}

int http_listen_parse(const char *spec, struct sockaddr_storage *ss, unsigned *len, bool *loopback,
                      struct unik_error *err)
{
	static const char fix[] = "give ADDR:PORT, e.g. 127.0.0.1:3000 or [::1]:3000";
	const char *colon = strrchr(spec, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hl;
	unsigned long port = 0;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!colon) {
		unik_error_set(err, UNIK_E_INVALID, "listen address \"%.*s\" has no port: %s",
		               UNIK_UTF8_CUT(spec, 80), fix);
		return -1;
	}
	if (!colon[1] || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    (port = strtoul(colon + 1, NULL, 10)) < 1 || port > 65535) {
		unik_error_set(err, UNIK_E_INVALID,
		               "listen address \"%.*s\": the port must be a number from 1 to 65535 "
		               "(%s)",
		               UNIK_UTF8_CUT(spec, 80), fix);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= sizeof(host)) {
		unik_error_set(err, UNIK_E_INVALID, "listen address \"%.*s\" is not an address: %s",
		               UNIK_UTF8_CUT(spec, 80), fix);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		if (hl < 2 || host[hl - 1] != ']') {
			unik_error_set(err, UNIK_E_INVALID,
			               "listen address \"%.*s\": an unclosed \"[\" (%s)",
			               UNIK_UTF8_CUT(spec, 80), fix);
			return -1;
		}
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "listen address \"%.*s\": \"%s\" is not an IPv6 address (%s)",
			    UNIK_UTF8_CUT(spec, 80), host, fix);
			return -1;
		}
		goto v6;
	}
	if (!host[0])
		snprintf(host, sizeof(host), "0.0.0.0");
	else if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "listen address \"%.*s\": give a numeric IP address or localhost (%s)",
		    UNIK_UTF8_CUT(spec, 80), fix);
		return -1;
	}
v6:
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	*len = sizeof(*s6);
	*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	return 0;
}
