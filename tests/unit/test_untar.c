/* Unit tests for lib/untar: hostile archives (absolute paths, "..", escaping links, device
 * nodes, setuid bits, bombs, too many files) are refused naming the entry, and leave nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "lib/untar.h"
#include "lib/util.h"

struct ent {
	const char *name;
	mode_t type;
	mode_t perm;
	const char *link; /* symlink target, or hard link target when type is 0 */
	size_t size;      /* bytes of 'a' */
};

static char buf[8 << 20];

/* A gzip tar of the entries; returns its size. */
static size_t make_tar(const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	size_t used = 0;
	char *data = xcalloc(1, 1 << 20);

	memset(data, 'a', 1 << 20);
	archive_write_set_format_gnutar(a);
	archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();

		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_perm(ae, e[i].perm ? e[i].perm : 0644);
		if (e[i].type == 0 && e[i].link) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].link);
		} else {
			archive_entry_set_filetype(ae, e[i].type ? e[i].type : AE_IFREG);
			if (e[i].link)
				archive_entry_set_symlink(ae, e[i].link);
		}
		archive_entry_set_size(ae, (la_int64_t)e[i].size);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		for (size_t left = e[i].size; left;) {
			size_t k = left < (1 << 20) ? left : (1 << 20);
			archive_write_data(a, data, k);
			left -= k;
		}
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	free(data);
	return used;
}

static void expect_refused(const struct ent *e, size_t n, const char *needle)
{
	struct unik_error err = {0};
	struct unik_untar_limits lim = {.max_bytes = 4 << 20, .max_files = 50, .max_ratio = 200};
	size_t len = make_tar(e, n);
	char *dir = unik_mkdtemp("untar-test", NULL);
	_cleanup_free_ char *tarp = unik_path_join(dir, "in.tgz");
	_cleanup_free_ char *dest = unik_path_join(dir, "dest");

	assert_int_equal(unik_untar_check_mem(buf, len, &lim, &err), -1);
	if (!strstr(err.msg, needle))
		fail_msg("check: \"%s\" lacks \"%s\"", err.msg, needle);
	assert_int_equal(unik_write_file_atomic(tarp, buf, len, 0600, NULL), 0);
	assert_int_equal(mkdir(dest, 0700), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(unik_untar(tarp, dest, &lim, NULL, &err), -1);
	if (!strstr(err.msg, needle))
		fail_msg("unpack: \"%s\" lacks \"%s\"", err.msg, needle);
	assert_int_equal(rmdir(dest), 0); /* left empty */
	unik_rmtree(dir, NULL);
	free(dir);
}

static void test_good_tree(void **state)
{
	const struct ent e[] = {
	    {"./", AE_IFDIR, 0755, NULL, 0},
	    {"./src/", AE_IFDIR, 0755, NULL, 0},
	    {"./src/main.c", AE_IFREG, 0644, NULL, 100},
	    {"./run.sh", AE_IFREG, 0755, NULL, 10},
	    {"./src/link", AE_IFLNK, 0777, "main.c", 0},
	    {"./up", AE_IFLNK, 0777, "src/../run.sh", 0},
	    {"./hard", 0, 0644, "src/main.c", 0},
	};
	struct unik_untar_stats st;
	struct unik_error err = {0};
	size_t len = make_tar(e, 7);
	char *dir = unik_mkdtemp("untar-test", NULL);
	_cleanup_free_ char *tarp = unik_path_join(dir, "in.tgz");
	_cleanup_free_ char *dest = unik_path_join(dir, "dest");
	_cleanup_free_ char *f = unik_path_join(dest, "src/link");
	_cleanup_free_ char *x = unik_path_join(dest, "run.sh");
	struct stat sb;

	(void)state;
	assert_int_equal(unik_write_file_atomic(tarp, buf, len, 0600, NULL), 0);
	assert_int_equal(mkdir(dest, 0700), 0);
	if (unik_untar(tarp, dest, NULL, &st, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(st.bytes, 110);
	assert_int_equal(stat(f, &sb), 0);
	assert_int_equal(sb.st_size, 100);
	assert_int_equal(stat(x, &sb), 0);
	assert_true(sb.st_mode & S_IXUSR);
	unik_rmtree(dir, NULL);
	free(dir);
}

static void test_refusals(void **state)
{
	const struct ent ok = {"a.c", AE_IFREG, 0644, NULL, 5};
	(void)state;
	{
		const struct ent e[] = {ok, {"/etc/evil", AE_IFREG, 0644, NULL, 1}};
		expect_refused(e, 2, "archive entry /etc/evil: absolute path");
	}
	{
		const struct ent e[] = {ok, {"../evil", AE_IFREG, 0644, NULL, 1}};
		expect_refused(e, 2, "archive entry ../evil: \"..\" in the path");
	}
	{
		const struct ent e[] = {ok, {"a/b/../../../evil", AE_IFREG, 0644, NULL, 1}};
		expect_refused(e, 2, "\"..\"");
	}
	{
		const struct ent e[] = {ok, {"l", AE_IFLNK, 0777, "/etc/passwd", 0}};
		expect_refused(e, 2, "archive entry l: link to an absolute path");
	}
	{
		const struct ent e[] = {ok, {"d/l", AE_IFLNK, 0777, "../..", 0}};
		expect_refused(e, 2, "archive entry d/l: link target ../.. leaves the source tree");
	}
	{
		const struct ent e[] = {ok, {"h", 0, 0644, "../../etc/passwd", 0}};
		expect_refused(e, 2, "\"..\"");
	}
	{
		const struct ent e[] = {ok, {"dev", AE_IFCHR, 0644, NULL, 0}};
		expect_refused(e, 2, "archive entry dev: device nodes are not allowed");
	}
	{
		const struct ent e[] = {ok, {"blk", AE_IFBLK, 0644, NULL, 0}};
		expect_refused(e, 2, "device nodes");
	}
	{
		const struct ent e[] = {ok, {"p", AE_IFIFO, 0644, NULL, 0}};
		expect_refused(e, 2, "archive entry p: fifos are not allowed");
	}
	{
		const struct ent e[] = {ok, {"su", AE_IFREG, 04755, NULL, 1}};
		expect_refused(e, 2, "archive entry su: setuid or setgid bit set");
	}
	{
		const struct ent e[] = {ok, {"sg", AE_IFDIR, 02755, NULL, 0}};
		expect_refused(e, 2, "setgid");
	}
	{
		const struct ent e[] = {ok, {"big", AE_IFREG, 0644, NULL, 5 << 20}};
		expect_refused(e, 2, "archive entry big: the source is too large");
	}
}

static void test_chained_links(void **state)
{
	/* Each link stays inside on its own; together "b" points above the tree. */
	const struct ent e[] = {{"a", AE_IFLNK, 0777, ".", 0}, {"b", AE_IFLNK, 0777, "a/..", 0}};
	struct unik_error err = {0};
	size_t len = make_tar(e, 2);
	char *dir = unik_mkdtemp("untar-test", NULL);
	_cleanup_free_ char *tarp = unik_path_join(dir, "in.tgz");
	_cleanup_free_ char *dest = unik_path_join(dir, "dest");

	(void)state;
	assert_int_equal(unik_write_file_atomic(tarp, buf, len, 0600, NULL), 0);
	assert_int_equal(mkdir(dest, 0700), 0);
	assert_int_equal(unik_untar(tarp, dest, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "archive entry b: link leaves the source tree"));
	assert_int_equal(rmdir(dest), 0);
	unik_rmtree(dir, NULL);
	free(dir);
}

static void test_too_many_files(void **state)
{
	struct ent e[60];
	char names[60][8];

	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		e[i] = (struct ent){names[i], AE_IFREG, 0644, NULL, 0};
	}
	expect_refused(e, 60, "the source has more than 50 files");
}

static void test_bomb_ratio(void **state)
{
	const struct ent e[] = {{"zeros", AE_IFREG, 0644, NULL, 40 << 20}};
	struct unik_untar_limits lim = {.max_bytes = 1ull << 30, .max_files = 10, .max_ratio = 100};
	struct unik_error err = {0};
	size_t len = make_tar(e, 1);

	(void)state;
	assert_int_equal(unik_untar_check_mem(buf, len, &lim, &err), -1);
	assert_non_null(strstr(err.msg, "tar bomb"));
}

static void test_lexical_checks(void **state)
{
	(void)state;
	assert_int_equal(unik_untar_check_path("a/b/c", NULL), 0);
	assert_int_equal(unik_untar_check_path("a/..b/c..", NULL), 0);
	assert_int_equal(unik_untar_check_path("a/../b", NULL), -1);
	assert_int_equal(unik_untar_check_path("", NULL), -1);
	assert_int_equal(unik_untar_check_link("a/b/l", "../x", NULL), 0);
	assert_int_equal(unik_untar_check_link("a/b/l", "../../x", NULL), 0);
	assert_int_equal(unik_untar_check_link("a/b/l", "../../../x", NULL), -1);
	assert_int_equal(unik_untar_check_link("./l", "./x/../y", NULL), 0);
	assert_int_equal(unik_untar_check_link("l", "x/../../y", NULL), -1);
	assert_int_equal(unik_untar_check_link("l", "", NULL), -1);
}

static void test_garbage(void **state)
{
	struct unik_error err = {0};

	(void)state;
	assert_int_equal(unik_untar_check_mem("not a tar at all, not at all", 28, NULL, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_int_equal(unik_untar_check_mem("", 0, NULL, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_tree),     cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_chained_links), cmocka_unit_test(test_too_many_files),
	    cmocka_unit_test(test_bomb_ratio),    cmocka_unit_test(test_lexical_checks),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
