/* The compiled-in compilers, and finding one by base and language. */
#include "compilers/compiler.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

extern const struct unik_compiler unik_compiler_rump;

const struct unik_compiler *const unik_compilers[] = {
    &unik_compiler_rump,
    NULL,
};

const struct unik_compiler *unik_compiler_find(const char *base, const char *language,
                                               struct unik_error *err)
{
	bool base_seen = false;

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
	if (base_seen)
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "compiler base \"%.40s\" does not support language \"%.40s\" (see unik "
		    "compilers)",
		    base, language);
	else
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "no compiler with base \"%.40s\" (available: rump; see unik compilers)", base);
	return NULL;
}

char *unik_cc_path(void)
{
	const char *env = getenv("UNIK_CC");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return xstrdup("unik-cc");
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return xstrdup("unik-cc");
	*slash = '\0';
	return unik_path_join(self, "unik-cc");
}
