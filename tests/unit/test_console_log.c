/* Unit tests for the capped console log (lib/guest_console.c: rotation to console.log.1, lines
 * kept whole, console.start reset, the exit line still found) and for the parsing of the cap and
 * of QEMU's user (lib/vmm_confine.c). */
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

#include "lib/guest_console.h"
#include "lib/util.h"
#include "lib/vmm_confine.h"

static char *mkdir_tmp(void)
{
	struct unik_error err;
	char *d = unik_mkdtemp("unik-test-conlog", &err);

	assert_non_null(d);
	return d;
}

static long long size_of(const char *dir, const char *name)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	struct stat st;

	return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static char *read_in(const char *dir, const char *name)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(unik_read_file(p, &text, &len, NULL), 0);
	return text;
}

/* 1000 numbered lines written in odd-sized pieces through a 4 KiB cap, then the exit line:
 * both files stay under the cap, no line is split, the newest lines and the exit line are in
 * console.log, and the end of the run is read from it. */
static void test_rotation(void **state)
{
	_cleanup_free_ char *dir = mkdir_tmp();
	struct unik_console_log l;
	struct unik_console_end end;
	struct unik_error err;
	char *all = xstrdup("");

	(void)state;
	/* A previous run's output, with its own exit line, that this run appends to. */
	assert_int_equal(
	    unik_write_text_in(dir, UNIK_CONSOLE_FILE, "old\nunik: exit status 7\n", &err), 0);
	assert_int_equal(unik_write_text_in(dir, UNIK_CONSOLE_START_FILE, "23\n", &err), 0);
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	for (int i = 0; i < 1000; i++) {
		char *next = xasprintf("%sline %04d %s\n", all, i, "abcdefghijklmnopqrstuvwxyz");

		free(all);
		all = next;
	}
	char *more = xasprintf("%sunik: exit status 3\n", all);
	free(all);
	all = more;
	for (size_t off = 0, piece = 1; off < strlen(all); piece = piece % 97 + 13) {
		size_t n = strlen(all) - off < piece ? strlen(all) - off : piece;

		assert_int_equal(unik_console_log_write(&l, all + off, n), 0);
		off += n;
	}
	unik_console_log_close(&l);
	free(all);

	assert_true(size_of(dir, UNIK_CONSOLE_FILE) <= 4096);
	assert_true(size_of(dir, UNIK_CONSOLE_OLD_FILE) <= 4096);
	assert_true(size_of(dir, UNIK_CONSOLE_OLD_FILE) > 4096 - 600);
	_cleanup_free_ char *cur = read_in(dir, UNIK_CONSOLE_FILE);
	_cleanup_free_ char *old = read_in(dir, UNIK_CONSOLE_OLD_FILE);
	/* Whole lines in both files, the newest at the end. */
	assert_true(!strncmp(cur, "line ", 5) && !strncmp(old, "line ", 5));
	assert_int_equal(old[strlen(old) - 1], '\n');
	assert_non_null(strstr(cur, "line 0999 abcdefghijklmnopqrstuvwxyz\nunik: exit status 3\n"));
	_cleanup_free_ char *start = read_in(dir, UNIK_CONSOLE_START_FILE);
	assert_string_equal(start, "0\n");
	unik_console_read_end(dir, &end);
	assert_int_equal(end.exit_status, 3);
	unik_rmtree(dir, NULL);
}

/* Output whose last line fills the file does not leave an empty console.log with the exit line
 * in console.log.1: the rotation waits for more output. */
static void test_no_empty_log(void **state)
{
	_cleanup_free_ char *dir = mkdir_tmp();
	struct unik_console_log l;
	struct unik_console_end end;
	struct unik_error err;
	char line[3570 + 1];

	(void)state;
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	assert_int_equal(unik_console_log_write(&l, line, strlen(line)), 0);
	assert_int_equal(unik_console_log_write(&l, "unik: exit status 0\n", 20), 0);
	unik_console_log_close(&l);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_FILE), 3590);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_OLD_FILE), -1);
	unik_console_read_end(dir, &end);
	assert_int_equal(end.exit_status, 0);
	/* The next run's first byte goes to a new file. */
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	assert_int_equal(unik_console_log_write(&l, "next\n", 5), 0);
	unik_console_log_close(&l);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_FILE), 5);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_OLD_FILE), 3590);
	unik_rmtree(dir, NULL);
}

/* A line longer than the cap is cut where the cap falls. */
static void test_long_line(void **state)
{
	_cleanup_free_ char *dir = mkdir_tmp();
	struct unik_console_log l;
	struct unik_error err;
	char *big = xmalloc(10000);

	(void)state;
	memset(big, 'y', 10000);
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	assert_int_equal(unik_console_log_write(&l, big, 10000), 0);
	unik_console_log_close(&l);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_OLD_FILE), 4096);
	assert_int_equal(size_of(dir, UNIK_CONSOLE_FILE), 10000 - 2 * 4096);
	free(big);
	unik_rmtree(dir, NULL);
}

static void test_max_parse(void **state)
{
	struct unik_error err;
	long long v;

	(void)state;
	assert_int_equal(unik_console_max_parse("cap", "16", &v, &err), 0);
	assert_int_equal(v, 16LL << 20);
	assert_int_equal(unik_console_max_parse("cap", "512K", &v, &err), 0);
	assert_int_equal(v, 512LL << 10);
	assert_int_equal(unik_console_max_parse("cap", "1G", &v, &err), 0);
	assert_int_equal(v, 1LL << 30);
	assert_int_equal(unik_console_max_parse("cap", "65536B", &v, &err), 0);
	assert_int_equal(v, 65536);
	const char *bad[] = {"", "-1", "0", "1K", "4095B", "12X", "M", "16 M", "99999999999999G"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(unik_console_max_parse("console_max", bad[i], &v, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		assert_non_null(strstr(err.msg, "console_max"));
	}
}

static void test_user_parse(void **state)
{
	struct unik_vmm_user u;
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_vmm_user_parse(UNIK_QEMU_USER_DEFAULT, &u, &err), 0);
	assert_int_equal(u.uid, 64122);
	assert_int_equal(u.gid, 64122);
	assert_int_equal(unik_vmm_user_parse("1234:5678", &u, &err), 0);
	assert_int_equal(u.uid, 1234);
	assert_int_equal(u.gid, 5678);
	const char *bad[] = {"",       "0:0",          "1000:0",
	                     "0:1000", "root",         "1:",
	                     ":1",     "a:b",          "no-such-user-here",
	                     "1:2:3",  "99999999999:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(unik_vmm_user_parse(bad[i], &u, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		assert_non_null(strstr(err.msg, UNIK_QEMU_USER_ENV));
	}
}

/* console.times: one line per write that comes UNIK_CONSOLE_TIMES_MS after the last, wall-clock
 * milliseconds, offsets of console.log; it rotates with the log. */
static void test_times(void **state)
{
	_cleanup_free_ char *dir = mkdir_tmp();
	_cleanup_free_ struct unik_console_time *t = NULL;
	struct unik_console_log l;
	struct unik_error err;
	struct timespec a, b, pause = {0, 20 * 1000000L};
	size_t n = 0;

	(void)state;
	assert_int_equal(unik_console_times_load(dir, &t, &n), -1); /* none yet */
	clock_gettime(CLOCK_REALTIME, &a);
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	assert_int_equal(unik_console_log_write(&l, "one\n", 4), 0);
	assert_int_equal(unik_console_log_write(&l, "two\n", 4), 0); /* within 5 ms: no line */
	nanosleep(&pause, NULL);
	assert_int_equal(unik_console_log_write(&l, "three\n", 6), 0);
	clock_gettime(CLOCK_REALTIME, &b);
	unik_console_log_close(&l);
	assert_int_equal(unik_console_times_load(dir, &t, &n), 0);
	assert_true(n == 2 || n == 3);
	assert_int_equal(t[0].off, 0);
	assert_int_equal(t[n - 1].off, 8);
	assert_true(t[0].ms >= (long long)a.tv_sec * 1000 + a.tv_nsec / 1000000);
	assert_true(t[n - 1].ms <= (long long)b.tv_sec * 1000 + b.tv_nsec / 1000000);
	assert_true(t[n - 1].ms - t[0].ms >= 20);
	assert_int_equal(unik_console_time_at(t, n, 0), t[0].ms);
	assert_int_equal(unik_console_time_at(t, n, 9), t[n - 1].ms);
	assert_int_equal(unik_console_time_at(t, 0, 9), -1);
	/* Rotation: console.times goes with console.log to .1, and starts again at 0. */
	assert_int_equal(unik_console_log_open(&l, dir, 4096, &err), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(
		    unik_console_log_write(&l, "0123456789abcdefghijklmnopqrstu\n", 32), 0);
		if (i % 50 == 0)
			nanosleep(&pause, NULL);
	}
	unik_console_log_close(&l);
	free(t);
	t = NULL;
	assert_int_equal(unik_console_times_load(dir, &t, &n), 0);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		assert_true(t[i].off < 4096);
	{
		_cleanup_free_ char *old = unik_path_join(dir, UNIK_CONSOLE_OLD_TIMES_FILE);

		assert_int_equal(access(old, F_OK), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rotation),   cmocka_unit_test(test_no_empty_log),
	    cmocka_unit_test(test_long_line),  cmocka_unit_test(test_max_parse),
	    cmocka_unit_test(test_user_parse), cmocka_unit_test(test_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
