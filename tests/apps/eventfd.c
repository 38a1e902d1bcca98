/* eventfd: the counter summed by writes and drained by a read, EFD_SEMAPHORE counting down by
 * one, EAGAIN when non-blocking and zero, EINVAL for short buffers and for 2^64-1, poll
 * readiness, EFD_CLOEXEC.  Mode "deadlock" reads a zero counter in blocking mode (unik reports
 * it and exits 255; Linux would hang). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EAGAIN   ? "EAGAIN"
		       : errno == EINVAL ? "EINVAL"
		                         : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void readiness(const char *what, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	int n = poll(&p, 1, 0);
	printf("poll %s: %d in=%d out=%d\n", what, n, !!(p.revents & POLLIN),
	       !!(p.revents & POLLOUT));
}

int main(int argc, char **argv)
{
	uint64_t v = 0;
	if (argc > 1 && !strcmp(argv[1], "deadlock")) {
		int fd = eventfd(0, 0);
		printf("reading a zero eventfd\n");
		fflush(stdout);
		read(fd, &v, 8);
		return 0;
	}
	int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	show("eventfd", fd >= 0 ? 0 : -1);
	printf("cloexec: %d nonblock: %d\n", !!(fcntl(fd, F_GETFD) & FD_CLOEXEC),
	       !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
	readiness("initial", fd);
	v = 4;
	show("write 4", write(fd, &v, 8));
	show("read", read(fd, &v, 8));
	printf("value: %llu\n", (unsigned long long)v);
	readiness("drained", fd);
	show("read empty, non-blocking", read(fd, &v, 8));
	show("read 4 bytes", read(fd, &v, 4));
	show("write 4 bytes", write(fd, &v, 4));
	v = UINT64_MAX;
	show("write 2^64-1", write(fd, &v, 8));
	v = UINT64_MAX - 1;
	show("write 2^64-2", write(fd, &v, 8));
	readiness("full", fd);
	v = 1;
	show("write 1 more", write(fd, &v, 8));
	close(fd);

	int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	for (int k = 0; k < 3; k++) {
		v = 0;
		long r = read(s, &v, 8);
		show("semaphore read", r);
		printf("value: %llu\n", (unsigned long long)v);
	}
	show("bad flags", eventfd(0, 0x100));
	return 0;
}
