/* The parts of the HTTP door that need no running server, so that tests and fuzzers call them
 * directly: the request target (path and query, percent-decoded and checked), route matching,
 * Content-Length, and the JSON error body. */
#ifndef UNIK_DAEMON_HTTP_PARSE_H
#define UNIK_DAEMON_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define MAX_SEGS        8
#define HTTP_MAX_QUERY  32
#define HTTP_TARGET_MAX 8192

struct route;

/* A request target, decoded.  Owns every string it points to (http_target_free). */
struct http_target {
	char *buf;
	char *segs[MAX_SEGS];
	int nseg; /* -1: more than MAX_SEGS segments, which no route has */
	char *qkey[HTTP_MAX_QUERY];
	char *qval[HTTP_MAX_QUERY];
	int nq;
};

/* Parses the raw target of a request line ("/v1/images/a%20b?force=1").  Path segments are
 * split on "/" (empty ones dropped) and then decoded; query arguments are split on "&" and "=",
 * "+" is a space.  A bad %-escape, or a byte below 0x20 or 0x7f once decoded (%00 would cut a
 * name short), is refused.  Returns 0, or the HTTP status to answer (400, 414) with err set. */
int http_target_parse(const char *raw, size_t len, struct http_target *t, struct unik_error *err);
void http_target_free(struct http_target *t);

/* The first value of query argument key, or NULL. */
const char *http_target_query(const struct http_target *t, const char *key);

/* The route of table (ended by a NULL pattern) for method and t, or NULL; then *mismatch says
 * whether some route has this path with another method (405 rather than 404). */
const struct route *http_route_match(const struct route *table, const char *method,
                                     const struct http_target *t, bool *mismatch);

struct sockaddr_storage;

/* Parses a --listen address "ADDR:PORT": ADDR a numeric IPv4 or IPv6 address (IPv6 in
 * brackets), "localhost" (127.0.0.1) or empty (every address); PORT digits only, 1-65535.
 * Fills ss and *len, and *loopback.  0, or -1 with err naming the address and the fix. */
int http_listen_parse(const char *spec, struct sockaddr_storage *ss, unsigned *len, bool *loopback,
                      struct unik_error *err);

/* Parses a Content-Length value strictly (digits only, no overflow): 0, or -1. */
int http_content_length(const char *v, uint64_t *out);

/* The body {"error":{"code":CODE,"message":MSG}} and a newline, valid UTF-8 JSON whatever
 * bytes msg holds (those that are not UTF-8 are shown as \xNN).  Never NULL; *len is set;
 * the caller frees it. */
char *http_error_body(const char *code, const char *msg, size_t *len);

#endif
