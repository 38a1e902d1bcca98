/* Volumes (test_volumes_guest.py): `vol tree DIR` lists a tree, sorted, with a hash of each
 * file's bytes (the host lists the same tree and compares); `vol write DIR` makes the files the
 * test then checks on the host, and lists them; `vol ro DIR` checks that every change fails with
 * EROFS; `vol umount DIR` writes a file and unmounts the volume; `vol churn DIR` writes and fsyncs
 * files until it is killed (or CHURN_MAX of them); `vol statfs DIR` prints statfs and the
 * st_blocks of DIR's files (fsinfo.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsinfo.h"

static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			printf("FAIL line %d: %s (errno %d)\n", __LINE__, #c, errno);              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a over the bytes, and the number of them. */
static void hash_file(const char *path, uint64_t *h, uint64_t *n)
{
	static unsigned char buf[65536];
	int fd = open(path, O_RDONLY);
	*h = 1469598103934665603ULL;
	*n = 0;
	if (fd < 0)
		return;
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++)
			*h = (*h ^ buf[i]) * 1099511628211ULL;
		*n += (uint64_t)r;
	}
	close(fd);
}

static void tree(const char *dir, const char *rel)
{
	DIR *d = opendir(dir);
	if (!d) {
		printf("cannot open %s\n", dir);
		failures++;
		return;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "lost+found"))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	printf("d %s %zu\n", rel[0] ? rel : ".", n);
	for (size_t i = 0; i < n; i++) {
		char path[4096], r[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		struct stat st;
		if (lstat(path, &st) < 0) {
			printf("cannot stat %s\n", r);
			failures++;
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t l = readlink(path, t, sizeof(t) - 1);
			t[l > 0 ? l : 0] = 0;
			printf("l %s %s\n", r, t);
		} else if (S_ISDIR(st.st_mode)) {
			tree(path, r);
		} else {
			uint64_t h, len;
			hash_file(path, &h, &len);
			printf("f %s %o %llu %016llx\n", r, (unsigned)(st.st_mode & 07777),
			       (unsigned long long)len, (unsigned long long)h);
		}
		free(names[i]);
	}
	free(names);
}

/* The byte at offset o of a file made with seed s. */
static unsigned char pat(uint64_t o, unsigned s)
{
	return (unsigned char)(o * 31 + s * 7 + (o >> 9));
}

static void put(int fd, uint64_t off, size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = pat(off + i, seed);
	CHECK(pwrite(fd, b, n, (off_t)off) == (ssize_t)n);
	free(b);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(close(fd) == 0);
}

static void do_write(const char *dir)
{
	char p[4096], q[4096];
	CHECK(chdir(dir) == 0);
	write_file("small", "hello, volume\n");
	write_file("gone", "to be unlinked\n");
	CHECK(unlink("gone") == 0);
	write_file("old-name", "renamed\n");
	CHECK(rename("old-name", "new-name") == 0);
	write_file("replaced", "will be replaced\n");
	write_file("replacer", "the replacement\n");
	CHECK(rename("replacer", "replaced") == 0);
	CHECK(link("small", "small-link") == 0);

	/* 50 MB with holes and data at odd offsets. */
	int fd = open("sparse", O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0);
	put(fd, 0, 100, 1);
	put(fd, 12345, 3000, 1);
	put(fd, 5000003, 70000, 1);
	put(fd, 20000001, 1 << 20, 1);
	put(fd, 52428795, 10, 1);
	CHECK(fsync(fd) == 0);
	CHECK(close(fd) == 0);
	/* Past the double indirect blocks of 1 KiB blocks: triple indirect. */
	fd = open("far", O_RDWR | O_CREAT, 0644);
	put(fd, 70000000, 5, 2);
	CHECK(close(fd) == 0);
	/* Truncated down, then up: the tail reads as zeros. */
	fd = open("trunc", O_RDWR | O_CREAT, 0644);
	put(fd, 0, 100000, 3);
	CHECK(ftruncate(fd, 5000) == 0);
	CHECK(ftruncate(fd, 8000) == 0);
	CHECK(fdatasync(fd) == 0);
	CHECK(close(fd) == 0);

	CHECK(mkdir("sub", 0755) == 0);
	CHECK(mkdir("sub/deeper", 0700) == 0);
	write_file("sub/deeper/file", "deep\n");
	CHECK(mkdir("empty-gone", 0755) == 0);
	CHECK(rmdir("empty-gone") == 0);
	CHECK(rmdir("sub") < 0 && errno == ENOTEMPTY);
	CHECK(mkdir("moved", 0755) == 0);
	CHECK(rename("moved", "sub/moved") == 0);
	write_file("sub/moved/inside", "inside a moved directory\n");

	CHECK(symlink("small", "fast-link") == 0);
	memset(p, 'x', 200);
	strcpy(p + 200, "/target");
	CHECK(symlink(p, "slow-link") == 0);

	CHECK(mkdir("many", 0755) == 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(p, sizeof(p), "many/file-with-a-longish-name-%04d", i);
		snprintf(q, sizeof(q), "%d\n", i);
		write_file(p, q);
	}
	for (int i = 0; i < 2000; i += 3) {
		snprintf(p, sizeof(p), "many/file-with-a-longish-name-%04d", i);
		CHECK(unlink(p) == 0);
	}
	for (int i = 1; i < 2000; i += 300) {
		snprintf(p, sizeof(p), "many/file-with-a-longish-name-%04d", i);
		snprintf(q, sizeof(q), "many/renamed-%04d", i);
		CHECK(rename(p, q) == 0);
	}
	/* A directory mke2fs made (and e2fsck -D indexed), changed here: it loses its index. */
	struct stat st;
	if (stat("big", &st) == 0) {
		for (int i = 0; i < 100; i++) {
			snprintf(p, sizeof(p), "big/added-%03d", i);
			write_file(p, "added\n");
		}
		for (int i = 0; i < 2000; i += 40) {
			snprintf(p, sizeof(p), "big/entry-%04d", i);
			CHECK(unlink(p) == 0);
		}
	}
	/* Unlinked while open: its blocks go back when it is closed. */
	fd = open("open-unlinked", O_RDWR | O_CREAT, 0644);
	put(fd, 0, 300000, 4);
	CHECK(unlink("open-unlinked") == 0);
	CHECK(close(fd) == 0);
	sync();
}

static void do_ro(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/new", dir);
	CHECK(open(p, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS);
	CHECK(mkdir(p, 0755) < 0 && errno == EROFS);
	CHECK(symlink("x", p) < 0 && errno == EROFS);
	snprintf(p, sizeof(p), "%s/small", dir);
	CHECK(open(p, O_WRONLY) < 0 && errno == EROFS);
	CHECK(open(p, O_RDONLY) >= 0);
	CHECK(truncate(p, 0) < 0 && errno == EROFS);
	CHECK(unlink(p) < 0 && errno == EROFS);
	snprintf(p, sizeof(p), "%s/small", dir);
	char q[4096];
	snprintf(q, sizeof(q), "%s/other", dir);
	CHECK(rename(p, q) < 0 && errno == EROFS);
}

/* Commands in pairs, run in order: vol tree /a write /b. */
/* Writes a file, unmounts the volume, and finds the mount point empty again. */
static void do_umount(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/u", dir);
	write_file(p, "unmounted\n");
	CHECK(umount2(dir, 0) == 0);
	CHECK(access(p, F_OK) < 0 && errno == ENOENT);
}

/* Writes and fsyncs file after file, with unsynced writes between, until the host kills it. */
static void do_churn(const char *dir)
{
	char p[4096];
	const char *max = getenv("CHURN_MAX");
	unsigned n = max ? (unsigned)atoi(max) : 100000;
	CHECK(chdir(dir) == 0);
	for (unsigned i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "f%05u", i);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		put(fd, 0, 20000, i);
		CHECK(fsync(fd) == 0);
		CHECK(close(fd) == 0);
		printf("synced %u\n", i);
		fflush(stdout);
		fd = open("unsynced", O_WRONLY | O_CREAT, 0644);
		put(fd, (i % 64) * 4096, 100000, i);
		close(fd);
		if (i % 5 == 4) {
			snprintf(p, sizeof(p), "f%05u", i - 2);
			CHECK(rename(p, "renamed") == 0);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc % 2 == 0) {
		fprintf(stderr, "usage: vol tree|write|ro|umount|churn|statfs DIR [...]...\n");
		return 2;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "tree")) {
			tree(argv[i + 1], "");
		} else if (!strcmp(argv[i], "write")) {
			do_write(argv[i + 1]);
			tree(".", "");
		} else if (!strcmp(argv[i], "ro")) {
			do_ro(argv[i + 1]);
		} else if (!strcmp(argv[i], "umount")) {
			do_umount(argv[i + 1]);
		} else if (!strcmp(argv[i], "churn")) {
			do_churn(argv[i + 1]);
		} else if (!strcmp(argv[i], "statfs")) {
			failures += fsinfo(argv[i + 1]);
		}
		printf("%s %s\n", argv[i], failures ? "FAILED" : "ok");
	}
	return failures ? 1 : 0;
}
