/* Unit tests for lib/error: formatting, context prefixes, errno mapping and HTTP statuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/error.h"

static void test_set_formats(void **state)
{
	struct unik_error err;

	(void)state;
	unik_error_set(&err, UNIK_E_INVALID, "line %d: unknown key \"%s\"", 7, "memroy");
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_string_equal(err.msg, "line 7: unknown key \"memroy\"");
	unik_error_clear(&err);
	assert_int_equal(err.code, UNIK_OK);
	assert_string_equal(err.msg, "");
}

static void test_sys_appends_strerror_and_maps_code(void **state)
{
	struct unik_error err;

	(void)state;
	unik_error_sys(&err, ENOENT, "open `%s`", "/nope");
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_string_equal(err.msg, "open `/nope`: No such file or directory");
	unik_error_sys(&err, EEXIST, "mkdir");
	assert_int_equal(err.code, UNIK_E_EXISTS);
	unik_error_sys(&err, EACCES, "open");
	assert_int_equal(err.code, UNIK_E_PERM);
	unik_error_sys(&err, EIO, "read");
	assert_int_equal(err.code, UNIK_E_IO);
	/* A forgotten errno still gives a failure code, never UNIK_OK. */
	unik_error_sys(&err, 0, "odd");
	assert_int_equal(err.code, UNIK_E_IO);
}

static void test_prefix_adds_context(void **state)
{
	struct unik_error err;

	(void)state;
	unik_error_set(&err, UNIK_E_NOTFOUND, "no such image");
	unik_error_prefix(&err, "run `%s`", "web");
	unik_error_prefix(&err, "instance %d", 3);
	assert_string_equal(err.msg, "instance 3: run `web`: no such image");
	assert_int_equal(err.code, UNIK_E_NOTFOUND);

	unik_error_clear(&err);
	unik_error_prefix(&err, "only context");
	assert_string_equal(err.msg, "only context");
}

static void test_long_messages_truncate(void **state)
{
	struct unik_error err;
	char big[3000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	unik_error_set(&err, UNIK_E_IO, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	unik_error_prefix(&err, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	unik_error_sys(&err, ENOENT, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void test_null_error_is_ignored(void **state)
{
	(void)state;
	unik_error_set(NULL, UNIK_E_IO, "x");
	unik_error_sys(NULL, EIO, "x");
	unik_error_prefix(NULL, "x");
	unik_error_clear(NULL);
}

static void test_http_status(void **state)
{
	(void)state;
	assert_int_equal(unik_error_http_status(UNIK_OK), 200);
	assert_int_equal(unik_error_http_status(UNIK_E_INVALID), 400);
	assert_int_equal(unik_error_http_status(UNIK_E_NOTFOUND), 404);
	assert_int_equal(unik_error_http_status(UNIK_E_EXISTS), 409);
	assert_int_equal(unik_error_http_status(UNIK_E_STATE), 409);
	assert_int_equal(unik_error_http_status(UNIK_E_PERM), 403);
	assert_int_equal(unik_error_http_status(UNIK_E_IO), 500);
	assert_int_equal(unik_error_http_status(UNIK_E_NOMEM), 500);
	assert_int_equal(unik_error_http_status(12345), 500);
	assert_int_equal(unik_error_http_status(UNIK_E_UNSUPPORTED), 501);
	assert_int_equal(unik_error_http_status(UNIK_E_INTERNAL), 500);
}

/* One table of names, the REST API's (docs/api/rest.md): the daemon, the client and the test
 * tools used to have three that disagreed ("bad_state" / "state", "permission_denied" /
 * "forbidden"). */
static void test_code_names(void **state)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
	    {UNIK_E_INVALID, "invalid"},   {UNIK_E_NOTFOUND, "not_found"},
	    {UNIK_E_EXISTS, "exists"},     {UNIK_E_STATE, "state"},
	    {UNIK_E_PERM, "forbidden"},    {UNIK_E_UNSUPPORTED, "unsupported"},
	    {UNIK_E_INTERNAL, "internal"}, {UNIK_E_IO, "internal"},
	    {UNIK_E_NOMEM, "internal"},    {12345, "internal"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_string_equal(unik_error_code_name(names[i].code), names[i].name);
		assert_string_equal(unik_error_api_name(names[i].code, 0), names[i].name);
	}
	/* Names that come from the status alone. */
	assert_string_equal(unik_error_api_name(UNIK_E_PERM, 401), "unauthorized");
	assert_string_equal(unik_error_api_name(UNIK_E_INVALID, 413), "too_large");
	assert_string_equal(unik_error_api_name(UNIK_E_INTERNAL, 414), "too_large");
	assert_string_equal(unik_error_api_name(UNIK_E_NOTFOUND, 405), "invalid");
	assert_string_equal(unik_error_api_name(UNIK_E_NOTFOUND, 404), "not_found");
	/* Read back: every name the daemon writes maps to a code. */
	assert_int_equal(unik_error_code_from_name("state"), UNIK_E_STATE);
	assert_int_equal(unik_error_code_from_name("forbidden"), UNIK_E_PERM);
	assert_int_equal(unik_error_code_from_name("unauthorized"), UNIK_E_PERM);
	assert_int_equal(unik_error_code_from_name("too_large"), UNIK_E_INVALID);
	assert_int_equal(unik_error_code_from_name("internal"), UNIK_E_INTERNAL);
	assert_int_equal(unik_error_code_from_name("bad_state"), -1);
	assert_int_equal(unik_error_code_from_name("whatever"), -1);
	assert_int_equal(unik_error_code_from_name(NULL), -1);
	for (int c = UNIK_E_INVALID; c <= UNIK_E_INTERNAL; c++) {
		int back = unik_error_code_from_name(unik_error_code_name(c));

		assert_true(back > 0);
		assert_int_equal(unik_error_http_status(back), unik_error_http_status(c));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_formats),
	    cmocka_unit_test(test_sys_appends_strerror_and_maps_code),
	    cmocka_unit_test(test_prefix_adds_context),
	    cmocka_unit_test(test_long_messages_truncate),
	    cmocka_unit_test(test_null_error_is_ignored),
	    cmocka_unit_test(test_code_names),
	    cmocka_unit_test(test_http_status),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
