/* lib/oci_state: the container record round trip and the OCI state document (golden file
 * tests/data/oci/state-public.json; UNIK_TEST_REGENERATE=1 rewrites it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/oci_state.h"
#include "lib/util.h"

static void fill(struct oci_state *s)
{
	memset(s, 0, sizeof(*s));
	s->id = xstrdup("c0ffee");
	s->oci_version = xstrdup("1.0.2-dev");
	s->bundle = xstrdup("/run/bundle");
	s->rootfs = xstrdup("/run/bundle/rootfs");
	s->created = xstrdup("2024-01-02T03:04:05.123456789Z");
	s->owner = xstrdup("");
	s->pid = 4242;
	s->pid_start = 18446744073709551615ull; /* survives JSON without rounding */
	s->kernel = xstrdup("/run/bundle/rootfs/ociapp");
	s->cmdline = xstrdup("K='a b' ociapp args");
	s->accel = xstrdup("kvm");
	s->memory_mb = 128;
	s->terminal = true;
	s->annotations = json_pack("{s:s}", "org.unik.kernel", "/ociapp");
}

static void test_round_trip(void **state)
{
	struct oci_state a, b;
	struct unik_error err;
	char *text, *again;

	(void)state;
	fill(&a);
	text = oci_state_dump(&a);
	assert_int_equal(oci_state_parse(text, strlen(text), &b, &err), 0);
	assert_string_equal(b.id, a.id);
	assert_string_equal(b.bundle, a.bundle);
	assert_string_equal(b.cmdline, a.cmdline);
	assert_int_equal(b.pid, a.pid);
	assert_true(b.pid_start == a.pid_start);
	assert_int_equal(b.memory_mb, 128);
	assert_true(b.terminal);
	assert_string_equal(json_string_value(json_object_get(b.annotations, "org.unik.kernel")),
	                    "/ociapp");
	again = oci_state_dump(&b);
	assert_string_equal(text, again);
	free(text);
	free(again);
	oci_state_free(&a);
	oci_state_free(&b);
}

static void test_parse_errors(void **state)
{
	struct oci_state s;
	struct unik_error err;

	(void)state;
	assert_int_equal(oci_state_parse("{", 1, &s, &err), -1);
	oci_state_free(&s);
	assert_int_equal(oci_state_parse("{\"id\":1}", 8, &s, &err), -1);
	assert_non_null(strstr(err.msg, "\"id\""));
	oci_state_free(&s);
}

static char *golden_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	for (char *slash = strrchr(self, '/'); slash; slash = strrchr(self, '/')) {
		*slash = '\0';
		char *p = unik_path_join(self[0] ? self : "/", "tests/data/oci");
		if (access(p, F_OK) == 0) {
			char *g = unik_path_join(p, "state-public.json");
			free(p);
			return g;
		}
		free(p);
	}
	return NULL;
}

static void test_public_golden(void **state)
{
	struct oci_state s;
	_cleanup_free_ char *path = golden_path();
	_cleanup_free_ char *want = NULL;
	json_t *running, *stopped, *both;
	char *text;

	(void)state;
	if (!path)
		skip();
	fill(&s);
	running = oci_state_public(&s, "running");
	stopped = oci_state_public(&s, "stopped");
	assert_int_equal(json_integer_value(json_object_get(stopped, "pid")), 0);
	both = json_pack("{s:o, s:o}", "running", running, "stopped", stopped);
	text = json_dumps(both, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(both);
	if (getenv("UNIK_TEST_REGENERATE")) {
		_cleanup_free_ char *withnl = xasprintf("%s\n", text);
		assert_int_equal(unik_write_file_atomic(path, withnl, strlen(withnl), 0644, NULL),
		                 0);
	}
	assert_int_equal(unik_read_file(path, &want, NULL, NULL), 0);
	want[strcspn(want, "\0")] = '\0';
	if (strlen(want) && want[strlen(want) - 1] == '\n')
		want[strlen(want) - 1] = '\0';
	assert_string_equal(text, want);
	free(text);
	oci_state_free(&s);
}

static void test_now(void **state)
{
	char *t = unik_now_rfc3339(9);

	(void)state;
	assert_int_equal(strlen(t), strlen("2024-01-02T03:04:05.123456789Z"));
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[strlen(t) - 1], 'Z');
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_public_golden),
	    cmocka_unit_test(test_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
