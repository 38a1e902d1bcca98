/* Unit tests for lib/unik_spawn: exit statuses, signals, a missing program, redirections, extra
 * environment, working directory and output capture.  The child is this very binary, re-run
 * with "--child ...", so the tests need no shell and no other program. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/unik_spawn.h"
#include "lib/util.h"

static char self[PATH_MAX];

/* The child side: "--child exit N" | "out TEXT" | "err TEXT" | "env NAME" | "pwd" | "cat" |
 * "kill". */
static int child_main(int argc, char **argv)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (argc < 1)
		return 100;
	if (strcmp(argv[0], "exit") == 0 && argc == 2)
		return atoi(argv[1]);
	if (strcmp(argv[0], "out") == 0 && argc == 2)
		return fputs(argv[1], stdout) < 0;
	if (strcmp(argv[0], "err") == 0 && argc == 2)
		return fputs(argv[1], stderr) < 0;
	if (strcmp(argv[0], "env") == 0 && argc == 2) {
		const char *v = getenv(argv[1]);

		fputs(v ? v : "(unset)", stdout);
		return 0;
	}
	if (strcmp(argv[0], "pwd") == 0)
		return fputs(getcwd(buf, sizeof(buf)) ? buf : "?", stdout) < 0;
	if (strcmp(argv[0], "cat") == 0) {
		while ((n = read(0, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		return n < 0;
	}
	if (strcmp(argv[0], "kill") == 0)
		raise(SIGKILL);
	return 100;
}

static int run_child(const char *const *args, const struct unik_spawn_opts *opts, int *status)
{
	const char *argv[8] = {self, "--child"};
	struct unik_error err;
	size_t i;
	int ret;

	for (i = 0; args[i] && i < 5; i++)
		argv[i + 2] = args[i];
	argv[i + 2] = NULL;
	ret = unik_spawn(argv, opts, status, &err);
	if (ret < 0)
		print_error("%s\n", err.msg);
	return ret;
}

static char *capture_child(const char *const *args, const struct unik_spawn_opts *opts)
{
	const char *argv[8] = {self, "--child"};
	struct unik_error err;
	char *out = NULL;
	size_t i, len;
	int status;

	for (i = 0; args[i] && i < 5; i++)
		argv[i + 2] = args[i];
	argv[i + 2] = NULL;
	assert_int_equal(unik_spawn_capture(argv, opts, &out, &len, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_exit_statuses(void **state)
{
	int status = -1;

	(void)state;
	assert_int_equal(run_child((const char *[]){"exit", "0", NULL}, NULL, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(run_child((const char *[]){"exit", "7", NULL}, NULL, &status), 0);
	assert_int_equal(status, 7);
	assert_int_equal(run_child((const char *[]){"exit", "255", NULL}, NULL, &status), 0);
	assert_int_equal(status, 255);
	assert_int_equal(run_child((const char *[]){"kill", NULL}, NULL, &status), 0);
	assert_int_equal(status, 128 + SIGKILL);
}

static void test_missing_program(void **state)
{
	const char *argv[] = {"unik-test-no-such-program", "x", NULL};
	const char *argv_path[] = {"/nonexistent/unik-test-prog", NULL};
	struct unik_error err;
	int status = 12345;

	(void)state;
	assert_int_equal(unik_spawn(argv, NULL, &status, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "unik-test-no-such-program"));
	assert_non_null(strstr(err.msg, "command not found"));
	assert_int_equal(status, 12345);

	assert_int_equal(unik_spawn(argv_path, NULL, &status, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/unik-test-prog"));

	assert_int_equal(unik_spawn((const char *[]){NULL}, NULL, &status, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
}

static void test_redirect_to_file(void **state)
{
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *out_path = NULL, *err_path = NULL, *out = NULL, *errs = NULL;
	_cleanup_close_ int out_fd = -1, err_fd = -1;
	int status;

	(void)state;
	assert_non_null(d);
	out_path = unik_path_join(d, "out");
	err_path = unik_path_join(d, "err");
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(out_fd >= 0 && err_fd >= 0);
	opts.stdout_fd = out_fd;
	opts.stderr_fd = err_fd;
	assert_int_equal(run_child((const char *[]){"out", "to stdout", NULL}, &opts, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(run_child((const char *[]){"err", "to stderr", NULL}, &opts, &status), 0);
	assert_int_equal(unik_read_file(out_path, &out, NULL, &err), 0);
	assert_int_equal(unik_read_file(err_path, &errs, NULL, &err), 0);
	assert_string_equal(out, "to stdout");
	assert_string_equal(errs, "to stderr");

	/* The descriptors were only borrowed. */
	assert_true(fcntl(out_fd, F_GETFD) >= 0);

	opts.stdout_fd = UNIK_SPAWN_DEVNULL;
	opts.stderr_fd = UNIK_SPAWN_INHERIT;
	assert_int_equal(run_child((const char *[]){"out", "lost", NULL}, &opts, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_stdin_redirect_and_capture(void **state)
{
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *in_path = NULL, *out = NULL;
	_cleanup_close_ int in_fd = -1;

	(void)state;
	assert_non_null(d);
	in_path = unik_path_join(d, "in");
	assert_int_equal(unik_write_file_atomic(in_path, "from a file\n", 12, 0644, &err), 0);
	in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
	assert_true(in_fd >= 0);
	opts.stdin_fd = in_fd;
	out = capture_child((const char *[]){"cat", NULL}, &opts);
	assert_string_equal(out, "from a file\n");
	free(out);

	opts.stdin_fd = UNIK_SPAWN_DEVNULL;
	out = capture_child((const char *[]){"cat", NULL}, &opts);
	assert_string_equal(out, "");
	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_env_add(void **state)
{
	const char *env[] = {"UNIK_TEST_NEW=added", "UNIK_TEST_OLD=replaced", NULL};
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *pre = NULL;
	struct unik_error err;
	int status;

	(void)state;
	setenv("UNIK_TEST_OLD", "original", 1);
	setenv("UNIK_TEST_OLDER", "untouched", 1);
	pre = capture_child((const char *[]){"env", "UNIK_TEST_NEW", NULL}, NULL);
	assert_string_equal(pre, "(unset)");
	opts.env_add = env;
	a = capture_child((const char *[]){"env", "UNIK_TEST_NEW", NULL}, &opts);
	b = capture_child((const char *[]){"env", "UNIK_TEST_OLD", NULL}, &opts);
	c = capture_child((const char *[]){"env", "UNIK_TEST_OLDER", NULL}, &opts);
	assert_string_equal(a, "added");
	assert_string_equal(b, "replaced");
	assert_string_equal(c, "untouched");
	/* Our own environment is left alone. */
	assert_string_equal(getenv("UNIK_TEST_OLD"), "original");

	opts.env_add = (const char *[]){"NOEQUALS", NULL};
	assert_int_equal(
	    unik_spawn((const char *[]){self, "--child", "exit", "0", NULL}, &opts, &status, &err),
	    -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
}

static void test_cwd(void **state)
{
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *out = NULL;
	int status;

	(void)state;
	assert_non_null(d);
	opts.cwd = d;
	out = capture_child((const char *[]){"pwd", NULL}, &opts);
	assert_string_equal(out, d);

	opts.cwd = "/nonexistent/unik-test-dir";
	assert_int_equal(
	    unik_spawn((const char *[]){self, "--child", "exit", "0", NULL}, &opts, &status, &err),
	    -1);
	assert_non_null(strstr(err.msg, "/nonexistent/unik-test-dir"));
	assert_int_equal(unik_rmtree(d, &err), 0);
}

static void test_capture_large_output(void **state)
{
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	struct unik_error err;
	_cleanup_free_ char *d = unik_mkdtemp("unik-test", &err);
	_cleanup_free_ char *in_path = NULL, *out = NULL, *big = NULL;
	_cleanup_close_ int in_fd = -1;
	const size_t size = 1 << 20;

	(void)state;
	assert_non_null(d);
	big = xmalloc(size);
	for (size_t i = 0; i < size; i++)
		big[i] = (char)('a' + i % 26);
	in_path = unik_path_join(d, "big");
	assert_int_equal(unik_write_file_atomic(in_path, big, size, 0644, &err), 0);
	in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
	assert_true(in_fd >= 0);
	opts.stdin_fd = in_fd;
	out = capture_child((const char *[]){"cat", NULL}, &opts);
	assert_int_equal(strlen(out), size);
	assert_memory_equal(out, big, size);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_statuses),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_redirect_to_file),
	    cmocka_unit_test(test_stdin_redirect_and_capture),
	    cmocka_unit_test(test_env_add),
	    cmocka_unit_test(test_cwd),
	    cmocka_unit_test(test_capture_large_output),
	};
	ssize_t n;

	if (argc >= 2 && strcmp(argv[1], "--child") == 0)
		return child_main(argc - 2, argv + 2);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[n] = '\0';
	return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
