/* images/oci: unik_oci_pack's error paths (a missing kernel or root fs) report the file and free
 * only what they allocated, and a good spec still writes a docker-archive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/oci/oci.h"
#include "lib/util.h"

/* Leaves a recognisable, non-NULL pattern where the next call's locals will live, so a cleanup
 * that frees a variable it jumped over frees this garbage and fails at once instead of by luck. */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile unsigned char junk[16384];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

static __attribute__((noinline)) int pack(const struct unik_oci_image_spec *s,
                                          struct unik_error *err)
{
	dirty_stack();
	return unik_oci_pack(s, err);
}

static void test_missing_kernel(void **state)
{
	_cleanup_free_ char *dir = unik_mkdtemp("oci-pack", NULL);
	_cleanup_free_ char *out = unik_path_join(dir, "img.tar");
	struct unik_oci_image_spec s = {
	    .kernel = "/nonexistent/unik-kernel",
	    .name = "hello",
	    .out = out,
	};
	struct unik_error err = {0};

	(void)state;
	assert_non_null(dir);
	assert_int_equal(pack(&s, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/unik-kernel"));
	assert_int_not_equal(access(out, F_OK), 0);
	unik_rmtree(dir, NULL);
}

static void test_missing_rootfs(void **state)
{
	_cleanup_free_ char *dir = unik_mkdtemp("oci-pack", NULL);
	_cleanup_free_ char *kernel = unik_path_join(dir, "kernel");
	_cleanup_free_ char *out = unik_path_join(dir, "img.tar");
	struct unik_oci_image_spec s = {
	    .kernel = kernel,
	    .rootfs = "/nonexistent/unik-rootfs.cpio",
	    .name = "hello",
	    .out = out,
	};
	struct unik_error err = {0};

	(void)state;
	assert_int_equal(unik_write_file_atomic(kernel, "\177ELF", 4, 0755, NULL), 0);
	assert_int_equal(pack(&s, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/unik-rootfs.cpio"));
	unik_rmtree(dir, NULL);
}

static void test_good(void **state)
{
	_cleanup_free_ char *dir = unik_mkdtemp("oci-pack", NULL);
	_cleanup_free_ char *kernel = unik_path_join(dir, "kernel");
	_cleanup_free_ char *out = unik_path_join(dir, "img.tar");
	const char *const args[] = {"a b", NULL};
	struct unik_oci_image_spec s = {
	    .kernel = kernel,
	    .name = "Hello",
	    .args = args,
	    .cmdline = "hello 'a b'",
	    .memory_mb = 64,
	    .out = out,
	};
	struct unik_error err = {0};

	(void)state;
	assert_int_equal(unik_write_file_atomic(kernel, "\177ELF", 4, 0755, NULL), 0);
	assert_int_equal(pack(&s, &err), 0);
	assert_int_equal(access(out, F_OK), 0);
	unik_rmtree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_kernel),
	    cmocka_unit_test(test_missing_rootfs),
	    cmocka_unit_test(test_good),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
