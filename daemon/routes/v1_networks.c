/* /v1/networks: make, list, describe and remove networks (a Linux bridge with a subnet each). */
#include "daemon/routes/routes.h"

#include <string.h>

void networks_list(struct req *r)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nnetworks; i++)
		json_array_append_new(a, network_json(v.networks[i]));
	unik_core_read_end(D.core);
	reply_json(r, 200, a);
}

void networks_post(struct req *r)
{
	static const char *const keys[] = {"name", "subnet", "dhcp", NULL};
	struct unik_error err = {0};
	json_t *body = req_json(r, false), *v;
	struct unik_network *out = NULL;
	const char *name = NULL, *subnet = NULL, *k;
	bool dhcp = false;

	if (!body)
		return;
	if (!json_is_object(body)) {
		unik_error_set(&err, UNIK_E_INVALID, "the request body must be a JSON object");
		goto fail;
	}
	json_object_foreach(body, k, v)
	{
		if (!unik_key_known(k, keys, "key", &err))
			goto fail;
		if (json_is_null(v))
			continue;
		if (strcmp(k, "dhcp") == 0) {
			if (!json_is_boolean(v)) {
				unik_error_set(&err, UNIK_E_INVALID,
				               "\"dhcp\" must be true or false");
				goto fail;
			}
			dhcp = json_is_true(v);
			continue;
		}
		if (!json_is_string(v) || json_string_length(v) > 128 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			unik_error_set(&err, UNIK_E_INVALID, "\"%s\" must be a string", k);
			goto fail;
		}
		*(strcmp(k, "name") == 0 ? &name : &subnet) = json_string_value(v);
	}
	if (!name) {
		unik_error_set(&err, UNIK_E_INVALID, "\"name\" is required");
		goto fail;
	}
	if (unik_core_network_create(D.core, name, subnet, dhcp, &out, &err) < 0)
		goto fail;
	reply_json(r, 201, network_json(out));
	unik_network_free(out);
	json_decref(body);
	return;
fail:
	reply_error(r, &err);
	json_decref(body);
}

void networks_get(struct req *r)
{
	struct unik_error err = {0};
	struct unik_core_view v;
	const struct unik_network *n;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	n = unik_core_network(D.core, seg(r, 2), &err);
	if (n)
		j = network_json(n);
	unik_core_read_end(D.core);
	if (j)
		reply_json(r, 200, j);
	else
		reply_error(r, &err);
}

void networks_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_network_delete(D.core, seg(r, 2), &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}
