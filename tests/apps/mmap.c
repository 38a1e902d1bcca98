/* Memory mappings: mprotect and read-only pages, W^X, MADV_DONTNEED, and mappings of a file in
 * /tmp (MAP_SHARED written back by msync and munmap, MAP_PRIVATE writes kept private).  Modes
 * end badly on purpose: "ro" writes to a page made read-only, "rofile" to a PROT_READ file
 * mapping, "text" to the program's code, "rodata" to its constants; "exec" runs code in a page
 * mapped without PROT_EXEC, "dataexec" in .data, "stackexec" on the stack (each SIGSEGV on
 * Linux, the crash report and status 255 under unik). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == ENOMEM   ? "ENOMEM"
		       : errno == EACCES ? "EACCES"
		       : errno == EINVAL ? "EINVAL"
		                         : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static char *map(size_t len, int prot, int flags, int fd)
{
	char *p = mmap(NULL, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		_exit(1);
	}
	return p;
}

/* mov $42, %eax; ret */
static const unsigned char code42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};

static unsigned char data_code[16] = {1};

static int crash(const char *mode, const char *path)
{
	printf("before the crash\n");
	fflush(stdout);
	if (!strcmp(mode, "ro")) {
		char *p = map(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		p[0] = 1;
		mprotect(p, PG, PROT_READ);
		*(volatile char *)p = 2;
	} else if (!strcmp(mode, "rofile")) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		write(fd, "data", 4);
		char *p = map(PG, PROT_READ, MAP_SHARED, fd);
		unlink(path);
		*(volatile char *)p = 'D';
	} else if (!strcmp(mode, "exec")) {
		char *p = map(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		memcpy(p, code42, sizeof(code42));
		printf("%d\n", ((int (*)(void))(void *)p)());
	} else if (!strcmp(mode, "text")) {
		*(volatile unsigned char *)(void *)show = 0xc3;
	} else if (!strcmp(mode, "rodata")) {
		*(volatile char *)code42 = 0;
	} else if (!strcmp(mode, "dataexec")) {
		memcpy(data_code, code42, sizeof(code42));
		printf("%d\n", ((int (*)(void))(void *)data_code)());
	} else if (!strcmp(mode, "stackexec")) {
		unsigned char stack_code[16];
		memcpy(stack_code, code42, sizeof(code42));
		printf("%d\n", ((int (*)(void))(void *)stack_code)());
	}
	printf("still alive\n");
	return 0;
}

int main(int argc, char **argv)
{
	char path[64], buf[16];
	snprintf(path, sizeof(path), "/tmp/unik-mmap-%d", (int)getpid());
	if (argc > 1)
		return crash(argv[1], path);

	/* Anonymous memory: read-only after mprotect, and still readable. */
	char *a = map(3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	strcpy(a, "anon");
	strcpy(a + PG, "middle");
	show("mprotect read-only", mprotect(a, 3 * PG, PROT_READ));
	printf("read after mprotect: %s %s\n", a, a + PG);
	show("mprotect the middle writable", mprotect(a + PG, PG, PROT_READ | PROT_WRITE));
	a[PG] = 'M';
	printf("wrote the middle: %s\n", a + PG);
	show("mprotect PROT_NONE", mprotect(a + 2 * PG, PG, PROT_NONE));
	show("munmap", munmap(a, 3 * PG));
	show("mprotect unmapped", mprotect(a, PG, PROT_READ));
	show("mprotect bad prot", mprotect(a, PG, 0x100));

	/* A PROT_READ mapping reads zeros. */
	char *z = map(PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	printf("PROT_READ reads zero: %d\n", z[100] == 0);
	munmap(z, PG);

	/* W^X: code runs where the program asked for PROT_EXEC. */
	char *x = map(PG, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memcpy(x, code42, sizeof(code42));
	printf("rwx page runs: %d\n", ((int (*)(void))(void *)x)());
	show("mprotect read-exec", mprotect(x, PG, PROT_READ | PROT_EXEC));
	printf("rx page runs: %d\n", ((int (*)(void))(void *)x)());
	munmap(x, PG);

	/* MADV_DONTNEED: private anonymous pages read back as zeros. */
	char *d = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memset(d, 'x', 4 * PG);
	show("madvise DONTNEED", madvise(d + PG, 2 * PG, MADV_DONTNEED));
	printf("after DONTNEED: %c %d %d %c\n", d[0], d[PG], d[3 * PG - 1], d[3 * PG]);
	munmap(d, 4 * PG);

	/* A file in /tmp: two pages and a bit. */
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	char page[PG];
	for (int i = 0; i < 2; i++) {
		memset(page, 'a' + i, PG);
		write(fd, page, PG);
	}
	write(fd, "tail", 4);
	char *ro = map(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ro[0] = 1;
	mprotect(ro, PG, PROT_READ);
	errno = 0;
	long n = pread(fd, ro, 4, 0);
	printf("pread into a read-only page: %ld %s\n", n, errno == EFAULT ? "EFAULT" : "?");
	munmap(ro, PG);

	char *s = map(3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	printf("shared reads the file: %c %c %.4s %d\n", s[0], s[PG], s + 2 * PG, s[2 * PG + 4]);
	memcpy(s + 10, "SHARED", 6);
	memcpy(s + 2 * PG, "TAIL", 4);
	s[2 * PG + 100] = 'z'; /* past the end of the file: never written to it */
	show("msync", msync(s, 3 * PG, MS_SYNC));
	show("pread after msync", pread(fd, buf, 6, 10));
	printf("file bytes: %.6s\n", buf);
	pread(fd, buf, 8, 2 * PG);
	printf("file tail: %.4s\n", buf);
	printf("file size: %ld\n", (long)lseek(fd, 0, SEEK_END));
	memcpy(s + PG, "UNMAP", 5);
	show("munmap shared", munmap(s, 3 * PG));
	pread(fd, buf, 5, PG);
	printf("written back by munmap: %.5s\n", buf);

	char *p = map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	printf("private reads the file: %.6s\n", p + 10);
	memcpy(p + 10, "PRIVAT", 6);
	show("msync private", msync(p, 2 * PG, MS_ASYNC));
	pread(fd, buf, 6, 10);
	printf("file after a private write: %.6s, mapping: %.6s\n", buf, p + 10);
	munmap(p, 2 * PG);

	char *r = map(PG, PROT_READ, MAP_SHARED, fd);
	printf("read-only shared: %.6s\n", r + 10);
	show("mprotect it writable", mprotect(r, PG, PROT_READ | PROT_WRITE));
	munmap(r, PG);
	close(fd);

	fd = open(path, O_RDONLY);
	errno = 0;
	void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	show("shared writable map of a read-only fd", w == MAP_FAILED ? -1 : 0);
	r = map(PG, PROT_READ, MAP_SHARED, fd);
	show("then writable", mprotect(r, PG, PROT_READ | PROT_WRITE));
	munmap(r, PG);
	close(fd);
	show("msync bad flags", msync(a, PG, MS_SYNC | MS_ASYNC));
	unlink(path);
	return 0;
}
