/* libFuzzer target: image references (lib/registry.c), which come from users and from config
 * files.  Besides not crashing, a reference that parses must print back as one that parses to
 * the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/registry.h"
#include "lib/util.h"

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = xstrndup((const char *)data, size);
	struct unik_registry_ref r = {0}, back = {0};
	struct unik_error err;
	char *u = NULL, *p = NULL;

	if (unik_registry_decode_auth(s, &u, &p, &err) == 0) {
		free(u);
		free(p);
	}
	if (unik_registry_ref_parse(s, &r, &err) < 0)
		return 0;
	_cleanup_free_ char *text = unik_registry_ref_string(&r);
	/* A reference with both a tag and a digest prints with the digest only. */
	if (unik_registry_ref_parse(text, &back, &err) < 0 || !same(r.registry, back.registry) ||
	    !same(r.repository, back.repository) || !same(r.digest, back.digest) ||
	    (!r.digest && !same(r.tag, back.tag)))
		abort();
	unik_registry_ref_free(&r);
	unik_registry_ref_free(&back);
	return 0;
}
