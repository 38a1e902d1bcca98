/* libFuzzer target: the guest command line on the host side (lib/cmdline.c).  Besides not
 * crashing, what it splits must compose back into a line that splits the same way, and each
 * word quoted must read back as that one word. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cmdline.h"
#include "lib/util.h"

static void same(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = xstrndup((const char *)data, size);
	_cleanup_free_ char *line = NULL;
	struct unik_cmdline c = {0}, back = {0};
	struct unik_error err;

	if (unik_cmdline_split(s, &c, &err) < 0)
		goto out;
	for (size_t i = 0; i < c.env.n; i++)
		if (!unik_env_word_valid(c.env.v[i]))
			abort();
	for (size_t i = 0; i < c.argv.n; i++) {
		_cleanup_free_ char *q = unik_cmdline_quote_word(c.argv.v[i]);
		struct unik_cmdline one = {0};

		if (unik_cmdline_split(q, &one, &err) < 0 || one.env.n + one.argv.n != 1 ||
		    strcmp(one.env.n ? one.env.v[0] : one.argv.v[0], c.argv.v[i]))
			abort();
		unik_cmdline_free(&one);
	}
	if (unik_cmdline_compose(&c.env, &c.argv, &line, &err) < 0) {
		/* The only refusal: argv[0] that reads as NAME=VALUE, which split never yields. */
		abort();
	}
	if (unik_cmdline_split(line, &back, &err) < 0)
		abort();
	same(&c.env, &back.env);
	same(&c.argv, &back.argv);
out:
	unik_cmdline_free(&c);
	unik_cmdline_free(&back);
	return 0;
}
