/* libFuzzer entry point: the bodies of the original UniK's routes: POST /instances/run's JSON
 * (turned into a v1 run request and checked), and POST /images/NAME/create's form parts
 * (here a JSON object of strings, turned into v1 build options and checked). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon/http.h"
#include "daemon/internal.h"

static const char *ur_get(void *ctx, const char *key)
{
	return json_string_value(json_object_get(ctx, key));
}

int unik_fuzz_unik_routes(const uint8_t *data, size_t size);
int unik_fuzz_unik_routes(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	struct unik_error err;
	struct unik_run_request rr;
	struct unik_build_opts bo;
	json_t *v1, *opts;
	const char *name;

	if (!j)
		return 0;
	v1 = unik_run_request(j, &err);
	if (v1) {
		run_req_parse(v1, &rr, &err);
		unik_run_request_free(&rr);
		json_decref(v1);
	}
	name = json_string_value(json_object_get(j, "name"));
	opts = unik_create_options(name ? name : "app", ur_get, j, &err);
	if (opts) {
		if (build_opts_parse(opts, &bo, &err) == 0)
			unik_build_opts_free(&bo);
		json_decref(opts);
	}
	json_decref(j);
	return 0;
}

#ifndef UNIK_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return unik_fuzz_unik_routes(data, size);
}
#endif
