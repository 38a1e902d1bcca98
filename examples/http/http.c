/* A small HTTP/1.1 server: one thread per connection, keep-alive, a counter of the requests
 * served.  It listens on $PORT (default 8080) on every address; with an argument N it exits
 * after N requests (the tests use that).  --body SIZE makes every answer's body SIZE bytes (the
 * counter's line, then filler), as benchmarks want a fixed size.  The same source builds natively
 * with make CC=cc. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_long served;
static long limit;     /* 0: serve forever */
static long body_size; /* 0: just the counter's line */

/* Reads one request's head (up to the blank line) into buf; its length, or 0 at end of file. */
static size_t read_head(int fd, char *buf, size_t cap, size_t *have)
{
	for (;;) {
		char *end = memmem(buf, *have, "\r\n\r\n", 4);
		if (end)
			return (size_t)(end - buf) + 4;
		if (*have == cap)
			return 0; /* too long for this server: drop the connection */
		ssize_t n = read(fd, buf + *have, cap - *have);
		if (n <= 0)
			return 0;
		*have += (size_t)n;
	}
}

static void *serve(void *arg)
{
	enum { HEAD_MAX = 256 };
	int fd = (int)(long)arg;
	char buf[4096], head[HEAD_MAX];
	size_t have = 0, len;
	/* The answer goes out in one write, its head just before its body: a head and a body
	 * written apart would wait, with Nagle's algorithm, for the client's delayed ACK. */
	size_t room = body_size ? (size_t)body_size : 128;
	char *out = malloc(HEAD_MAX + room), *body = out + HEAD_MAX;

	if (!out) {
		close(fd);
		return NULL;
	}
	if (body_size) {
		memset(body, 'x', room);
		body[room - 1] = '\n';
	}

	while ((len = read_head(fd, buf, sizeof(buf), &have))) {
		bool close_after = memmem(buf, len, "Connection: close", 17) != NULL;
		long n = ++served;
		char line[128];
		int bl = snprintf(line, sizeof(line), "hello from unik: request %ld\n", n);
		/* A fixed-size body starts with the counter's line (cut to fit), then filler. */
		memcpy(body, line, (size_t)bl < room ? (size_t)bl : room);
		if (body_size)
			bl = (int)body_size;
		int hl = snprintf(head, sizeof(head),
		                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		                  "Content-Length: %d\r\n%s\r\n",
		                  bl, close_after ? "Connection: close\r\n" : "");
		memcpy(body - hl, head, (size_t)hl);
		if (write(fd, body - hl, (size_t)(hl + bl)) != hl + bl)
			break;
		memmove(buf, buf + len, have - len);
		have -= len;
		if (close_after)
			break;
		if (limit && n >= limit) {
			/* Let the answer reach the client before the machine stops: no more from
			 * here, and wait for the client to close its side. */
			shutdown(fd, SHUT_WR);
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			printf("served %ld requests\n", n);
			exit(0);
		}
	}
	free(out);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *port = getenv("PORT");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 8080)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "--body")) {
		body_size = atol(argv[2]);
		if (body_size < 1 || body_size > (1L << 20)) {
			fprintf(stderr, "http: --body wants a size from 1 to 1048576\n");
			return 2;
		}
		i = 3;
	}
	limit = argc > i ? atol(argv[i]) : 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 128) < 0) {
		perror("http: listen");
		return 1;
	}
	printf("listening on port %d\n", ntohs(a.sin_port));
	for (;;) {
		int c = accept(s, NULL, NULL);
		pthread_t t;
		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("http: accept");
			return 1;
		}
		if (pthread_create(&t, NULL, serve, (void *)(long)c)) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
}
