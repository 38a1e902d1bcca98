/* Unit tests for lib/client: UniK's client-config.yaml (parsed with libyaml, written back), the
 * host forms users give, escaping, error-code mapping, and a clear transport error when no daemon
 * listens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "util.h"

static char *parse_ok(const char *text)
{
	struct unik_error err = {0};
	char *host = NULL;

	if (unik_client_config_parse(text, strlen(text), &host, &err) < 0)
		fail_msg("parsing %s: %s", text, err.msg);
	return host;
}

static void test_config_parse(void **state)
{
	static const char *const cases[][2] = {
	    {"host: \"10.0.0.5:3000\"\n", "10.0.0.5:3000"},
	    {"host: 10.0.0.5:3000\n", "10.0.0.5:3000"},
	    {"# written by unik target\nhost: 'h:1'\n", "h:1"},
	    {"other: 1\nnested:\n  host: wrong\n  list: [1, 2]\nhost: right:2\n", "right:2"},
	    {"seq:\n  - host: no\nhost: yes:3\nafter: {a: b}\n", "yes:3"},
	    {"---\nhost: doc:4\n...\n", "doc:4"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *host = parse_ok(cases[i][0]);

		assert_non_null(host);
		assert_string_equal(host, cases[i][1]);
	}
}

static void test_config_without_host(void **state)
{
	static const char *const cases[] = {"", "\n# nothing\n", "host:\n", "host: \"\"\n",
	                                    "other: x\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *host = parse_ok(cases[i]);

		assert_null(host);
	}
}

static void test_config_errors(void **state)
{
	static const char *const cases[][2] = {
	    {"- a\n- b\n", "line 1"},
	    {"host: [a, b]\n", "host must be a string"},
	    {"host: {a: b}\n", "host must be a string"},
	    {"x: 1\nhost: \"unterminated\n", "line"},
	    {"just text\n", "expected a mapping"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unik_error err = {0};
		char *host = NULL;

		assert_int_equal(
		    unik_client_config_parse(cases[i][0], strlen(cases[i][0]), &host, &err), -1);
		assert_null(host);
		assert_int_equal(err.code, UNIK_E_INVALID);
		if (!strstr(err.msg, cases[i][1]))
			fail_msg("%s: message `%s` lacks `%s`", cases[i][0], err.msg, cases[i][1]);
	}
}

static void test_config_write_and_load(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *dir = unik_mkdtemp("unik-test-client", &err);
	_cleanup_free_ char *path = NULL, *text = NULL, *host = NULL, *none = NULL;
	_cleanup_free_ char *missing = NULL;

	(void)state;
	assert_non_null(dir);
	path = unik_path_join(dir, "client-config.yaml");
	assert_int_equal(unik_client_config_write(path, "127.0.0.1:3000", &err), 0);
	assert_int_equal(unik_read_file(path, &text, NULL, &err), 0);
	assert_string_equal(text, "host: \"127.0.0.1:3000\"\n");
	assert_int_equal(unik_client_config_load(path, &host, &err), 0);
	assert_string_equal(host, "127.0.0.1:3000");
	missing = unik_path_join(dir, "nope.yaml");
	assert_int_equal(unik_client_config_load(missing, &none, &err), 0);
	assert_null(none);
	free(host);
	host = NULL;
	assert_int_equal(unik_client_config_write(path, "we\"ird\\host", &err), 0);
	assert_int_equal(unik_client_config_load(path, &host, &err), 0);
	assert_string_equal(host, "we\"ird\\host");
	unik_rmtree(dir, NULL);
}

static void test_parse_host(void **state)
{
	static const char *const cases[][3] = {
	    /* input, socket, base url */
	    {"10.0.0.5", NULL, "http://10.0.0.5:3000"},
	    {"10.0.0.5:8080", NULL, "http://10.0.0.5:8080"},
	    {"localhost:1", NULL, "http://localhost:1"},
	    {"[::1]:3001", NULL, "http://[::1]:3001"},
	    {"[::1]", NULL, "http://[::1]:3000"},
	    {"::1", NULL, "http://[::1]:3000"},
	    {"http://h:9/", NULL, "http://h:9"},
	    {"https://unik.example.org", NULL, "https://unik.example.org"},
	    {"unix:/run/unik.sock", "/run/unik.sock", NULL},
	    {"unix:///run/unik.sock", "/run/unik.sock", NULL},
	    {"/tmp/x/daemon.sock", "/tmp/x/daemon.sock", NULL},
	};
	static const char *const bad[] = {"",    "h:",   "h:0",    "h:70000", "h:12x",
	                                  ":80", "[::1", "[::1]x", "unix:"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unik_error err = {0};
		_cleanup_free_ char *sock = NULL, *base = NULL;

		if (unik_client_parse_host(cases[i][0], &sock, &base, &err) < 0)
			fail_msg("%s: %s", cases[i][0], err.msg);
		if (cases[i][1])
			assert_string_equal(sock, cases[i][1]);
		else
			assert_null(sock);
		if (cases[i][2])
			assert_string_equal(base, cases[i][2]);
		else
			assert_null(base);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct unik_error err = {0};
		char *sock = NULL, *base = NULL;

		if (unik_client_parse_host(bad[i], &sock, &base, &err) == 0)
			fail_msg("`%s` was accepted", bad[i]);
		assert_int_equal(err.code, UNIK_E_INVALID);
		assert_null(sock);
		assert_null(base);
	}
}

static void test_escape_and_codes(void **state)
{
	_cleanup_free_ char *a = unik_client_escape("hello-1.2_x~");
	_cleanup_free_ char *b = unik_client_escape("a b/c?d&e%");

	(void)state;
	assert_string_equal(a, "hello-1.2_x~");
	assert_string_equal(b, "a%20b%2Fc%3Fd%26e%25");
	assert_int_equal(unik_client_error_code("not_found", 500), UNIK_E_NOTFOUND);
	assert_int_equal(unik_client_error_code("state", 409), UNIK_E_STATE);
	assert_int_equal(unik_client_error_code("exists", 409), UNIK_E_EXISTS);
	assert_int_equal(unik_client_error_code(NULL, 404), UNIK_E_NOTFOUND);
	assert_int_equal(unik_client_error_code("whatever", 400), UNIK_E_INVALID);
	assert_int_equal(unik_client_error_code(NULL, 401), UNIK_E_PERM);
	assert_int_equal(unik_client_error_code(NULL, 501), UNIK_E_UNSUPPORTED);
	assert_int_equal(unik_client_error_code(NULL, 502), UNIK_E_IO);
}

static void test_no_daemon_is_a_clear_error(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *dir = unik_mkdtemp("unik-test-client", &err);
	_cleanup_free_ char *sock = unik_path_join(dir, "daemon.sock");
	_cleanup_free_ char *want = NULL;
	struct unik_client *c = unik_client_new(sock, NULL, "tok");
	json_t *out = (json_t *)1;

	(void)state;
	assert_int_equal(unik_client_json(c, "GET", "/v1/version", NULL, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, UNIK_E_IO);
	assert_int_equal(unik_client_last_status(c), 0);
	want = xasprintf(
	    "cannot reach the unik daemon at unix socket %s: no such file or directory", sock);
	assert_string_equal(err.msg, want);
	unik_client_free(c);
	unik_rmtree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_parse),
	    cmocka_unit_test(test_config_without_host),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_write_and_load),
	    cmocka_unit_test(test_parse_host),
	    cmocka_unit_test(test_escape_and_codes),
	    cmocka_unit_test(test_no_daemon_is_a_clear_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
