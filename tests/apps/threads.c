/* Threads as programs use them: a 64-thread producer/consumer on a mutex and two condition
 * variables, thread-local storage, pthread_join with results, a thread blocked in read on a
 * pipe woken by another, a timed wait that times out, threads created and joined in a loop,
 * preemption (one thread spins until another, which it never yields to, sets a flag), and
 * sleeping threads.  The output is the same natively and in the guest.
 *
 * Mode "deadlock" makes every thread wait for a lock nobody will release (unik reports it and
 * exits 255; natively it hangs).  Mode "bench N" prints the time per create+join pair, futex
 * round trips per second between two threads, and pipe throughput, for make bench. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 32
#define CONSUMERS 32
#define ITEMS     100 /* per producer */
#define SLOTS     8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static int ring[SLOTS], head, count, produced_done;
static long consumed_sum, consumed_items;

static void *producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < ITEMS; i++) {
		pthread_mutex_lock(&lock);
		while (count == SLOTS)
			pthread_cond_wait(&not_full, &lock);
		ring[(head + count++) % SLOTS] = id * ITEMS + i;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	produced_done++;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *consumer(void *arg)
{
	long mine = 0;
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!count && produced_done < PRODUCERS)
			pthread_cond_wait(&not_empty, &lock);
		if (!count) {
			pthread_mutex_unlock(&lock);
			break;
		}
		int v = ring[head];
		head = (head + 1) % SLOTS;
		count--;
		consumed_sum += v;
		consumed_items++;
		mine++;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&lock);
	}
	return (void *)mine;
}

static void producer_consumer(void)
{
	pthread_t p[PRODUCERS], c[CONSUMERS];
	for (int i = 0; i < CONSUMERS; i++)
		pthread_create(&c[i], NULL, consumer, NULL);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
	long total = 0;
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < CONSUMERS; i++) {
		void *r;
		pthread_join(c[i], &r);
		total += (long)r;
	}
	long n = (long)PRODUCERS * ITEMS;
	printf("producer/consumer: %d threads, items %ld (joined %ld), sum %ld (want %ld)\n",
	       PRODUCERS + CONSUMERS, consumed_items, total, consumed_sum, n * (n - 1) / 2);
}

static __thread int tls_value = 7;
static __thread char tls_name[16];

static void *tls_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	int before = tls_value; /* every thread starts from the initial image */
	tls_value = id * 10;
	snprintf(tls_name, sizeof(tls_name), "thread %d", id);
	sched_yield();
	usleep(1000);
	char want[16];
	snprintf(want, sizeof(want), "thread %d", id);
	return (void *)(intptr_t)(before == 7 && tls_value == id * 10 && !strcmp(tls_name, want));
}

static void thread_local_storage(void)
{
	pthread_t t[8];
	int ok = 0;
	tls_value = 1;
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, tls_thread, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		ok += (int)(intptr_t)r;
	}
	printf("tls: %d of 8 threads saw their own copy, main's is still %d\n", ok, tls_value);
}

static void *square(void *arg)
{
	intptr_t i = (intptr_t)arg;
	return (void *)(i * i);
}

static void join_results(void)
{
	pthread_t t[16];
	long sum = 0;
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, square, (void *)(intptr_t)i);
	for (int i = 15; i >= 0; i--) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("join: sum of squares 0..15 = %ld\n", sum);
}

static int pipefd[2];

static void *reader(void *arg)
{
	char buf[32] = {0};
	(void)arg;
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	printf("pipe: the blocked reader got %zd bytes: %s\n", n, buf);
	return NULL;
}

static void pipe_wakeup(void)
{
	pthread_t t;
	if (pipe(pipefd))
		perror("pipe");
	pthread_create(&t, NULL, reader, NULL);
	usleep(20000); /* the reader blocks in read meanwhile */
	if (write(pipefd[1], "wake up", 7) != 7)
		perror("write");
	pthread_join(t, NULL);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void timed_wait(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec ts, t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20 * 1000000;
	if (ts.tv_nsec >= 1000000000)
		ts.tv_sec++, ts.tv_nsec -= 1000000000;
	pthread_mutex_lock(&m);
	int r = pthread_cond_timedwait(&c, &m, &ts);
	pthread_mutex_unlock(&m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("timedwait: %s after at least 20 ms: %s\n", r == ETIMEDOUT ? "ETIMEDOUT" : "other",
	       ms >= 19 ? "yes" : "no");
}

static void *nothing(void *arg)
{
	return arg;
}

static void create_join_loop(void)
{
	int ok = 0;
	for (int i = 0; i < 300; i++) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, NULL, nothing, (void *)(intptr_t)i))
			break;
		pthread_join(t, &r);
		ok += (intptr_t)r == i;
	}
	printf("create+join: %d of 300\n", ok);
}

static volatile int flag_a, flag_b;

static void *spinner(void *arg)
{
	(void)arg;
	while (!flag_a) /* never yields: only preemption lets main run and set flag_a */
		;
	flag_b = 1;
	return NULL;
}

static void preemption(void)
{
	pthread_t t;
	pthread_create(&t, NULL, spinner, NULL);
	usleep(1000); /* let the spinner start spinning */
	flag_a = 1;
	while (!flag_b) /* spins in turn until the spinner is scheduled again */
		;
	pthread_join(t, NULL);
	printf("preemption: both spinners finished\n");
}

static void *sleeper(void *arg)
{
	struct timespec ts = {0, (long)(intptr_t)arg * 1000000};
	nanosleep(&ts, NULL);
	return arg;
}

static void sleeping(void)
{
	pthread_t t[4];
	long sum = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, sleeper, (void *)(intptr_t)(40 - 10 * i));
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("sleepers: %ld ms slept in all, in parallel\n", sum);
}

static void *lock_forever(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile int turn;
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pc = PTHREAD_COND_INITIALIZER;

static void *ponger(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&pm);
		while (turn != 1)
			pthread_cond_wait(&pc, &pm);
		turn = 0;
		pthread_cond_signal(&pc);
		pthread_mutex_unlock(&pm);
	}
	return NULL;
}

static void bench(long n)
{
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, nothing, NULL);
		pthread_join(t, NULL);
	}
	double t1 = now_s();
	printf("bench create_join_us %.3f\n", (t1 - t0) * 1e6 / n);

	pthread_t t;
	long rounds = n * 10;
	pthread_create(&t, NULL, ponger, (void *)(intptr_t)rounds);
	t0 = now_s();
	for (long i = 0; i < rounds; i++) {
		pthread_mutex_lock(&pm);
		turn = 1;
		pthread_cond_signal(&pc);
		while (turn != 0)
			pthread_cond_wait(&pc, &pm);
		pthread_mutex_unlock(&pm);
	}
	t1 = now_s();
	pthread_join(t, NULL);
	printf("bench futex_roundtrips_per_s %.0f\n", rounds / (t1 - t0));

	static char buf[65536];
	int fds[2];
	if (pipe(fds))
		return;
	long total = n * 1024 * 64;
	t0 = now_s();
	long moved = 0;
	while (moved < total) {
		ssize_t w = write(fds[1], buf, sizeof(buf));
		ssize_t r = w > 0 ? read(fds[0], buf, sizeof(buf)) : -1;
		if (r <= 0)
			break;
		moved += r;
	}
	t1 = now_s();
	printf("bench pipe_mb_per_s %.1f\n", moved / (t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "deadlock")) {
		pthread_t t;
		pthread_mutex_lock(&lock);
		pthread_create(&t, NULL, lock_forever, NULL);
		printf("joining a thread that waits for a lock this thread holds\n");
		pthread_join(t, NULL);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "bench")) {
		bench(atol(argv[2]));
		return 0;
	}
	producer_consumer();
	thread_local_storage();
	join_results();
	pipe_wakeup();
	timed_wait();
	create_join_loop();
	preemption();
	sleeping();
	return 0;
}
