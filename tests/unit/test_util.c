/* Unit tests for lib/util: paths, string vectors, temporary directories, tree removal (which must
 * never follow a link out of the tree) and atomic writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"

static void make_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	struct unik_error err;

	assert_int_equal(unik_write_file_atomic(p, text, strlen(text), 0644, &err), 0);
}

static bool exists(const char *dir, const char *name)
{
	_cleanup_free_ char *p = name ? unik_path_join(dir, name) : xstrdup(dir);
	struct stat st;

	return lstat(p, &st) == 0;
}

static void test_path_join(void **state)
{
	static const char *const cases[][3] = {
	    {"a", "b", "a/b"}, {"a/", "b", "a/b"}, {"a//", "/b", "a/b"}, {"/", "etc", "/etc"},
	    {"", "b", "b"},    {"a", "", "a"},     {"/", "", "/"},       {"a/b", "c/d", "a/b/c/d"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *j = unik_path_join(cases[i][0], cases[i][1]);

		assert_string_equal(j, cases[i][2]);
	}
}

static void test_strings(void **state)
{
	_cleanup_free_ char *s = xasprintf("%s-%d", "x", 42);

	(void)state;
	assert_string_equal(s, "x-42");
	assert_true(unik_str_has_prefix("--unik-env", "--unik-"));
	assert_false(unik_str_has_prefix("-u", "--unik-"));
	assert_true(unik_str_has_suffix("a.cpp", ".cpp"));
	assert_false(unik_str_has_suffix("pp", ".cpp"));
}

static void test_strv(void **state)
{
	_cleanup_strv_ struct strv v = {0};
	_cleanup_strv_ struct strv w = {0};
	char *const *argv;

	(void)state;
	argv = strv_argv(&v);
	assert_non_null(argv);
	assert_null(argv[0]);
	for (int i = 0; i < 100; i++)
		strv_pushf(&v, "arg%d", i);
	strv_push(&v, "last");
	strv_push_take(&v, xstrdup("taken"));
	assert_int_equal(v.n, 102);
	assert_string_equal(v.v[0], "arg0");
	assert_string_equal(v.v[99], "arg99");
	assert_string_equal(v.v[101], "taken");
	assert_null(v.v[102]);
	strv_extend(&w, &v);
	assert_int_equal(w.n, 102);
	assert_true(w.v[5] != v.v[5]);
	assert_string_equal(w.v[5], "arg5");
	strv_free(&v);
	assert_int_equal(v.n, 0);
	assert_null(v.v);
}

static void test_mkdtemp_is_private_and_absolute(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	struct stat st;

	(void)state;
	assert_non_null(d);
	assert_true(d[0] == '/');
	assert_int_equal(stat(d, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(unik_rmtree(d, &err), 0);
	assert_false(exists(d, NULL));
}

static void make_dir(const char *dir, const char *name, mode_t mode)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);

	assert_int_equal(mkdir(p, mode), 0);
}

static void test_rmtree_removes_nested_tree(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *fifo = NULL;

	(void)state;
	assert_non_null(d);
	make_dir(d, "a", 0755);
	make_dir(d, "a/b", 0755);
	make_dir(d, "a/b/c", 0755);
	make_file(d, "a/b/c/f", "x");
	make_file(d, "a/top", "y");
	make_dir(d, "a/locked", 0755);
	make_file(d, "a/locked/inner", "z");
	fifo = unik_path_join(d, "a/fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	{
		/* A directory without write or search permission is still removed. */
		_cleanup_free_ char *locked = unik_path_join(d, "a/locked");

		assert_int_equal(chmod(locked, 0), 0);
	}
	assert_int_equal(unik_rmtree(d, &err), 0);
	assert_false(exists(d, NULL));
}

static void test_rmtree_does_not_follow_symlinks(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *outside = unik_mkdtemp("unik-test-outside", &err);
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *link_dir = NULL, *link_file = NULL, *outside_file = NULL;
	_cleanup_free_ char *top_link = NULL;

	(void)state;
	assert_non_null(outside);
	assert_non_null(d);
	make_dir(outside, "keep", 0755);
	make_file(outside, "keep/precious", "do not delete");
	make_file(outside, "also-precious", "do not delete");
	outside_file = unik_path_join(outside, "also-precious");

	make_dir(d, "sub", 0755);
	link_dir = unik_path_join(d, "sub/to-dir");
	link_file = unik_path_join(d, "sub/to-file");
	assert_int_equal(symlink(outside, link_dir), 0);
	assert_int_equal(symlink(outside_file, link_file), 0);
	assert_int_equal(unik_rmtree(d, &err), 0);
	assert_false(exists(d, NULL));
	assert_true(exists(outside, "keep/precious"));
	assert_true(exists(outside, "also-precious"));

	/* Removing a link given as the top path removes the link, not its target. */
	top_link = unik_path_join(outside, "self-link");
	assert_int_equal(symlink(outside, top_link), 0);
	assert_int_equal(unik_rmtree(top_link, &err), 0);
	assert_false(exists(top_link, NULL));
	assert_true(exists(outside, "keep/precious"));

	assert_int_equal(unik_rmtree(outside, &err), 0);
}

static void test_rmtree_missing_path_is_ok(void **state)
{
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_rmtree("/nonexistent/unik-test/path", &err), 0);
	assert_int_equal(unik_rmtree("", &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_atomic_write_and_read(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *p = NULL, *buf = NULL, *buf2 = NULL;
	static const char data[] = "binary\0data\nwith a NUL";
	struct stat st;
	size_t len;

	(void)state;
	assert_non_null(d);
	p = unik_path_join(d, "file");
	assert_int_equal(unik_write_file_atomic(p, data, sizeof(data), 0640, &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(unik_read_file(p, &buf, &len, &err), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));
	assert_int_equal(buf[len], '\0');

	/* Replacing keeps exactly one file: the temporary is renamed, never left behind. */
	assert_int_equal(unik_write_file_atomic(p, "new", 3, 0600, &err), 0);
	assert_int_equal(unik_read_file(p, &buf2, NULL, &err), 0);
	assert_string_equal(buf2, "new");
	assert_int_equal(count_entries(d), 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_atomic_write_failure_leaves_nothing(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *p = NULL;

	(void)state;
	assert_non_null(d);
	p = unik_path_join(d, "missing-dir/file");
	assert_int_equal(unik_write_file_atomic(p, "x", 1, 0644, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "missing-dir/file"));

	/* Renaming onto a directory fails after the temporary exists: it must be cleaned up. */
	make_dir(d, "dir", 0755);
	make_file(d, "dir/x", "x");
	free(p);
	p = unik_path_join(d, "dir");
	assert_int_equal(unik_write_file_atomic(p, "x", 1, 0644, &err), -1);
	assert_int_equal(count_entries(d), 1);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

/* The streaming form: written a piece at a time, invisible until commit, gone on abort. */
static void test_atomic_file_streaming(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *p = NULL, *text = NULL;
	struct stat st;

	(void)state;
	assert_non_null(d);
	p = unik_path_join(d, "out");
	make_file(d, "out", "old");
	{
		_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

		assert_int_equal(unik_atomic_file_open(&f, p, &err), 0);
		assert_int_equal(unik_write_all(f.fd, "ne", 2), 0);
		assert_int_equal(unik_write_all(f.fd, "w\n", 2), 0);
		/* Not yet: readers still see the old file, next to the temporary. */
		assert_int_equal(unik_read_file(p, &text, NULL, &err), 0);
		assert_string_equal(text, "old");
		assert_int_equal(count_entries(d), 2);
		assert_int_equal(unik_atomic_file_commit(&f, p, 0640, &err), 0);
		assert_int_equal(f.fd, -1);
		assert_null(f.tmp);
	} /* the cleanup after a commit does nothing */
	free(text);
	text = NULL;
	assert_int_equal(unik_read_file(p, &text, NULL, &err), 0);
	assert_string_equal(text, "new\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(count_entries(d), 1);
	{
		_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

		assert_int_equal(unik_atomic_file_open(&f, p, &err), 0);
		assert_int_equal(unik_write_all(f.fd, "half", 4), 0);
	} /* dropped without a commit: the temporary goes, the file stays */
	assert_int_equal(count_entries(d), 1);
	free(text);
	text = NULL;
	assert_int_equal(unik_read_file(p, &text, NULL, &err), 0);
	assert_string_equal(text, "new\n");
	/* The unsynced form replaces as well, with the mode as given. */
	assert_int_equal(unik_write_file_replace(p, "pid\n", 4, 0644, &err), 0);
	free(text);
	text = NULL;
	assert_int_equal(unik_read_file(p, &text, NULL, &err), 0);
	assert_string_equal(text, "pid\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(count_entries(d), 1);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_read_file_errors(void **state)
{
	struct unik_error err;
	char *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(unik_read_file("/nonexistent/unik-test", &buf, &len, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_null(buf);
	assert_int_equal(unik_read_file("/", &buf, &len, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	/* Files that report size 0 but have contents are read to the end. */
	assert_int_equal(unik_read_file("/proc/self/status", &buf, &len, &err), 0);
	assert_true(len > 0);
	assert_non_null(strstr(buf, "Name:"));
	free(buf);
}

/* The instance-directory records providers keep: key=value lines, plain writes, existence. */
static void test_records_in_a_directory(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *text = NULL, *path = NULL;
	(void)state;
	assert_non_null(d);
	assert_false(unik_file_exists_in(d, "rec"));
	assert_int_equal(
	    unik_write_text_in(d, "rec", "a=1\nkey=first\nkey=second\nkeyx=no\n", &err), 0);
	assert_true(unik_file_exists_in(d, "rec"));
	path = unik_path_join(d, "rec");
	assert_int_equal(unik_read_file(path, &text, NULL, &err), 0);
	assert_string_equal(text, "a=1\nkey=first\nkey=second\nkeyx=no\n");
	/* A plain write truncates what was there. */
	assert_int_equal(unik_write_text_in(d, "rec", "b=2\n", &err), 0);
	free(text);
	text = NULL;
	assert_int_equal(unik_read_file(path, &text, NULL, &err), 0);
	assert_string_equal(text, "b=2\n");
	/* A directory that is not there is an error naming the file. */
	assert_int_equal(unik_write_text_in("/nonexistent-unik-dir", "rec", "x", &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent-unik-dir/rec"));
	assert_int_equal(unik_rmtree(d, &err), 0);
}

/* The one monotonic clock: both units agree, and it never goes back. */
static void test_monotonic_time(void **state)
{
	int64_t ms = unik_now_ms(), us = unik_now_us(), prev = us;
	struct timespec pause = {0, 2 * 1000 * 1000};

	(void)state;
	assert_true(ms > 0);
	/* ms was read first, so it is at most us / 1000 (and not far below it). */
	assert_true(ms <= us / 1000);
	assert_true(us / 1000 - ms < 1000);
	for (int i = 0; i < 1000; i++) {
		int64_t now = unik_now_us();

		assert_true(now >= prev);
		prev = now;
	}
	nanosleep(&pause, NULL);
	assert_true(unik_now_us() - us >= 2000);
	assert_true(unik_now_ms() - ms >= 2);
}

/* The one RFC 3339 clock: milliseconds for the REST API, nanoseconds for OCI state. */
static void test_rfc3339(void **state)
{
	static const struct {
		unsigned digits;
		size_t len;
	} cases[] = {{0, 20}, {3, 24}, {9, 30}, {12, 30}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *t = unik_now_rfc3339(cases[i].digits);
		unsigned y, mo, d, h, mi, sec;

		assert_int_equal(strlen(t), cases[i].len);
		assert_int_equal(sscanf(t, "%4u-%2u-%2uT%2u:%2u:%2u", &y, &mo, &d, &h, &mi, &sec),
		                 6);
		assert_true(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
		assert_int_equal(t[strlen(t) - 1], 'Z');
		if (cases[i].digits)
			assert_int_equal(t[19], '.');
		for (size_t k = 20; k + 1 < strlen(t); k++)
			assert_true(t[k] >= '0' && t[k] <= '9');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_join),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_strv),
	    cmocka_unit_test(test_mkdtemp_is_private_and_absolute),
	    cmocka_unit_test(test_rmtree_removes_nested_tree),
	    cmocka_unit_test(test_rmtree_does_not_follow_symlinks),
	    cmocka_unit_test(test_rmtree_missing_path_is_ok),
	    cmocka_unit_test(test_atomic_write_and_read),
	    cmocka_unit_test(test_atomic_write_failure_leaves_nothing),
	    cmocka_unit_test(test_atomic_file_streaming),
	    cmocka_unit_test(test_read_file_errors),
	    cmocka_unit_test(test_records_in_a_directory),
	    cmocka_unit_test(test_monotonic_time),
	    cmocka_unit_test(test_rfc3339),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
