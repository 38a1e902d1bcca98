/* The compiled-in compilers, and finding one by base and language. */
#include "compilers/compiler.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/selfpath.h"
#include "lib/suggest.h"
#include "lib/util.h"

/* The compiled-in backends, one X(BASE) each: compilers/BASE/ defines unik_compiler_BASE, and
 * this line is all that lists it.  Messages and `unik compilers` read the table it makes. */
#define UNIK_COMPILER_LIST(X) X(rump) X(includeos) X(mirage)

#define DECLARE(b) extern const struct unik_compiler unik_compiler_##b;
#define ENTRY(b)   &unik_compiler_##b,
UNIK_COMPILER_LIST(DECLARE)

const struct unik_compiler *const unik_compilers[] = {UNIK_COMPILER_LIST(ENTRY) NULL};

/* The bases of the table, each once, in table order: "rump, includeos". */
static void bases(char *buf, size_t len, const char **names, size_t *n, size_t cap)
{
	size_t used = 0;

	*n = 0;
	buf[0] = '\0';
	for (size_t i = 0; unik_compilers[i]; i++) {
		const char *b = unik_compilers[i]->base;
		bool seen = false;

		for (size_t j = 0; j < *n; j++)
			seen = seen || strcmp(names[j], b) == 0;
		if (seen || *n + 1 >= cap)
			continue;
		names[(*n)++] = b;
		if (used < len)
			used +=
			    (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", b);
	}
	names[*n] = NULL;
}

/* The languages of every compiler with base b: "c, c++". */
static void languages(const char *b, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; unik_compilers[i]; i++) {
		if (strcmp(unik_compilers[i]->base, b) != 0)
			continue;
		for (size_t j = 0; unik_compilers[i]->languages[j] && used < len; j++)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
			                         unik_compilers[i]->languages[j]);
	}
}

const struct unik_compiler *unik_compiler_find(const char *base, const char *language,
                                               struct unik_error *err)
{
	bool base_seen = false;
	char list[256];

	if (!base || !*base)
		base = "rump";
	for (size_t i = 0; unik_compilers[i]; i++) {
		const struct unik_compiler *c = unik_compilers[i];

		if (strcmp(c->base, base) != 0)
			continue;
		base_seen = true;
		if (!language || !*language)
			return c;
		for (size_t j = 0; c->languages[j]; j++)
			if (strcmp(c->languages[j], language) == 0)
				return c;
	}
	if (base_seen) {
		languages(base, list, sizeof(list));
		unik_error_set(err, UNIK_E_INVALID,
		               "compiler base \"%.40s\" does not support language \"%.40s\" "
		               "(languages: %s; see unik compilers)",
		               base, language, list);
	} else {
		const char *names[32];
		const char *near;
		size_t n;

		bases(list, sizeof(list), names, &n, sizeof(names) / sizeof(names[0]));
		near = unik_suggest(base, names, n);
		unik_error_set(err, UNIK_E_INVALID,
		               "no compiler with base \"%.40s\" (%s%s%savailable: %s; see unik "
		               "compilers)",
		               base, near ? "did you mean \"" : "", near ? near : "",
		               near ? "\"? " : "", list);
	}
	return NULL;
}

char *unik_cc_path(void)
{
	const char *env = getenv("UNIK_CC");
	char *found;

	if (env && *env)
		return xstrdup(env);
	found = unik_find_program("unik-cc");
	return found ? found : xstrdup("unik-cc");
}
