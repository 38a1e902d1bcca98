/* A door onto unik's SigV4 signer for tests/integration/test_aws_sigv4.py: reads a JSON array
 * of requests on stdin and prints, for each, the headers the signer adds, the canonical
 * request and the string to sign, as a JSON array on stdout.
 *
 * A request: {"method", "host", "path", "query", "headers": [["Name", "value"], ...],
 * "body" (text, hashed) or "unsigned": true, "service", "region", "time" (Unix seconds),
 * "access_key", "secret_key", "token" (optional)}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static json_t *sign_one(json_t *in)
{
	struct aws_config c = {0};
	_cleanup_strv_ struct strv headers = {0};
	_cleanup_free_ char *creq = NULL, *sts = NULL;
	struct unik_error err = {0};
	json_t *h, *out, *added;
	char **res = NULL;
	char hash[65];
	const char *body = str(in, "body");
	size_t i;
	struct aws_sign_req r = {
	    .method = str(in, "method"),
	    .host = str(in, "host"),
	    .path = str(in, "path"),
	    .query = str(in, "query"),
	    .service = str(in, "service"),
	    .region = str(in, "region"),
	    .when = (time_t)json_integer_value(json_object_get(in, "time")),
	};

	c.access_key_id = (char *)str(in, "access_key");
	c.secret_access_key = (char *)str(in, "secret_key");
	c.session_token =
	    json_is_string(json_object_get(in, "token")) ? (char *)str(in, "token") : NULL;
	json_array_foreach(json_object_get(in, "headers"), i, h)
	{
		strv_pushf(&headers, "%s: %s", json_string_value(json_array_get(h, 0)),
		           json_string_value(json_array_get(h, 1)));
	}
	r.headers = (const char *const *)strv_argv(&headers);
	if (json_is_true(json_object_get(in, "unsigned"))) {
		r.payload_sha256 = "UNSIGNED-PAYLOAD";
	} else {
		aws_sha256_hex(body, strlen(body), hash);
		r.payload_sha256 = hash;
	}
	out = json_object();
	if (aws_sigv4_sign_debug(&c, &r, &res, &creq, &sts, &err) < 0) {
		json_object_set_new(out, "error", json_string(err.msg));
		return out;
	}
	added = json_object();
	for (char **p = res; *p; p++) {
		char *colon = strchr(*p, ':');

		*colon = '\0';
		json_object_set_new(added, *p, json_string(colon + 2));
	}
	aws_strv_free(res);
	json_object_set_new(out, "headers", added);
	json_object_set_new(out, "canonical_request", json_string(creq));
	json_object_set_new(out, "string_to_sign", json_string(sts));
	return out;
}

int main(void)
{
	json_error_t jerr;
	json_t *in = json_loadf(stdin, 0, &jerr), *out, *req;
	size_t i;

	if (!json_is_array(in)) {
		fprintf(stderr, "aws_sign: expected a JSON array on stdin (%s)\n", jerr.text);
		return 2;
	}
	out = json_array();
	json_array_foreach(in, i, req) json_array_append_new(out, sign_one(req));
	json_dumpf(out, stdout, JSON_INDENT(1));
	putchar('\n');
	json_decref(in);
	json_decref(out);
	return 0;
}
