/* libFuzzer entry point: the REST bodies' JSON parsers (build options, run requests). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	struct unik_build_opts bo;
	struct unik_run_request rr;
	struct unik_error err;

	if (!j)
		return 0;
	if (build_opts_parse(j, &bo, &err) == 0)
		unik_build_opts_free(&bo);
	run_req_parse(j, &rr, &err);
	unik_run_request_free(&rr);
	json_decref(j);
	return 0;
}
