/* The REST routes: unik's /v1 API (docs/api/rest.md) and the original UniK's routes, both thin
 * doors onto the same core operations (builds.c, instances.c); only the shapes differ. */
#include "daemon/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compilers/compiler.h"
#include "daemon/internal.h"
#include "names.h"
#include "utf8.h"

static const char *seg(struct req *r, int i)
{
	return i < r->nseg ? r->segs[i] : "";
}

/* ------------------------------------------------------------------------------------------ */
/* v1 */

static void v1_version(struct req *r)
{
	reply_json(
	    r, 200,
	    json_pack("{s:s, s:s, s:i}", "version", UNIK_VERSION, "api", "v1", "guest_abi", 1));
}

static void v1_providers(struct req *r)
{
	reply_json(r, 200, providers_json());
}

static void v1_compilers(struct req *r)
{
	reply_json(r, 200, compilers_json());
}

static void v1_compiler(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_compiler *c =
	    unik_compiler_find(seg(r, 2), req_query(r, "language"), &err);
	const char *prov = req_query(r, "provider");

	if (!c) {
		err.code = UNIK_E_NOTFOUND;
		reply_error(r, &err);
		return;
	}
	if (prov && !unik_core_provider(D.core, prov)) {
		reply_errorf(r, UNIK_E_NOTFOUND, "no provider \"%.*s\"", UNIK_UTF8_CUT(prov, 60));
		return;
	}
	json_t *all = compilers_json(), *one = NULL, *v;
	size_t i;

	json_array_foreach(all, i, v) if (strcmp(json_string_value(json_object_get(v, "name")),
	                                         c->name) == 0) one = json_incref(v);
	json_decref(all);
	json_object_set_new(one, "usage", json_string(c->usage));
	reply_json(r, 200, one);
}

static void builds_post(struct req *r)
{
	struct unik_build_opts bo;
	struct unik_error err = {0};
	json_t *opts = NULL;
	struct unik_build *out = NULL;

	if (r->multipart) {
		const char *text = json_string_value(json_object_get(r->form, "options"));
		const char *k;
		json_t *v;

		json_object_foreach(r->form, k, v) if (strcmp(k, "options") != 0)
		{
			reply_errorf(r, UNIK_E_INVALID,
			             "unexpected form part \"%.*s\" (parts: source, options)",
			             UNIK_UTF8_CUT(k, 60));
			return;
		}
		if (text) {
			json_error_t je;

			opts = json_loads(text, JSON_REJECT_DUPLICATES, &je);
			if (!opts) {
				reply_errorf(r, UNIK_E_INVALID,
				             "bad JSON in the \"options\" part: %s", je.text);
				return;
			}
		} else {
			opts = json_object();
		}
		if (!r->upload_path) {
			json_decref(opts);
			reply_errorf(
			    r, UNIK_E_INVALID,
			    "the request has no \"source\" part (a gzip tar of the source)");
			return;
		}
	} else if (!(opts = req_json(r, false))) {
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

static json_t *list_newest_first(void *const *items, size_t n, json_t *(*fn)(const void *))
{
	json_t *a = json_array();

	for (size_t i = n; i-- > 0;)
		json_array_append_new(a, fn(items[i]));
	return a;
}

static json_t *build_json_v(const void *b)
{
	return build_json(b);
}

static bool build_ended(const char *id)
{
	return unik_core_build_ended(D.core, id);
}

static bool instance_ended(const char *id)
{
	return unik_core_instance_ended(D.core, id);
}

static void builds_list(struct req *r)
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

static void builds_get(struct req *r)
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

static void builds_log(struct req *r)
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

static void images_list(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nimages; i++)
		json_array_append_new(a, image_json(v.images[i]));
	unik_core_read_end(D.core);
	reply_json(r, 200, a);
}

static void images_get(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_image *im;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((im = unik_core_image(D.core, seg(r, 2), &err)))
		j = image_json(im);
	unik_core_read_end(D.core);
	if (j)
		reply_json(r, 200, j);
	else
		reply_error(r, &err);
}

static void images_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_image_delete(D.core, seg(r, 2), req_query_bool(r, "force"), &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

/* GET streams the image's file in a format, POST only makes it: both pack it first when the
 * image lacks it (or again with ?force=true), and check it, so nothing damaged goes out. */
static void images_format_get(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *filename = NULL;
	struct unik_image *im = NULL;
	uint64_t size = 0;
	int fd = -1;

	if (unik_core_image_format(D.core, seg(r, 2), seg(r, 4), req_query_bool(r, "force"), true,
	                           &fd, NULL, &size, &im, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	filename = xasprintf("%s.%s", im->name, seg(r, 4));
	unik_image_free(im);
	reply_file(r, fd, size, "application/octet-stream", filename);
}

static void images_format_post(struct req *r)
{
	struct unik_error err = {0};
	struct unik_image *out = NULL;

	if (unik_core_image_format(D.core, seg(r, 2), seg(r, 4), req_query_bool(r, "force"), true,
	                           NULL, NULL, NULL, &out, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, image_json(out));
	unik_image_free(out);
}

/* The list is asked for far more often than instances change: keep its text until they do. */
static char *list_cache;
static size_t list_cache_len;
static uint64_t list_cache_gen = UINT64_MAX;

static void instances_list(struct req *r)
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

static void instances_post(struct req *r)
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

static void instances_get(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_instance *in;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((in = unik_core_instance(D.core, seg(r, 2), &err)))
		j = instance_json(in);
	unik_core_read_end(D.core);
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

static void instances_stop_h(struct req *r)
{
	instances_op(r, unik_core_stop_instance);
}

static void instances_start_h(struct req *r)
{
	instances_op(r, unik_core_start_instance);
}

static void instances_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_delete_instance(D.core, seg(r, r->compat ? 1 : 2), req_query_bool(r, "force"),
	                              &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

static void instances_logs(struct req *r)
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

static void instances_wait(struct req *r)
{
	struct unik_error err = {0};
	struct unik_instance *out = NULL;

	if (unik_core_wait_instance(D.core, seg(r, 2), req_gone, r, &out, &err) < 0)
		reply_error(r, &err);
	else
		reply_json(r, 200, instance_json(out));
	unik_instance_free(out);
}

/* ------------------------------------------------------------------------------------------ */
/* The original UniK's shapes */

static json_t *unik_image(json_t *im)
{
	const char *prov = json_string_value(json_object_get(im, "provider"));
	char infra[32];
	size_t i;

	for (i = 0; prov && prov[i] && i < sizeof(infra) - 1; i++)
		infra[i] = (char)toupper((unsigned char)prov[i]);
	infra[i] = '\0';
	json_int_t size = json_integer_value(json_object_get(im, "size_bytes"));
	return json_pack("{s:O, s:O, s:I, s:s, s:O, s:{s:s, s:s}, s:{s:[], s:O, s:i, s:s, s:s}}",
	                 "Id", json_object_get(im, "id"), "Name", json_object_get(im, "name"),
	                 "SizeMb", (json_int_t)((size + (1 << 20) - 1) >> 20), "Infrastructure",
	                 infra, "Created", json_object_get(im, "created"), "StageSpec",
	                 "ImageFormat", "elf", "XenVirtualizationType", "", "RunSpec",
	                 "DeviceMappings", "DefaultInstanceMemory",
	                 json_object_get(im, "memory_mb"), "MinInstanceDiskMB", 0, "StorageDriver",
	                 "", "Compiler", json_string_value(json_object_get(im, "compiler")));
}

static json_t *unik_instance(json_t *in)
{
	const char *st = json_string_value(json_object_get(in, "state"));
	const char *prov = json_string_value(json_object_get(in, "provider"));
	const char *ust = strcmp(st, "exited") == 0    ? "terminated"
	                  : strcmp(st, "crashed") == 0 ? "error"
	                                               : st;
	char infra[32];
	size_t i;

	for (i = 0; prov && prov[i] && i < sizeof(infra) - 1; i++)
		infra[i] = (char)toupper((unsigned char)prov[i]);
	infra[i] = '\0';
	return json_pack("{s:O, s:O, s:s, s:O, s:O, s:s, s:O}", "Id", json_object_get(in, "id"),
	                 "Name", json_object_get(in, "name"), "State", ust, "IpAddress",
	                 json_object_get(in, "ip"), "ImageId", json_object_get(in, "image_id"),
	                 "Infrastructure", infra, "Created", json_object_get(in, "created"));
}

static json_t *map_array(json_t *a, json_t *(*fn)(json_t *))
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(a, i, v) json_array_append_new(out, fn(v));
	json_decref(a);
	return out;
}

static void u_images(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nimages; i++)
		json_array_append_new(a, image_json(v.images[i]));
	unik_core_read_end(D.core);
	reply_json(r, 200, map_array(a, unik_image));
}

static void u_image(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_image *im;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((im = unik_core_image(D.core, seg(r, 1), &err)))
		j = image_json(im);
	unik_core_read_end(D.core);
	if (!j) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, unik_image(j));
	json_decref(j);
}

static void u_image_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_image_delete(D.core, seg(r, 1), req_query_bool(r, "force"), &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

static const char *form_value(struct req *r, const char *key)
{
	const char *v = json_string_value(json_object_get(r->form, key));

	return v ? v : req_query(r, key);
}

json_t *unik_create_options(const char *name, const char *(*get)(void *ctx, const char *key),
                            void *ctx, struct unik_error *err)
{
	json_t *opts = json_object();
	static const char *const map[][2] = {{"base", "base"},
	                                     {"lang", "language"},
	                                     {"provider", "provider"},
	                                     {"args", "args"},
	                                     {NULL, NULL}};
	const char *v;

	json_object_set_new(opts, "name", json_string(name));
	for (size_t i = 0; map[i][0]; i++)
		if ((v = get(ctx, map[i][0])) && *v)
			json_object_set_new(opts, map[i][1], json_string(v));
	if ((v = get(ctx, "force")))
		json_object_set_new(opts, "force", json_boolean(strcmp(v, "true") == 0));
	if ((v = get(ctx, "mounts")) && *v) {
		json_decref(opts);
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "mount points (volumes) are not supported yet");
		return NULL;
	}
	/* A value json_string() refused (not UTF-8) is missing now: say so rather than build
	 * without it. */
	for (size_t i = 0; map[i][0]; i++)
		if ((v = get(ctx, map[i][0])) && *v && !json_object_get(opts, map[i][1])) {
			json_decref(opts);
			unik_error_set(err, UNIK_E_INVALID, "form part \"%s\" is not UTF-8 text",
			               map[i][0]);
			return NULL;
		}
	if (!json_object_get(opts, "name")) {
		json_decref(opts);
		unik_error_set(err, UNIK_E_INVALID, "the image name is not UTF-8 text");
		return NULL;
	}
	return opts;
}

static const char *form_get(void *ctx, const char *key)
{
	return form_value(ctx, key);
}

static void u_image_create(struct req *r)
{
	struct unik_error err = {0};
	struct unik_build_opts bo;
	struct unik_build *out = NULL;
	json_t *opts;

	if (!r->multipart || !r->upload_path) {
		reply_errorf(r, UNIK_E_INVALID,
		             "send the source as a multipart file part \"tarfile\"");
		return;
	}
	if (!(opts = unik_create_options(seg(r, 1), form_get, r, &err))) {
		reply_error(r, &err);
		return;
	}
	if (build_opts_parse(opts, &bo, &err) < 0 ||
	    unik_core_build_submit(D.core, &bo, r->upload_path, &out, &err) < 0) {
		json_decref(opts);
		reply_error(r, &err);
		return;
	}
	json_decref(opts);
	char id[UNIK_ID_LEN + 1];
	struct unik_core_view v;
	const struct unik_build *b = NULL;

	snprintf(id, sizeof(id), "%s", out->id);
	unik_build_free(out);
	/* UniK's client waits for the image in the answer. */
	if (unik_core_build_wait(D.core, id) != UNIK_BUILD_SUCCEEDED) {
		_cleanup_free_ char *msg = NULL;

		unik_core_read_begin(D.core, &v);
		for (size_t i = 0; i < v.nbuilds && !b; i++)
			if (strcmp(v.builds[i]->id, id) == 0)
				b = v.builds[i];
		msg = xasprintf("build failed: %s (log: GET /v1/builds/%s/log)",
		                b && b->error ? b->error : "the daemon stopped", id);
		unik_core_read_end(D.core);
		reply_text(r, 500, msg);
		return;
	}
	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nbuilds && !b; i++)
		if (strcmp(v.builds[i]->id, id) == 0)
			b = v.builds[i];
	const struct unik_image *im = NULL;
	for (size_t i = 0; b && b->image_id && i < v.nimages; i++)
		if (strcmp(v.images[i]->id, b->image_id) == 0)
			im = v.images[i];
	json_t *j = im ? image_json(im) : NULL;
	unik_core_read_end(D.core);
	if (!j) {
		reply_text(r, 500, "the image was removed right after its build");
		return;
	}
	reply_json(r, 201, unik_image(j));
	json_decref(j);
}

static void u_instances(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.ninstances; i++)
		json_array_append_new(a, instance_json(v.instances[i]));
	unik_core_read_end(D.core);
	reply_json(r, 200, map_array(a, unik_instance));
}

static void u_instance(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_instance *in;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((in = unik_core_instance(D.core, seg(r, 1), &err)))
		j = instance_json(in);
	unik_core_read_end(D.core);
	if (!j) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, unik_instance(j));
	json_decref(j);
}

json_t *unik_run_request(json_t *body, struct unik_error *err)
{
	static const char *const keys[] = {"InstanceName", "ImageName", "Mounts",    "Env",
	                                   "MemoryMb",     "NoCleanup", "DebugMode", NULL};
	json_t *v, *v1;
	const char *k, *name, *image;

	if (!json_is_object(body)) {
		unik_error_set(err, UNIK_E_INVALID, "the body must be a JSON object");
		return NULL;
	}
	json_object_foreach(body, k, v)
	{
		bool known = false;
		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(keys[i], k) == 0;
		if (!known) {
			unik_error_set(err, UNIK_E_INVALID, "unknown key \"%.*s\"",
			               UNIK_UTF8_CUT(k, 60));
			return NULL;
		}
	}
	v = json_object_get(body, "Mounts");
	if (json_is_object(v) && json_object_size(v)) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "volumes are not supported yet");
		return NULL;
	}
	v1 = json_object();
	name = json_string_value(json_object_get(body, "InstanceName"));
	image = json_string_value(json_object_get(body, "ImageName"));
	if (name && *name)
		json_object_set_new(v1, "name", json_string(name));
	if (image)
		json_object_set_new(v1, "image", json_string(image));
	v = json_object_get(body, "Env");
	if (json_is_object(v) && json_object_size(v))
		json_object_set(v1, "env", v);
	v = json_object_get(body, "MemoryMb");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		json_object_set_new(v1, "memory_mb", json_integer(json_integer_value(v)));
	return v1;
}

static void u_run(struct req *r)
{
	struct unik_error err = {0};
	json_t *body = req_json(r, false), *v1;
	struct unik_run_request rr = {0};
	struct unik_instance *out = NULL;

	if (!body)
		return;
	v1 = unik_run_request(body, &err);
	if (!v1 || run_req_parse(v1, &rr, &err) < 0 || unik_core_run(D.core, &rr, &out, &err) < 0)
		reply_error(r, &err);
	else {
		json_t *j = instance_json(out);

		reply_json(r, 201, unik_instance(j));
		json_decref(j);
	}
	unik_instance_free(out);
	unik_run_request_free(&rr);
	json_decref(v1);
	json_decref(body);
}

static void u_compilers(struct req *r)
{
	json_t *a = json_array();

	const struct unik_provider *const *ps = unik_core_providers(D.core);

	for (size_t i = 0; unik_compilers[i]; i++)
		for (size_t j = 0; unik_compilers[i]->languages[j]; j++)
			for (size_t k = 0; ps[k]; k++)
				json_array_append_new(
				    a, json_sprintf("%s-%s-%s", unik_compilers[i]->base,
				                    unik_compilers[i]->languages[j], ps[k]->name));
	reply_json(r, 200, a);
}

/* UniK lists the providers its daemon can use: those available on this host. */
static void u_providers(struct req *r)
{
	json_t *a = json_array(), *all = providers_json(), *p;
	size_t k;

	json_array_foreach(all, k, p) if (json_is_true(json_object_get(p, "available")))
	    json_array_append(a, json_object_get(p, "name"));
	json_decref(all);
	reply_json(r, 200, a);
}

static void u_describe_compiler(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_compiler *c =
	    unik_compiler_find(req_query(r, "base"), req_query(r, "lang"), &err);

	if (!c) {
		err.code = UNIK_E_NOTFOUND;
		reply_error(r, &err);
		return;
	}
	reply_text(r, 200, c->usage);
}

static void u_volumes(struct req *r)
{
	reply_errorf(r, UNIK_E_UNSUPPORTED, "volumes are not supported yet");
}

/* ------------------------------------------------------------------------------------------ */

const struct route daemon_routes[] = {
    {"GET", "/v1/version", v1_version, false, false},
    {"GET", "/v1/providers", v1_providers, false, false},
    {"GET", "/v1/compilers", v1_compilers, false, false},
    {"GET", "/v1/compilers/*", v1_compiler, false, false},
    {"POST", "/v1/builds", builds_post, false, true},
    {"GET", "/v1/builds", builds_list, false, false},
    {"GET", "/v1/builds/*", builds_get, false, false},
    {"GET", "/v1/builds/*/log", builds_log, false, false},
    {"GET", "/v1/images", images_list, false, false},
    {"GET", "/v1/images/*", images_get, false, false},
    {"DELETE", "/v1/images/*", images_delete, false, false},
    {"GET", "/v1/images/*/formats/*", images_format_get, false, false},
    {"POST", "/v1/images/*/formats/*", images_format_post, false, false},
    {"GET", "/v1/instances", instances_list, false, false},
    {"POST", "/v1/instances", instances_post, false, false},
    {"GET", "/v1/instances/*", instances_get, false, false},
    {"DELETE", "/v1/instances/*", instances_delete, false, false},
    {"POST", "/v1/instances/*/stop", instances_stop_h, false, false},
    {"POST", "/v1/instances/*/start", instances_start_h, false, false},
    {"GET", "/v1/instances/*/logs", instances_logs, false, false},
    {"GET", "/v1/instances/*/wait", instances_wait, false, false},
    /* the original UniK's */
    {"GET", "/images", u_images, true, false},
    {"GET", "/images/*", u_image, true, false},
    {"DELETE", "/images/*", u_image_delete, true, false},
    {"POST", "/images/*/create", u_image_create, true, true},
    {"GET", "/instances", u_instances, true, false},
    {"POST", "/instances/run", u_run, true, false},
    {"GET", "/instances/*", u_instance, true, false},
    {"DELETE", "/instances/*", instances_delete, true, false},
    {"POST", "/instances/*/start", instances_start_h, true, false},
    {"POST", "/instances/*/stop", instances_stop_h, true, false},
    {"GET", "/instances/*/logs", instances_logs, true, false},
    {"GET", "/available_compilers", u_compilers, true, false},
    {"GET", "/available_providers", u_providers, true, false},
    {"GET", "/describe_compiler", u_describe_compiler, true, false},
    {"GET", "/volumes", u_volumes, true, false},
    {"GET", "/volumes/*", u_volumes, true, false},
    {"POST", "/volumes/*", u_volumes, true, true},
    {"DELETE", "/volumes/*", u_volumes, true, false},
    {"POST", "/volumes/*/attach/*", u_volumes, true, false},
    {"POST", "/volumes/*/detach", u_volumes, true, false},
    {NULL, NULL, NULL, false, false},
};
