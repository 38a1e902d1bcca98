/* Golden files for unit tests: tests/data/GOLDEN_SUBDIR/NAME holds the expected text, and
 * UNIK_TEST_REGENERATE=1 rewrites it from what the code makes.  A test file defines
 * GOLDEN_SUBDIR ("qemu", "kvm", "xen") and includes this after cmocka.h; test_no_unread_golden
 * (register it last) fails on a golden file no test read. */
#ifndef UNIK_TEST_GOLDEN_H
#define UNIK_TEST_GOLDEN_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/util.h"

#ifndef GOLDEN_SUBDIR
#error "define GOLDEN_SUBDIR before including golden.h"
#endif

static char golden_dir[PATH_MAX + 32];
static const char *golden_read[32];
static size_t n_golden_read;

/* tests/data/GOLDEN_SUBDIR of the source tree: $UNIK_SOURCE_DIR, else the first parent of this
 * test binary (build/tests/unit/, or build/asan/tests/unit/) that holds it. */
static void find_golden_dir(void)
{
	const char *src = getenv("UNIK_SOURCE_DIR");
	char exe[PATH_MAX];
	ssize_t n;

	if (src) {
		snprintf(golden_dir, sizeof(golden_dir), "%s/tests/data/" GOLDEN_SUBDIR, src);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		struct stat st;

		*slash = '\0';
		snprintf(golden_dir, sizeof(golden_dir), "%s/tests/data/" GOLDEN_SUBDIR, exe);
		if (stat(golden_dir, &st) == 0 && S_ISDIR(st.st_mode))
			return;
	}
	fail_msg("tests/data/" GOLDEN_SUBDIR " not found above the test binary; set "
	         "UNIK_SOURCE_DIR");
}

/* Compares got with the golden file name (or writes it under UNIK_TEST_REGENERATE=1). */
static void check_golden_text(const char *name, const char *got)
{
	_cleanup_free_ char *path = NULL, *want = NULL;
	struct unik_error err;

	if (!golden_dir[0])
		find_golden_dir();
	path = xasprintf("%s/%s", golden_dir, name);
	assert_true(n_golden_read < sizeof(golden_read) / sizeof(golden_read[0]));
	golden_read[n_golden_read++] = name;
	if (getenv("UNIK_TEST_REGENERATE")) {
		assert_int_equal(unik_write_file_atomic(path, got, strlen(got), 0644, &err), 0);
		return;
	}
	if (unik_read_file(path, &want, NULL, &err) < 0)
		fail_msg("%s (UNIK_TEST_REGENERATE=1 writes it)", err.msg);
	if (strcmp(got, want))
		fail_msg("%s differs from the golden file:\n--- got ---\n%s--- want ---\n%s", path,
		         got, want);
}

/* Runs last: every golden file must have been read by a test. */
static void test_no_unread_golden(void **state)
{
	DIR *d;
	struct dirent *e;

	(void)state;
	if (!golden_dir[0])
		find_golden_dir();
	d = opendir(golden_dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		bool seen = false;

		if (e->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < n_golden_read; i++)
			seen |= !strcmp(golden_read[i], e->d_name);
		if (!seen)
			fail_msg("golden file %s/%s is read by no test", golden_dir, e->d_name);
	}
	closedir(d);
}

#endif
