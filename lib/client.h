/* A small REST client for the unik daemon over libcurl: a unix socket or TCP, a bearer token,
 * JSON requests and answers, streamed text answers and multipart uploads.  The CLI uses it; so
 * can tests and other tools.  Also reads and writes UniK's client-config.yaml. */
#ifndef UNIK_CLIENT_H
#define UNIK_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* The port a host without one means: the original UniK daemon's. */
#define UNIK_CLIENT_DEFAULT_PORT 3000

/* ------------------------------------------------------------------------------------------- */
/* client-config.yaml: UniK's `host: "h:port"` */

/* Parses the text of a client config: a YAML mapping whose key `host` holds "h:port".  Other
 * keys are ignored, as UniK ignored them.  *host is NULL when the file has no host; the caller
 * frees it.  Fails with UNIK_E_INVALID (naming the line) on malformed YAML or a non-string host. */
int unik_client_config_parse(const char *text, size_t len, char **host, struct unik_error *err);

/* Reads path with unik_client_config_parse; a missing file is not an error (*host = NULL). */
int unik_client_config_load(const char *path, char **host, struct unik_error *err);

/* Writes `host: "h:port"` to path (atomically, mode 0644). */
int unik_client_config_write(const char *path, const char *host, struct unik_error *err);

/* ------------------------------------------------------------------------------------------- */
/* Where to reach a daemon */

/* Turns what a user gave as a host into a unix socket path or a base URL; exactly one of the two
 * is set and the caller frees both.  Accepted: "unix:PATH" or an absolute path (a socket),
 * "http://h[:p]" or "https://h[:p]" (used as is), "h" (port 3000), "h:p", "[v6]:p".  Fails with
 * UNIK_E_INVALID on an empty host or a bad port. */
int unik_client_parse_host(const char *host, char **socket_path, char **base_url,
                           struct unik_error *err);

/* ------------------------------------------------------------------------------------------- */
/* Requests */

struct unik_client;

/* A client for the daemon on socket_path (when not NULL) or at base_url ("http://h:p"); token (may
 * be NULL) goes out as `Authorization: Bearer`.  All strings are copied.  Free with
 * unik_client_free. */
struct unik_client *unik_client_new(const char *socket_path, const char *base_url,
                                    const char *token);
void unik_client_free(struct unik_client *c);

/* "unix socket /root/.unik/daemon.sock" or "http://h:p", for messages.  Owned by the client. */
const char *unik_client_where(const struct unik_client *c);

/* While *flag is non-zero, requests in progress end within about 50 ms with UNIK_E_IO
 * ("interrupted"); a signal handler sets it.  NULL turns this off. */
void unik_client_set_cancel(struct unik_client *c, const volatile sig_atomic_t *flag);

/* The HTTP status of the last request, 0 when none came back (the daemon could not be reached,
 * or the request was interrupted). */
long unik_client_last_status(const struct unik_client *c);

/* How long a request keeps trying a daemon too busy to take it, unless set otherwise. */
#define UNIK_CLIENT_RETRY_DEFAULT_MS 30000

/* A busy daemon: a connection refused with EAGAIN (a unix socket's full listen queue), timed out
 * (a TCP listen queue dropping it), or reset or closed before any answer is tried again with
 * exponential backoff (10 ms doubling up to 1 s, each wait jittered down by up to half) for at
 * most total_ms (0: never), after which the request fails with UNIK_E_IO and a message saying
 * the daemon is overloaded.  Only a request none of which was sent, or a GET or HEAD, goes
 * again: a POST, PUT or DELETE that may have reached the daemon is never sent twice, nor a
 * stream that has begun.  A refused connection (nothing listens, as while a daemon restarts) is
 * retried for at most 2 s; a missing socket is not retried. */
void unik_client_set_retry(struct unik_client *c, long total_ms);

/* How many times the last request was sent or tried (1 when it went through at once). */
unsigned unik_client_last_attempts(const struct unik_client *c);

/* 0 when something takes connections on the unix socket at path, else the errno of a
 * non-blocking connect: EAGAIN when a daemon listens but its queue is full, ECONNREFUSED when
 * nothing listens there, ENOENT when there is no socket. */
int unik_client_probe_socket(const char *path);

/* Parses a retry timeout in seconds ("30", "0.5"; "0" turns retries off) into *ms.  Fails with
 * UNIK_E_INVALID and a message naming the value. */
int unik_client_parse_retry(const char *text, long *ms, struct unik_error *err);

/* Sends method path (e.g. "GET", "/v1/images") with body as JSON (NULL for none).  On a 2xx
 * answer returns 0 and, when out is not NULL, the decoded JSON (a new reference; JSON null for an
 * empty body such as a 204).  On a 4xx/5xx answer returns -1 with err holding the daemon's message
 * (`{"error": {"code", "message"}}`, or a plain-text body) and the unik code matching its code or
 * HTTP status.  When nothing answers, returns -1 with UNIK_E_IO and a message like
 * "cannot reach the unik daemon at unix socket /…: connection refused". */
int unik_client_json(struct unik_client *c, const char *method, const char *path, json_t *body,
                     json_t **out, struct unik_error *err);

/* Receives a streamed answer: fn gets each piece of the body as it arrives (not NUL-terminated)
 * and returns 0 to go on or non-zero to stop (the call then returns 1).  Error answers are
 * reported as by unik_client_json, and never reach fn.  Returns 0 at the end of the stream. */
typedef int (*unik_client_data_fn)(void *ctx, const char *data, size_t len);
int unik_client_stream(struct unik_client *c, const char *method, const char *path,
                       unik_client_data_fn fn, void *ctx, struct unik_error *err);
/* The same with body sent as JSON (NULL for none). */
int unik_client_stream_json(struct unik_client *c, const char *method, const char *path,
                            json_t *body, unik_client_data_fn fn, void *ctx,
                            struct unik_error *err);

/* One part of a multipart/form-data upload: a file when filename is set, else a form value. */
struct unik_client_part {
	const char *name;
	const char *filename; /* NULL for a plain value */
	const char *type;     /* content type, e.g. "application/gzip"; NULL for curl's default */
	const void *data;
	size_t len;
};

/* Called during an upload with the bytes sent so far and the total. */
typedef void (*unik_client_progress_fn)(void *ctx, uint64_t sent, uint64_t total);

/* POSTs parts as multipart/form-data to path; the answer is handled as by unik_client_json.
 * progress may be NULL. */
int unik_client_upload(struct unik_client *c, const char *path,
                       const struct unik_client_part *parts, size_t nparts,
                       unik_client_progress_fn progress, void *progress_ctx, json_t **out,
                       struct unik_error *err);

/* Percent-encodes s for use as one path segment or query value.  Caller frees. */
char *unik_client_escape(const char *s);

/* The unik error code for a REST error code name ("not_found") or, when that is unknown, for an
 * HTTP status. */
int unik_client_error_code(const char *name, long http_status);

#endif
