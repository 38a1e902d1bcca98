/* Unit tests for lib/yamlx (strict YAML with line numbers) and the Unikfile parser built on it
 * (compilers/manifest): accepted files, and the messages for every kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compilers/manifest.h"
#include "lib/yamlx.h"

static void test_tree_and_lines(void **state)
{
	const char *y = "a: 1\nb:\n  - x\n  - 'y'\nc: {d: true}\n";
	struct yamlx_node *n = NULL;
	struct unik_error err;

	(void)state;
	assert_int_equal(yamlx_parse(y, strlen(y), "t.yaml", &n, &err), 0);
	assert_int_equal(n->kind, YAMLX_MAP);
	assert_int_equal(n->n, 3);
	assert_int_equal(yamlx_get(n, "b")->kind, YAMLX_SEQ);
	assert_int_equal(yamlx_get(n, "b")->vals[1]->line, 4);
	assert_true(yamlx_get(n, "b")->vals[1]->quoted);
	assert_null(yamlx_get(n, "zz"));
	int64_t v;
	assert_int_equal(yamlx_int(yamlx_get(n, "a"), "t.yaml", "a", 0, 10, &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(yamlx_int(yamlx_get(n, "a"), "t.yaml", "a", 2, 10, &v, &err), -1);
	bool b;
	assert_int_equal(yamlx_bool(yamlx_get(yamlx_get(n, "c"), "d"), "t.yaml", "d", &b, &err), 0);
	assert_true(b);
	yamlx_free(n);
}

static void expect_parse_error(const char *y, const char *needle)
{
	struct yamlx_node *n = NULL;
	struct unik_error err = {0};

	assert_int_equal(yamlx_parse(y, strlen(y), "f.yaml", &n, &err), -1);
	assert_null(n);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_refused(void **state)
{
	(void)state;
	expect_parse_error("a: 1\na: 2\n", "f.yaml line 2: key \"a\" appears twice");
	expect_parse_error("a: &x 1\nb: *x\n", "anchors");
	expect_parse_error("a: 1\n---\nb: 2\n", "only one YAML document");
	expect_parse_error("a: [1, 2\n", "f.yaml line");
	expect_parse_error("? [1]\n: 2\n", "a key must be a plain word");
	char deep[41];
	memset(deep, '[', 40);
	deep[40] = '\0';
	expect_parse_error(deep, "nested too deeply");
}

static void test_empty_is_empty_map(void **state)
{
	struct yamlx_node *n = NULL;
	struct unik_error err;

	(void)state;
	assert_int_equal(yamlx_parse("", 0, "e", &n, &err), 0);
	assert_int_equal(n->kind, YAMLX_MAP);
	assert_int_equal(n->n, 0);
	yamlx_free(n);
	assert_int_equal(yamlx_parse("# only a comment\n", 17, "e", &n, &err), 0);
	yamlx_free(n);
}

static void test_unikfile_full(void **state)
{
	const char *y =
	    "name: web\nbase: rump\nlanguage: c\nargs: \"web --port 8080\"\n"
	    "env:\n  MODE: prod\n  EMPTY: ''\nmemory: 1G\nfiles: site\nbinary: out/web\n";
	struct unik_manifest m;
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_manifest_parse(y, strlen(y), "Unikfile", &m, &err), 0);
	assert_string_equal(m.name, "web");
	assert_string_equal(m.args, "web --port 8080");
	assert_int_equal(m.env.n, 2);
	assert_string_equal(m.env.v[0], "MODE=prod");
	assert_string_equal(m.env.v[1], "EMPTY=");
	assert_int_equal(m.memory_mb, 1024);
	assert_string_equal(m.files, "site");
	assert_string_equal(m.binary, "out/web");
	unik_manifest_free(&m);
}

static void expect_unikfile_error(const char *y, const char *needle)
{
	struct unik_manifest m;
	struct unik_error err = {0};

	assert_int_equal(unik_manifest_parse(y, strlen(y), "Unikfile", &m, &err), -1);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	unik_manifest_free(&m);
}

static void test_unikfile_errors(void **state)
{
	(void)state;
	expect_unikfile_error("name: a\n\n\n\n\n\nmemroy: 64\n",
	                      "Unikfile line 7: unknown key \"memroy\" (did you mean \"memory\"?)");
	expect_unikfile_error("name: [a]\n", "Unikfile line 1: \"name\" must be a single value");
	expect_unikfile_error("name: 'a b'\n", "Unikfile line 1: image name \"a b\" is not valid");
	expect_unikfile_error("memory: 0\n", "\"memory\" must be MiB");
	expect_unikfile_error("memory: 12T\n", "\"memory\" must be MiB");
	expect_unikfile_error("env:\n  1BAD: x\n", "line 2: \"1BAD\" is not a valid environment");
	expect_unikfile_error("env:\n  A: [1]\n", "must be a single value");
	expect_unikfile_error("files: /etc\n", "\"files\" must be a directory inside the source");
	expect_unikfile_error("files: a/../../b\n", "\"files\" must be a directory inside");
	expect_unikfile_error("binary: ../x\n", "\"binary\" must be a path inside");
	expect_unikfile_error("args: \"a 'b\"\n", "unterminated");
	expect_unikfile_error("- a\n- b\n", "the file must be a mapping");
}

/* A mirage application's devices: flow or block style, block spelled block or blk. */
static void test_unikfile_devices(void **state)
{
	const char *y = "base: mirage\ntarget: virtio\n"
	                "devices: [{net: service}, {block: storage}]\n";
	const char *y2 = "devices:\n  - net: a\n  - blk: b-2\n";
	struct unik_manifest m;
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_manifest_parse(y, strlen(y), "Unikfile", &m, &err), 0);
	assert_string_equal(m.target, "virtio");
	assert_int_equal(m.devices.n, 2);
	assert_string_equal(m.devices.v[0], "net:service");
	assert_string_equal(m.devices.v[1], "blk:storage");
	unik_manifest_free(&m);
	assert_int_equal(unik_manifest_parse(y2, strlen(y2), "Unikfile", &m, &err), 0);
	assert_int_equal(m.devices.n, 2);
	assert_string_equal(m.devices.v[1], "blk:b-2");
	unik_manifest_free(&m);
	expect_unikfile_error("devices: [{disk: x}]\n", "line 1: unknown device kind \"disk\"");
	expect_unikfile_error("devices: [{net: a}, {block: a}]\n", "\"a\" is declared twice");
	expect_unikfile_error("devices: [{net: 9a}]\n", "device name \"9a\"");
	expect_unikfile_error("devices: [{net: abcdefghijklmnop}]\n", "at most 15");
	expect_unikfile_error("devices: [{net: a, block: b}]\n", "a device is {net: NAME}");
	expect_unikfile_error("devices: {net: a}\n", "\"devices\" must be");
}

static void test_manifest_yaml(void **state)
{
	const char *y = "binary_name: hello\nother: ignored\n";
	struct unik_manifest m;
	struct unik_error err;

	(void)state;
	assert_int_equal(unik_manifest_parse_unik(y, strlen(y), &m, &err), 0);
	assert_string_equal(m.binary, "hello");
	assert_string_equal(m.file, "manifest.yaml");
	unik_manifest_free(&m);
}

static void test_parse_memory(void **state)
{
	uint64_t mb;

	(void)state;
	assert_int_equal(unik_parse_memory("64", &mb), 0);
	assert_int_equal(mb, 64);
	assert_int_equal(unik_parse_memory("64M", &mb), 0);
	assert_int_equal(unik_parse_memory("2G", &mb), 0);
	assert_int_equal(mb, 2048);
	assert_int_equal(unik_parse_memory("-1", &mb), -1);
	assert_int_equal(unik_parse_memory("64K", &mb), -1);
	assert_int_equal(unik_parse_memory("", &mb), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_and_lines),     cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_empty_is_empty_map), cmocka_unit_test(test_unikfile_full),
	    cmocka_unit_test(test_unikfile_errors),    cmocka_unit_test(test_manifest_yaml),
	    cmocka_unit_test(test_unikfile_devices),   cmocka_unit_test(test_parse_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
