/* Unit tests for lib/vmm_confine beyond the user parser (tests/unit/test_console_log.c): who
 * may read what, the user from the environment, the copy handed to hypervisors that open files
 * by path, and a confined child: its descriptors, its identity, no_new_privs and no
 * capabilities. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "lib/vmm_confine.h"

static void test_can_read(void **state)
{
	struct unik_vmm_user u = {.uid = 1000, .gid = 2000};
	struct stat st = {0};

	(void)state;
	/* The owner's bits decide for the owner, even when others may read. */
	st.st_uid = 1000, st.st_gid = 2000, st.st_mode = S_IFREG | 0044;
	assert_false(unik_vmm_can_read(&st, &u));
	st.st_mode = S_IFREG | 0400;
	assert_true(unik_vmm_can_read(&st, &u));
	/* Then the group's. */
	st.st_uid = 1;
	st.st_mode = S_IFREG | 0604;
	assert_false(unik_vmm_can_read(&st, &u));
	st.st_mode = S_IFREG | 0640;
	assert_true(unik_vmm_can_read(&st, &u));
	/* Then the others'. */
	st.st_gid = 1;
	st.st_mode = S_IFREG | 0660;
	assert_false(unik_vmm_can_read(&st, &u));
	st.st_mode = S_IFREG | 0004;
	assert_true(unik_vmm_can_read(&st, &u));
}

static void test_kvm_open_to(void **state)
{
	struct unik_vmm_user u = {.uid = 64122, .gid = 64122};
	struct stat st = {0};

	(void)state;
	/* Root's own 0600 /dev/kvm, as on a machine without udev: closed to QEMU's user. */
	st.st_mode = S_IFCHR | 0600;
	assert_false(unik_vmm_kvm_open_to(&st, &u));
	/* Debian's udev rule: group kvm, 0660; the group is kept for the confined QEMU. */
	st.st_gid = 108, st.st_mode = S_IFCHR | 0660;
	assert_true(unik_vmm_kvm_open_to(&st, &u));
	st.st_mode = S_IFCHR | 0640;
	assert_false(unik_vmm_kvm_open_to(&st, &u));
	/* Root's group with the group bits is still closed; the others' bits open it. */
	st.st_gid = 0, st.st_mode = S_IFCHR | 0660;
	assert_false(unik_vmm_kvm_open_to(&st, &u));
	st.st_mode = S_IFCHR | 0666;
	assert_true(unik_vmm_kvm_open_to(&st, &u));
	/* Not a device. */
	st.st_mode = S_IFREG | 0666;
	assert_false(unik_vmm_kvm_open_to(&st, &u));
}

static void test_user_from_env(void **state)
{
	const char *saved = getenv(UNIK_QEMU_USER_ENV);
	_cleanup_free_ char *keep = saved ? xstrdup(saved) : NULL;
	struct unik_vmm_user u;
	struct unik_error err = {0};

	(void)state;
	unsetenv(UNIK_QEMU_USER_ENV);
	assert_int_equal(unik_vmm_user_get(&u, &err), 0);
	assert_int_equal(u.uid, 64122);
	setenv(UNIK_QEMU_USER_ENV, "4000:4001", 1);
	assert_int_equal(unik_vmm_user_get(&u, &err), 0);
	assert_int_equal(u.uid, 4000);
	assert_int_equal(u.gid, 4001);
	setenv(UNIK_QEMU_USER_ENV, "0:0", 1);
	assert_int_equal(unik_vmm_user_get(&u, &err), -1);
	assert_non_null(strstr(err.msg, "as root"));
	if (keep)
		setenv(UNIK_QEMU_USER_ENV, keep, 1);
	else
		unsetenv(UNIK_QEMU_USER_ENV);
}

static void test_place_file(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-vmm", &err);
	_cleanup_free_ char *src = unik_path_join(d, "kernel.elf");
	_cleanup_free_ char *dst = unik_path_join(d, "placed.elf");
	_cleanup_free_ char *text = NULL;
	struct unik_vmm_user u = {.uid = 4000, .gid = 4001};
	struct stat st;
	size_t len;

	(void)state;
	assert_non_null(d);
	assert_int_equal(unik_write_file_atomic(src, "kernel bytes", 12, 0600, &err), 0);
	assert_int_equal(unik_write_file_atomic(dst, "stale", 5, 0600, &err), 0);
	if (geteuid() != 0) {
		/* Giving a file to another group takes root: the failure says so. */
		assert_int_equal(unik_vmm_place_file(src, d, "placed.elf", &u, &err), -1);
		assert_non_null(strstr(err.msg, "give"));
		unik_rmtree(d, NULL);
		skip();
	}
	assert_int_equal(unik_vmm_place_file(src, d, "placed.elf", &u, &err), 0);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 4001);
	assert_true(unik_vmm_can_read(&st, &u));
	assert_int_equal(unik_read_file(dst, &text, &len, &err), 0);
	assert_int_equal(len, 12);
	assert_memory_equal(text, "kernel bytes", 12); /* a copy, the stale file replaced */
	assert_int_equal(unik_vmm_place_file("/nonexistent/k", d, "x", &u, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/k"));
	unik_rmtree(d, NULL);
}

/* What the confined child checks about itself; each failure exits with its own status. */
static int child_checks(const char *kernel)
{
	struct unik_vmm_files f = {.kernel = kernel};
	struct unik_vmm_user u = {.uid = 4000, .gid = 4001};
	const char *what = NULL;
	char buf[12];

	if (unik_vmm_confine_child(&f, &u, &what) < 0)
		return 10;
	/* The kernel, unreadable to uid 4000 by its mode, arrives as a readable descriptor. */
	if (pread(UNIK_VMM_FD_KERNEL, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    memcmp(buf, "kernel bytes", sizeof(buf)) != 0)
		return 11;
	if (fcntl(UNIK_VMM_FD_KERNEL, F_GETFD) & FD_CLOEXEC)
		return 12; /* QEMU must find it open after exec */
	if (getuid() != 4000 || geteuid() != 4000 || getgid() != 4001)
		return 13;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 14;
	if (open(kernel, O_RDONLY) >= 0)
		return 15; /* by path it stays closed */
	if (setuid(0) == 0)
		return 16;
	return 0;
}

static void test_confined_child(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-vmm", &err);
	_cleanup_free_ char *k = unik_path_join(d, "kernel.elf");
	int status = -1;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		unik_rmtree(d, NULL);
		skip(); /* dropping to another uid takes root */
	}
	assert_non_null(d);
	assert_int_equal(unik_write_file_atomic(k, "kernel bytes", 12, 0600, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(k));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	unik_rmtree(d, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_can_read),       cmocka_unit_test(test_kvm_open_to),
	    cmocka_unit_test(test_user_from_env),  cmocka_unit_test(test_place_file),
	    cmocka_unit_test(test_confined_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
