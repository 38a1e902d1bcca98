/* The original UniK's routes (shared/REFERENCE.md): its shapes over the same core calls as
 * /v1, so its clients and scripts work unchanged. */
#include "daemon/routes/routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

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

json_t *unik_volume(const json_t *v)
{
	const json_t *att = json_array_get(json_object_get(v, "attached"), 0);
	const char *def = unik_core_default_provider(D.core);
	char infra[32];
	size_t i;

	for (i = 0; def && def[i] && i < sizeof(infra) - 1; i++)
		infra[i] = (char)toupper((unsigned char)def[i]);
	infra[i] = '\0';
	return json_pack("{s:O, s:O, s:O, s:s, s:s, s:O}", "Id", json_object_get(v, "id"), "Name",
	                 json_object_get(v, "name"), "SizeMb", json_object_get(v, "size_mb"),
	                 "Attachment",
	                 att ? json_string_value(json_object_get(att, "instance")) : "",
	                 "Infrastructure", infra, "Created", json_object_get(v, "created"));
}

static json_t *map_array(json_t *a, json_t *(*fn)(json_t *))
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(a, i, v) json_array_append_new(out, fn(v));
	json_decref(a);
	return out;
}

void u_images(struct req *r)
{
	reply_json(r, 200, map_array(images_json(), unik_image));
}

void u_image(struct req *r)
{
	struct unik_error err = {0};
	json_t *j = image_json_ref(seg(r, 1), &err);

	if (!j) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, unik_image(j));
	json_decref(j);
}

void u_image_delete(struct req *r)
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

void u_image_create(struct req *r)
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

void u_instances(struct req *r)
{
	reply_json(r, 200, map_array(instances_json(), unik_instance));
}

void u_instance(struct req *r)
{
	struct unik_error err = {0};
	json_t *j = instance_json_ref(seg(r, 1), &err);

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
	v1 = json_object();
	v = json_object_get(body, "Mounts");
	if (json_is_object(v) && json_object_size(v)) {
		/* UniK's {mount: volume} */
		json_t *vols = json_array(), *vol;
		const char *at;

		json_object_foreach(v, at, vol)
		{
			if (!json_is_string(vol)) {
				json_decref(vols);
				json_decref(v1);
				unik_error_set(err, UNIK_E_INVALID,
				               "\"Mounts\" maps mount points to volume names");
				return NULL;
			}
			json_array_append_new(vols,
			                      json_sprintf("%s:%s", json_string_value(vol), at));
		}
		json_object_set_new(v1, "volumes", vols);
	}
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

void u_run(struct req *r)
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

void u_compilers(struct req *r)
{
	json_t *a = json_array();

	const struct unik_provider *const *ps = unik_core_providers(D.core);

	const struct unik_compiler *const *cs = unik_core_compilers();

	for (size_t i = 0; cs[i]; i++)
		for (size_t j = 0; cs[i]->languages[j]; j++)
			for (size_t k = 0; ps[k]; k++)
				json_array_append_new(a, json_sprintf("%s-%s-%s", cs[i]->base,
				                                      cs[i]->languages[j],
				                                      ps[k]->name));
	reply_json(r, 200, a);
}

/* UniK lists the providers its daemon can use: those available on this host. */
void u_providers(struct req *r)
{
	json_t *a = json_array(), *all = providers_json(), *p;
	size_t k;

	json_array_foreach(all, k, p) if (json_is_true(json_object_get(p, "available")))
	    json_array_append(a, json_object_get(p, "name"));
	json_decref(all);
	reply_json(r, 200, a);
}

void u_describe_compiler(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_compiler *c =
	    unik_core_compiler_find(req_query(r, "base"), req_query(r, "lang"), &err);

	if (!c) {
		err.code = UNIK_E_NOTFOUND;
		reply_error(r, &err);
		return;
	}
	reply_text(r, 200, c->usage);
}
