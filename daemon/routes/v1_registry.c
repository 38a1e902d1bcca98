/* POST /v1/images/IMAGE/push and POST /v1/images/pull: the daemon talks to the registry with the
 * credentials of the request, which it uses for that request only and never stores. */
#include "daemon/routes/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/registry.h"

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
