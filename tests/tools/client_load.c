/* A stampede of lib/client users for tests/integration/test_client_busy.py: THREADS threads, each
 * with its own client (so its own connection), wait at one barrier and then send one request at
 * the same moment, as many CLI processes would.
 *   client_load HOST THREADS [PATH [RETRY_SECONDS]]
 * prints "ok N failed N attempts N max_attempts N", then each distinct error with its count. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client.h"
#include "lib/util.h"

struct worker {
	pthread_t t;
	struct unik_client *c;
	const char *path;
	int rc;
	unsigned attempts;
	struct unik_error err;
};

static pthread_barrier_t start;

static void *run(void *arg)
{
	struct worker *w = arg;
	json_t *out = NULL;

	pthread_barrier_wait(&start);
	w->rc = unik_client_json(w->c, "GET", w->path, NULL, &out, &w->err);
	w->attempts = unik_client_last_attempts(w->c);
	json_decref(out);
	return NULL;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *sock = NULL, *base = NULL;
	struct unik_error err = {0};
	long retry_ms = UNIK_CLIENT_RETRY_DEFAULT_MS;
	struct worker *w;
	pthread_attr_t attr;
	long n, ok = 0, failed = 0, attempts = 0, max_attempts = 0;

	if (argc < 3 || argc > 5 || (n = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: client_load HOST THREADS [PATH [RETRY_SECONDS]]\n");
		return 2;
	}
	if (unik_client_parse_host(argv[1], &sock, &base, &err) < 0 ||
	    (argc > 4 && unik_client_parse_retry(argv[4], &retry_ms, &err) < 0)) {
		fprintf(stderr, "client_load: %s\n", err.msg);
		return 2;
	}
	w = xcalloc((size_t)n, sizeof(*w));
	pthread_barrier_init(&start, NULL, (unsigned)n);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* Clients are made here: the first one sets up libcurl, which is not thread-safe. */
	for (long i = 0; i < n; i++) {
		w[i].c = unik_client_new(sock, base, getenv("UNIK_TOKEN"));
		w[i].path = argc > 3 ? argv[3] : "/v1/instances";
		unik_client_set_retry(w[i].c, retry_ms);
	}
	for (long i = 0; i < n; i++)
		if (pthread_create(&w[i].t, &attr, run, &w[i]) != 0) {
			fprintf(stderr, "client_load: cannot start thread %ld\n", i);
			return 2;
		}
	for (long i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].rc == 0)
			ok++;
		else
			failed++;
		attempts += w[i].attempts;
		if ((long)w[i].attempts > max_attempts)
			max_attempts = w[i].attempts;
	}
	printf("ok %ld failed %ld attempts %ld max_attempts %ld\n", ok, failed, attempts,
	       max_attempts);
	for (long i = 0; i < n; i++) {
		long count = 0;
		bool seen = false;

		if (w[i].rc == 0)
			continue;
		for (long j = 0; j < i && !seen; j++)
			seen = w[j].rc != 0 && strcmp(w[j].err.msg, w[i].err.msg) == 0;
		if (seen)
			continue;
		for (long j = i; j < n; j++)
			count += w[j].rc != 0 && strcmp(w[j].err.msg, w[i].err.msg) == 0;
		printf("%ld x %s\n", count, w[i].err.msg);
	}
	for (long i = 0; i < n; i++)
		unik_client_free(w[i].c);
	free(w);
	return failed ? 1 : 0;
}
