/* Replays every file of tests/fuzz/corpus/<name>/ through the fuzzers' entry points, so the
 * corpus keeps passing (and, under make asan, runs with the sanitizers) in every make test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define UNIK_FUZZ_NO_MAIN 1
#include "../fuzz/fuzz_options.c"
#include "../fuzz/fuzz_unikfile.c"
#include "../fuzz/fuzz_untar.c"
#include "util.h"

/* tests/fuzz/corpus, found upwards from this binary (build/tests/unit or build/asan/...). */
static char *corpus_root(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	for (char *slash = strrchr(self, '/'); slash; slash = strrchr(self, '/')) {
		*slash = '\0';
		char *p = unik_path_join(self[0] ? self : "/", "tests/fuzz/corpus");
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static void replay(const char *name, int (*fn)(const uint8_t *, size_t))
{
	_cleanup_free_ char *root = corpus_root();
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;
	int count = 0;

	if (!root)
		skip();
	dir = unik_path_join(root, name);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_free_ char *buf = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		p = unik_path_join(dir, de->d_name);
		assert_int_equal(unik_read_file(p, &buf, &len, NULL), 0);
		fn((const uint8_t *)buf, len);
		count++;
	}
	closedir(d);
	assert_true(count > 0);
}

static void test_unikfile(void **state)
{
	(void)state;
	replay("unikfile", unik_fuzz_unikfile);
}

static void test_untar(void **state)
{
	(void)state;
	replay("untar", unik_fuzz_untar);
}

static void test_options(void **state)
{
	(void)state;
	replay("options", unik_fuzz_options);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unikfile),
	    cmocka_unit_test(test_untar),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
