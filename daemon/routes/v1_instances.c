/* /v1/instances: run, list, describe, stop, start, delete, wait for and read the console of
 * instances. */
#include "daemon/routes/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void instances_logs(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *path = NULL;
	char id[UNIK_ID_LEN + 1];

	if (unik_core_instance_log(D.core, seg(r, r->compat ? 1 : 2), &path, id, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	reply_tail(r, path, req_query_bool(r, "follow"), instance_ended, id,
	           r->compat && req_query_bool(r, "delete"));
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
