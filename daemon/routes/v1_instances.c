/* /v1/instances: run, list, describe, stop, start, delete, wait for and read the console of
 * instances. */
#include "daemon/routes/routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/guest_console.h"
#include "lib/utf8.h"

static bool instance_ended(const char *id)
{
	return unik_core_instance_ended(D.core, id);
}

static char *list_cache;
static size_t list_cache_len;
static uint64_t list_cache_gen = UINT64_MAX;

void instances_list(struct req *r)
{
	struct unik_core_view v;
	char *copy;
	size_t len;

	/* The cache is the door's, guarded by the core's read lock like the records it caches. */
	unik_core_read_begin(D.core, &v);
	if (list_cache_gen != v.instances_gen || !list_cache) {
		json_t *a = json_array();

		for (size_t i = 0; i < v.ninstances; i++)
			json_array_append_new(a, instance_json(v.instances[i]));
		free(list_cache);
		list_cache = json_dumps(a, JSON_COMPACT);
		list_cache_len = strlen(list_cache);
		list_cache_gen = v.instances_gen;
		json_decref(a);
	}
	len = list_cache_len;
	copy = xmalloc(len + 1);
	memcpy(copy, list_cache, len);
	copy[len++] = '\n';
	unik_core_read_end(D.core);
	reply_raw_json(r, 200, copy, len);
}

void instances_post(struct req *r)
{
	struct unik_error err = {0};
	struct unik_run_request rr = {0};
	json_t *body = req_json(r, false);
	struct unik_instance *out = NULL;

	if (!body)
		return;
	if (run_req_parse(body, &rr, &err) < 0 || unik_core_run(D.core, &rr, &out, &err) < 0)
		reply_error(r, &err);
	else
		reply_json(r, 201, instance_json(out));
	unik_instance_free(out);
	unik_run_request_free(&rr);
	json_decref(body);
}

void instances_get(struct req *r)
{
	struct unik_error err = {0};
	json_t *j = instance_json_ref(seg(r, 2), &err);

	if (j)
		reply_json(r, 200, j);
	else
		reply_error(r, &err);
}

static void instances_op(struct req *r, int (*op)(struct unik_core *, const char *,
                                                  struct unik_instance **, struct unik_error *))
{
	struct unik_error err = {0};
	struct unik_instance *out = NULL;

	if (op(D.core, seg(r, r->compat ? 1 : 2), &out, &err) < 0)
		reply_error(r, &err);
	else if (r->compat)
		reply_text(r, 200, "");
	else
		reply_json(r, 200, instance_json(out));
	unik_instance_free(out);
}

void instances_stop_h(struct req *r)
{
	instances_op(r, unik_core_stop_instance);
}

void instances_start_h(struct req *r)
{
	instances_op(r, unik_core_start_instance);
}

void instances_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_delete_instance(D.core, seg(r, r->compat ? 1 : 2), req_query_bool(r, "force"),
	                              &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

/* A query number: 0, or -1 after answering 400. */
static int query_number(struct req *r, const char *key, double *out)
{
	const char *v = req_query(r, key);
	char *end = NULL;

	*out = -1;
	if (!v)
		return 0;
	errno = 0;
	*out = strtod(v, &end);
	if (!*v || *end || errno || *out < 0 || *out != *out) {
		reply_errorf(r, UNIK_E_INVALID,
		             "\"%s\" must be a number of 0 or more (got \"%.*s\")", key,
		             UNIK_UTF8_CUT(v, 40));
		return -1;
	}
	return 0;
}

/* GET .../logs with tail=N (the last N lines), since=UNIX_SECONDS (lines written then or later)
 * or timestamps=true (each line after the RFC 3339 time it was written): the times come from
 * console.times, which unik-shim writes beside console.log. */
static void logs_selected(struct req *r, const char *path, const char *id)
{
	bool follow = req_query_bool(r, "follow"), stamps = req_query_bool(r, "timestamps");
	_cleanup_free_ char *text = NULL, *dir = xstrdup(path);
	_cleanup_free_ struct unik_console_time *times = NULL;
	size_t len = 0, ntimes = 0, start = 0;
	double tail, since;
	struct unik_error err = {0};
	char *slash = strrchr(dir, '/');

	if (query_number(r, "tail", &tail) < 0 || query_number(r, "since", &since) < 0)
		return;
	if (slash)
		*slash = '\0';
	if (follow && stamps) {
		reply_errorf(r, UNIK_E_UNSUPPORTED,
		             "timestamps with follow are not supported yet: drop one of them");
		return;
	}
	if (unik_read_file(path, &text, &len, &err) < 0 && err.code != UNIK_E_NOTFOUND) {
		reply_error(r, &err);
		return;
	}
	if ((since >= 0 || stamps) && unik_console_times_load(dir, &times, &ntimes) < 0) {
		reply_errorf(r, UNIK_E_UNSUPPORTED,
		             "this instance's console has no times (its provider writes none): "
		             "--since and --timestamps need them");
		return;
	}
	if (since >= 0) {
		long long ms = (long long)(since * 1000);

		/* The first line written at or after since. */
		for (start = 0; start < len;) {
			const char *nl = memchr(text + start, '\n', len - start);

			if (unik_console_time_at(times, ntimes, (long long)start) >= ms)
				break;
			start = nl ? (size_t)(nl - text) + 1 : len;
		}
	}
	if (tail >= 0) {
		size_t p = len, lines = 0;

		/* Back from the end to the start of the last tail lines (a last line without its
		 * newline counts as one). */
		if (p > start && text[p - 1] == '\n')
			p--;
		while (p > start && tail > 0) {
			if (text[p - 1] == '\n' && ++lines == (size_t)tail)
				break;
			p--;
		}
		start = tail > 0 ? p : len;
	}
	if (!stamps) {
		reply_tail_at(r, path, start, follow, instance_ended, id);
		return;
	}
	{
		char *buf = NULL;
		size_t blen = 0;
		FILE *out = open_memstream(&buf, &blen);

		if (!out) {
			reply_errorf(r, UNIK_E_IO, "open_memstream: %s", strerror(errno));
			return;
		}
		for (size_t p = start; p < len;) {
			const char *nl = memchr(text + p, '\n', len - p);
			size_t end = nl ? (size_t)(nl - text) + 1 : len;
			long long ms = unik_console_time_at(times, ntimes, (long long)p);
			char when[64] = "-";

			if (ms >= 0) {
				time_t sec = (time_t)(ms / 1000);
				struct tm tm;

				gmtime_r(&sec, &tm);
				snprintf(when, sizeof(when),
				         "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
				         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				         tm.tm_sec, ms % 1000);
			}
			fprintf(out, "%s %.*s", when, (int)(end - p), text + p);
			p = end;
		}
		fclose(out);
		reply_text(r, 200, buf ? buf : "");
		free(buf);
	}
}

void instances_logs(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *path = NULL;
	char id[UNIK_ID_LEN + 1];

	if (unik_core_instance_log(D.core, seg(r, r->compat ? 1 : 2), &path, id, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	if (!r->compat &&
	    (req_query(r, "tail") || req_query(r, "since") || req_query_bool(r, "timestamps"))) {
		logs_selected(r, path, id);
		return;
	}
	reply_tail(r, path, req_query_bool(r, "follow"), instance_ended, id,
	           r->compat && req_query_bool(r, "delete"));
}

/* POST .../stdin {"data": "TEXT"}: TEXT to the guest's console input (unik run -i). */
void instances_stdin(struct req *r)
{
	struct unik_error err = {0};
	json_t *body = req_json(r, false), *data;

	if (!body)
		return;
	data = json_object_get(body, "data");
	if (!json_is_string(data) || json_object_size(body) != 1) {
		reply_errorf(r, UNIK_E_INVALID, "the body must be {\"data\": \"TEXT\"}");
		json_decref(body);
		return;
	}
	if (unik_core_instance_input(D.core, seg(r, 2), json_string_value(data),
	                             json_string_length(data), &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
	json_decref(body);
}

void instances_wait(struct req *r)
{
	struct unik_error err = {0};
	struct unik_instance *out = NULL;

	if (unik_core_wait_instance(D.core, seg(r, 2), req_gone, r, &out, &err) < 0)
		reply_error(r, &err);
	else
		reply_json(r, 200, instance_json(out));
	unik_instance_free(out);
}
