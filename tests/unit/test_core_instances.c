/* Unit tests of the core against the fake provider (tests/lib/fake_provider.h), which records
 * its calls and runs no VM: a run goes through the provider's run() with the image's command
 * line, the watcher records the exit the provider reports, delete removes, and a reopened core
 * adopts what was left running through reconcile().  The image's kernel is
 * build/tests/apps/hello.elf (make test-apps). */
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

#include "core/core.h"
#include "core/store.h"
#include "images/store.h"
#include "lib/kv.h"
#include "lib/util.h"
#include "tests/lib/fake_provider.h"

static const struct unik_provider *const providers[] = {&unik_provider_fake, NULL};

static char home[64];
static const char image_id[] = "0123456789ab";

/* build/tests/apps/hello.elf next to this test binary (build/tests/unit/). */
static char *hello_elf(void)
{
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if (!(slash = strrchr(exe, '/')))
		return NULL;
	*slash = '\0';
	return xasprintf("%s/../apps/hello.elf", exe);
}

static int setup(void **state)
{
	static const char *const dirs[] = {"images", "instances", "builds", "tmp"};
	_cleanup_free_ char *elf = hello_elf(), *db = NULL, *img = NULL, *kernel = NULL;
	_cleanup_free_ char *data = NULL;
	struct unik_image im = {.seq = 1};
	struct unik_store *s;
	size_t len;

	(void)state;
	unik_fake_reset();
	if (!elf || unik_read_file(elf, &data, &len, NULL) < 0)
		return 0; /* the tests skip */
	snprintf(home, sizeof(home), "/tmp/unik-core-XXXXXX");
	assert_non_null(mkdtemp(home));
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *d = unik_path_join(home, dirs[i]);
		assert_int_equal(mkdir(d, 0700), 0);
	}
	img = xasprintf("%s/images/%s", home, image_id);
	assert_int_equal(mkdir(img, 0700), 0);
	kernel = xasprintf("%s/images", home);
	{
		_cleanup_free_ char *k = unik_image_kernel_path(kernel, image_id);
		assert_int_equal(unik_write_file_atomic(k, data, len, 0600, NULL), 0);
	}
	memcpy(im.id, image_id, sizeof(im.id));
	im.name = "app", im.base = "rump", im.language = "c", im.compiler = "rump";
	im.provider = "fake", im.args = "--port 80", im.created = "2026-01-01T00:00:00.000Z";
	im.memory_mb = 64, im.elf_size = len;
	strv_push(&im.env, "MODE=prod");
	unik_formats_set(&im.formats, "elf", len);
	db = unik_path_join(home, "unik.db");
	assert_int_equal(unik_store_open(db, &s, NULL, NULL), 0);
	assert_int_equal(unik_store_put_image(s, &im, NULL), 0);
	unik_store_close(s);
	strv_free(&im.env);
	unik_formats_free(&im.formats);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (home[0])
		unik_rmtree(home, NULL);
	home[0] = '\0';
	return 0;
}

static struct unik_core *open_core(void)
{
	struct unik_core_config cfg = {.home = home, .max_parallel = 1, .providers = providers};
	struct unik_core *c = NULL;
	struct unik_error err = {0};

	if (unik_core_open(&cfg, &c, &err) < 0)
		fail_msg("unik_core_open: %s", err.msg);
	return c;
}

/* The command line the fake's run() got for instance id. */
static char *run_cmdline(const char *id)
{
	_cleanup_free_ char *path = xasprintf("%s/instances/%s/%s", home, id, UNIK_FAKE_STATE_FILE);
	_cleanup_free_ char *text = NULL;
	char v[256];

	if (unik_read_file(path, &text, NULL, NULL) < 0 ||
	    !unik_kv_get(text, "cmdline", v, sizeof(v)))
		return NULL;
	return xstrdup(v);
}

static void test_run_wait_delete(void **state)
{
	struct unik_run_request rr = {.image = "app", .name = "t1"};
	struct unik_instance *out = NULL;
	struct unik_error err = {0};
	struct unik_fake_counts n;
	struct unik_core *c;
	char *cmdline;

	(void)state;
	if (!home[0])
		skip();
	c = open_core();
	strv_push(&rr.env, "MODE=test");
	/* The fake guest runs 300 ms, then exits with status 3. */
	strv_push(&rr.provider_opts, UNIK_FAKE_OPT_RUN_MS "=300");
	strv_push(&rr.provider_opts, UNIK_FAKE_OPT_EXIT_CODE "=3");
	assert_int_equal(unik_core_run(c, &rr, &out, &err), 0);
	unik_fake_counts(&n);
	assert_int_equal(n.run, 1);
	cmdline = run_cmdline(out->id);
	assert_string_equal(cmdline, "MODE=test --port 80");
	free(cmdline);
	assert_int_equal(out->state, UNIK_STATE_RUNNING);
	assert_string_equal(out->provider, "fake");
	unik_instance_free(out);
	/* The guest ends; the watcher (woken by the fake's event descriptor, or polling) records
	 * it. */
	assert_int_equal(unik_core_wait_instance(c, "t1", NULL, NULL, &out, &err), 0);
	assert_int_equal(out->state, UNIK_STATE_EXITED);
	assert_int_equal(out->exit_code, 3);
	assert_non_null(out->finished);
	unik_instance_free(out);
	assert_int_equal(unik_core_delete_instance(c, "t1", false, &err), 0);
	unik_fake_counts(&n);
	assert_int_equal(n.remove, 1);
	assert_int_equal(unik_core_delete_instance(c, "t1", false, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	unik_run_request_free(&rr);
	unik_core_close(c);
}

static void test_reopen_adopts(void **state)
{
	struct unik_run_request rr = {.image = "app", .name = "long"};
	struct unik_instance *out = NULL;
	struct unik_error err = {0};
	struct unik_core_view v;
	struct unik_fake_counts n;
	struct unik_core *c;

	(void)state;
	if (!home[0])
		skip();
	c = open_core();
	strv_push(&rr.provider_opts, UNIK_FAKE_OPT_RUN_MS "=-1"); /* until stopped */
	assert_int_equal(unik_core_run(c, &rr, &out, &err), 0);
	unik_instance_free(out);
	unik_core_close(c); /* the instance keeps running */
	unik_fake_counts(&n);
	assert_int_equal(n.stop, 0);
	assert_int_equal(n.live_ctx, 0); /* the core closed the provider's context */
	unik_fake_reset();
	c = open_core();
	unik_fake_counts(&n);
	assert_true(n.reconcile >= 1);
	unik_core_read_begin(c, &v);
	assert_int_equal(v.ninstances, 1);
	assert_int_equal(v.instances[0]->state, UNIK_STATE_RUNNING);
	assert_int_equal(v.nimages, 1);
	unik_core_read_end(c);
	assert_int_equal(unik_core_stop_instance(c, "long", &out, &err), 0);
	unik_fake_counts(&n);
	assert_int_equal(n.stop, 1);
	assert_int_equal(out->state, UNIK_STATE_STOPPED);
	unik_instance_free(out);
	unik_run_request_free(&rr);
	unik_core_close(c);
}

static void test_unknown_image_and_provider(void **state)
{
	struct unik_run_request rr = {.image = "nope"};
	struct unik_instance *out = NULL;
	struct unik_error err = {0};
	struct unik_fake_counts n;
	struct unik_core *c;

	(void)state;
	if (!home[0])
		skip();
	c = open_core();
	assert_int_equal(unik_core_run(c, &rr, &out, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	rr.image = "app";
	rr.provider = "qemu"; /* not in this core's table */
	assert_int_equal(unik_core_run(c, &rr, &out, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	unik_fake_counts(&n);
	assert_int_equal(n.run, 0);
	unik_core_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_run_wait_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_adopts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_image_and_provider, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
