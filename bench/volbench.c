/* The program bench/bench_vol.py runs both as a unikernel and, built natively, in a minimal Linux
 * guest: the same calls on the same kind of disk and share.  It prints one "bench KEY VALUE"
 * line per figure (seconds and MB/s, MB = 10^6 bytes) and "volbench ok" at the end.
 *     volbench [disk DIR MIB FILES] [share FILE]...
 * disk: a sequential write of MIB MiB then fsync, read back (checked); FILES small files each
 * written and fsynced.  share: FILE (on a 9p share) read to its end.  In the order given. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK    (1 << 20)
#define SMALL    1024 /* bytes in each small file */
#define ALIGN_TO 4096

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	printf("volbench: %s %s: %s\n", what, path, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Linux keeps what was just written in its page cache: drop it so that the read comes from the
 * disk, as it does in the unikernel (whose block cache is a few MiB).  No such file there. */
static void drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3\n", 2) != 2)
			printf("volbench: drop_caches: %s\n", strerror(errno));
		close(fd);
	}
}

/* The buffers are touched before any timing: the first touch of a guest page costs a fault in
 * the guest and, the first time, in the host (under nested KVM about 2 ms a page here), which is
 * not what is measured. */
static void touch(void *p, size_t n)
{
	memset(p, 1, n);
}

static uint64_t pattern(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ULL ^ (i >> 7);
}

static void fill(uint64_t *buf, uint64_t first, size_t words)
{
	for (size_t i = 0; i < words; i++)
		buf[i] = pattern(first + i);
}

static int disk(const char *dir, long mib, long files)
{
	char path[512];
	uint64_t *buf = aligned_alloc(ALIGN_TO, CHUNK);
	const size_t words = CHUNK / sizeof(uint64_t);

	if (!buf || mib <= 0 || files < 0) {
		printf("volbench: bad arguments\n");
		return 1;
	}
	touch(buf, CHUNK);
	snprintf(path, sizeof(path), "%s/seq", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open", path);
	double t0 = now();
	for (long i = 0; i < mib; i++) {
		fill(buf, (uint64_t)i * words, words);
		if (write(fd, buf, CHUNK) != CHUNK)
			die("write", path);
	}
	if (fsync(fd) < 0)
		die("fsync", path);
	double dt = now() - t0;
	close(fd);
	printf("bench seq_write_s %.6f\n", dt);
	printf("bench seq_write_mbps %.3f\n", (double)mib * CHUNK / 1e6 / dt);

	drop_caches();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	uint64_t *want = malloc(CHUNK);
	if (!want)
		die("malloc", path);
	touch(want, CHUNK);
	double check = 0;
	t0 = now();
	for (long i = 0; i < mib; i++) {
		ssize_t got = 0;
		while (got < CHUNK) {
			ssize_t r = read(fd, (char *)buf + got, CHUNK - got);
			if (r <= 0) {
				if (r == 0)
					errno = EIO;
				die("read", path);
			}
			got += r;
		}
		/* The check is not part of the figure. */
		double c0 = now();
		fill(want, (uint64_t)i * words, words);
		if (memcmp(buf, want, CHUNK)) {
			printf("volbench: %s: MiB %ld reads back wrong\n", path, i);
			return 1;
		}
		check += now() - c0;
	}
	dt = now() - t0 - check;
	close(fd);
	printf("bench seq_read_s %.6f\n", dt);
	printf("bench seq_read_mbps %.3f\n", (double)mib * CHUNK / 1e6 / dt);
	if (unlink(path) < 0)
		die("unlink", path);

	snprintf(path, sizeof(path), "%s/small", dir);
	if (mkdir(path, 0755) < 0)
		die("mkdir", path);
	drop_caches();
	t0 = now();
	for (long i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small/f%05ld", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("open", path);
		memset(buf, (int)(i & 0xff), SMALL);
		if (write(fd, buf, SMALL) != SMALL)
			die("write", path);
		if (fsync(fd) < 0)
			die("fsync", path);
		close(fd);
	}
	dt = now() - t0;
	printf("bench small_files_s %.6f\n", dt);
	printf("bench small_files_per_s %.3f\n", (double)files / dt);
	return 0;
}

static int share(const char *file)
{
	char *buf = aligned_alloc(ALIGN_TO, CHUNK);
	uint64_t total = 0, sum = 0;

	if (!buf)
		return 1;
	touch(buf, CHUNK);
	drop_caches();
	double t0 = now();
	int fd = open(file, O_RDONLY);
	if (fd < 0)
		die("open", file);
	for (;;) {
		ssize_t r = read(fd, buf, CHUNK);
		if (r < 0)
			die("read", file);
		if (r == 0)
			break;
		total += (uint64_t)r;
		sum += (unsigned char)buf[r - 1];
	}
	close(fd);
	double dt = now() - t0;
	printf("bench share_read_bytes %llu\n", (unsigned long long)total);
	printf("bench share_read_s %.6f\n", dt);
	printf("bench share_read_mbps %.3f\n", (double)total / 1e6 / dt);
	printf("volbench: checksum %llu\n", (unsigned long long)sum);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (i + 3 < argc && !strcmp(argv[i], "disk")) {
			rc = disk(argv[i + 1], atol(argv[i + 2]), atol(argv[i + 3]));
			i += 3;
		} else if (i + 1 < argc && !strcmp(argv[i], "share")) {
			rc = share(argv[i + 1]);
			i += 1;
		} else {
			rc = 2;
		}
		if (rc)
			break;
	}
	if (rc == 2)
		printf("usage: volbench [disk DIR MIB FILES] [share FILE]...\n");
	if (rc == 0)
		printf("volbench ok\n");
	return rc;
}
