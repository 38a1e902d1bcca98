/* The running program's place, and its siblings in a build tree or an installed PREFIX. */
#include "lib/selfpath.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

char *unik_self_dir(void)
{
	char *exe = realpath("/proc/self/exe", NULL);
	char *slash = exe ? strrchr(exe, '/') : NULL;

	if (!slash) {
		free(exe);
		return NULL;
	}
	if (slash == exe)
		slash[1] = '\0';
	else
		*slash = '\0';
	return exe;
}

char *unik_find_program(const char *name)
{
	static const char *const rel[] = {".", "../libexec/unik", "../../bin"};
	_cleanup_free_ char *self = unik_self_dir();

	if (!self || !name || !*name || strchr(name, '/'))
		return NULL;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		_cleanup_free_ char *dir = unik_path_join(self, rel[i]);
		_cleanup_free_ char *cand = unik_path_join(dir, name);
		char *real = realpath(cand, NULL);
		struct stat st;

		if (real && access(real, X_OK) == 0 && stat(real, &st) == 0 && S_ISREG(st.st_mode))
			return real;
		free(real);
	}
	return NULL;
}
