/* /v1/version, /v1/providers and /v1/compilers: what this unik is and what it has. */
#include "daemon/routes/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/utf8.h"

void v1_version(struct req *r)
{
	reply_json(
	    r, 200,
	    json_pack("{s:s, s:s, s:i}", "version", UNIK_VERSION, "api", "v1", "guest_abi", 1));
}

/* The daemon itself, for `unik daemon status`. */
void v1_daemon(struct req *r)
{
	_cleanup_strv_ struct strv addrs = {0};
	json_t *socks = json_array();

	http_addresses(&addrs);
	for (size_t i = 0; i < addrs.n; i++)
		json_array_append_new(socks, json_string(addrs.v[i]));
	reply_json(r, 200,
	           json_pack("{s:s, s:i, s:s, s:o, s:b}", "version", UNIK_VERSION, "pid",
	                     (int)getpid(), "home", D.home, "sockets", socks, "socket_activated",
	                     D.sock_passed));
}

void v1_providers(struct req *r)
{
	reply_json(r, 200, providers_json());
}

void v1_compilers(struct req *r)
{
	reply_json(r, 200, compilers_json());
}

void v1_compiler(struct req *r)
{
	struct unik_error err = {0};
	const struct unik_compiler *c =
	    unik_core_compiler_find(seg(r, 2), req_query(r, "language"), &err);
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
