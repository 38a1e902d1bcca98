/* A small HTTP/1.1 keep-alive load generator for bench/bench_api.py: C threads, one connection
 * each, send GET PATH again and again for a while and count complete answers.
 *   bench_api_load HOST PORT PATH THREADS SECONDS [TOKEN]  ->  prints "requests errors seconds" */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static double deadline;

struct worker {
	pthread_t t;
	long ok, errors;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_one(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one response; returns its status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	char *end = NULL;

	while (!end) {
		ssize_t n = read(fd, buf + have, cap - have - 1);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end && have >= cap - 1)
			return -1;
	}
	int status = atoi(buf + 9);
	char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (!cl)
		return -1;
	size_t body = strtoul(cl + 17, NULL, 10);
	size_t head = (size_t)(end + 4 - buf);
	size_t got = have - head;
	while (got < body) {
		ssize_t n = read(fd, buf, cap < body - got ? cap : body - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return status;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	char *buf = malloc(1 << 20);
	int fd = connect_one();

	while (fd >= 0 && now() < deadline) {
		if (write(fd, request, request_len) != (ssize_t)request_len ||
		    read_response(fd, buf, 1 << 20) != 200) {
			w->errors++;
			close(fd);
			fd = connect_one();
			continue;
		}
		w->ok++;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s HOST PORT PATH THREADS SECONDS [TOKEN]\n", argv[0]);
		return 2;
	}
	int threads = atoi(argv[4]);
	double secs = atof(argv[5]);
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	long ok = 0, errors = 0;

	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &addr.sin_addr);
	request_len =
	    (size_t)snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
	                     argv[3], argv[1], argc > 6 ? "Authorization: Bearer " : "",
	                     argc > 6 ? argv[6] : "", argc > 6 ? "\r\n" : "");
	double t0 = now();
	deadline = t0 + secs;
	for (int i = 0; i < threads; i++)
		pthread_create(&w[i].t, NULL, run, &w[i]);
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		ok += w[i].ok;
		errors += w[i].errors;
	}
	printf("%ld %ld %.3f\n", ok, errors, now() - t0);
	return 0;
}
