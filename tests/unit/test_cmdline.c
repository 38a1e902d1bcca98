/* Unit tests for lib/cmdline: quoting, composing and splitting guest command lines, and that
 * composing then splitting gives back the same environment and arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cmdline.h"

static void test_quote_word(void **state)
{
	static const char *const cases[][2] = {
	    {"app.elf", "app.elf"},
	    {"/usr/bin/x-y_z:1,2+3@4%5", "/usr/bin/x-y_z:1,2+3@4%5"},
	    {"", "''"},
	    {"a b", "'a b'"},
	    {"it's", "'it'\\''s'"},
	    {"'", "''\\'''"},
	    {"$HOME", "'$HOME'"},
	    {"a\"b\\c", "'a\"b\\c'"},
	    {"tab\there", "'tab\there'"},
	    {"new\nline", "'new\nline'"},
	    {"*", "'*'"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *q = unik_cmdline_quote_word(cases[i][0]);

		assert_string_equal(q, cases[i][1]);
	}
}

static void split_ok(const char *s, struct unik_cmdline *c)
{
	struct unik_error err;

	if (unik_cmdline_split(s, c, &err) < 0)
		fail_msg("split `%s`: %s", s, err.msg);
}

static void assert_words(const struct strv *v, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	assert_int_equal(v->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v->v[i], want[i]);
}

static void test_split(void **state)
{
	struct unik_cmdline c;

	(void)state;
	split_ok("", &c);
	assert_int_equal(c.env.n + c.argv.n, 0);
	unik_cmdline_free(&c);

	split_ok("  \t\n ", &c);
	assert_int_equal(c.env.n + c.argv.n, 0);
	unik_cmdline_free(&c);

	split_ok("A=1 B_2='x y' prog -v C=3 'two words'", &c);
	assert_words(&c.env, (const char *[]){"A=1", "B_2=x y", NULL});
	assert_words(&c.argv, (const char *[]){"prog", "-v", "C=3", "two words", NULL});
	unik_cmdline_free(&c);

	/* Quotes join with unquoted text into one word; empty quotes make an empty word. */
	split_ok("a'b'\"c\"d '' \"\"", &c);
	assert_words(&c.argv, (const char *[]){"abcd", "", "", NULL});
	unik_cmdline_free(&c);

	/* In double quotes, \ escapes only \ " $ `; outside, it escapes anything. */
	split_ok("\"a\\\"b\\\\c\\$d\\`e\\nf\" g\\ h \\'", &c);
	assert_words(&c.argv, (const char *[]){"a\"b\\c$d`e\\nf", "g h", "'", NULL});
	unik_cmdline_free(&c);

	/* Invalid names are arguments: "1A=x" is argv[0]. */
	split_ok("1A=x =y", &c);
	assert_int_equal(c.env.n, 0);
	assert_words(&c.argv, (const char *[]){"1A=x", "=y", NULL});
	unik_cmdline_free(&c);

	/* Only environment, no program. */
	split_ok("X=1 Y=", &c);
	assert_words(&c.env, (const char *[]){"X=1", "Y=", NULL});
	assert_int_equal(c.argv.n, 0);
	unik_cmdline_free(&c);
}

static void test_split_errors(void **state)
{
	static const char *const bad[] = {"prog 'open", "prog \"open", "prog \"a\\\"", "prog \\"};
	struct unik_cmdline c;
	struct unik_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(unik_cmdline_split(bad[i], &c, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		unik_cmdline_free(&c);
	}
}

static void test_env_names(void **state)
{
	(void)state;
	assert_true(unik_env_word_valid("A=1"));
	assert_true(unik_env_word_valid("_a9="));
	assert_true(unik_env_word_valid("A=b=c"));
	assert_false(unik_env_word_valid("9A=1"));
	assert_false(unik_env_word_valid("=1"));
	assert_false(unik_env_word_valid("A-B=1"));
	assert_false(unik_env_word_valid("NOEQ"));
	assert_true(unik_env_name_valid("PATH", 4));
	assert_false(unik_env_name_valid("", 0));
}

static void test_compose(void **state)
{
	_cleanup_strv_ struct strv env = {0};
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *s = NULL, *only_env = NULL, *only_argv = NULL;
	struct unik_error err;

	(void)state;
	strv_push(&env, "GREETING=hello world");
	strv_push(&env, "X=1");
	strv_push(&env, "EMPTY=");
	strv_push(&env, "Q=it's");
	strv_push(&argv, "app.elf");
	strv_push(&argv, "--name=a b");
	assert_int_equal(unik_cmdline_compose(&env, &argv, &s, &err), 0);
	assert_string_equal(s,
	                    "GREETING='hello world' X=1 EMPTY= Q='it'\\''s' app.elf '--name=a b'");
	assert_int_equal(unik_cmdline_compose(&env, NULL, &only_env, &err), 0);
	assert_string_equal(only_env, "GREETING='hello world' X=1 EMPTY= Q='it'\\''s'");
	assert_int_equal(unik_cmdline_compose(NULL, &argv, &only_argv, &err), 0);
	assert_string_equal(only_argv, "app.elf '--name=a b'");
}

static void test_compose_errors(void **state)
{
	_cleanup_strv_ struct strv env = {0};
	_cleanup_strv_ struct strv argv = {0};
	char *s = NULL;
	struct unik_error err;

	(void)state;
	strv_push(&argv, "A=b.elf");
	assert_int_equal(unik_cmdline_compose(NULL, &argv, &s, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "A=b.elf"));
	strv_push(&env, "bad name=1");
	assert_int_equal(unik_cmdline_compose(&env, NULL, &s, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_null(s);
}

static void test_round_trip(void **state)
{
	static const char *const words[] = {
	    "plain",    "",   " ",          "a b", "'",   "''",           "\"",        "\\",
	    "a\\'b\"c", "$X", "tab\tnl\nx", "=",   "x=y", "\x01\x7f\xff", "--opt='v'",
	};
	const size_t n = sizeof(words) / sizeof(words[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		_cleanup_strv_ struct strv env = {0};
		_cleanup_strv_ struct strv argv = {0};
		_cleanup_free_ char *s = NULL;
		struct unik_cmdline c;
		struct unik_error err;

		strv_pushf(&env, "V%zu=%s", i, words[i]);
		strv_pushf(&env, "W=%s%s", words[(i + 1) % n], words[i]);
		strv_push(&argv, "prog");
		strv_push(&argv, words[i]);
		strv_push(&argv, words[(i + 3) % n]);
		assert_int_equal(unik_cmdline_compose(&env, &argv, &s, &err), 0);
		split_ok(s, &c);
		assert_words(&c.env, (const char *const *)env.v);
		assert_words(&c.argv, (const char *const *)argv.v);
		unik_cmdline_free(&c);
	}
}

/* A "--" ends the environment and is dropped, as the guest's parser does
 * (runtime/kernel/cmdline.c); a program named "--" is composed with one more.  Found by
 * tests/fuzz/fuzz_guest_cmdline.c. */
static void test_dashdash(void **state)
{
	static const char *const env1[] = {"A=1", NULL}, *const argv1[] = {"B=2", "x", NULL};
	static const char *const argv2[] = {"--", "--", NULL}, *const none[] = {NULL};
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *s = NULL;
	struct unik_cmdline c;
	struct unik_error err;

	(void)state;
	split_ok("A=1 -- B=2 x", &c);
	assert_words(&c.env, env1);
	assert_words(&c.argv, argv1);
	unik_cmdline_free(&c);
	split_ok("-- -- --", &c);
	assert_words(&c.env, none);
	assert_words(&c.argv, argv2);
	unik_cmdline_free(&c);

	strv_push(&argv, "--");
	strv_push(&argv, "x");
	assert_int_equal(unik_cmdline_compose(NULL, &argv, &s, &err), 0);
	assert_string_equal(s, "-- -- x");
	split_ok(s, &c);
	assert_words(&c.argv, (const char *const *)argv.v);
	unik_cmdline_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quote_word),   cmocka_unit_test(test_split),
	    cmocka_unit_test(test_split_errors), cmocka_unit_test(test_env_names),
	    cmocka_unit_test(test_compose),      cmocka_unit_test(test_compose_errors),
	    cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_dashdash),
	};

	return cmocka_run_group_tests_name("cmdline", tests, NULL, NULL);
}
