/* Unit tests for the HTTP door's pure parts (daemon/http_parse.c): request targets, routes,
 * --listen addresses, error bodies, and messages cut between characters (lib/utf8, whose own
 * tests are tests/unit/test_utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/http.h"
#include "daemon/http_parse.h"
#include "lib/names.h"
#include "lib/utf8.h"
#include "lib/util.h"

static void test_messages_cut_between_characters(void **state)
{
	struct unik_error err;
	char big[1200], name[64];

	(void)state;
	/* "ab" then e-acutes: the 1024-byte message buffer would end inside a character. */
	big[0] = 'a';
	big[1] = 'b';
	for (size_t i = 2; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof(big) - 1] = '\0';
	unik_error_set(&err, UNIK_E_INVALID, "%s", big);
	assert_true(unik_utf8_valid(err.msg, strlen(err.msg)));
	assert_true(strlen(err.msg) >= sizeof(err.msg) - 3);
	unik_error_prefix(&err, "x");
	assert_true(unik_utf8_valid(err.msg, strlen(err.msg)));
	unik_error_sys(&err, 2, "open %s", big);
	assert_true(unik_utf8_valid(err.msg, strlen(err.msg)));
	/* A name check quotes at most 40 bytes of the name, whole characters only. */
	/* "a" then e-acutes: 40 bytes would end inside a character. */
	memcpy(name, big + 1, 61);
	name[0] = 'a';
	name[61] = '\0';
	assert_int_equal(unik_name_check("image name", name, &err), -1);
	assert_true(unik_utf8_valid(err.msg, strlen(err.msg)));
	char shown[64];
	snprintf(shown, sizeof(shown), "%.*s", UNIK_UTF8_CUT(name, 40));
	assert_int_equal(strlen(shown), 39);
}

static void test_target(void **state)
{
	struct http_target t;
	struct unik_error err;

	(void)state;
	assert_int_equal(http_target_parse("/v1//images/a%20b/?force=1&x&q=a+b%2b", 37, &t, &err),
	                 0);
	assert_int_equal(t.nseg, 3);
	assert_string_equal(t.segs[2], "a b");
	assert_string_equal(http_target_query(&t, "force"), "1");
	assert_string_equal(http_target_query(&t, "x"), "");
	assert_string_equal(http_target_query(&t, "q"), "a b+");
	assert_null(http_target_query(&t, "y"));
	http_target_free(&t);

	static const char *const bad[] = {"/v1/images/h0%00x",
	                                  "/v1/images/h0%00",
	                                  "/v1/a%0ab",
	                                  "/v1/a%7f",
	                                  "/v1/a%zz",
	                                  "/v1/a%",
	                                  "/v1/a%4",
	                                  "/v1/x?a=%00",
	                                  "/v1/x?%01=1",
	                                  "/a/b/c/d/e/f/g/h/i/j/%00",
	                                  NULL};
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(http_target_parse(bad[i], strlen(bad[i]), &t, &err), 400);
		assert_null(t.buf);
	}
	assert_int_equal(http_target_parse("/v1/images/x\x01", 13, &t, &err), 400);
	char *longer = xmalloc(HTTP_TARGET_MAX + 2);
	memset(longer, 'a', HTTP_TARGET_MAX + 1);
	longer[HTTP_TARGET_MAX + 1] = '\0';
	assert_int_equal(http_target_parse(longer, HTTP_TARGET_MAX + 1, &t, &err), 414);
	free(longer);
	assert_int_equal(http_target_parse("/a/b/c/d/e/f/g/h/i", 18, &t, &err), 0);
	assert_int_equal(t.nseg, -1);
	http_target_free(&t);
	/* Bytes that are not UTF-8 are data (the name lookup fails), not an error. */
	assert_int_equal(http_target_parse("/v1/images/%ff", 14, &t, &err), 0);
	assert_string_equal(t.segs[2], "\xff");
	http_target_free(&t);
}

static void test_routes(void **state)
{
	struct http_target t;
	struct unik_error err;
	bool mismatch;
	const struct route *rt;

	(void)state;
	assert_int_equal(http_target_parse("/v1/images/x/formats/elf", 24, &t, &err), 0);
	rt = http_route_match(daemon_routes, "GET", &t, &mismatch);
	assert_non_null(rt);
	assert_string_equal(rt->pattern, "/v1/images/*/formats/*");
	assert_null(http_route_match(daemon_routes, "PUT", &t, &mismatch));
	assert_true(mismatch);
	http_target_free(&t);
	assert_int_equal(http_target_parse("/v1/nothing", 11, &t, &err), 0);
	assert_null(http_route_match(daemon_routes, "GET", &t, &mismatch));
	assert_false(mismatch);
	http_target_free(&t);
	assert_int_equal(http_target_parse("/instances/i1/logs?follow=1", 27, &t, &err), 0);
	rt = http_route_match(daemon_routes, "GET", &t, &mismatch);
	assert_non_null(rt);
	assert_true(rt->compat);
	http_target_free(&t);
}

static void test_listen(void **state)
{
	static const char *const good[] = {"127.0.0.1:3000", "localhost:1", "[::1]:65535", ":8080",
	                                   "0.0.0.0:80",     "::1:3000",    NULL};
	static const char *const bad[] = {"localhost:abc",
	                                  "127.0.0.1:0",
	                                  "127.0.0.1:65536",
	                                  "127.0.0.1:+80",
	                                  "127.0.0.1: 80",
	                                  "127.0.0.1:080x",
	                                  "127.0.0.1",
	                                  "127.0.0.1:",
	                                  "[::1:3000",
	                                  "example.org:80",
	                                  "[1.2.3.4]:3000",
	                                  "127.0.0.1:999999",
	                                  NULL};
	struct sockaddr_storage ss;
	unsigned sl;
	bool lo = false;
	struct unik_error err;

	(void)state;
	for (size_t i = 0; good[i]; i++)
		assert_int_equal(http_listen_parse(good[i], &ss, &sl, &lo, &err), 0);
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(http_listen_parse(bad[i], &ss, &sl, &lo, &err), -1);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	assert_int_equal(http_listen_parse("localhost:3000", &ss, &sl, &lo, &err), 0);
	assert_true(lo);
	assert_int_equal(http_listen_parse("[::1]:3000", &ss, &sl, &lo, &err), 0);
	assert_true(lo);
	assert_int_equal(http_listen_parse("10.0.0.1:3000", &ss, &sl, &lo, &err), 0);
	assert_false(lo);
}

static void test_error_body_and_length(void **state)
{
	size_t len;
	uint64_t n;
	char *b;
	json_t *j;

	(void)state;
	b = http_error_body("not_found", "no image \"zz\xff\xc3\"", &len);
	assert_true(unik_utf8_valid(b, len));
	j = json_loads(b, 0, NULL);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "error"), "message")),
	    "no image \"zz\\xff\\xc3\"");
	json_decref(j);
	free(b);
	assert_int_equal(http_content_length("104857600", &n), 0);
	assert_true(n == 104857600);
	assert_int_equal(http_content_length("", &n), -1);
	assert_int_equal(http_content_length("-1", &n), -1);
	assert_int_equal(http_content_length("99999999999999999999999", &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages_cut_between_characters),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_error_body_and_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
