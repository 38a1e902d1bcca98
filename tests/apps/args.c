/* Prints argc, every argument and the sorted environment, each between <> so that empty
 * strings and spaces are visible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	size_t n = 0;

	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=<%s>\n", i, argv[i]);
	if (argv[argc] != NULL)
		printf("argv[argc] is not NULL\n");
	while (environ[n])
		n++;
	char **env = malloc((n + 1) * sizeof *env);
	if (!env)
		return 1;
	memcpy(env, environ, (n + 1) * sizeof *env);
	qsort(env, n, sizeof *env, cmp);
	for (size_t i = 0; i < n; i++)
		printf("env <%s>\n", env[i]);
	printf("getenv(HOME)=<%s>\n", getenv("HOME") ? getenv("HOME") : "(null)");
	return 0;
}
