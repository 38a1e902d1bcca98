/* REST bodies into the core's typed requests: build options and run requests, checked key by
 * key so a typo is named in the answer. */
#include "daemon/internal.h"

#include <stdio.h>
#include <string.h>

#include "lib/cmdline.h"
#include "lib/names.h"
#include "lib/guest_abi.h"
#include "unik/abi.h"
#include "lib/utf8.h"

static int opt_str(json_t *v, const char *key, char **out, struct unik_error *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		unik_error_set(err, UNIK_E_INVALID, "option \"%s\" must be a string", key);
		return -1;
	}
	if (json_string_length(v) > 4096 || strlen(json_string_value(v)) != json_string_length(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "option \"%s\" is not valid: longer than 4096 bytes or holds a NUL",
		               key);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* "formats": ["raw", "qcow2"]: known names; elf, which every image has, and repeats are
 * dropped. */
static int opt_formats(json_t *v, struct strv *out, struct unik_error *err)
{
	json_t *e;
	size_t i;

	if (!json_is_array(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "option \"formats\" must be an array of format names (%s)",
		               unik_core_format_names());
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		const char *name = json_string_value(e);
		bool seen = false;

		if (!name) {
			unik_error_set(err, UNIK_E_INVALID,
			               "option \"formats\": item %zu is not a string", i);
			return -1;
		}
		if (!unik_core_format_known(name)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "option \"formats\": unknown format \"%.*s\" (known: %s)",
			               UNIK_UTF8_CUT(name, 60), unik_core_format_names());
			return -1;
		}
		for (size_t j = 0; j < out->n && !seen; j++)
			seen = strcmp(out->v[j], name) == 0;
		if (!seen && strcmp(name, "elf") != 0)
			strv_push(out, name);
	}
	return 0;
}

int env_object_check(json_t *env, const char *what, struct unik_error *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(env)) {
		unik_error_set(err, UNIK_E_INVALID, "%s must be an object of strings", what);
		return -1;
	}
	json_object_foreach(env, k, v)
	{
		if (!unik_env_name_valid(k, strlen(k))) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s: \"%.*s\" is not a valid environment variable name",
			               what, UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		if (!json_is_string(v) || json_string_length(v) > 4096 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			unik_error_set(err, UNIK_E_INVALID, "%s: the value of %s must be a string",
			               what, k);
			return -1;
		}
	}
	return 0;
}

int build_opts_parse(json_t *o, struct unik_build_opts *bo, struct unik_error *err)
{
	static const char *const keys[] = {
	    "name", "base",      "language", "provider",      "args",   "env", "force",
	    "git",  "memory_mb", "formats",  "provider_opts", "target", NULL};
	const char *k;
	json_t *v;

	memset(bo, 0, sizeof(*bo));
	if (!json_is_object(o)) {
		unik_error_set(err, UNIK_E_INVALID, "the build options must be a JSON object");
		return -1;
	}
	json_object_foreach(o, k, v)
	{
		if (!unik_key_known(k, keys, "build option", err))
			goto fail;
		if ((strcmp(k, "name") == 0 && opt_str(v, k, &bo->name, err) < 0) ||
		    (strcmp(k, "base") == 0 && opt_str(v, k, &bo->base, err) < 0) ||
		    (strcmp(k, "language") == 0 && opt_str(v, k, &bo->language, err) < 0) ||
		    (strcmp(k, "provider") == 0 && opt_str(v, k, &bo->provider, err) < 0) ||
		    (strcmp(k, "args") == 0 && opt_str(v, k, &bo->args, err) < 0) ||
		    (strcmp(k, "git") == 0 && opt_str(v, k, &bo->git, err) < 0) ||
		    (strcmp(k, "target") == 0 && opt_str(v, k, &bo->target, err) < 0))
			goto fail;
		if (strcmp(k, "env") == 0 && !json_is_null(v)) {
			if (env_object_check(v, "option \"env\"", err) < 0)
				goto fail;
			pairs_from_json(v, &bo->env);
		}
		if (strcmp(k, "provider_opts") == 0 && !json_is_null(v)) {
			if (provider_opts_check(v, err) < 0)
				goto fail;
			pairs_from_json(v, &bo->provider_opts);
		}
		if (strcmp(k, "formats") == 0 && !json_is_null(v) &&
		    opt_formats(v, &bo->formats, err) < 0)
			goto fail;
		if (strcmp(k, "force") == 0) {
			if (!json_is_boolean(v)) {
				unik_error_set(err, UNIK_E_INVALID,
				               "option \"force\" must be true or false");
				goto fail;
			}
			bo->force = json_is_true(v);
		}
		if (strcmp(k, "memory_mb") == 0 && !json_is_null(v)) {
			if (!json_is_integer(v) ||
			    json_integer_value(v) < unik_guest_min_memory_mb() ||
			    json_integer_value(v) > 1024 * 1024) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "option \"memory_mb\" must be a whole number of MiB "
				    "(%d to 1048576: a unik guest needs at least %d MiB)",
				    unik_guest_min_memory_mb(), unik_guest_min_memory_mb());
				goto fail;
			}
			bo->memory_mb = json_integer_value(v);
		}
	}
	if (bo->name && unik_name_check("image name", bo->name, err) < 0)
		goto fail;
	if (bo->args) {
		struct unik_cmdline c = {0};
		int r = unik_cmdline_split(bo->args, &c, err);

		unik_cmdline_free(&c);
		if (r < 0) {
			unik_error_prefix(err, "option \"args\"");
			goto fail;
		}
	}
	return 0;
fail:
	unik_build_opts_free(bo);
	return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* git */

/* An array of at most max strings of at most 128 bytes, without NULs, appended to out. */
static int strings_from_json(json_t *v, const char *key, size_t max, struct strv *out,
                             struct unik_error *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > max) {
		unik_error_set(err, UNIK_E_INVALID,
		               "\"%s\" must be an array of at most %zu strings", key, max);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) > 128 ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"%s\"[%zu] must be a string of at most 128 bytes", key, i);
			return -1;
		}
		strv_push(out, json_string_value(e));
	}
	return 0;
}

int run_req_parse(json_t *o, struct unik_run_request *rr, struct unik_error *err)
{
	static const char *const keys[] = {"name",      "image",    "args",          "env",
	                                   "memory_mb", "provider", "provider_opts", "networks",
	                                   "ports",     "volumes",  "bind",          NULL};
	const char *k;
	json_t *v;

	memset(rr, 0, sizeof(*rr));
	if (!json_is_object(o)) {
		unik_error_set(err, UNIK_E_INVALID, "the request body must be a JSON object");
		return -1;
	}
	json_object_foreach(o, k, v)
	{
		if (!unik_key_known(k, keys, "key", err))
			return -1;
		if (json_is_null(v))
			continue;
		if (strcmp(k, "env") == 0) {
			if (env_object_check(v, "\"env\"", err) < 0)
				return -1;
			pairs_from_json(v, &rr->env);
		} else if (strcmp(k, "provider_opts") == 0) {
			if (provider_opts_check(v, err) < 0)
				return -1;
			pairs_from_json(v, &rr->provider_opts);
		} else if (strcmp(k, "networks") == 0 || strcmp(k, "ports") == 0 ||
		           strcmp(k, "volumes") == 0) {
			if (strings_from_json(v, k, k[0] == 'p' ? 64 : 8,
			                      k[0] == 'p'   ? &rr->ports
			                      : k[0] == 'n' ? &rr->networks
			                                    : &rr->volumes,
			                      err) < 0)
				return -1;
		} else if (strcmp(k, "bind") == 0) {
			/* A device application's devices: "net:NAME=NETWORK", "blk:NAME=VOLUME"
			 * (the core checks them against what the image declares). */
			if (strings_from_json(v, k, 16, &rr->binds, err) < 0)
				return -1;
		} else if (strcmp(k, "memory_mb") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < UNIK_MIN_MEMORY_MB ||
			    json_integer_value(v) > 1024 * 1024) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "\"memory_mb\" must be a whole number of MiB (%d to "
				    "1048576: a unik guest needs at least %d MiB, the kernel "
				    "being loaded at 1 MiB)",
				    UNIK_MIN_MEMORY_MB, UNIK_MIN_MEMORY_MB);
				return -1;
			}
			rr->memory_mb = json_integer_value(v);
		} else {
			if (!json_is_string(v) || json_string_length(v) > 65536 ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				unik_error_set(err, UNIK_E_INVALID, "\"%s\" must be a string", k);
				return -1;
			}
			if (strcmp(k, "name") == 0)
				rr->name = json_string_value(v);
			else if (strcmp(k, "image") == 0)
				rr->image = json_string_value(v);
			else if (strcmp(k, "args") == 0)
				rr->args = json_string_value(v);
			else
				rr->provider = json_string_value(v);
		}
	}
	if (!rr->image) {
		unik_error_set(err, UNIK_E_INVALID, "\"image\" is required");
		return -1;
	}
	if (rr->name && unik_name_check("instance name", rr->name, err) < 0)
		return -1;
	return 0;
}

int provider_opts_check(json_t *v, struct unik_error *err)
{
	const char *k;
	json_t *s;

	if (!json_is_object(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "\"provider_opts\" must be an object of strings, e.g. "
		               "{\"uri\": \"qemu:///system\"}");
		return -1;
	}
	json_object_foreach(v, k, s)
	{
		if (!*k || strlen(k) > 64 ||
		    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(k)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"provider_opts\": bad key \"%.*s\" (lower case letters, "
			               "digits and _)",
			               UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		if (!json_is_string(s) || json_string_length(s) > 4096 ||
		    strlen(json_string_value(s)) != json_string_length(s)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"provider_opts\": the value of %s must be a string", k);
			return -1;
		}
		/* Providers keep options in line-based records: a control character has no
		 * business in a URI, a region or a path. */
		for (const char *c = json_string_value(s); *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				unik_error_set(err, UNIK_E_INVALID,
				               "\"provider_opts\": the value of %s holds a control "
				               "character",
				               k);
				return -1;
			}
	}
	return 0;
}
