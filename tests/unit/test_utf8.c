/* Unit tests for lib/utf8: characters told apart from broken bytes, cuts between characters, and
 * escaping, which messages that quote a client's bytes rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/utf8.h"

static void test_utf8(void **state)
{
	(void)state;
	assert_int_equal(unik_utf8_char_len("a", 1), 1);
	assert_int_equal(unik_utf8_char_len("\xc3\xa9", 2), 2);
	assert_int_equal(unik_utf8_char_len("\xc3\xa9", 1), 0);         /* cut short */
	assert_int_equal(unik_utf8_char_len("\xc0\xaf", 2), 0);         /* overlong */
	assert_int_equal(unik_utf8_char_len("\xed\xa0\x80", 3), 0);     /* surrogate */
	assert_int_equal(unik_utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
	assert_int_equal(unik_utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(unik_utf8_cut("a\xc3\xa9\xc3\xa9", 5, 4), 3);
	assert_int_equal(unik_utf8_cut("a\xc3\xa9\xc3\xa9", 5, 2), 1);
	assert_int_equal(unik_utf8_cut("\xff\xff", 2, 1), 1);
	char *e = unik_utf8_escape("zz\xff\xc3\xa9\xe2\x82", 7);
	assert_string_equal(e, "zz\\xff\xc3\xa9\\xe2\\x82");
	free(e);
}

static void test_escape(void **state)
{
	char *e;

	(void)state;
	e = unik_utf8_escape("caf\xc3\xa9", 5);
	assert_string_equal(e, "caf\xc3\xa9"); /* valid: as it was */
	free(e);
	e = unik_utf8_escape("a\xff"
	                     "b\0c",
	                     5);
	assert_string_equal(e, "a\\xffb\\x00c"); /* a stray byte and a NUL, spelled out */
	assert_true(unik_utf8_valid(e, strlen(e)));
	free(e);
	e = unik_utf8_escape("\xc3", 1);
	assert_string_equal(e, "\\xc3"); /* a character cut short */
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
