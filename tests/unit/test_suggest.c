/* Unit tests for lib/suggest: the one edit distance and "did you mean" pick behind the CLI's,
 * unik-cc's and the Unikfile's hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/suggest.h"
#include "lib/util.h"

static void test_edit_distance(void **state)
{
	static const struct {
		const char *a, *b;
		size_t d;
	} cases[] = {
	    {"", "", 0},
	    {"", "abc", 3},
	    {"abc", "", 3},
	    {"memory", "memory", 0},
	    {"memroy", "memory", 1}, /* a swap of neighbours is one edit, not two */
	    {"biuld", "build", 1},   /* likewise */
	    {"Name", "name", 0},     /* ASCII case is ignored */
	    {"instancename", "instanceName", 0},
	    {"file", "files", 1},     /* insert */
	    {"files", "file", 1},     /* delete */
	    {"kitten", "sitting", 3}, /* the textbook case */
	    {"ca", "abc", 3},         /* no substring is edited twice */
	    {"--unik-enf", "--unik-env", 1},
	    {"@", "`", 1}, /* only letters fold: '@' is not '`' */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t d = unik_edit_distance(cases[i].a, cases[i].b);

		if (d != cases[i].d)
			fail_msg("distance(\"%s\", \"%s\") = %zu, wanted %zu", cases[i].a,
			         cases[i].b, d, cases[i].d);
		/* symmetric */
		assert_int_equal(unik_edit_distance(cases[i].b, cases[i].a), d);
	}
}

/* Words longer than any fixed buffer still get a distance (one copy used to give up at 63). */
static void test_edit_distance_long_words(void **state)
{
	char a[301], b[301];

	(void)state;
	memset(a, 'x', 300);
	a[300] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'y';
	assert_int_equal(unik_edit_distance(a, b), 1);
	assert_int_equal(unik_edit_distance(a, "x"), 299);
}

static void test_suggest(void **state)
{
	static const char *const keys[] = {"memory", "name", "files", NULL};
	static const char *const verbs[] = {"build", "run", "delete-image", "images"};

	(void)state;
	assert_string_equal(unik_suggest("memroy", keys, SIZE_MAX), "memory");
	assert_string_equal(unik_suggest("Name", keys, SIZE_MAX), "name");
	assert_string_equal(unik_suggest("file", keys, SIZE_MAX), "files");
	assert_null(unik_suggest("completely-different", keys, SIZE_MAX));
	/* n bounds the list even without a NULL */
	assert_string_equal(unik_suggest("biuld", verbs, 4), "build");
	assert_string_equal(unik_suggest("delete-imag", verbs, 4), "delete-image");
	assert_null(unik_suggest("zzzzzzzz", verbs, 4));
	assert_null(unik_suggest("images", verbs, 3)); /* "images" is past n */
	/* The limit: 2 edits for short words, a third of the word for long ones. */
	assert_string_equal(unik_suggest("rxx", verbs, 4), "run");
	assert_null(unik_suggest("xxx", verbs, 4));
	assert_string_equal(unik_suggest("dxlxtx-imxge", verbs, 4), "delete-image"); /* 4 of 12 */
	assert_null(unik_suggest("dxlxtx-xmxge", verbs, 4));                         /* 5 of 12 */
	/* The first of equally near candidates wins. */
	static const char *const tie[] = {"cat", "car", NULL};
	assert_string_equal(unik_suggest("ca", tie, SIZE_MAX), "cat");
	assert_null(unik_suggest("x", NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edit_distance),
	    cmocka_unit_test(test_edit_distance_long_words),
	    cmocka_unit_test(test_suggest),
	};

	return cmocka_run_group_tests_name("suggest", tests, NULL, NULL);
}
