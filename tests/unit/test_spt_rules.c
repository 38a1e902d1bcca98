/* unik-spt's seccomp rule list (cmd/unik-spt/rules.c): every entry names a call libseccomp
 * knows, nothing that opens files, sockets or processes is allowed, the descriptor checks hold
 * the instance's descriptors and no others, and the filter's default is the trap that reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/unik-spt/rules.h"

static void test_every_rule_resolves(void **state)
{
	(void)state;
	assert_true(spt_nrules > 0);
	for (size_t i = 0; i < spt_nrules; i++) {
		assert_non_null(spt_rules[i].why);
		assert_int_not_equal(seccomp_syscall_resolve_name(spt_rules[i].syscall),
		                     __NR_SCMP_ERROR);
	}
}

static bool allowed(const char *name)
{
	for (size_t i = 0; i < spt_nrules; i++)
		if (!strcmp(spt_rules[i].syscall, name) && !spt_rules[i].errno_value)
			return true;
	return false;
}

static void test_nothing_dangerous(void **state)
{
	static const char *const never[] = {
	    "open",     "openat",   "openat2", "socket", "connect",      "execve",
	    "execveat", "fork",     "vfork",   "clone",  "clone3",       "kill",
	    "ptrace",   "mprotect", "getpid",  "unlink", "rt_sigaction", "prctl",
	    "seccomp",  "bpf",      "mount",   "ioctl", /* only TIOCGWINSZ, answered ENOTTY */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_false(allowed(never[i]));
	/* The five interfaces and musl's start. */
	assert_true(allowed("write"));
	assert_true(allowed("read"));
	assert_true(allowed("pread64"));
	assert_true(allowed("pwrite64"));
	assert_true(allowed("ppoll"));
	assert_true(allowed("clock_gettime"));
	assert_true(allowed("exit_group"));
	assert_true(allowed("arch_prctl"));
}

/* The filter as libseccomp's pseudo-filter code. */
static char *pfc(const struct spt_fds *fds)
{
	struct unik_error err;
	scmp_filter_ctx ctx = spt_filter_new(fds, &err);
	char *text = NULL;
	size_t len = 0;
	int fd = memfd_create("pfc", 0);

	assert_non_null(ctx);
	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_pfc(ctx, fd), 0);
	seccomp_release(ctx);
	len = (size_t)lseek(fd, 0, SEEK_END);
	text = calloc(1, len + 1);
	assert_int_equal(pread(fd, text, len, 0), (ssize_t)len);
	close(fd);
	return text;
}

/* The lines of the pfc after "# filter for syscall \"name\"" up to the next one. */
static char *section(const char *text, const char *name)
{
	char head[64];
	const char *a, *b;

	snprintf(head, sizeof(head), "if ($syscall == %d)", seccomp_syscall_resolve_name(name));
	a = strstr(text, head);
	if (!a)
		return NULL;
	b = strstr(a + strlen(head), "if ($syscall ==");
	return strndup(a, b ? (size_t)(b - a) : strlen(a));
}

static void test_filter_fds(void **state)
{
	struct spt_fds fds = {.report = 19,
	                      .net = {3},
	                      .nnet = 1,
	                      .blk = {4, 5},
	                      .nblk = 2,
	                      .blk_rw = {4},
	                      .nblk_rw = 1};
	char *text = pfc(&fds);
	char *s;

	(void)state;
	assert_non_null(strstr(text, "action TRAP"));
	assert_null(strstr(text, "action ALLOW;\n# default action"));
	s = section(text, "read");
	assert_non_null(s);
	assert_non_null(strstr(s, "$a0.lo32 == 3"));
	assert_null(strstr(s, "$a0.lo32 == 4"));
	free(s);
	s = section(text, "write");
	assert_non_null(s);
	assert_non_null(strstr(s, "$a0.lo32 == 1"));
	assert_non_null(strstr(s, "$a0.lo32 == 2"));
	assert_non_null(strstr(s, "$a0.lo32 == 3"));
	assert_non_null(strstr(s, "$a0.lo32 == 19"));
	assert_null(strstr(s, "$a0.lo32 == 4"));
	free(s);
	s = section(text, "pwrite64");
	assert_non_null(s);
	assert_non_null(strstr(s, "$a0.lo32 == 4"));
	assert_null(strstr(s, "$a0.lo32 == 5"));
	free(s);
	s = section(text, "pread64");
	assert_non_null(s);
	assert_non_null(strstr(s, "$a0.lo32 == 5"));
	free(s);
	assert_null(section(text, "getpid"));
	assert_null(section(text, "openat"));
	free(text);
}

static void test_no_devices(void **state)
{
	struct spt_fds fds = {.report = -1};
	char *text = pfc(&fds);

	(void)state;
	/* No block device: no pread64 rule at all, so it traps. */
	assert_null(section(text, "pread64"));
	assert_null(section(text, "read"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_rule_resolves),
	    cmocka_unit_test(test_nothing_dangerous),
	    cmocka_unit_test(test_filter_fds),
	    cmocka_unit_test(test_no_devices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
