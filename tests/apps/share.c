/* Host shares (test_shares_guest.py): `share list DIR` prints a tree, sorted, with every file's
 * size and checksum (read in odd-sized pieces) and every symlink's target, so that the test
 * compares it with what the host has (and with a native run); `share write DIR` changes the tree
 * in every way a program can; `share ro DIR` tries to and expects EROFS each time;
 * `share stat FILE` prints the size and mtime stat() reports; `share statfs DIR` prints statfs and
 * the st_blocks of DIR's files (fsinfo.h); `share attrs DIR` changes the modes and times of
 * DIR/m1 (by name) and DIR/m2 (by descriptor), which the host then checks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsinfo.h"

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL %s: %s\n", what, strerror(errno));
		failures++;
	}
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *path, const char *rel)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("FAIL opendir %s: %s\n", rel, strerror(errno));
		failures++;
		return;
	}
	char *names[1024];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	for (int k = 0; k < n; k++) {
		char p[4096], r[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", path, names[k]);
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", names[k]);
		if (lstat(p, &st) < 0) {
			printf("FAIL lstat %s: %s\n", r, strerror(errno));
			failures++;
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t l = readlink(p, t, sizeof(t) - 1);
			t[l > 0 ? l : 0] = 0;
			printf("link %s -> %s\n", r, t);
		} else if (S_ISDIR(st.st_mode)) {
			printf("dir %s\n", r);
			list(p, r);
		} else {
			int fd = open(p, O_RDONLY);
			static unsigned char buf[70001];
			uint64_t h = 0xcbf29ce484222325ULL, total = 0;
			ssize_t got;
			while (fd >= 0 && (got = read(fd, buf, sizeof(buf))) > 0) {
				h = fnv(h, buf, (size_t)got);
				total += (uint64_t)got;
			}
			if (fd >= 0)
				close(fd);
			printf("file %s %llu %llu %016llx\n", r, (unsigned long long)st.st_size,
			       (unsigned long long)total, (unsigned long long)h);
		}
		free(names[k]);
	}
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	check(fd >= 0, path);
	if (fd >= 0) {
		check(write(fd, text, strlen(text)) == (ssize_t)strlen(text), path);
		check(fsync(fd) == 0, "fsync");
		close(fd);
	}
}

static void write_tree(const char *dir)
{
	char a[4096], b[4096];
	check(chdir(dir) == 0, "chdir");
	check(mkdir("made", 0755) == 0, "mkdir made");
	check(mkdir("made/deeper", 0700) == 0, "mkdir made/deeper");
	put("made/deeper/note.txt", "written by the guest\n");
	put("to-rename.txt", "renamed\n");
	check(rename("to-rename.txt", "made/renamed.txt") == 0, "rename");
	check(unlink("remove-me.txt") == 0, "unlink");
	check(rmdir("empty-dir") == 0, "rmdir");
	check(rmdir("made") < 0 && errno == ENOTEMPTY, "rmdir of a full directory");
	check(symlink("made/renamed.txt", "link-to-renamed") == 0, "symlink");
	check(link("made/renamed.txt", "hardlink.txt") == 0, "link");
	check(rename("replace-src.txt", "replace-dst.txt") == 0, "rename over a file");
	/* A big file in pieces that straddle the channel's message size, then cut short. */
	int fd = open("big.bin", O_RDWR | O_CREAT | O_EXCL, 0600);
	check(fd >= 0, "create big.bin");
	static unsigned char buf[1 << 20];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + i / 4096);
	for (int k = 0; k < 3; k++)
		check(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "write big.bin");
	check(ftruncate(fd, 2 * sizeof(buf) + 12345) == 0, "ftruncate");
	check(pread(fd, buf, 100, 4096) == 100 && buf[0] == (unsigned char)(4096 * 7 + 1), "pread");
	close(fd);
	struct stat st;
	check(stat("big.bin", &st) == 0 && st.st_size == 2 * (1 << 20) + 12345, "stat big.bin");
	check(stat("link-to-renamed", &st) == 0 && st.st_size == 8, "stat through the symlink");
	check(stat("made/renamed.txt", &st) == 0 && st.st_nlink == 2, "nlink after link");
	check(open("nope/x", O_RDONLY) < 0 && errno == ENOENT, "ENOENT");
	check(mkdir("made", 0755) < 0 && errno == EEXIST, "EEXIST");
	/* What the host wrote before the boot, appended to here. */
	fd = open("host.txt", O_WRONLY | O_APPEND);
	check(fd >= 0 && write(fd, "guest\n", 6) == 6, "append");
	close(fd);
	snprintf(a, sizeof(a), "%s", "made/deeper");
	snprintf(b, sizeof(b), "%s", "moved-dir");
	check(rename(a, b) == 0, "rename a directory");
	check(getcwd(a, sizeof(a)) != NULL && !strcmp(a, dir), "getcwd");
	check(chdir("moved-dir") == 0 && getcwd(a, sizeof(a)) && strstr(a, "/moved-dir"),
	      "getcwd in a moved directory");
}

static void ro(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/new.txt", dir);
	check(open(p, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS, "create on ro");
	snprintf(p, sizeof(p), "%s/host.txt", dir);
	int fd = open(p, O_RDWR);
	if (fd >= 0) {
		check(write(fd, "x", 1) < 0 && errno == EROFS, "write on ro");
		check(ftruncate(fd, 0) < 0 && errno == EROFS, "ftruncate on ro");
		close(fd);
	}
	fd = open(p, O_RDONLY);
	check(fd >= 0, "open for reading on ro");
	close(fd);
	check(unlink(p) < 0 && errno == EROFS, "unlink on ro");
	snprintf(p, sizeof(p), "%s/newdir", dir);
	check(mkdir(p, 0755) < 0 && errno == EROFS, "mkdir on ro");
	check(symlink("x", p) < 0 && errno == EROFS, "symlink on ro");
	char q[4096];
	snprintf(q, sizeof(q), "%s/host.txt", dir);
	check(rename(q, p) < 0 && errno == EROFS, "rename on ro");
	check(link(q, p) < 0 && errno == EROFS, "link on ro");
}

static void attrs(const char *dir)
{
	char p1[4096], p2[4096];
	snprintf(p1, sizeof(p1), "%s/m1", dir);
	snprintf(p2, sizeof(p2), "%s/m2", dir);
	check(chmod(p1, 0604) == 0, "chmod m1");
	struct timespec t1[2] = {{1000000000, 500}, {1200000000, 250000}};
	check(utimensat(AT_FDCWD, p1, t1, 0) == 0, "utimensat m1");
	int fd = open(p2, O_RDWR);
	check(fd >= 0, "open m2");
	check(fchmod(fd, 0640) == 0, "fchmod m2");
	struct timespec t2[2] = {{0, UTIME_OMIT}, {1300000000, 0}};
	check(futimens(fd, t2) == 0, "futimens m2");
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: share list|write|ro|stat|statfs|attrs PATH\n");
		return 2;
	}
	if (!strcmp(argv[1], "list")) {
		list(argv[2], "");
	} else if (!strcmp(argv[1], "write")) {
		write_tree(argv[2]);
	} else if (!strcmp(argv[1], "ro")) {
		ro(argv[2]);
	} else if (!strcmp(argv[1], "stat")) {
		struct stat st;
		check(stat(argv[2], &st) == 0, "stat");
		printf("size %lld mtime %lld\n", (long long)st.st_size, (long long)st.st_mtime);
	} else if (!strcmp(argv[1], "statfs")) {
		failures += fsinfo(argv[2]);
	} else if (!strcmp(argv[1], "attrs")) {
		attrs(argv[2]);
	}
	if (failures)
		printf("FAILED %d\n", failures);
	else
		printf("SUCCESS\n");
	return failures != 0;
}
