/* Unit tests for lib/kv: the providers' key=value records, read from text and changed and saved
 * as a whole (the reader in lib/util.c and the one in providers/aws/aws.c before them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/kv.h"
#include "lib/util.h"

static void test_get_from_text(void **state)
{
	const char *text = "a=1\nkey=first\nkey=second\nkeyx=no\nempty=\n";
	char v[8];

	(void)state;
	assert_true(unik_kv_get(text, "key", v, sizeof(v)));
	assert_string_equal(v, "first"); /* the first line for the key */
	assert_true(unik_kv_get(text, "a", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_false(unik_kv_get(text, "ke", v, sizeof(v))); /* a prefix is not a key */
	assert_string_equal(v, "");
	assert_true(unik_kv_get(text, "empty", v, sizeof(v))); /* there, with an empty value */
	assert_string_equal(v, "");
	assert_false(unik_kv_get(text, "", v, sizeof(v)));
	assert_true(unik_kv_get("long=0123456789\n", "long", v, sizeof(v)));
	assert_string_equal(v, "0123456"); /* cut to fit */
	assert_true(unik_kv_get("last=no-newline", "last", v, sizeof(v)));
	assert_string_equal(v, "no-newl");
	/* A comment is not a record, even when it looks like one. */
	assert_false(unik_kv_get("#x=1\n", "#x", v, sizeof(v)));
	assert_false(unik_kv_get(NULL, "a", v, sizeof(v)));
}

static void test_parse_find_set_del(void **state)
{
	_cleanup_kv_ struct unik_kv kv = {0};
	const char *text = "# a comment\n\nb=2\nkey=first\nkey=second\nkeyx=no\nempty=";
	char v[16];

	(void)state;
	unik_kv_parse(&kv, text);
	assert_int_equal(kv.lines.n, 5); /* comment and empty line left out */
	/* Both readers agree on every key. */
	static const char *const keys[] = {"b", "key", "keyx", "empty", "ke", "missing", "#"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *f = unik_kv_find(&kv, keys[i]);
		bool got = unik_kv_get(text, keys[i], v, sizeof(v));

		assert_int_equal(got, f != NULL);
		if (f)
			assert_string_equal(f, v);
	}
	assert_string_equal(unik_kv_find(&kv, "key"), "first");
	unik_kv_set(&kv, "key", "changed"); /* replaces the first, in place */
	assert_string_equal(kv.lines.v[1], "key=changed");
	unik_kv_set(&kv, "new", NULL); /* appended, empty */
	assert_string_equal(kv.lines.v[kv.lines.n - 1], "new=");
	assert_null(kv.lines.v[kv.lines.n]);
	unik_kv_del(&kv, "key");
	assert_string_equal(unik_kv_find(&kv, "key"), "second");
	unik_kv_del(&kv, "b");
	unik_kv_del(&kv, "not-there");
	assert_int_equal(kv.lines.n, 4);
	assert_string_equal(kv.lines.v[0], "key=second");
	assert_null(kv.lines.v[kv.lines.n]);
	/* Parsing again replaces what was there. */
	unik_kv_parse(&kv, "x=1");
	assert_int_equal(kv.lines.n, 1);
	assert_null(unik_kv_find(&kv, "key"));
}

static void test_load_and_save(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_kv_ struct unik_kv kv = {0}, back = {0};

	(void)state;
	assert_non_null(d);
	path = unik_path_join(d, "state");
	/* A missing file is an empty record. */
	assert_int_equal(unik_kv_load(path, &kv, &err), 0);
	assert_int_equal(kv.lines.n, 0);
	unik_kv_set(&kv, "provider", "aws");
	unik_kv_set(&kv, "us-east-1.ami", "ami-1");
	assert_int_equal(unik_kv_save(path, &kv, &err), 0);
	assert_int_equal(unik_read_file(path, &text, NULL, &err), 0);
	assert_string_equal(text, "provider=aws\nus-east-1.ami=ami-1\n");
	assert_int_equal(unik_kv_load(path, &back, &err), 0);
	assert_string_equal(unik_kv_find(&back, "us-east-1.ami"), "ami-1");
	/* A file that cannot be read is an error naming it. */
	assert_int_equal(unik_kv_load(d, &back, &err), -1);
	assert_non_null(strstr(err.msg, d));
	assert_int_equal(unik_kv_save("/nonexistent-unik-dir/state", &kv, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent-unik-dir/state"));
	assert_int_equal(unik_rmtree(d, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_from_text),
	    cmocka_unit_test(test_parse_find_set_del),
	    cmocka_unit_test(test_load_and_save),
	};

	return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
