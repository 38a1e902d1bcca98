/* The root file system through POSIX calls, with the errors Linux gives.  Prints "ok - what" or
 * "FAIL - what: detail" per check and a summary; the exit status is the number of failures
 * (capped at 100).  argv[1] is the directory to work in (default /tmp). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int checks, failures;

static void check(int ok, const char *what, const char *fmt, long a, long b)
{
	checks++;
	if (ok) {
		printf("ok - %s\n", what);
		return;
	}
	failures++;
	printf("FAIL - %s: ", what);
	printf(fmt, a, b);
	printf("\n");
}

/* A call that must succeed. */
#define OK(expr, what)                                                                             \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		check(r_ >= 0, what, "returned %ld, errno %ld", r_, errno);                        \
	} while (0)

/* A call that must fail with errno E. */
#define ERR(expr, E, what)                                                                         \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		check(r_ == -1 && errno == (E), what, "returned %ld, errno %ld (want -1, " #E ")", \
		      r_, errno);                                                                  \
	} while (0)

#define EQ(got, want, what)                                                                        \
	do {                                                                                       \
		long g_ = (long)(got), w_ = (long)(want);                                          \
		check(g_ == w_, what, "got %ld, want %ld", g_, w_);                                \
	} while (0)

static char *path(const char *dir, const char *name)
{
	static char buf[8][512];
	static int i;
	char *p = buf[i++ % 8];
	snprintf(p, 512, "%s/%s", strcmp(dir, "/") ? dir : "", name);
	return p;
}

static long fsize(const char *p)
{
	struct stat st;
	if (stat(p, &st) != 0)
		return -1;
	return (long)st.st_size;
}

static int listing_has(const char *dir, const char *const *want, int nwant, int exact)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0, others = 0, dots = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		int hit = 0;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			dots++;
			continue;
		}
		for (int i = 0; i < nwant; i++)
			if (!strcmp(e->d_name, want[i]))
				hit = 1;
		found += hit;
		others += !hit;
	}
	closedir(d);
	return found == nwant && (!exact || others == 0) && dots == 2;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char buf[256];
	struct stat st;
	int fd;

	printf("working in %s\n", dir);
	char top[512];
	snprintf(top, sizeof top, "%s", path(dir, "unik-files"));
	OK(mkdir(top, 0755), "mkdir top");
	ERR(mkdir(top, 0755), EEXIST, "mkdir existing is EEXIST");
	OK(stat(top, &st), "stat top");
	check(S_ISDIR(st.st_mode), "top is a directory", "mode %lo%ld", (long)st.st_mode, 0);

	const char *f = strdup(path(top, "a.txt"));
	fd = open(f, O_CREAT | O_EXCL | O_RDWR, 0644);
	check(fd >= 0, "create a.txt", "fd %ld errno %ld", fd, errno);
	ERR(open(f, O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST, "O_EXCL on existing is EEXIST");
	EQ(write(fd, "hello, world\n", 13), 13, "write 13 bytes");
	EQ(lseek(fd, 0, SEEK_CUR), 13, "offset after write");
	EQ(fsize(f), 13, "stat size 13");
	EQ(lseek(fd, 7, SEEK_SET), 7, "lseek SEEK_SET");
	memset(buf, 0, sizeof buf);
	EQ(read(fd, buf, sizeof buf), 6, "read rest");
	check(!memcmp(buf, "world\n", 6), "read contents", "%ld%ld", 0, 0);
	EQ(read(fd, buf, sizeof buf), 0, "read at EOF is 0");
	EQ(lseek(fd, -6, SEEK_END), 7, "lseek SEEK_END");
	EQ(pwrite(fd, "WORLD", 5, 7), 5, "pwrite");
	EQ(lseek(fd, 0, SEEK_CUR), 7, "pwrite keeps the offset");
	memset(buf, 0, sizeof buf);
	EQ(pread(fd, buf, 12, 0), 12, "pread");
	check(!strcmp(buf, "hello, WORLD"), "pread contents", "%ld%ld", 0, 0);
	/* A write past the end leaves a hole of zeros. */
	EQ(pwrite(fd, "Z", 1, 4099), 1, "pwrite past the end");
	EQ(fsize(f), 4100, "size after the hole");
	memset(buf, 1, sizeof buf);
	EQ(pread(fd, buf, 10, 20), 10, "pread in the hole");
	check(buf[0] == 0 && buf[9] == 0, "hole reads zeros", "%ld %ld", buf[0], buf[9]);
	OK(ftruncate(fd, 5), "ftruncate shrink");
	EQ(fsize(f), 5, "size after shrink");
	OK(ftruncate(fd, 100), "ftruncate grow");
	OK(fstat(fd, &st), "fstat");
	EQ(st.st_size, 100, "fstat size after grow");
	check(S_ISREG(st.st_mode), "a.txt is regular", "mode %lo%ld", (long)st.st_mode, 0);
	memset(buf, 1, sizeof buf);
	EQ(pread(fd, buf, 100, 0), 100, "pread after grow");
	check(!memcmp(buf, "hello", 5) && buf[5] == 0 && buf[99] == 0, "grown part is zeros",
	      "%ld %ld", buf[5], buf[99]);

	/* dup, dup2, fcntl */
	int fd2 = dup(fd);
	check(fd2 > fd, "dup gives a new descriptor", "fd2 %ld fd %ld", fd2, fd);
	EQ(lseek(fd, 2, SEEK_SET), 2, "lseek before dup check");
	EQ(lseek(fd2, 0, SEEK_CUR), 2, "dup shares the offset");
	EQ(dup2(fd, 20), 20, "dup2 to 20");
	EQ(lseek(20, 0, SEEK_CUR), 2, "dup2 shares the offset");
	EQ(fcntl(fd, F_GETFD), 0, "F_GETFD is 0");
	OK(fcntl(fd, F_SETFD, FD_CLOEXEC), "F_SETFD");
	EQ(fcntl(fd, F_GETFD), FD_CLOEXEC, "F_GETFD after F_SETFD");
	EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR, "F_GETFL access mode");
	int fd3 = fcntl(fd, F_DUPFD, 30);
	check(fd3 >= 30, "F_DUPFD at least 30", "got %ld%ld", fd3, 0);
	OK(close(fd3), "close F_DUPFD copy");
	OK(close(20), "close 20");
	ERR(close(20), EBADF, "close twice is EBADF");
	ERR(read(77, buf, 1), EBADF, "read bad fd is EBADF");
	OK(close(fd2), "close dup");
	OK(close(fd), "close");

	/* O_APPEND and O_TRUNC */
	fd = open(f, O_WRONLY | O_APPEND);
	OK(fd, "open O_APPEND");
	lseek(fd, 0, SEEK_SET);
	EQ(write(fd, "tail", 4), 4, "append write");
	EQ(fsize(f), 104, "append goes to the end");
	close(fd);
	fd = open(f, O_WRONLY | O_TRUNC);
	OK(fd, "open O_TRUNC");
	EQ(fsize(f), 0, "O_TRUNC empties");
	close(fd);
	ERR(open(f, O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file is ENOTDIR");

	/* access */
	OK(access(f, F_OK), "access F_OK");
	OK(access(f, R_OK | W_OK), "access R_OK|W_OK");
	ERR(access(path(top, "nope"), F_OK), ENOENT, "access missing is ENOENT");

	/* Errors */
	ERR(open(path(top, "missing"), O_RDONLY), ENOENT, "open missing is ENOENT");
	ERR(open(path(top, "no/such/dir"), O_CREAT | O_WRONLY, 0644), ENOENT,
	    "create under a missing dir is ENOENT");
	ERR(open(path(f, "x"), O_RDONLY), ENOTDIR, "a file used as a directory is ENOTDIR");
	ERR(mkdir(path(f, "x"), 0755), ENOTDIR, "mkdir under a file is ENOTDIR");
	ERR(open(top, O_WRONLY), EISDIR, "open a directory for writing is EISDIR");
	ERR(unlink(top), EISDIR, "unlink a directory is EISDIR");
	ERR(rmdir(f), ENOTDIR, "rmdir a file is ENOTDIR");
	ERR(stat(path(top, "missing"), &st), ENOENT, "stat missing is ENOENT");
	fd = open(top, O_RDONLY | O_DIRECTORY);
	OK(fd, "open a directory O_RDONLY");
	ERR(read(fd, buf, 10), EISDIR, "read a directory is EISDIR");
	close(fd);

	/* Directories, rename, listing */
	const char *sub = strdup(path(top, "sub"));
	OK(mkdir(sub, 0755), "mkdir sub");
	fd = open(path(sub, "inner"), O_CREAT | O_WRONLY, 0600);
	OK(fd, "create sub/inner");
	EQ(write(fd, "12345678", 8), 8, "write inner");
	close(fd);
	ERR(rmdir(sub), ENOTEMPTY, "rmdir non-empty is ENOTEMPTY");
	OK(rename(f, path(top, "b.txt")), "rename a.txt to b.txt");
	ERR(stat(f, &st), ENOENT, "old name is gone");
	EQ(fsize(path(top, "b.txt")), 0, "new name has the size");
	OK(rename(path(sub, "inner"), path(top, "moved")), "rename across directories");
	EQ(fsize(path(top, "moved")), 8, "moved file keeps its size");
	fd = open(path(top, "c.txt"), O_CREAT | O_WRONLY, 0644);
	write(fd, "c", 1);
	close(fd);
	OK(rename(path(top, "c.txt"), path(top, "moved")), "rename over an existing file");
	EQ(fsize(path(top, "moved")), 1, "replaced file has the new contents");
	{
		static const char *const want[] = {"b.txt", "sub", "moved"};
		check(listing_has(top, want, 3, 1), "readdir lists exactly b.txt sub moved . ..",
		      "%ld%ld", 0, 0);
	}
	OK(rmdir(sub), "rmdir empty sub");
	ERR(rmdir(sub), ENOENT, "rmdir again is ENOENT");
	OK(unlink(path(top, "moved")), "unlink moved");
	ERR(unlink(path(top, "moved")), ENOENT, "unlink again is ENOENT");

	/* An open file survives its unlink. */
	fd = open(path(top, "ghost"), O_CREAT | O_RDWR, 0644);
	write(fd, "boo", 3);
	OK(unlink(path(top, "ghost")), "unlink an open file");
	memset(buf, 0, sizeof buf);
	EQ(pread(fd, buf, 3, 0), 3, "read the unlinked file");
	check(!strcmp(buf, "boo"), "unlinked contents intact", "%ld%ld", 0, 0);
	close(fd);

	/* cwd */
	char cwd[512];
	check(getcwd(cwd, sizeof cwd) != NULL, "getcwd", "errno %ld%ld", errno, 0);
	OK(chdir(top), "chdir top");
	check(getcwd(cwd, sizeof cwd) && !strcmp(cwd, top), "getcwd after chdir", "%ld%ld", 0, 0);
	fd = open("rel.txt", O_CREAT | O_WRONLY, 0644);
	OK(fd, "create by relative path");
	write(fd, "relative", 8);
	close(fd);
	EQ(fsize(path(top, "rel.txt")), 8, "relative file is in top");
	OK(chdir(".."), "chdir ..");
	EQ(fsize("unik-files/rel.txt"), 8, "relative path from the parent");
	ERR(chdir(path(top, "b.txt")), ENOTDIR, "chdir to a file is ENOTDIR");
	OK(unlink(path(top, "rel.txt")), "unlink rel.txt");
	OK(unlink(path(top, "b.txt")), "unlink b.txt");
	OK(rmdir(top), "rmdir top");
	ERR(stat(top, &st), ENOENT, "top is gone");

	/* A bigger file, written in odd chunks. */
	fd = open(path(dir, "unik-big"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	long total = 0, bad = 0;
	for (int i = 0; i < 300; i++) {
		char chunk[3001];
		int n = 1 + (i * 977) % 3000;
		for (int j = 0; j < n; j++)
			chunk[j] = (char)(total + j);
		total += write(fd, chunk, n);
	}
	EQ(fsize(path(dir, "unik-big")), total, "big file size");
	lseek(fd, 0, SEEK_SET);
	long got = 0;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n <= 0)
			break;
		for (ssize_t j = 0; j < n; j++)
			bad += chunk[j] != (char)(got + j);
		got += n;
	}
	EQ(got, total, "big file reads back whole");
	EQ(bad, 0, "big file bytes intact");
	close(fd);
	OK(unlink(path(dir, "unik-big")), "unlink big");

	/* /dev is a file system of its own mounted there, as on Linux: lookups cross into it and
	 * back out through "..", and names do not move across it. */
	struct stat root_st, up_st;
	char here[512];
	static const char *const devs[] = {"null", "zero", "urandom", "console"};
	check(getcwd(here, sizeof here) != NULL, "getcwd before /dev", "errno %ld%ld", errno, 0);
	check(listing_has("/dev", devs, 4, 0), "listing /dev", "%ld%ld", 0, 0);
	OK(stat("/", &root_st), "stat /");
	OK(stat("/dev/..", &up_st), "stat /dev/..");
	EQ(up_st.st_ino, root_st.st_ino, "/dev/.. is /");
	OK(chdir("/dev"), "chdir /dev");
	check(getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/dev"), "getcwd in /dev", "%ld%ld", 0, 0);
	OK(chdir(".."), "chdir .. out of /dev");
	check(getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/"), "getcwd back at /", "%ld%ld", 0, 0);
	OK(chdir(here), "chdir back");
	ERR(rmdir("/dev"), EBUSY, "rmdir a mount point is EBUSY");
	ERR(rename("/dev/null", path(dir, "unik-null")), EXDEV, "rename out of /dev is EXDEV");
	ERR(link("/dev/null", path(dir, "unik-null")), EXDEV, "link out of /dev is EXDEV");
	fd = open("/dev/unik-test", O_CREAT | O_RDWR, 0644);
	OK(fd, "create a file in /dev");
	close(fd);
	OK(rename("/dev/unik-test", "/dev/unik-test2"), "rename within /dev");
	OK(unlink("/dev/unik-test2"), "unlink in /dev");

	printf("files: %d checks, %d failed\n", checks, failures);
	return failures > 100 ? 100 : failures;
}
