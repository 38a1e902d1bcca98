/* Clocks across sleeps: prints how many monotonic nanoseconds nanosleep, usleep and
 * clock_nanosleep took for the interval asked for (argv[1] ms, default 500), and the wall clock
 * before and after. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 500;
	struct timeval tv;
	int64_t t0, t1;

	gettimeofday(&tv, NULL);
	printf("wall_start time=%lld realtime_ns=%lld gettimeofday_us=%lld\n",
	       (long long)time(NULL), (long long)ns(CLOCK_REALTIME),
	       (long long)tv.tv_sec * 1000000 + tv.tv_usec);
	int64_t first = ns(CLOCK_MONOTONIC);

	t0 = ns(CLOCK_MONOTONIC);
	struct timespec req = {ms / 1000, (ms % 1000) * 1000000};
	if (nanosleep(&req, NULL) != 0)
		perror("nanosleep");
	t1 = ns(CLOCK_MONOTONIC);
	printf("nanosleep requested_ns=%lld elapsed_ns=%lld\n", (long long)ms * 1000000,
	       (long long)(t1 - t0));

	t0 = ns(CLOCK_MONOTONIC);
	usleep((useconds_t)(ms * 1000));
	t1 = ns(CLOCK_MONOTONIC);
	printf("usleep requested_ns=%lld elapsed_ns=%lld\n", (long long)ms * 1000000,
	       (long long)(t1 - t0));

	t0 = ns(CLOCK_MONOTONIC);
	int e = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
	t1 = ns(CLOCK_MONOTONIC);
	printf("clock_nanosleep requested_ns=%lld elapsed_ns=%lld rc=%d\n", (long long)ms * 1000000,
	       (long long)(t1 - t0), e);

	/* An absolute deadline. */
	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	t0 = (int64_t)abs.tv_sec * 1000000000 + abs.tv_nsec;
	abs.tv_nsec += 100000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	t1 = ns(CLOCK_MONOTONIC);
	printf("clock_nanosleep_abs requested_ns=100000000 elapsed_ns=%lld rc=%d\n",
	       (long long)(t1 - t0), e);

	/* Monotonic never goes backwards over many reads. */
	int64_t prev = ns(CLOCK_MONOTONIC), backwards = 0;
	for (int i = 0; i < 100000; i++) {
		int64_t now = ns(CLOCK_MONOTONIC);
		if (now < prev)
			backwards++;
		prev = now;
	}
	printf("monotonic backwards=%lld\n", (long long)backwards);

	int64_t last = ns(CLOCK_MONOTONIC);
	gettimeofday(&tv, NULL);
	printf("wall_end time=%lld realtime_ns=%lld gettimeofday_us=%lld\n", (long long)time(NULL),
	       (long long)ns(CLOCK_REALTIME), (long long)tv.tv_sec * 1000000 + tv.tv_usec);
	printf("total monotonic_ns=%lld\n", (long long)(last - first));
	return 0;
}
