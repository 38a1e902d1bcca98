/* /v1/builds: submit a build (a source upload or a git URL), list them, read one and its log. */
#include "daemon/routes/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

static json_t *list_newest_first(void *const *items, size_t n, json_t *(*fn)(const void *))
{
	json_t *a = json_array();

	for (size_t i = n; i-- > 0;)
		json_array_append_new(a, fn(items[i]));
	return a;
}

void builds_post(struct req *r)
{
	struct unik_build_opts bo;
	struct unik_error err = {0};
	json_t *opts = NULL;
	struct unik_build *out = NULL;

	if (!(opts = req_options(r, "source")))
		return;
	if (r->multipart && !r->upload_path) {
		json_decref(opts);
		reply_errorf(r, UNIK_E_INVALID,
		             "the request has no \"source\" part (a gzip tar of the source)");
		return;
	}
	if (build_opts_parse(opts, &bo, &err) < 0 ||
	    unik_core_build_submit(D.core, &bo, r->multipart ? r->upload_path : NULL, &out, &err) <
	        0) {
		json_decref(opts);
		reply_error(r, &err);
		return;
	}
	json_decref(opts);
	reply_json(r, 201, build_json(out));
	unik_build_free(out);
}

static json_t *build_json_v(const void *b)
{
	return build_json(b);
}

static bool build_ended(const char *id)
{
	return unik_core_build_ended(D.core, id);
}

void builds_list(struct req *r)
{
	struct unik_core_view v;
	json_t *a;

	unik_core_read_begin(D.core, &v);
	a = list_newest_first((void *const *)v.builds, v.nbuilds, build_json_v);
	unik_core_read_end(D.core);
	reply_json(r, 200, a);
}

/* The build whose id is id, or the one whose id starts with it (read lock held). */
static const struct unik_build *build_ref(struct req *r, const struct unik_core_view *v,
                                          const char *id)
{
	const struct unik_build *b = NULL;

	for (size_t i = 0; i < v->nbuilds && !b; i++)
		if (strcmp(v->builds[i]->id, id) == 0)
			b = v->builds[i];
	if (!b) {
		size_t n = 0, l = strlen(id);
		for (size_t i = 0; l && i < v->nbuilds; i++)
			if (strncmp(v->builds[i]->id, id, l) == 0) {
				b = v->builds[i];
				n++;
			}
		if (n != 1)
			b = NULL;
		if (!b)
			reply_errorf(r, n > 1 ? UNIK_E_STATE : UNIK_E_NOTFOUND,
			             n > 1 ? "build id \"%.*s\" is ambiguous" : "no build \"%.*s\"",
			             UNIK_UTF8_CUT(id, 40));
	}
	return b;
}

void builds_get(struct req *r)
{
	struct unik_core_view v;
	const struct unik_build *b;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((b = build_ref(r, &v, seg(r, 2))))
		j = build_json(b);
	unik_core_read_end(D.core);
	if (j)
		reply_json(r, 200, j);
}

void builds_log(struct req *r)
{
	struct unik_core_view v;
	const struct unik_build *b;
	char id[UNIK_ID_LEN + 1] = "";

	unik_core_read_begin(D.core, &v);
	if ((b = build_ref(r, &v, seg(r, 2))))
		memcpy(id, b->id, sizeof(id));
	unik_core_read_end(D.core);
	if (!b)
		return;
	_cleanup_free_ char *p = unik_core_build_log_path(D.core, id);
	reply_tail(r, p, req_query_bool(r, "follow"), build_ended, id, false);
}
