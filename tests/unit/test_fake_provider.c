/* Unit tests for the tests' fake provider (tests/lib/fake_provider.h), driven through core/vm.h
 * as the core drives every provider: its context, its simulated guest, its events and its call
 * log, so core tests can lean on it. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/vm.h"
#include "lib/kv.h"
#include "lib/util.h"
#include "tests/lib/fake_provider.h"
#include "tests/lib/fake_kernel.h"

struct fixture {
	char *tmp;
	char *dir;
	char *kernel;
	char *log;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->tmp = unik_mkdtemp("unik-fake", NULL);
	assert_non_null(f->tmp);
	f->dir = unik_path_join(f->tmp, "inst");
	f->kernel = unik_path_join(f->tmp, "kernel.elf");
	f->log = unik_path_join(f->tmp, "calls.log");
	assert_int_equal(mkdir(f->dir, 0700), 0);
	/* A kernel of this host's guest ABI: the core gives devices to v2 images only. */
	assert_int_equal(fake_kernel_write(f->kernel, &(struct fake_kernel_shape){0}), 0);
	unik_fake_reset();
	unik_fake_set_log(f->log);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unik_rmtree(f->tmp, NULL);
	free(f->tmp);
	free(f->dir);
	free(f->kernel);
	free(f->log);
	free(f);
	unik_fake_reset();
	return 0;
}

static struct unik_run_spec spec_for(struct fixture *f, const char *const *opts)
{
	return (struct unik_run_spec){
	    .instance_id = "0123456789ab",
	    .instance_name = "unit",
	    .instance_dir = f->dir,
	    .kernel = f->kernel,
	    .image = f->kernel,
	    .cmdline = "app x",
	    .memory_mb = 64,
	    .opts = opts,
	};
}

static char *file_text(const char *dir, const char *name)
{
	_cleanup_free_ char *path = unik_path_join(dir, name);
	char *text = NULL;

	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	static const char *const opts[] = {"run_ms=-1", NULL};
	struct unik_run_spec spec = spec_for(f, opts);
	struct unik_instance_status st;
	struct unik_fake_counts c;
	struct unik_error err = {0};
	struct unik_vm vm;

	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, opts, &err), 0);
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_RUNNING);
	/* A second run in a running instance's directory is refused. */
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_STATE);
	assert_int_equal(unik_vm_remove(&vm, f->dir, &err), -1);
	assert_int_equal(err.code, UNIK_E_STATE);

	/* Stopped once, then stop is a no-op. */
	assert_int_equal(unik_vm_stop(&vm, f->dir, false, 1000, &err), 0);
	assert_int_equal(unik_vm_status(&vm, f->dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_STOPPED);
	assert_int_equal(unik_vm_stop(&vm, f->dir, true, 0, &err), 0);
	assert_int_equal(unik_vm_status(&vm, f->dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_STOPPED);

	/* Started again in place; console appended to. */
	assert_int_equal(unik_vm_start(&vm, f->dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_RUNNING);
	assert_string_equal(st.handle_id, "run-2");
	assert_int_equal(unik_vm_stop(&vm, f->dir, true, 0, &err), 0);
	_cleanup_free_ char *con = file_text(f->dir, "console.log");
	assert_non_null(con);
	assert_non_null(strstr(con, "fake: boot 1 of "));
	assert_non_null(strstr(con, "fake: boot 2 of "));

	assert_int_equal(unik_vm_remove(&vm, f->dir, &err), 0);
	assert_false(unik_file_exists_in(f->dir, UNIK_FAKE_HELD_FILE));
	assert_false(unik_file_exists_in(f->dir, UNIK_FAKE_STATE_FILE));
	assert_true(unik_file_exists_in(f->dir, "console.log"));
	assert_int_equal(unik_vm_status(&vm, f->dir, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	unik_vm_close(&vm);

	unik_fake_counts(&c);
	assert_int_equal(c.open, 1);
	assert_int_equal(c.close, 1);
	assert_int_equal(c.live_ctx, 0);
	assert_int_equal(c.run, 2);
	assert_int_equal(c.start, 1);
}

static void test_exit_and_adopt(void **state)
{
	struct fixture *f = *state;
	static const char *const opts[] = {"run_ms=50", "exit_code=7", NULL};
	struct unik_run_spec spec = spec_for(f, opts);
	struct unik_instance_status st;
	struct unik_error err = {0};
	struct unik_vm a, b;
	struct pollfd pfd = {.events = POLLIN};

	assert_int_equal(unik_vm_open(&a, &unik_provider_fake, opts, &err), 0);
	assert_int_equal(unik_vm_run(&a, &spec, &st, &err), 0);
	/* The event descriptor fires when the guest's time is up. */
	pfd.fd = unik_vm_event_fd(&a, f->dir);
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	close(pfd.fd);
	unik_vm_close(&a);

	/* Another context (a restarted daemon) adopts it, sees the end and reaps. */
	assert_int_equal(unik_vm_open(&b, &unik_provider_fake, NULL, &err), 0);
	assert_int_equal(unik_vm_reconcile(&b, f->dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_EXITED);
	assert_int_equal(st.exit_code, 7);
	assert_false(unik_file_exists_in(f->dir, UNIK_FAKE_HELD_FILE));
	unik_vm_close(&b);

	_cleanup_free_ char *con = file_text(f->dir, "console.log");
	assert_non_null(con);
	assert_true(unik_str_has_suffix(con, "unik: exit status 7\n"));
	/* Seen by two contexts, written once. */
	assert_int_equal(count(con, "exit status"), 1);
}

static void test_stop_fires_event(void **state)
{
	struct fixture *f = *state;
	static const char *const opts[] = {"run_ms=-1", NULL};
	struct unik_run_spec spec = spec_for(f, opts);
	struct unik_instance_status st;
	struct unik_error err = {0};
	struct unik_vm vm;
	struct pollfd pfd = {.events = POLLIN};

	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, opts, &err), 0);
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), 0);
	pfd.fd = unik_vm_event_fd(&vm, f->dir);
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(unik_vm_stop(&vm, f->dir, false, 1000, &err), 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	close(pfd.fd);
	unik_vm_close(&vm);
}

static void test_devices_and_log(void **state)
{
	struct fixture *f = *state;
	struct unik_device devs[2] = {
	    {.kind = UNIK_DEVICE_NET, .name = "net0", .tap = "t0"},
	    {.kind = UNIK_DEVICE_BLK, .name = "data", .path = "/v/d.img", .format = "raw"},
	};
	struct unik_run_spec spec = spec_for(f, NULL);
	static const char *const none[] = {NULL};
	struct unik_instance_status st;
	struct unik_fake_counts c;
	struct unik_error err = {0};
	struct unik_vm vm;

	spec.opts = none;
	spec.devices = devs;
	spec.ndevices = 2;
	unik_fake_set_caps(UNIK_DEVICE_BIT(UNIK_DEVICE_NET));
	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, NULL, &err), 0);
	/* Refused by the core before the provider is called, naming the kind and the provider. */
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "blk"));
	assert_non_null(strstr(err.msg, "fake"));
	unik_fake_counts(&c);
	assert_int_equal(c.run, 0);
	assert_false(unik_file_exists_in(f->dir, "console.log"));

	spec.ndevices = 1;
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), 0);
	unik_vm_close(&vm);

	_cleanup_free_ char *state_text = file_text(f->dir, UNIK_FAKE_STATE_FILE);
	char value[256];
	assert_true(unik_kv_get(state_text, "cmdline", value, sizeof(value)));
	assert_true(unik_str_has_prefix(value, "unik.dev.net0=net,mac=52:54:00:"));
	assert_true(unik_str_has_suffix(value, " app x"));
	assert_true(unik_kv_get(state_text, "devices", value, sizeof(value)));
	assert_true(unik_str_has_prefix(value, "net:net0:tap=t0:mac=52:54:00:"));

	_cleanup_free_ char *log = file_text(f->tmp, "calls.log");
	assert_non_null(log);
	assert_true(unik_str_has_prefix(log, "open\t"));
	assert_non_null(strstr(log, "\nrun\t"));
	assert_non_null(strstr(log, "\tcmdline=unik.dev.net0=net,mac="));
	assert_non_null(strstr(log, "\nclose\tpid="));
}

static void test_context_and_failures(void **state)
{
	struct fixture *f = *state;
	static const char *const fail_run[] = {"fail=run", NULL};
	static const char *const fail_open[] = {"fail=open", NULL};
	static const char *const bad[] = {"exit_code=300", NULL};
	struct unik_run_spec spec = spec_for(f, fail_run);
	struct unik_instance_status st;
	struct unik_error err = {0};
	struct unik_vm vm;

	/* A core that skips open() is caught. */
	assert_int_equal(unik_provider_fake.status(NULL, f->dir, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_INTERNAL);

	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, fail_open, &err), -1);
	assert_int_equal(err.code, UNIK_E_IO);

	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, fail_run, &err), 0);
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_IO);
	assert_false(unik_file_exists_in(f->dir, "console.log"));
	unik_vm_close(&vm);

	spec.opts = bad;
	assert_int_equal(unik_vm_open(&vm, &unik_provider_fake, bad, &err), 0);
	assert_int_equal(unik_vm_run(&vm, &spec, &st, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	unik_vm_close(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_and_adopt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_fires_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devices_and_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_context_and_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
