/* Unit tests for lib/registry: image references as Docker spells them (registry detection,
 * Docker Hub's library/ prefix, tags and digests), what is refused and why, and the base64 logins
 * of a Docker config.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/registry.h"

static void check_ref(const char *text, const char *registry, const char *repo, const char *tag,
                      const char *digest)
{
	struct unik_registry_ref r;
	struct unik_error err = {0};

	if (unik_registry_ref_parse(text, &r, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.msg);
	assert_string_equal(r.registry, registry);
	assert_string_equal(r.repository, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	unik_registry_ref_free(&r);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_refs(void **state)
{
	(void)state;
	check_ref("hello", "docker.io", "library/hello", "latest", NULL);
	check_ref("me/hello:1.0", "docker.io", "me/hello", "1.0", NULL);
	check_ref("127.0.0.1:5000/hello", "127.0.0.1:5000", "hello", "latest", NULL);
	check_ref("localhost/a/b/c:v_1", "localhost", "a/b/c", "v_1", NULL);
	check_ref("ghcr.io/me/hello-world.x", "ghcr.io", "me/hello-world.x", "latest", NULL);
	check_ref("127.0.0.1:5000/hello@" D, "127.0.0.1:5000", "hello", NULL, D);
	check_ref("registry:5000/x:t@" D, "registry:5000", "x", "t", D);
}

static void test_bad_refs(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"", "not an image reference"},
	    {"http://127.0.0.1/x", "not an image reference"},
	    {"a b", "not an image reference"},
	    {"Hello", "repository"},
	    {"127.0.0.1:5000/UPPER", "repository"},
	    {"127.0.0.1:5000/a//b", "repository"},
	    {"127.0.0.1:5000/-a", "repository"},
	    {"x:", "tag"},
	    {"x:-bad", "tag"},
	    {"x@sha256:12", "digest"},
	    {"x@md5:0123456789abcdef0123456789abcdef", "digest"},
	    {"x@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct unik_registry_ref r;
		struct unik_error err = {0};

		if (unik_registry_ref_parse(bad[i].text, &r, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i].text);
		assert_int_equal(err.code, UNIK_E_INVALID);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("\"%s\": wanted \"%s\" in: %s", bad[i].text, bad[i].want, err.msg);
	}
}

static void test_ref_string(void **state)
{
	struct unik_registry_ref r;
	struct unik_error err = {0};
	char *s;

	(void)state;
	assert_int_equal(unik_registry_ref_parse("hello", &r, &err), 0);
	s = unik_registry_ref_string(&r);
	assert_string_equal(s, "docker.io/library/hello:latest");
	assert_string_equal(unik_registry_ref_reference(&r), "latest");
	free(s);
	unik_registry_ref_free(&r);
	assert_int_equal(unik_registry_ref_parse("h:1/x@" D, &r, &err), 0);
	s = unik_registry_ref_string(&r);
	assert_string_equal(s, "h:1/x@" D);
	assert_string_equal(unik_registry_ref_reference(&r), D);
	free(s);
	unik_registry_ref_free(&r);
}

static void test_decode_auth(void **state)
{
	struct unik_error err = {0};
	char *u = NULL, *p = NULL;

	(void)state;
	/* base64("alice:s3cret pass") and base64("bob:a:b") (the password keeps its colons) */
	assert_int_equal(unik_registry_decode_auth("YWxpY2U6czNjcmV0IHBhc3M=", &u, &p, &err), 0);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "s3cret pass");
	free(u);
	free(p);
	assert_int_equal(unik_registry_decode_auth("Ym9iOmE6Yg==", &u, &p, &err), 0);
	assert_string_equal(u, "bob");
	assert_string_equal(p, "a:b");
	free(u);
	free(p);
	/* not base64; no colon ("alice"); no user (":x") */
	assert_int_equal(unik_registry_decode_auth("!!!!", &u, &p, &err), -1);
	assert_int_equal(unik_registry_decode_auth("YWxpY2U=", &u, &p, &err), -1);
	assert_int_equal(unik_registry_decode_auth("Ong=", &u, &p, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refs),
	    cmocka_unit_test(test_bad_refs),
	    cmocka_unit_test(test_ref_string),
	    cmocka_unit_test(test_decode_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
