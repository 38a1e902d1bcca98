/* /v1/volumes: make (empty, or from an uploaded tar of data), list, describe, export, attach,
 * detach and remove volumes; and UniK's /volumes routes over the same calls. */
#include "daemon/routes/routes.h"

#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

/* The names of the instances that mount volume name (read lock held). */
static json_t *users_json(const struct unik_core_view *v, const char *name)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->ninstances; i++)
		for (size_t k = 0; k < v->instances[i]->nmounts; k++) {
			const struct unik_mount *m = &v->instances[i]->mounts[k];

			if (m->volume && strcmp(m->volume, name) == 0)
				json_array_append_new(
				    a, json_pack("{s:s, s:s, s:b, s:s}", "instance",
				                 v->instances[i]->name, "at", m->at, "readonly",
				                 m->readonly, "state",
				                 unik_core_state_name(v->instances[i]->state)));
		}
	return a;
}

static json_t *volume_json_v(const struct unik_core_view *v, const struct unik_volume *vol)
{
	json_t *o = volume_json(vol);

	json_object_set_new(o, "attached", users_json(v, vol->name));
	return o;
}

void volumes_list(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nvolumes; i++)
		json_array_append_new(a, volume_json_v(&v, v.volumes[i]));
	unik_core_read_end(D.core);
	reply_json(r, 200, a);
}

/* The volume named ref as JSON (with its attachments), or NULL with err. */
static json_t *volume_ref_json(const char *ref, struct unik_error *err)
{
	struct unik_core_view v;
	const struct unik_volume *vol;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	vol = unik_core_volume(D.core, ref, err);
	if (vol)
		j = volume_json_v(&v, vol);
	unik_core_read_end(D.core);
	return j;
}

/* Makes a volume from a request whose options are in opts (name, size_mb, type) and whose data,
 * if any, is the uploaded archive; replies. */
static void volume_make(struct req *r, json_t *opts, const char *name, bool unik_style)
{
	static const char *const keys[] = {"name", "size_mb", "type", NULL};
	struct unik_volume_request vr = {.name = name};
	struct unik_error err = {0};
	struct unik_volume *out = NULL;
	const char *k;
	json_t *v;

	json_object_foreach(opts, k, v)
	{
		if (!unik_key_known(k, keys, "key", &err))
			goto fail;
		if (json_is_null(v))
			continue;
		if (strcmp(k, "size_mb") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > (16 << 20)) {
				unik_error_set(&err, UNIK_E_INVALID,
				               "\"size_mb\" must be a whole number of MiB, 1 to %d",
				               16 << 20);
				goto fail;
			}
			vr.size_mb = (uint64_t)json_integer_value(v);
		} else if (!json_is_string(v) || json_string_length(v) > 200 ||
		           strlen(json_string_value(v)) != json_string_length(v)) {
			unik_error_set(&err, UNIK_E_INVALID, "\"%s\" must be a string", k);
			goto fail;
		} else if (strcmp(k, "name") == 0) {
			if (!vr.name)
				vr.name = json_string_value(v);
		} else {
			vr.type = json_string_value(v);
		}
	}
	if (!vr.name) {
		unik_error_set(&err, UNIK_E_INVALID, "\"name\" is required");
		goto fail;
	}
	if (unik_core_volume_create(D.core, &vr, r->multipart ? r->upload_path : NULL, &out, &err) <
	    0)
		goto fail;
	if (unik_style) {
		struct unik_error e2 = {0};
		json_t *j = volume_ref_json(out->id, &e2);

		reply_json(r, 201, j ? unik_volume(j) : json_object());
		json_decref(j);
	} else {
		json_t *j = volume_ref_json(out->id, &err);

		reply_json(r, 201, j ? j : volume_json(out));
	}
	unik_volume_free(out);
	return;
fail:
	reply_error(r, &err);
}

void volumes_post(struct req *r)
{
	json_t *opts = req_options(r, "tarfile");

	if (!opts)
		return;
	volume_make(r, opts, NULL, false);
	json_decref(opts);
}

void volumes_get(struct req *r)
{
	struct unik_error err = {0};
	json_t *j = volume_ref_json(seg(r, r->compat ? 1 : 2), &err);

	if (!j) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, r->compat ? unik_volume(j) : json_incref(j));
	json_decref(j);
}

void volumes_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_volume_delete(D.core, seg(r, r->compat ? 1 : 2), req_query_bool(r, "force"),
	                            &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

void volumes_disk(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *name = NULL, *filename = NULL;
	uint64_t size;
	int fd;

	if (unik_core_volume_open(D.core, seg(r, 2), &fd, &size, &name, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	filename = xasprintf("%s.ext2", name);
	reply_file(r, fd, size, "application/octet-stream", filename);
}

void volumes_attach(struct req *r)
{
	struct unik_error err = {0};
	const char *vref = seg(r, r->compat ? 1 : 2), *iref = NULL, *at = NULL;
	int ro = 0; /* json_unpack's "b" writes an int */
	json_t *body = NULL;

	if (r->compat) {
		/* UniK: POST /volumes/:name/attach/:instance?mount=/data */
		iref = seg(r, 3);
		at = req_query(r, "mount");
	} else {
		if (!(body = req_json(r, false)))
			return;
		if (json_unpack(body, "{s:s, s:s, s?:b !}", "instance", &iref, "at", &at,
		                "readonly", &ro) < 0) {
			json_decref(body);
			reply_errorf(r, UNIK_E_INVALID,
			             "the body must be {\"instance\": NAME, \"at\": \"/path\", "
			             "\"readonly\"?: bool}");
			return;
		}
	}
	if (!at) {
		json_decref(body);
		reply_errorf(r, UNIK_E_INVALID, "where should the guest mount it? (mount=/path)");
		return;
	}
	if (unik_core_volume_attach(D.core, vref, iref, at, ro != 0, &err) < 0)
		reply_error(r, &err);
	else if (r->compat)
		reply_text(r, 200, "");
	else {
		json_t *j = volume_ref_json(vref, &err);

		reply_json(r, 200, j ? j : json_object());
	}
	json_decref(body);
}

void volumes_detach(struct req *r)
{
	struct unik_error err = {0};
	const char *vref = seg(r, r->compat ? 1 : 2);

	if (unik_core_volume_detach(D.core, vref, &err) < 0)
		reply_error(r, &err);
	else if (r->compat)
		reply_text(r, 200, "");
	else {
		json_t *j = volume_ref_json(vref, &err);

		reply_json(r, 200, j ? j : json_object());
	}
}

/* UniK's POST /volumes/:name: a multipart tarfile of data, or ?size=MB for an empty one. */
void u_volume_create(struct req *r)
{
	json_t *opts = json_object();
	const char *size = req_query(r, "size");
	const char *type = req_query(r, "type");

	if (!size && r->form)
		size = json_string_value(json_object_get(r->form, "size"));
	if (size) {
		char *end;
		long long mb = strtoll(size, &end, 10);

		if (*end || mb < 1) {
			json_decref(opts);
			reply_errorf(r, UNIK_E_INVALID, "size \"%.*s\" is not a number of MB",
			             UNIK_UTF8_CUT(size, 30));
			return;
		}
		json_object_set_new(opts, "size_mb", json_integer(mb));
	}
	if (type)
		json_object_set_new(opts, "type", json_string(type));
	if (!size && !(r->multipart && r->upload_path)) {
		json_decref(opts);
		reply_errorf(r, UNIK_E_INVALID,
		             "give the data as a multipart tarfile part, or a size (?size=MB)");
		return;
	}
	volume_make(r, opts, seg(r, 1), true);
	json_decref(opts);
}

void u_volumes_list(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nvolumes; i++) {
		json_t *j = volume_json_v(&v, v.volumes[i]);

		json_array_append_new(a, unik_volume(j));
		json_decref(j);
	}
	unik_core_read_end(D.core);
	reply_json(r, 200, a);
}
