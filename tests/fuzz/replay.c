/* The corpus replay of make test: a main for any tests/fuzz/fuzz_<name>.c built without libFuzzer.
 * Run as test_fuzz_<name> with no arguments it feeds every file of tests/fuzz/corpus/<name>/ to
 * LLVMFuzzerTestOneInput and prints one TAP case; given files, it replays just those (to
 * reproduce a crash under gdb or make asan without clang). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#ifndef UNIK_FUZZ_CORPUS
#error "UNIK_FUZZ_CORPUS must name tests/fuzz/corpus"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds one file; the copy is exactly its size, so ASan sees a read past the end as libFuzzer
 * would. */
static int replay_file(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ uint8_t *copy = NULL;
	struct unik_error err;
	size_t len;

	printf("# %s\n", path);
	fflush(stdout);
	if (unik_read_file(path, &buf, &len, &err) < 0) {
		printf("# %s\n", err.msg);
		return -1;
	}
	copy = xmalloc(len ? len : 1);
	memcpy(copy, buf, len);
	LLVMFuzzerTestOneInput(copy, len);
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *name = strncmp(self, "test_fuzz_", 10) ? self : self + 10;
	_cleanup_free_ char *dir = unik_path_join(UNIK_FUZZ_CORPUS, name);
	_cleanup_strv_ struct strv files = {0};
	int failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			failed |= replay_file(argv[i]) < 0;
		return failed;
	}

	DIR *d = opendir(dir);
	struct dirent *de;

	printf("1..1\n");
	if (!d) {
		printf("not ok 1 - corpus\n# no seed corpus `%s`: add one file per input there "
		       "(docs/fuzzing.md)\n",
		       dir);
		return 1;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			strv_push_take(&files, unik_path_join(dir, de->d_name));
	closedir(d);
	if (!files.n) {
		printf("not ok 1 - corpus\n# `%s` is empty: add one file per input there "
		       "(docs/fuzzing.md)\n",
		       dir);
		return 1;
	}
	qsort(files.v, files.n, sizeof(files.v[0]), cmp);
	for (size_t i = 0; i < files.n; i++)
		failed |= replay_file(files.v[i]) < 0;
	printf("%s 1 - corpus\n# %zu inputs replayed\n", failed ? "not ok" : "ok", files.n);
	return failed;
}
