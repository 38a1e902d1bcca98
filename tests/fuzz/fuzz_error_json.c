/* libFuzzer entry point: error messages built from arbitrary bytes (what a client sent) must
 * come out as valid UTF-8 JSON whose message says the same, with bytes that are not UTF-8 as
 * \xNN; cuts (unik_error_set's buffer, UNIK_UTF8_CUT, name checks) fall between characters. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http_parse.h"
#include "lib/names.h"
#include "lib/utf8.h"
#include "lib/util.h"

int unik_fuzz_error_json(const uint8_t *data, size_t size);
int unik_fuzz_error_json(const uint8_t *data, size_t size)
{
	char *msg = xmalloc(size + 1);
	struct unik_error e;
	size_t len, n, cut;
	char *body, *esc;
	json_t *j;

	memcpy(msg, data, size);
	msg[size] = '\0';
	n = strlen(msg);

	body = http_error_body("invalid", msg, &len);
	if (strlen(body) != len || !unik_utf8_valid(body, len))
		abort();
	j = json_loadb(body, len, 0, NULL);
	esc = unik_utf8_escape(msg, n);
	if (!j || strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
	                 esc) != 0)
		abort();
	if (unik_utf8_valid(msg, n) && strcmp(esc, msg) != 0)
		abort();
	json_decref(j);
	free(esc);
	free(body);

	/* Cuts never split a character: a valid message stays valid, whatever the limit. */
	cut = unik_utf8_cut(msg, n, size ? data[0] : 0);
	if (cut > n || (unik_utf8_valid(msg, n) && !unik_utf8_valid(msg, cut)))
		abort();
	unik_error_set(&e, UNIK_E_INVALID, "no image \"%.*s\" %s%s%s%s", UNIK_UTF8_CUT(msg, 60),
	               msg, msg, msg, msg);
	if (unik_utf8_valid(msg, n) && !unik_utf8_valid(e.msg, strlen(e.msg)))
		abort();
	unik_error_prefix(&e, "%s", msg);
	if (unik_utf8_valid(msg, n) && !unik_utf8_valid(e.msg, strlen(e.msg)))
		abort();
	if (unik_name_check("image name", msg, &e) < 0 && unik_utf8_valid(msg, n) &&
	    !unik_utf8_valid(e.msg, strlen(e.msg)))
		abort();
	body = http_error_body("invalid", e.msg, &len);
	if (!unik_utf8_valid(body, len))
		abort();
	free(body);
	free(msg);
	return 0;
}

#ifndef UNIK_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return unik_fuzz_error_json(data, size);
}
#endif
