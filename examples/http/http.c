/* A small HTTP/1.1 server: one thread per connection, keep-alive, a counter of the requests
 * served.  It listens on $PORT (default 8080) on every address; with an argument N it exits
 * after N requests (the tests use that).  The same source builds natively with make CC=cc. */
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
static long limit; /* 0: serve forever */

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
	int fd = (int)(long)arg;
	char buf[4096], body[128], head[256];
	size_t have = 0, len;

	while ((len = read_head(fd, buf, sizeof(buf), &have))) {
		bool close_after = memmem(buf, len, "Connection: close", 17) != NULL;
		long n = ++served;
		int bl = snprintf(body, sizeof(body), "hello from unik: request %ld\n", n);
		int hl = snprintf(head, sizeof(head),
		                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		                  "Content-Length: %d\r\n%s\r\n",
		                  bl, close_after ? "Connection: close\r\n" : "");
		if (write(fd, head, (size_t)hl) != hl || write(fd, body, (size_t)bl) != bl)
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
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *port = getenv("PORT");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 8080)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	limit = argc > 1 ? atol(argv[1]) : 0;
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
