/* Unit tests for unik_run_spec_paths and unik_provider_path (providers/registry.c), the checks
 * every provider's run() makes of its instance directory, kernel and initrd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "lib/util.h"

struct fixture {
	char dir[64];
	char *kernel;
	char *initrd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct unik_error err = {0};

	snprintf(f->dir, sizeof(f->dir), "/tmp/unik-paths-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->kernel = unik_path_join(f->dir, "kernel.elf");
	f->initrd = unik_path_join(f->dir, "rootfs.cpio");
	if (unik_write_text_in(f->dir, "kernel.elf", "k", &err) < 0 ||
	    unik_write_text_in(f->dir, "rootfs.cpio", "r", &err) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->kernel);
	unlink(f->initrd);
	rmdir(f->dir);
	free(f->kernel);
	free(f->initrd);
	free(f);
	return 0;
}

static void test_paths_made_absolute(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	struct unik_run_spec spec = {.instance_dir = ".", .kernel = "kernel.elf"};
	struct unik_error err = {0};
	char *dir, *kernel, *initrd;

	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(unik_run_spec_paths("qemu", &spec, &dir, &kernel, &initrd, &err), 0);
	assert_string_equal(dir, f->dir);
	assert_string_equal(kernel, f->kernel);
	assert_null(initrd);
	free(dir);
	free(kernel);
	spec.initrd = "rootfs.cpio";
	assert_int_equal(unik_run_spec_paths("qemu", &spec, &dir, &kernel, &initrd, &err), 0);
	assert_string_equal(initrd, f->initrd);
	free(dir);
	free(kernel);
	free(initrd);
	assert_int_equal(chdir(cwd), 0);
}

static void expect_refused(const struct unik_run_spec *spec, int code, const char *words)
{
	struct unik_error err = {0};
	char *dir = (char *)1, *kernel = (char *)1, *initrd = (char *)1;

	assert_int_equal(unik_run_spec_paths("xen", spec, &dir, &kernel, &initrd, &err), -1);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, words))
		fail_msg("message `%s` lacks `%s`", err.msg, words);
	assert_true(!strncmp(err.msg, "xen: ", 5));
	/* Nothing is left for the caller to free. */
	assert_null(dir);
	assert_null(kernel);
	assert_null(initrd);
}

static void test_bad_paths_refused(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *missing = unik_path_join(f->dir, "missing.elf");
	_cleanup_free_ char *want = NULL;

	expect_refused(&(struct unik_run_spec){.kernel = f->kernel}, UNIK_E_INVALID,
	               "an instance needs a directory and a kernel");
	expect_refused(&(struct unik_run_spec){.instance_dir = f->dir}, UNIK_E_INVALID,
	               "an instance needs a directory and a kernel");
	want = xasprintf("kernel `%s`", missing);
	expect_refused(&(struct unik_run_spec){.instance_dir = f->dir, .kernel = missing},
	               UNIK_E_NOTFOUND, want);
	free(want);
	want = xasprintf("initrd `%s`", missing);
	expect_refused(
	    &(struct unik_run_spec){.instance_dir = f->dir, .kernel = f->kernel, .initrd = missing},
	    UNIK_E_NOTFOUND, want);
	expect_refused(
	    &(struct unik_run_spec){.instance_dir = "/nonexistent-unik-dir", .kernel = f->kernel},
	    UNIK_E_NOTFOUND, "instance directory `/nonexistent-unik-dir`");
}

static void test_provider_path(void **state)
{
	struct fixture *f = *state;
	struct unik_error err = {0};
	_cleanup_free_ char *p = unik_provider_path("kvm", "disk", f->kernel, &err);

	assert_string_equal(p, f->kernel);
	assert_null(unik_provider_path("kvm", "disk", "/nonexistent/disk.qcow2", &err));
	assert_string_equal(err.msg,
	                    "kvm: disk `/nonexistent/disk.qcow2`: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_paths_made_absolute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_paths_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_provider_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
