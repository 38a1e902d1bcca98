/* Unit tests for lib/names: which image and instance names are accepted, and the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/names.h"

static void test_valid(void **state)
{
	char max[UNIK_NAME_MAX + 1];

	(void)state;
	memset(max, 'a', UNIK_NAME_MAX);
	max[UNIK_NAME_MAX] = '\0';
	assert_true(unik_name_valid("hello"));
	assert_true(unik_name_valid("H3llo_world.v1-2"));
	assert_true(unik_name_valid("0"));
	assert_true(unik_name_valid(max));
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {"",      "-rf",  ".hidden", "_x",   "a b", "a;b",
	                                  "$(id)", "`id`", "a/b",     "../x", "é",   "a\nb",
	                                  "a'b",   "a\"b", "*",       NULL};
	char long_name[UNIK_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; bad[i]; i++)
		if (unik_name_valid(bad[i]))
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_false(unik_name_valid(NULL));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(unik_name_valid(long_name));
}

static void test_message(void **state)
{
	struct unik_error err;
	char huge[10001];

	(void)state;
	assert_int_equal(unik_name_check("image name", "a;b", &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "image name \"a;b\" is not valid"));
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(unik_name_check("instance name", huge, &err), -1);
	assert_true(strlen(err.msg) < 300);
	assert_non_null(strstr(err.msg, "...\" is not valid"));
	assert_int_equal(unik_name_check("x", "a\nb", &err), -1);
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(unik_name_check("x", "", &err), -1);
	assert_non_null(strstr(err.msg, "is empty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
