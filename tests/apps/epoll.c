/* epoll, select and timerfd: epoll's errors, level-triggered, edge-triggered and one-shot
 * watches over pipes and an eventfd, EPOLLHUP, watches that end with their file, nested
 * instances, a thread waking epoll_wait, select and pselect, timerfd counts and blocking reads,
 * and dup3.  Timing is printed only as "at least" checks so the output is deterministic. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static const char *err(void)
{
	static const struct {
		int e;
		const char *s;
	} names[] = {{EAGAIN, "EAGAIN"}, {EBADF, "EBADF"},   {EEXIST, "EEXIST"}, {EINVAL, "EINVAL"},
	             {ELOOP, "ELOOP"},   {ENOENT, "ENOENT"}, {EPERM, "EPERM"}};
	for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (names[k].e == errno)
			return names[k].s;
	return strerror(errno);
}

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, err());
	else
		printf("%s: %ld\n", what, r);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* epoll_wait, then the events sorted by data so that the order the kernel picks is moot. */
static void wait_show(const char *what, int ep, int max, int timeout)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, max, timeout);
	if (n < 0) {
		show(what, n);
		return;
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && ev[j].data.u64 < ev[j - 1].data.u64; j--) {
			struct epoll_event t = ev[j];
			ev[j] = ev[j - 1], ev[j - 1] = t;
		}
	printf("%s: %d", what, n);
	for (int i = 0; i < n; i++)
		printf(" [%#llx %#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
	printf("\n");
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, op, fd, &ev);
}

static int writer_fd;

static void *writer(void *arg)
{
	(void)arg;
	usleep(50000);
	write(writer_fd, "from a thread", 13);
	return NULL;
}

static void test_epoll(void)
{
	int p[2], ep = epoll_create1(EPOLL_CLOEXEC), e = eventfd(0, EFD_NONBLOCK);
	char buf[64];
	uint64_t v = 1;
	pipe(p);
	printf("epoll cloexec: %d flags: %#x\n", !!(fcntl(ep, F_GETFD) & FD_CLOEXEC),
	       fcntl(ep, F_GETFL) & O_ACCMODE);
	show("epoll_create(0)", syscall(SYS_epoll_create, 0)); /* musl may not check */
	show("epoll_create1(bad flags)", epoll_create1(1));
	show("add pipe", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1122334455667788ULL));
	show("add again", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
	show("mod unwatched", ctl(ep, EPOLL_CTL_MOD, e, EPOLLIN, 0));
	show("del unwatched", epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
	show("add itself", ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	show("add bad fd", ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0));
	show("bad op", ctl(ep, 99, e, EPOLLIN, 0));
	int reg = open("/tmp/epoll-file", O_CREAT | O_RDWR, 0600);
	show("add a regular file", ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0));
	close(reg);
	show("ctl on a non-epoll fd", ctl(p[0], EPOLL_CTL_ADD, e, EPOLLIN, 0));
	struct epoll_event evs[1];
	show("wait maxevents 0", epoll_wait(ep, evs, 0, 0));
	show("wait on a non-epoll fd", epoll_wait(p[0], evs, 1, 0));
	show("wait bad fd", epoll_wait(999, evs, 1, 0));

	wait_show("level, empty", ep, 8, 0);
	write(p[1], "abc", 3);
	wait_show("level, data", ep, 8, 0);
	wait_show("level, again", ep, 8, 0);
	read(p[0], buf, sizeof(buf));
	wait_show("level, drained", ep, 8, 0);

	/* unik's EPOLLET fires on ready bits that are new since the last look, Linux's on every
	 * wake-up, so the eventfd is looked at empty before it is written again. */
	show("add eventfd edge", ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, 2));
	wait_show("edge, empty", ep, 8, 0);
	write(e, &v, 8);
	wait_show("edge, counter 1", ep, 8, 0);
	wait_show("edge, again", ep, 8, 0);
	read(e, &v, 8);
	wait_show("edge, drained", ep, 8, 0);
	write(e, &v, 8);
	write(p[1], "x", 1);
	wait_show("both ready", ep, 8, 0);
	wait_show("maxevents 1", ep, 1, 0);
	read(p[0], buf, sizeof(buf));
	show("mod eventfd in, oneshot", ctl(ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLONESHOT, 3));
	wait_show("oneshot", ep, 8, 0);
	wait_show("oneshot, disabled", ep, 8, 0);
	show("rearm", ctl(ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLONESHOT, 4));
	wait_show("oneshot, rearmed", ep, 8, 0);
	show("del eventfd", epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
	show("del again", epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));

	long long t0 = now_ms();
	wait_show("timeout 50 ms", ep, 8, 50);
	printf("waited at least 50 ms: %s\n", now_ms() - t0 >= 50 ? "yes" : "no");

	pthread_t th;
	writer_fd = p[1];
	pthread_create(&th, NULL, writer, NULL);
	wait_show("wait -1 for a thread", ep, 8, -1);
	printf("read: %.*s\n", (int)read(p[0], buf, sizeof(buf)), buf);
	pthread_join(th, NULL);

	/* Nesting: ep2 watches the eventfd and ep watches ep2. */
	int ep2 = epoll_create1(0);
	ctl(ep2, EPOLL_CTL_ADD, e, EPOLLIN, 5);
	show("add ep2 to ep", ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN, 6));
	show("add ep to ep2 (loop)", ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	struct pollfd pf = {.fd = ep2, .events = POLLIN};
	int n = poll(&pf, 1, 0);
	printf("poll ep2: %d revents %#x\n", n, pf.revents);
	wait_show("ep sees ep2", ep, 8, 0);
	read(e, &v, 8);
	printf("poll ep2 drained: %d\n", poll(&pf, 1, 0));
	wait_show("ep, drained", ep, 8, 0);
	close(ep2);

	/* A watch lasts while its file is open through any descriptor. */
	int q[2];
	pipe(q);
	int d = dup(q[0]);
	ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 7);
	write(q[1], "y", 1);
	close(q[0]);
	wait_show("closed, dup open", ep, 8, 0);
	close(d);
	wait_show("closed, dup closed", ep, 8, 0);
	close(q[1]);

	close(p[1]);
	wait_show("writer closed", ep, 8, 0);
	close(p[0]);
	close(e);
	close(ep);
}

static void test_select(void)
{
	int p[2];
	fd_set r, w;
	struct timeval tv = {0, 0};
	pipe(p);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	FD_SET(p[1], &r);
	int n = select(p[1] + 1, &r, &w, NULL, &tv);
	printf("select empty pipe: %d r0=%d r1=%d w1=%d\n", n, FD_ISSET(p[0], &r),
	       FD_ISSET(p[1], &r), FD_ISSET(p[1], &w));
	write(p[1], "z", 1);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	n = select(p[1] + 1, &r, &w, NULL, &tv);
	printf("select with data: %d r0=%d w1=%d\n", n, FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
	FD_ZERO(&r);
	FD_SET(p[1] + 5, &r);
	show("select a closed fd", select(p[1] + 6, &r, NULL, NULL, &tv));
	show("select nfds -1", select(-1, NULL, NULL, NULL, &tv));
	char c;
	read(p[0], &c, 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	tv.tv_usec = 30000;
	long long t0 = now_ms();
	n = select(p[0] + 1, &r, NULL, NULL, &tv);
	printf("select timeout: %d r0=%d at least 30 ms: %s\n", n, FD_ISSET(p[0], &r),
	       now_ms() - t0 >= 30 ? "yes" : "no");
	sigset_t mask;
	sigemptyset(&mask);
	struct timespec ts = {0, 0};
	FD_ZERO(&w);
	FD_SET(p[1], &w);
	n = pselect(p[1] + 1, NULL, &w, NULL, &ts, &mask);
	printf("pselect: %d w1=%d\n", n, FD_ISSET(p[1], &w));
	close(p[1]);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	n = select(p[0] + 1, &r, NULL, NULL, NULL);
	printf("select at EOF: %d r0=%d\n", n, FD_ISSET(p[0], &r));
	close(p[0]);
}

static void test_timerfd(void)
{
	uint64_t v = 0;
	struct itimerspec it = {{0, 20000000}, {0, 20000000}}, cur;
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	printf("timerfd cloexec: %d nonblock: %d\n", !!(fcntl(t, F_GETFD) & FD_CLOEXEC),
	       !!(fcntl(t, F_GETFL) & O_NONBLOCK));
	show("timerfd bad clock", timerfd_create(99, 0));
	show("timerfd bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
	show("read disarmed", read(t, &v, 8));
	timerfd_gettime(t, &cur);
	printf("disarmed: %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	show("settime", timerfd_settime(t, 0, &it, NULL));
	timerfd_gettime(t, &cur);
	printf("interval %ld.%09ld, value at most 20 ms: %s\n", (long)cur.it_interval.tv_sec,
	       cur.it_interval.tv_nsec,
	       cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 20000000 ? "yes" : "no");
	show("read 4 bytes", read(t, &v, 4));
	usleep(110000);
	struct pollfd pf = {.fd = t, .events = POLLIN | POLLOUT};
	int n = poll(&pf, 1, 0);
	printf("poll expired: %d revents %#x\n", n, pf.revents);
	show("read", read(t, &v, 8));
	printf("at least 5 expirations: %s\n", v >= 5 ? "yes" : "no");
	show("settime bad nsec",
	     timerfd_settime(t, 0, &(struct itimerspec){{0, 0}, {0, 1000000000}}, NULL));
	show("settime not a timerfd", timerfd_settime(0, 0, &it, NULL));
	show("disarm", timerfd_settime(t, 0, &(struct itimerspec){{0, 0}, {0, 0}}, &cur));
	printf("old interval %ld.%09ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	close(t);

	/* A blocking one-shot timer read, then an absolute one seen by epoll. */
	t = timerfd_create(CLOCK_MONOTONIC, 0);
	long long t0 = now_ms();
	timerfd_settime(t, 0, &(struct itimerspec){{0, 0}, {0, 30000000}}, NULL);
	show("blocking read", read(t, &v, 8));
	printf("count %llu after at least 30 ms: %s\n", (unsigned long long)v,
	       now_ms() - t0 >= 30 ? "yes" : "no");
	timerfd_gettime(t, &cur);
	printf("expired one-shot: %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_nsec += 20000000;
	if (now.tv_nsec >= 1000000000)
		now.tv_sec++, now.tv_nsec -= 1000000000;
	show("settime absolute",
	     timerfd_settime(t, TFD_TIMER_ABSTIME, &(struct itimerspec){{0, 0}, now}, NULL));
	int ep = epoll_create1(0);
	ctl(ep, EPOLL_CTL_ADD, t, EPOLLIN, 9);
	wait_show("epoll on a timerfd", ep, 8, -1);
	show("read", read(t, &v, 8));
	printf("count %llu\n", (unsigned long long)v);
	close(ep);
	close(t);

	t = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	timerfd_settime(t, 0, &(struct itimerspec){{0, 0}, {0, 10000000}}, NULL);
	usleep(30000);
	show("realtime read", read(t, &v, 8));
	printf("count %llu\n", (unsigned long long)v);
	close(t);
}

static void test_dup3(void)
{
	int p[2];
	char c;
	pipe(p);
	/* The system call itself: musl's dup3 checks some of this and emulates the rest. */
	show("dup3 same fd", syscall(SYS_dup3, p[0], p[0], 0));
	show("dup3 same closed fd", syscall(SYS_dup3, 30, 30, 0));
	show("dup3 bad flags", syscall(SYS_dup3, p[0], 20, 1));
	show("dup3 closed fd", syscall(SYS_dup3, 30, 20, 0));
	show("dup3 cloexec", syscall(SYS_dup3, p[0], 20, O_CLOEXEC));
	printf("cloexec: %d\n", !!(fcntl(20, F_GETFD) & FD_CLOEXEC));
	show("dup2 same fd", dup2(p[0], p[0]));
	fcntl(20, F_SETFL, O_NONBLOCK);
	printf("shared nonblock: %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
	show("read non-blocking", read(p[0], &c, 1));
	close(20);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_epoll();
	test_select();
	test_timerfd();
	test_dup3();
	return 0;
}
