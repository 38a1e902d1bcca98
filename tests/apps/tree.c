/* Lists the trees named by its arguments, depth first in name order: "d PATH" for a directory,
 * "f PATH SIZE FNV1A64" for a regular file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int errors;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *p)
{
	struct stat st;

	if (lstat(p, &st) != 0) {
		printf("error stat %s\n", p);
		errors++;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		int fd = open(p, O_RDONLY);
		uint64_t h = 1469598103934665603ull;
		long n = 0;
		unsigned char buf[4096];
		ssize_t r;
		if (fd < 0) {
			printf("error open %s\n", p);
			errors++;
			return;
		}
		while ((r = read(fd, buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < r; i++)
				h = (h ^ buf[i]) * 1099511628211ull;
			n += r;
		}
		close(fd);
		printf("f %s %lld %016llx%s\n", p, (long long)st.st_size, (unsigned long long)h,
		       n == st.st_size ? "" : " (read length differs)");
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		printf("? %s\n", p);
		return;
	}
	printf("d %s\n", p);
	DIR *d = opendir(p);
	if (!d) {
		printf("error opendir %s\n", p);
		errors++;
		return;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	for (size_t i = 0; i < n; i++) {
		char child[1024];
		snprintf(child, sizeof child, "%s/%s", strcmp(p, "/") ? p : "", names[i]);
		walk(child);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		walk(argv[i]);
	printf("tree: %d errors\n", errors);
	return errors ? 1 : 0;
}
