/* The daemon's HTTP layer as the route handlers see it: one request in, one reply out. */
#ifndef UNIK_DAEMON_HTTP_H
#define UNIK_DAEMON_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/http_parse.h"
#include "lib/error.h"

struct req {
	struct MHD_Connection *c;
	const char *method;
	const char *path;
	const struct http_target *target; /* the decoded path and query */
	char *segs[MAX_SEGS];
	int nseg;
	bool compat; /* the original UniK's routes: plain-text errors */
	/* body */
	const char *body; /* NUL-terminated, "" when none (JSON routes) */
	size_t body_len;
	bool multipart;
	const char *upload_path; /* the file part ("source" or "tarfile"), or NULL */
	json_t *form;            /* the other multipart parts, name -> string */
	/* reply */
	struct MHD_Response *resp;
	int status;
};

struct route {
	const char *method;
	const char *pattern; /* segments, "*" matches one */
	void (*fn)(struct req *r);
	bool compat;
	bool upload; /* accepts multipart/form-data */
};

extern const struct route daemon_routes[];

const char *req_query(struct req *r, const char *key);
bool req_query_bool(struct req *r, const char *key);
/* The JSON body, or NULL after replying 400. */
json_t *req_json(struct req *r, bool allow_empty);
/* The options of a route that takes a JSON object, or a multipart upload of the file part
 * `parts` names and an "options" part holding that object as text (an empty object without
 * one).  NULL after replying with the error. */
json_t *req_options(struct req *r, const char *parts);

void reply_json(struct req *r, int status, json_t *j);                  /* takes the reference */
void reply_raw_json(struct req *r, int status, char *text, size_t len); /* takes text */
void reply_text(struct req *r, int status, const char *text);
void reply_error(struct req *r, const struct unik_error *err);
void reply_errorf(struct req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends the file open on fd (taken over), size bytes, as an attachment named filename. */
void reply_file(struct req *r, int fd, uint64_t size, const char *ctype, const char *filename);
/* Streams a file; with follow, waits for more until ended(id) and the file is drained. */
void reply_tail(struct req *r, const char *path, bool follow, bool (*ended)(const char *id),
                const char *id, bool truncate_after);
/* reply_tail from byte off of the file on (logs --tail, --since). */
void reply_tail_at(struct req *r, const char *path, uint64_t off, bool follow,
                   bool (*ended)(const char *id), const char *id);
/* The original UniK's request shapes turned into v1's (pure; fuzzed by fuzz_unik_routes):
 * POST /instances/run's body into a v1 run request, and POST /images/NAME/create's form
 * parts (get(ctx, key) returns one, or NULL) into v1 build options.  NULL with err. */
json_t *unik_run_request(json_t *body, struct unik_error *err);
json_t *unik_create_options(const char *name, const char *(*get)(void *ctx, const char *key),
                            void *ctx, struct unik_error *err);

/* True once the client has hung up (for handlers that block). */
bool req_gone(void *r);

#endif
