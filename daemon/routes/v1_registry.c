/* POST /v1/images/IMAGE/push and POST /v1/images/pull: the daemon talks to the registry with the
 * credentials of the request, which it uses for that request only and never stores. */
#include "daemon/routes/routes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/names.h"
#include "lib/registry.h"

/* ?progress=true: the work runs in a thread of its own that writes NDJSON lines into a pipe,
 * which the answer streams: {"progress": {"digest", "done", "total"}} as blobs go, then one
 * {"result": ...} or {"error": {"code", "message"}}.  The answer's end joins the thread, so a
 * stopping daemon (which waits for its connections) never closes the core under it. */
struct stream_job {
	int rfd, wfd;
	pthread_t th;
	bool push;
	char *image, *reference, *name, *user, *pass;
	struct unik_registry_opts opts;
	int last_pct;
	char last_digest[80];
};

static void job_line(struct stream_job *j, json_t *line)
{
	char *text = json_dumps(line, JSON_COMPACT);
	size_t n = strlen(text);

	json_decref(line);
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	/* A client gone: the pipe's other end is closed (EPIPE, SIGPIPE is ignored); go on. */
	if (j->wfd >= 0 && unik_write_all(j->wfd, text, n) < 0) {
		close(j->wfd);
		j->wfd = -1;
	}
	free(text);
}

static void job_progress(void *ctx, const char *digest, uint64_t done, uint64_t total)
{
	struct stream_job *j = ctx;
	int pct = total ? (int)(done * 100 / total) : 0;

	if (pct == j->last_pct && strcmp(digest, j->last_digest) == 0)
		return;
	j->last_pct = pct;
	snprintf(j->last_digest, sizeof(j->last_digest), "%s", digest);
	job_line(j, json_pack("{s:{s:s, s:I, s:I}}", "progress", "digest", digest, "done",
	                      (json_int_t)done, "total", (json_int_t)total));
}

static void *job_run(void *arg)
{
	struct stream_job *j = arg;
	struct unik_error err = {0};
	json_t *result = NULL;

	if (j->push) {
		char *pushed = NULL, *digest = NULL;

		if (unik_core_image_push(D.core, j->image, j->reference, &j->opts, job_progress, j,
		                         &pushed, &digest, &err) == 0)
			result = json_pack("{s:s, s:s, s:s}", "image", j->image, "reference",
			                   pushed, "digest", digest);
		free(pushed);
		free(digest);
	} else {
		struct unik_image *im = NULL;

		if (unik_core_image_pull(D.core, j->reference, j->name, &j->opts, job_progress, j,
		                         &im, &err) == 0)
			result = image_json(im);
		unik_image_free(im);
	}
	if (result)
		job_line(j, json_pack("{s:o}", "result", result));
	else
		job_line(j, json_pack("{s:{s:s, s:s}}", "error", "code",
		                      unik_error_code_name(err.code), "message", err.msg));
	if (j->wfd >= 0)
		close(j->wfd);
	j->wfd = -1;
	return NULL;
}

static ssize_t job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_job *j = cls;
	ssize_t n;

	(void)pos;
	do
		n = read(j->rfd, buf, max);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void forget(char *s);

static void job_free(void *cls)
{
	struct stream_job *j = cls;

	close(j->rfd);
	pthread_join(j->th, NULL);
	free(j->image);
	free(j->reference);
	free(j->name);
	forget(j->user);
	forget(j->pass);
	free(j);
}

/* Starts the job and answers with its stream; takes user and pass. */
static void reply_job(struct req *r, bool push, const char *image, const char *reference,
                      const char *name, const struct unik_registry_opts *o, char *user, char *pass)
{
	struct stream_job *j = xcalloc(1, sizeof(*j));
	int p[2];

	j->push = push;
	j->image = image ? xstrdup(image) : NULL;
	j->reference = xstrdup(reference);
	j->name = name ? xstrdup(name) : NULL;
	j->user = user;
	j->pass = pass;
	j->opts = *o;
	j->opts.username = user;
	j->opts.password = pass;
	j->last_pct = -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		reply_errorf(r, UNIK_E_IO, "pipe: %s", strerror(errno));
		free(j->image);
		free(j->reference);
		free(j->name);
		forget(user);
		forget(pass);
		free(j);
		return;
	}
	j->rfd = p[0];
	j->wfd = p[1];
	if (pthread_create(&j->th, NULL, job_run, j) != 0) {
		close(p[0]);
		close(p[1]);
		free(j->image);
		free(j->reference);
		free(j->name);
		forget(user);
		forget(pass);
		free(j);
		reply_errorf(r, UNIK_E_IO, "cannot start the %s", push ? "push" : "pull");
		return;
	}
	r->resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, job_read, j, job_free);
	if (!r->resp) {
		job_free(j);
		reply_errorf(r, UNIK_E_IO, "cannot answer");
		return;
	}
	MHD_add_response_header(r->resp, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(r->resp, "Cache-Control", "no-store");
	r->status = 200;
}

/* The request's registry options: "insecure", and "username" + "password" or "auth" (base64
 * USER:PASSWORD, as in a Docker config.json).  The strings go into user and pass (freed by the
 * caller). */
static int registry_opts(json_t *body, struct unik_registry_opts *o, char **user, char **pass,
                         struct unik_error *err)
{
	static const char *const keys[] = {"reference", "name",     "username", "password",
	                                   "auth",      "insecure", NULL};
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v)
	{
		if (!unik_key_known(key, keys, "registry option", err))
			return -1;
		if (strcmp(key, "insecure") == 0 ? !json_is_boolean(v) : !json_is_string(v)) {
			unik_error_set(err, UNIK_E_INVALID, "\"%s\" must be a %s", key,
			               strcmp(key, "insecure") == 0 ? "boolean" : "string");
			return -1;
		}
	}
	memset(o, 0, sizeof(*o));
	o->insecure = json_is_true(json_object_get(body, "insecure"));
	const char *u = json_string_value(json_object_get(body, "username"));
	const char *p = json_string_value(json_object_get(body, "password"));
	const char *a = json_string_value(json_object_get(body, "auth"));
	if (a && (u || p)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "give \"auth\" or \"username\" and \"password\"");
		return -1;
	}
	if (a && unik_registry_decode_auth(a, user, pass, err) < 0)
		return -1;
	if (!a && (u || p)) {
		if (!u || !*u) {
			unik_error_set(err, UNIK_E_INVALID, "a password needs a \"username\"");
			return -1;
		}
		*user = xstrdup(u);
		*pass = xstrdup(p ? p : "");
	}
	o->username = *user;
	o->password = *pass;
	return 0;
}

/* A bad reference is answered with its 400 before a stream starts. */
static int registry_ref_check(const char *ref, struct unik_error *err)
{
	struct unik_registry_ref rr;

	if (unik_registry_ref_parse(ref, &rr, err) < 0)
		return -1;
	unik_registry_ref_free(&rr);
	return 0;
}

static void forget(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void images_push(struct req *r)
{
	struct unik_error err = {0};
	struct unik_registry_opts o;
	char *user = NULL, *pass = NULL, *pushed = NULL, *digest = NULL;
	json_t *body = req_json(r, false);
	const char *dest;

	if (!body)
		return;
	if (registry_opts(body, &o, &user, &pass, &err) < 0)
		goto fail;
	if (!(dest = json_string_value(json_object_get(body, "reference")))) {
		unik_error_set(&err, UNIK_E_INVALID,
		               "which registry reference? (\"reference\": \"HOST/REPO:TAG\")");
		goto fail;
	}
	if (req_query_bool(r, "progress")) {
		json_t *im = image_json_ref(seg(r, 2), &err);

		if (!im || registry_ref_check(dest, &err) < 0) {
			json_decref(im);
			goto fail;
		}
		json_decref(im);
		reply_job(r, true, seg(r, 2), dest, NULL, &o, user, pass);
		user = pass = NULL;
		goto out;
	}
	if (unik_core_image_push(D.core, seg(r, 2), dest, &o, NULL, NULL, &pushed, &digest, &err) <
	    0)
		goto fail;
	reply_json(r, 200,
	           json_pack("{s:s, s:s, s:s}", "image", seg(r, 2), "reference", pushed, "digest",
	                     digest));
	goto out;
fail:
	reply_error(r, &err);
out:
	free(pushed);
	free(digest);
	forget(user);
	forget(pass);
	json_decref(body);
}

void images_pull(struct req *r)
{
	struct unik_error err = {0};
	struct unik_registry_opts o;
	struct unik_image *im = NULL;
	char *user = NULL, *pass = NULL;
	json_t *body = req_json(r, false);
	const char *src;

	if (!body)
		return;
	if (registry_opts(body, &o, &user, &pass, &err) < 0)
		goto fail;
	if (!(src = json_string_value(json_object_get(body, "reference")))) {
		unik_error_set(&err, UNIK_E_INVALID,
		               "which registry reference? (\"reference\": \"HOST/REPO:TAG\")");
		goto fail;
	}
	if (req_query_bool(r, "progress")) {
		const char *name = json_string_value(json_object_get(body, "name"));

		if (registry_ref_check(src, &err) < 0 ||
		    (name && unik_name_check("image name", name, &err) < 0))
			goto fail;
		reply_job(r, false, NULL, src, name, &o, user, pass);
		user = pass = NULL;
		goto out;
	}
	if (unik_core_image_pull(D.core, src, json_string_value(json_object_get(body, "name")), &o,
	                         NULL, NULL, &im, &err) < 0)
		goto fail;
	reply_json(r, 201, image_json(im));
	unik_image_free(im);
	goto out;
fail:
	reply_error(r, &err);
out:
	forget(user);
	forget(pass);
	json_decref(body);
}
