/* Reads and writes directories the host hands the guest (9p shares: docker run -v, unik run -v).
 * shareio DIR...: for each DIR, lines "DIR: entries: a b" (its listing), "DIR: read <...>"
 * (DIR/in.txt), then $SHAREIO_TEXT (default "written by the guest") written to DIR/out.txt with
 * fsync and read back, "DIR: wrote out.txt", or "DIR: write failed: errno N (message)".  The
 * exit status is the number of directories where something failed, after $SHAREIO_HOLD
 * seconds when that is set. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *dir)
{
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		printf("opendir %s failed: errno %d (%s)\n", dir, errno, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("entries:");
	for (size_t i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
	return 0;
}

static int slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (got < size - 1 && (r = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	return 0;
}

/* One directory: 0 when all went, 2 when it could not be read, 3 when the write failed. */
static int share(const char *dir, const char *text)
{
	char path[512], buf[512];
	size_t len = strlen(text);
	int fd;

	printf("%s: ", dir);
	if (list(dir) < 0)
		return 2;
	snprintf(path, sizeof(path), "%s/in.txt", dir);
	if (slurp(path, buf, sizeof(buf)) < 0) {
		printf("%s: read in.txt failed: errno %d (%s)\n", dir, errno, strerror(errno));
		return 2;
	}
	printf("%s: read <%s>\n", dir, buf);

	snprintf(path, sizeof(path), "%s/out.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		printf("%s: write failed: errno %d (%s)\n", dir, errno, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 3;
	}
	close(fd);
	if (slurp(path, buf, sizeof(buf)) < 0 || strcmp(buf, text)) {
		printf("%s: write failed: out.txt reads back <%s>\n", dir, buf);
		return 3;
	}
	printf("%s: wrote out.txt\n", dir);
	return 0;
}

int main(int argc, char **argv)
{
	const char *text = getenv("SHAREIO_TEXT");
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: shareio DIR...\n");
		return 100;
	}
	for (int i = 1; i < argc; i++)
		if (share(argv[i], text ? text : "written by the guest"))
			failed++;
	/* Stays a while, for a test to look at the running VM from the host. */
	if (getenv("SHAREIO_HOLD")) {
		fflush(stdout);
		sleep((unsigned)atoi(getenv("SHAREIO_HOLD")));
	}
	return failed;
}
