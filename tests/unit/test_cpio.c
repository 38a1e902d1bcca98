/* Unit tests for lib/cpio: a packed tree reads back through libarchive with the right names,
 * types, modes, sizes and contents; special files are skipped with a warning; packing twice
 * gives the same bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/cpio.h"
#include "lib/util.h"

struct warnings {
	struct strv seen; /* "path: reason" */
};

static void record_warning(void *ctx, const char *path, const char *reason)
{
	struct warnings *w = ctx;

	strv_pushf(&w->seen, "%s: %s", path, reason);
}

struct fixture {
	char *tmp;  /* removed at teardown */
	char *tree; /* tmp/tree: what gets packed */
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

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct unik_error err;
	_cleanup_free_ char *fifo = NULL, *link = NULL, *outlink = NULL, *motd = NULL;
	struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

	f->tmp = unik_mkdtemp("unik-test-cpio", &err);
	assert_non_null(f->tmp);
	f->tree = unik_path_join(f->tmp, "tree");
	mkdir_in(f->tmp, "tree", 0755);
	/* Created out of order so that sorting is what puts them in order. */
	mkdir_in(f->tree, "sub", 0750);
	mkdir_in(f->tree, "sub/empty", 0700);
	mkdir_in(f->tree, "etc", 0755);
	put(f->tree, "etc/motd", "hello, unik\n", 0640);
	put(f->tree, "zz-exec", "#!/bin/true\n", 0755);
	put(f->tree, "empty", "", 0600);
	motd = unik_path_join(f->tree, "etc/motd");
	assert_int_equal(utimensat(AT_FDCWD, motd, times, 0), 0);
	link = unik_path_join(f->tree, "sub/link");
	assert_int_equal(symlink("../etc/motd", link), 0);
	/* A link out of the tree is stored as a link; what it points to is not packed. */
	outlink = unik_path_join(f->tree, "sub/outside");
	assert_int_equal(symlink(f->tmp, outlink), 0);
	fifo = unik_path_join(f->tree, "fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct unik_error err;

	assert_int_equal(unik_rmtree(f->tmp, &err), 0);
	free(f->tmp);
	free(f->tree);
	free(f);
	return 0;
}

static char *pack(struct fixture *f, const char *name, struct warnings *w)
{
	char *out = unik_path_join(f->tmp, name);
	struct unik_error err;

	if (unik_cpio_pack(f->tree, out, w ? record_warning : NULL, w, &err) < 0)
		fail_msg("pack: %s", err.msg);
	return out;
}

struct expect {
	const char *name;
	mode_t mode; /* type and permission bits */
	const char *content;
	const char *target;
};

static void test_pack_reads_back(void **state)
{
	static const struct expect want[] = {
	    {"empty", S_IFREG | 0600, "", NULL},
	    {"etc", S_IFDIR | 0755, NULL, NULL},
	    {"etc/motd", S_IFREG | 0640, "hello, unik\n", NULL},
	    {"sub", S_IFDIR | 0750, NULL, NULL},
	    {"sub/empty", S_IFDIR | 0700, NULL, NULL},
	    {"sub/link", S_IFLNK | 0777, NULL, "../etc/motd"},
	    {"sub/outside", S_IFLNK | 0777, NULL, NULL},
	    {"zz-exec", S_IFREG | 0755, "#!/bin/true\n", NULL},
	};
	struct fixture *f = *state;
	struct warnings w = {0};
	_cleanup_free_ char *out = pack(f, "out.cpio", &w);
	_cleanup_free_ char *raw = NULL;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct unik_error err;
	size_t i = 0, len;

	assert_int_equal(w.seen.n, 1);
	assert_string_equal(w.seen.v[0], "fifo: skipping fifo");
	strv_free(&w.seen);

	assert_int_equal(unik_read_file(out, &raw, &len, &err), 0);
	assert_true(len > 6);
	assert_memory_equal(raw, "070701", 6); /* newc magic */

	archive_read_support_format_cpio(a);
	assert_int_equal(archive_read_open_filename(a, out, 4096), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const struct expect *x;

		assert_true(i < sizeof(want) / sizeof(want[0]));
		x = &want[i++];
		assert_string_equal(archive_entry_pathname(e), x->name);
		assert_int_equal(archive_entry_mode(e), x->mode);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
		if (x->content) {
			size_t n = strlen(x->content);
			char buf[64] = {0};

			assert_int_equal(archive_entry_size(e), n);
			assert_int_equal(archive_read_data(a, buf, sizeof(buf)), n);
			assert_memory_equal(buf, x->content, n);
		}
		if (x->target)
			assert_string_equal(archive_entry_symlink(e), x->target);
		if (strcmp(x->name, "sub/outside") == 0)
			assert_string_equal(archive_entry_symlink(e), f->tmp);
		if (strcmp(x->name, "etc/motd") == 0)
			assert_int_equal(archive_entry_mtime(e), 1000000000);
	}
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
	archive_read_free(a);
}

static void test_pack_is_deterministic(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *one = pack(f, "one.cpio", NULL);
	_cleanup_free_ char *two = NULL, *a = NULL, *b = NULL;
	struct unik_error err;
	size_t la, lb;

	/* Change what a walk could depend on but the archive must not: inode numbers, atimes. */
	put(f->tree, "etc/motd", "hello, unik\n", 0640);
	{
		_cleanup_free_ char *motd = unik_path_join(f->tree, "etc/motd");
		struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

		assert_int_equal(utimensat(AT_FDCWD, motd, times, 0), 0);
	}
	two = pack(f, "two.cpio", NULL);
	assert_int_equal(unik_read_file(one, &a, &la, &err), 0);
	assert_int_equal(unik_read_file(two, &b, &lb, &err), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
}

static void test_pack_errors(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *out = unik_path_join(f->tmp, "bad.cpio");
	_cleanup_free_ char *file = unik_path_join(f->tree, "etc/motd");
	_cleanup_free_ char *missing = unik_path_join(f->tmp, "missing");
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_cpio_pack(missing, out, NULL, NULL, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(unik_cpio_pack(file, out, NULL, NULL, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "not a directory"));
	/* A failed pack leaves no output and no temporary behind. */
	assert_int_equal(access(out, F_OK), -1);
}

static void test_pack_empty_dir(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *out = unik_path_join(f->tmp, "empty.cpio");
	_cleanup_free_ char *dir = unik_path_join(f->tree, "sub/empty");
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct unik_error err;

	assert_int_equal(unik_cpio_pack(dir, out, NULL, NULL, &err), 0);
	archive_read_support_format_cpio(a);
	assert_int_equal(archive_read_open_filename(a, out, 4096), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_EOF);
	archive_read_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pack_reads_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_is_deterministic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_empty_dir, setup, teardown),
	};

	return cmocka_run_group_tests_name("cpio", tests, NULL, NULL);
}
