/* Unit tests for lib/tarpack: .unikignore matching (gitignore's rules), and packed trees read back
 * through libarchive with the right names, order, types, modes, link targets and contents, with
 * .git/ and ignored files left out, special files warned about, and the same bytes each time. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/tarpack.h"
#include "lib/util.h"

struct ignore_case {
	const char *path;
	bool is_dir;
	bool ignored;
};

static void check_rules(const char *rules, const struct ignore_case *cases, size_t n)
{
	struct unik_ignore *ig = unik_ignore_parse(rules, strlen(rules));

	for (size_t i = 0; i < n; i++) {
		bool got = unik_ignore_match(ig, cases[i].path, cases[i].is_dir);

		if (got != cases[i].ignored)
			fail_msg("rules:\n%s\npath `%s`%s: ignored=%d, wanted %d", rules,
			         cases[i].path, cases[i].is_dir ? " (dir)" : "", got,
			         cases[i].ignored);
	}
	unik_ignore_free(ig);
}

#define CHECK(rules, cases) check_rules(rules, cases, sizeof(cases) / sizeof(cases[0]))

static void test_ignore_globs(void **state)
{
	static const struct ignore_case cases[] = {
	    {"a.o", false, true},        {"src/deep/b.o", false, true}, {"a.c", false, false},
	    {"notes.txt", false, false}, {"x.txt", false, true},        {"objs.o", true, true},
	};

	(void)state;
	CHECK("# a comment\n\n*.o\n?.txt\n", cases);
}

static void test_ignore_dirs_and_anchors(void **state)
{
	static const struct ignore_case cases[] = {
	    {"build", true, true},
	    {"sub/build", true, true},
	    {"build", false, false},
	    {"top", true, true},
	    {"top", false, true},
	    {"sub/top", true, false},
	    {"doc/a.txt", false, true},
	    {"doc/sub/a.txt", false, false},
	    {"x/doc/a.txt", false, false},
	    {"logs/a/b/c.log", false, true},
	    {"c.log", false, false},
	    {"a/cache/z", true, true},
	    {"cache/z", true, true},
	    {"a/cache/y", true, false},
	    {"vendor/x/y/tests", true, true},
	    {"vendor/tests", true, true},
	};

	(void)state;
	CHECK("build/\n/top\ndoc/*.txt\nlogs/**\n**/cache/z\nvendor/**/tests\n", cases);
}

static void test_ignore_negation_and_escapes(void **state)
{
	static const struct ignore_case cases[] = {
	    {"a.log", false, true},  {"keep.log", false, false}, {"#hash", false, true},
	    {"!bang", false, true},  {"trail ", false, true},    {"trail", false, false},
	    {"x.tmp", false, false}, {"crlf.bak", false, true},
	};

	(void)state;
	CHECK("*.log\n!keep.log\n\\#hash\n\\!bang\ntrail\\ \n*.tmp\n!*.tmp\ncrlf.bak\r\n", cases);
}

static void test_ignore_empty(void **state)
{
	struct unik_ignore *ig = unik_ignore_parse(NULL, 0);

	(void)state;
	assert_false(unik_ignore_match(ig, "anything", false));
	unik_ignore_free(ig);
	assert_false(unik_ignore_match(NULL, "x", true));
}

/* ------------------------------------------------------------------------------------------- */

struct fixture {
	char *tmp;
	char *tree;
	struct strv warnings;
};

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	struct unik_error err;

	assert_int_equal(unik_write_file_atomic(p, text, strlen(text), mode, &err), 0);
}

static void mkdir_in(const char *dir, const char *name, mode_t mode)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);

	assert_int_equal(mkdir(p, mode), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void record(void *ctx, const char *path, const char *reason)
{
	struct fixture *f = ctx;

	strv_pushf(&f->warnings, "%s: %s", path, reason);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct unik_error err;
	_cleanup_free_ char *link = NULL, *fifo = NULL;

	f->tmp = unik_mkdtemp("unik-test-tarpack", &err);
	assert_non_null(f->tmp);
	f->tree = unik_path_join(f->tmp, "tree");
	mkdir_in(f->tmp, "tree", 0755);
	mkdir_in(f->tree, "src", 0750);
	mkdir_in(f->tree, "build", 0755);
	mkdir_in(f->tree, ".git", 0755);
	mkdir_in(f->tree, "src/.git", 0755);
	put(f->tree, "Makefile", "all:\n\t$(CC) -o app src/main.c\n", 0644);
	put(f->tree, "src/main.c", "int main(void) { return 0; }\n", 0600);
	put(f->tree, "src/main.o", "ELF", 0644);
	put(f->tree, "run.sh", "#!/bin/sh\n", 0755);
	put(f->tree, "build/out", "x", 0644);
	put(f->tree, ".git/HEAD", "ref: refs/heads/main\n", 0644);
	put(f->tree, "src/.git/x", "x", 0644);
	put(f->tree, "secret.key", "k", 0600);
	put(f->tree, ".unikignore", "*.o\nbuild/\n/secret.key\n", 0644);
	link = unik_path_join(f->tree, "src/link.c");
	assert_int_equal(symlink("main.c", link), 0);
	fifo = unik_path_join(f->tree, "pipe");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unik_rmtree(f->tmp, NULL);
	free(f->tmp);
	free(f->tree);
	strv_free(&f->warnings);
	free(f);
	return 0;
}

struct entry {
	const char *name;
	mode_t type;
	mode_t perm;
	const char *content; /* file contents or link target */
};

static void check_archive(const char *data, size_t len, const struct entry *want, size_t n)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t i = 0;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, data, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);

		if (i >= n)
			fail_msg("unexpected extra entry `%s`", name);
		/* libarchive may add a trailing slash to directory names. */
		if (strncmp(name, want[i].name, strlen(want[i].name)) ||
		    (name[strlen(want[i].name)] && strcmp(name + strlen(want[i].name), "/")))
			fail_msg("entry %zu is `%s`, wanted `%s`", i, name, want[i].name);
		assert_int_equal(archive_entry_filetype(e), want[i].type);
		assert_int_equal(archive_entry_perm(e), want[i].perm);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		if (want[i].type == AE_IFLNK) {
			assert_string_equal(archive_entry_symlink(e), want[i].content);
		} else if (want[i].type == AE_IFREG) {
			char buf[256] = {0};
			la_ssize_t got = archive_read_data(a, buf, sizeof(buf) - 1);

			assert_true(got >= 0);
			assert_string_equal(buf, want[i].content);
		}
		i++;
	}
	assert_int_equal(i, n);
	assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
	archive_read_free(a);
}

static void test_pack_tree(void **state)
{
	struct fixture *f = *state;
	struct unik_tarpack_opts opts = {.warn = record, .warn_ctx = f};
	struct unik_error err = {0};
	_cleanup_free_ char *data = NULL, *again = NULL;
	size_t len = 0, len2 = 0, count = 0;
	static const struct entry want[] = {
	    {".unikignore", AE_IFREG, 0644, "*.o\nbuild/\n/secret.key\n"},
	    {"Makefile", AE_IFREG, 0644, "all:\n\t$(CC) -o app src/main.c\n"},
	    {"run.sh", AE_IFREG, 0755, "#!/bin/sh\n"},
	    {"src", AE_IFDIR, 0750, NULL},
	    {"src/link.c", AE_IFLNK, 0777, "main.c"},
	    {"src/main.c", AE_IFREG, 0600, "int main(void) { return 0; }\n"},
	};

	if (unik_tarpack(f->tree, &opts, &data, &len, &count, &err) < 0)
		fail_msg("unik_tarpack: %s", err.msg);
	/* The gzip magic. */
	assert_true(len > 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b);
	check_archive(data, len, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(count, sizeof(want) / sizeof(want[0]));
	assert_int_equal(f->warnings.n, 1);
	assert_string_equal(f->warnings.v[0], "pipe: skipping fifo");
	/* Packing again gives the same bytes. */
	assert_int_equal(unik_tarpack(f->tree, NULL, &again, &len2, NULL, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(data, again, len);
}

static void test_pack_without_ignore_file(void **state)
{
	struct fixture *f = *state;
	struct unik_tarpack_opts opts = {.no_ignore_file = true};
	struct unik_error err = {0};
	_cleanup_free_ char *data = NULL;
	size_t len = 0, count = 0;

	assert_int_equal(unik_tarpack(f->tree, &opts, &data, &len, &count, &err), 0);
	/* .unikignore, Makefile, build, build/out, run.sh, secret.key, src, src/link.c,
	 * src/main.c, src/main.o: never .git/ (at any depth) or the fifo. */
	assert_int_equal(count, 10);
}

static void test_pack_missing_dir(void **state)
{
	struct fixture *f = *state;
	struct unik_error err = {0};
	_cleanup_free_ char *data = NULL, *missing = unik_path_join(f->tmp, "nope");
	size_t len = 0;

	assert_int_equal(unik_tarpack(missing, NULL, &data, &len, NULL, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "nope"));
	assert_null(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ignore_globs),
	    cmocka_unit_test(test_ignore_dirs_and_anchors),
	    cmocka_unit_test(test_ignore_negation_and_escapes),
	    cmocka_unit_test(test_ignore_empty),
	    cmocka_unit_test_setup_teardown(test_pack_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_without_ignore_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_missing_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
