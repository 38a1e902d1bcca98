/* Unit tests for lib/artifacts: the platform names of the compiler contract and the release of
 * what a build() filled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/artifacts.h"
#include "lib/util.h"

static void test_platform_names(void **state)
{
	(void)state;
	for (int p = 0; p < UNIK_PLATFORMS; p++) {
		const char *n = unik_platform_name((enum unik_platform)p);

		assert_non_null(n);
		assert_int_equal(unik_platform_parse(n), p);
	}
	assert_string_equal(unik_platform_name(UNIK_PLATFORM_PVH), "pvh");
	assert_null(unik_platform_name(UNIK_PLATFORMS));
	assert_null(unik_platform_name((enum unik_platform) - 1));
	assert_int_equal(unik_platform_parse("PVH"), -1);
	assert_int_equal(unik_platform_parse(""), -1);
	assert_int_equal(unik_platform_parse(NULL), -1);
}

static void fill(struct unik_artifacts *a)
{
	a->kernel = xstrdup("/b/out/app");
	a->rootfs = xstrdup("/b/out/rootfs.cpio");
	a->cmdline = xstrdup("GREETING=hi app");
	a->name = xstrdup("app");
	a->base = xstrdup("rump");
	a->language = xstrdup("c");
	a->compiler = xstrdup("rump");
	a->memory_mb = 64;
	a->devices = UNIK_DEVICE_BIT(UNIK_DEVICE_NET);
}

static void test_release(void **state)
{
	struct unik_artifacts a = {0}, zero = {0};

	(void)state;
	fill(&a);
	unik_artifacts_free(&a); /* a leak or a double free here fails under make asan */
	assert_memory_equal(&a, &zero, sizeof(a));
	unik_artifacts_free(&a); /* freeing twice is harmless */
	{
		_cleanup_artifacts_ struct unik_artifacts b = {0};

		fill(&b);
		free((char *)b.rootfs);
		b.rootfs = NULL; /* a build without a root fs */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_platform_names),
	    cmocka_unit_test(test_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
