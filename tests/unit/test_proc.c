/* Unit tests for lib/proc: a process's state and start time from /proc/PID/stat, also for a
 * process whose name holds the ") " that ends the name field, as a zombie and once reaped. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/proc.h"

static void test_self(void **state)
{
	char st = 0;
	unsigned long long start = 0, again = 0;

	(void)state;
	assert_int_equal(unik_proc_stat(getpid(), &st, &start), 0);
	assert_int_equal(st, 'R'); /* it is reading its own stat */
	assert_true(start > 0);
	assert_int_equal(unik_proc_stat(getpid(), NULL, &again), 0);
	assert_int_equal(again, start); /* the same process, the same start */
	assert_int_equal(unik_proc_stat(getpid(), &st, NULL), 0);
	assert_int_equal(unik_proc_stat(0, &st, &start), -1);
	assert_int_equal(unik_proc_stat(-1, &st, &start), -1);
}

/* The arguments of a child that waits: each word whole, cut to the buffer, NUL-terminated; a
 * process that is gone has none. */
static void test_cmdline(void **state)
{
	char buf[64], small[8];
	int p[2];
	pid_t pid;
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		dup2(p[0], 0);
		execlp("cat", "cat", "-", "two words", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* Until exec, the child's arguments are the test's own: wait for cat's. */
	for (int i = 0; i < 500; i++) {
		n = unik_proc_cmdline(pid, buf, sizeof(buf));
		if (n > 0 && strcmp(buf, "cat") == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(n, (ssize_t)sizeof("cat\0-\0two words"));
	assert_string_equal(buf, "cat");
	assert_string_equal(buf + 4, "-");
	assert_string_equal(buf + 6, "two words");
	n = unik_proc_cmdline(pid, small, sizeof(small));
	assert_int_equal(n, (ssize_t)sizeof(small) - 1);
	assert_int_equal(small[n], '\0');
	assert_int_equal(unik_proc_cmdline(pid, buf, 1), -1);
	close(p[1]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(unik_proc_cmdline(pid, buf, sizeof(buf)), -1);
	assert_int_equal(unik_proc_cmdline(0, buf, sizeof(buf)), -1);
}

/* The child's name breaks a naive split on spaces and on the first ')'. */
static void test_child_with_odd_name_then_zombie_then_gone(void **state)
{
	int p[2];
	char c, st = 0, name[32] = {0};
	unsigned long long start = 0, mine = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "a) b (c) d");
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	prctl(PR_GET_NAME, name);
	assert_int_equal(unik_proc_stat(getpid(), NULL, &mine), 0);
	assert_int_equal(unik_proc_stat(pid, &st, &start), 0);
	assert_true(st == 'S' || st == 'R');
	assert_true(start >= mine); /* started after this process */

	/* Killed and not yet reaped: a zombie, with the same start time. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (int i = 0; i < 1000; i++) {
		unsigned long long z = 0;
		struct timespec ms = {0, 1000000};

		assert_int_equal(unik_proc_stat(pid, &st, &z), 0);
		assert_int_equal(z, start);
		if (st == 'Z')
			break;
		nanosleep(&ms, NULL);
	}
	assert_int_equal(st, 'Z');
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(unik_proc_stat(pid, &st, &start), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_child_with_odd_name_then_zombie_then_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
