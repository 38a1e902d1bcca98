/* Unit tests for core/store: records go in and come back field for field (lists in order), a
 * version-0 database (tests/data/store/v0/unik.sql, made by the daemon before the typed store)
 * is upgraded once, and a database newer than the code is refused and left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/store.h"
#include "lib/util.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/unik-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unik_rmtree(dir, NULL);
	return 0;
}

static char *db_path(void)
{
	return unik_path_join(dir, "unik.db");
}

static void test_round_trip(void **state)
{
	_cleanup_free_ char *path = db_path();
	struct unik_store *s;
	struct unik_store_contents c;
	struct unik_image im = {.id = "aaaaaaaaaaaa", .seq = 3};
	struct unik_instance in = {.id = "bbbbbbbbbbbb", .seq = 4, .exit_code = -1};
	struct unik_build b = {.id = "cccccccccccc", .seq = 2, .state = UNIK_BUILD_FAILED};
	int from = -1;

	(void)state;
	im.name = "web", im.base = "rump", im.language = "c", im.compiler = "rump";
	im.provider = "qemu", im.args = "-v", im.created = "2026-01-01T00:00:00.000Z";
	im.memory_mb = 64, im.elf_size = 100, im.rootfs_size = 7;
	strv_push(&im.env, "B=2");
	strv_push(&im.env, "A=x=y");
	unik_formats_set(&im.formats, "qcow2", 9);
	unik_formats_set(&im.formats, "elf", 100);
	in.name = "web-1", in.image = "web", in.image_id = im.id, in.provider = "qemu";
	in.args = "", in.cmdline = "A=1 x", in.created = "2026-01-01T00:00:01.000Z";
	in.state = UNIK_STATE_RUNNING, in.pid = 42, in.memory_mb = 64;
	strv_push(&in.env, "A=1");
	strv_push(&in.provider_opts, "console_max=1M");
	b.image = "web", b.error = "make exited with status 2", b.created = "c", b.finished = "f";

	assert_int_equal(unik_store_open(path, &s, &from, NULL), 0);
	assert_int_equal(from, 0); /* a new database: created at the newest version at once */
	assert_int_equal(unik_store_begin(s, NULL), 0);
	assert_int_equal(unik_store_put_image(s, &im, NULL), 0);
	assert_int_equal(unik_store_put_instance(s, &in, NULL), 0);
	assert_int_equal(unik_store_put_build(s, &b, NULL), 0);
	assert_int_equal(unik_store_commit(s, NULL), 0);
	unik_store_close(s);

	assert_int_equal(unik_store_open(path, &s, &from, NULL), 0);
	assert_int_equal(from, UNIK_STORE_SCHEMA_VERSION);
	assert_int_equal(unik_store_load(s, &c, NULL), 0);
	assert_int_equal(c.nimages, 1);
	assert_int_equal(c.ninstances, 1);
	assert_int_equal(c.nbuilds, 1);
	assert_int_equal(c.max_seq, 4);
	assert_string_equal(c.images[0]->name, "web");
	assert_int_equal(c.images[0]->env.n, 2);
	assert_string_equal(c.images[0]->env.v[0], "B=2");
	assert_string_equal(c.images[0]->env.v[1], "A=x=y");
	assert_int_equal(c.images[0]->formats.n, 2);
	assert_string_equal(c.images[0]->formats.v[0].name, "elf"); /* the table's order */
	assert_int_equal(c.images[0]->formats.v[1].size, 9);
	assert_null(c.images[0]->build_id);
	assert_int_equal(c.instances[0]->exit_code, -1);
	assert_int_equal(c.instances[0]->pid, 42);
	assert_int_equal(c.instances[0]->state, UNIK_STATE_RUNNING);
	assert_string_equal(c.instances[0]->cmdline, "A=1 x");
	assert_string_equal(c.instances[0]->provider_opts.v[0], "console_max=1M");
	assert_int_equal(c.builds[0]->state, UNIK_BUILD_FAILED);
	assert_string_equal(c.builds[0]->error, "make exited with status 2");
	unik_store_contents_free(&c);

	assert_int_equal(unik_store_begin(s, NULL), 0);
	assert_int_equal(unik_store_del_image(s, im.id, NULL), 0);
	assert_int_equal(unik_store_del_instance(s, in.id, NULL), 0);
	assert_int_equal(unik_store_commit(s, NULL), 0);
	assert_int_equal(unik_store_load(s, &c, NULL), 0);
	assert_int_equal(c.nimages, 0);
	assert_int_equal(c.ninstances, 0);
	unik_store_contents_free(&c);
	unik_store_close(s);
	strv_free(&im.env);
	unik_formats_free(&im.formats);
	strv_free(&in.env);
	strv_free(&in.provider_opts);
}

/* tests/data/store/v0/unik.sql of the source tree. */
static char *fixture_sql(void)
{
	const char *src = getenv("UNIK_SOURCE_DIR");
	char exe[512];
	ssize_t n;

	if (src)
		return unik_path_join(src, "tests/data/store/v0/unik.sql");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	for (char *slash; (slash = strrchr(exe, '/'));) {
		_cleanup_free_ char *p = NULL;

		*slash = '\0';
		p = xasprintf("%s/tests/data/store/v0/unik.sql", exe);
		if (access(p, R_OK) == 0)
			return unik_steal_ptr(&p);
	}
	fail_msg("tests/data/store/v0/unik.sql not found: set UNIK_SOURCE_DIR");
	return NULL;
}

static void load_sql(const char *path, const char *sql_file)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	sqlite3 *db;

	assert_int_equal(unik_read_file(sql_file, &text, &len, NULL), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_v0_upgrade(void **state)
{
	_cleanup_free_ char *path = db_path(), *sql = fixture_sql();
	struct unik_store *s;
	struct unik_store_contents c;
	int from = -1;

	(void)state;
	load_sql(path, sql);
	assert_int_equal(unik_store_open(path, &s, &from, NULL), 0);
	assert_int_equal(from, 0);
	assert_int_equal(unik_store_load(s, &c, NULL), 0);
	assert_int_equal(c.nimages, 1);
	assert_int_equal(c.nbuilds, 2);
	assert_int_equal(c.ninstances, 1);
	assert_int_equal(c.max_seq, 4);
	assert_string_equal(c.images[0]->name, "tick");
	assert_string_equal(c.images[0]->env.v[0], "GREETING=hi there");
	assert_int_equal(c.images[0]->elf_size, 99800);
	assert_int_equal(c.images[0]->formats.n, 2);
	assert_string_equal(c.images[0]->formats.v[1].name, "qcow2");
	assert_string_equal(c.builds[1]->error, "make exited with status 2");
	assert_null(c.builds[1]->image_id);
	assert_int_equal(c.instances[0]->state, UNIK_STATE_EXITED);
	assert_int_equal(c.instances[0]->exit_code, 0);
	assert_string_equal(c.instances[0]->cmdline, "GREETING=yo 2 3");
	unik_store_contents_free(&c);
	unik_store_close(s);
	/* Once upgraded, it opens at the newest version. */
	assert_int_equal(unik_store_open(path, &s, &from, NULL), 0);
	assert_int_equal(from, UNIK_STORE_SCHEMA_VERSION);
	unik_store_close(s);
}

static void test_newer_refused(void **state)
{
	_cleanup_free_ char *path = db_path();
	struct unik_store *s = NULL;
	struct unik_error err = {0};
	sqlite3 *db;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(unik_store_open(path, &s, NULL, &err), -1);
	assert_int_equal(err.code, UNIK_E_STATE);
	assert_non_null(strstr(err.msg, "schema version 99, newer than this unik knows"));
}

/* Networks keep their dhcp flag (schema 3); a version-2 database, whose networks table has no
 * dhcp column, gains it with 0 for the networks it holds. */
static void test_network_dhcp(void **state)
{
	_cleanup_free_ char *path = db_path();
	struct unik_store *s = NULL;
	struct unik_store_contents c;
	struct unik_network n = {.id = "dddddddddddd", .seq = 1, .dhcp = true};
	sqlite3 *db;
	int from = -1;

	(void)state;
	n.name = "lan", n.created = "2026-01-01T00:00:00.000Z", n.subnet = "10.88.0.0/24";
	n.gateway = "10.88.0.1", n.bridge = "ukbr-dddddddddd";
	assert_int_equal(unik_store_open(path, &s, NULL, NULL), 0);
	assert_int_equal(unik_store_put_network(s, &n, NULL), 0);
	n.id[0] = 'e', n.name = "plain", n.dhcp = false, n.seq = 2;
	assert_int_equal(unik_store_put_network(s, &n, NULL), 0);
	assert_int_equal(unik_store_load(s, &c, NULL), 0);
	assert_int_equal(c.nnetworks, 2);
	assert_true(c.networks[0]->dhcp);
	assert_false(c.networks[1]->dhcp);
	unik_store_contents_free(&c);
	unik_store_close(s);

	/* Back to version 2: the column goes. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "ALTER TABLE networks DROP COLUMN dhcp;"
	                              "PRAGMA user_version = 2;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(unik_store_open(path, &s, &from, NULL), 0);
	assert_int_equal(from, 2);
	assert_int_equal(unik_store_load(s, &c, NULL), 0);
	assert_int_equal(c.nnetworks, 2);
	assert_string_equal(c.networks[0]->name, "lan");
	assert_false(c.networks[0]->dhcp);
	assert_false(c.networks[1]->dhcp);
	unik_store_contents_free(&c);
	unik_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_network_dhcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v0_upgrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
