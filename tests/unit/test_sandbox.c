/* Unit tests for the build sandbox (compilers/sandbox.c): bwrap's command line against golden
 * files (tests/data/sandbox/NAME.args, UNIK_TEST_REGENERATE=1 rewrites them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define GOLDEN_SUBDIR "sandbox"
#include "tests/unit/golden.h"

#include "compilers/sandbox.h"

static void check_golden(const char *name, const struct strv *argv)
{
	_cleanup_free_ char *got = xstrdup("");

	for (size_t i = 0; i < argv->n; i++) {
		char *next;

		/* One argument per line: none of the inputs here has a newline. */
		assert_null(strchr(argv->v[i], '\n'));
		next = xasprintf("%s%s\n", got, argv->v[i]);
		free(got);
		got = next;
	}
	check_golden_text(name, got);
}

static void golden_case_in(const char *name, bool staged, bool toolchain, const char *home,
                           const char *bin);

static void golden_case(const char *name, bool staged, bool toolchain)
{
	golden_case_in(name, staged, toolchain, "/var/lib/unik", "/opt/unik");
}

static void golden_case_in(const char *name, bool staged, bool toolchain, const char *home,
                           const char *bin)
{
	_cleanup_strv_ struct strv argv = {0};
	struct unik_sandbox sb = {
	    .kind = UNIK_SANDBOX_BWRAP,
	    .uid = UNIK_SANDBOX_UID_DEFAULT,
	    .gid = UNIK_SANDBOX_GID_DEFAULT,
	    .limits = UNIK_SANDBOX_LIMITS_DEFAULT,
	    .staged = staged,
	};
	_cleanup_free_ char *src = xasprintf("%s/builds/0123456789ab/src", home);
	_cleanup_free_ char *cc = xasprintf("CC=%s/bin/unik-cc", bin);
	const char *const cmd[] = {"make", "-C", src, cc, NULL};

	strv_push(&sb.rw_dirs, src);
	strv_push_take(&sb.rw_dirs, xasprintf("%s/builds/0123456789ab/out", home));
	if (toolchain) {
		strv_push_take(&sb.ro_dirs, xasprintf("%s/bin", bin));
		strv_push_take(&sb.ro_dirs, xasprintf("%s/lib/unik", bin));
		strv_push_take(&sb.env, xasprintf("UNIK_RUNTIME_DIR=%s/lib/unik", bin));
		strv_push(&sb.env, "UNIK_GCC=gcc-12");
	}
	unik_sandbox_argv(&sb, src, cmd, &argv);
	check_golden(name, &argv);
	unik_sandbox_free(&sb);
}

static void test_argv_root_daemon(void **state)
{
	(void)state;
	golden_case("root.args", true, true);
}

static void test_argv_user_daemon(void **state)
{
	(void)state;
	golden_case("user.args", false, true);
}

static void test_argv_minimal(void **state)
{
	(void)state;
	golden_case("minimal.args", false, false);
}

/* A home and a checkout under /tmp (a CI clone, a test's home): the directories above the
 * bound ones get read-only tmpfs mounts of their own, not the sandbox's writable /tmp. */
static void test_argv_under_tmp(void **state)
{
	(void)state;
	golden_case_in("under-tmp.args", true, true, "/tmp/ci/build/home", "/tmp/ci");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_argv_root_daemon), cmocka_unit_test(test_argv_user_daemon),
	    cmocka_unit_test(test_argv_minimal),     cmocka_unit_test(test_argv_under_tmp),
	    cmocka_unit_test(test_no_unread_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
