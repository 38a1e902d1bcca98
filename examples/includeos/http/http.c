/* An IncludeOS-style HTTP server: service_start() listens on port 8080 and starts a timer that
 * counts ticks every 100 ms; each answer shows the count.  No main, no threads, no system
 * calls: everything is a callback (include/unik/service.h).  GET /big answers 1 MiB of a
 * letter pattern, written as the send buffer makes room (on_writable); GET /quit answers, then
 * ends the service with status 0. */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unik/service.h>

#define PORT     8080
#define MAX_CONN 64
#define REQ_MAX  2048
#define OUT_MAX  1024
#define BIG_SIZE (1024 * 1024)
#define PATTERN  4096

struct conn {
	bool used, quit;
	size_t in_len, out_len, out_at;
	size_t big_left; /* bytes of /big's body still to send */
	char in[REQ_MAX];
	char out[OUT_MAX];
};

static struct conn conns[MAX_CONN];
static char pattern[PATTERN]; /* /big's body is this, over and over */
static unsigned long ticks, requests;

static void tick(struct service_timer *t, void *arg)
{
	(void)t, (void)arg;
	ticks++;
}

static void bye(struct service_timer *t, void *arg)
{
	(void)t, (void)arg;
	service_exit(0);
}

/* Sends what is pending; the rest waits for on_writable (back-pressure). */
static void flush(struct service_tcp *c, struct conn *s)
{
	while (s->out_at < s->out_len) {
		long n = service_tcp_write(c, s->out + s->out_at, s->out_len - s->out_at);

		if (n <= 0)
			return;
		s->out_at += (size_t)n;
	}
	s->out_at = s->out_len = 0;
	while (s->big_left) {
		size_t at = (BIG_SIZE - s->big_left) % PATTERN;
		size_t len = PATTERN - at < s->big_left ? PATTERN - at : s->big_left;
		long n = service_tcp_write(c, pattern + at, len);

		if (n <= 0)
			return;
		s->big_left -= (size_t)n;
	}
	if (s->quit)
		service_tcp_close(c);
}

static void answer(struct service_tcp *c, struct conn *s, const char *req, size_t len)
{
	char body[160];
	int n;

	requests++;
	s->quit = len > 10 && !memcmp(req, "GET /quit ", 10);
	if (len > 9 && !memcmp(req, "GET /big ", 9)) {
		s->out_len = (size_t)snprintf(s->out, sizeof(s->out),
		                              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		                              "Content-Length: %d\r\n\r\n",
		                              BIG_SIZE);
		s->out_at = 0;
		s->big_left = BIG_SIZE;
		flush(c, s);
		return;
	}
	if (s->quit)
		n = snprintf(body, sizeof(body), "bye\n");
	else
		n = snprintf(body, sizeof(body),
		             "hello from an includeos service: ticks %lu, request %lu\n", ticks,
		             requests);
	s->out_len = (size_t)snprintf(s->out, sizeof(s->out),
	                              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                              "Content-Length: %d\r\n%s\r\n%s",
	                              n, s->quit ? "Connection: close\r\n" : "", body);
	s->out_at = 0;
	flush(c, s);
}

static void on_connect(struct service_tcp *c)
{
	for (int i = 0; i < MAX_CONN; i++)
		if (!conns[i].used) {
			memset(&conns[i], 0, offsetof(struct conn, in));
			conns[i].used = true;
			service_tcp_set_arg(c, &conns[i]);
			return;
		}
	service_tcp_set_arg(c, NULL);
	service_tcp_close(c); /* full */
}

static void on_data(struct service_tcp *c, const void *data, size_t len)
{
	struct conn *s = service_tcp_arg(c);
	char *end;

	if (!s)
		return;
	if (len > REQ_MAX - s->in_len) {
		service_tcp_close(c); /* a request larger than this server takes */
		return;
	}
	memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	/* One answer per complete request head; pipelined ones wait for the first to be sent. */
	while (!s->out_len && !s->big_left && (end = memmem(s->in, s->in_len, "\r\n\r\n", 4))) {
		size_t used = (size_t)(end + 4 - s->in);

		answer(c, s, s->in, used);
		memmove(s->in, s->in + used, s->in_len - used);
		s->in_len -= used;
	}
}

static void on_writable(struct service_tcp *c)
{
	struct conn *s = service_tcp_arg(c);

	if (s)
		flush(c, s);
}

static void on_close(struct service_tcp *c)
{
	struct conn *s = service_tcp_arg(c);

	if (!s)
		return;
	s->used = false;
	/* Give the answer time to leave before the instance stops. */
	if (s->quit)
		service_timer_once(200, bye, NULL);
}

static const struct service_tcp_ops ops = {
    .on_connect = on_connect,
    .on_data = on_data,
    .on_writable = on_writable,
    .on_close = on_close,
};

void service_start(void)
{
	struct service_netconf nc;
	char ip[16];

	for (int i = 0; i < PATTERN; i++)
		pattern[i] = (char)('a' + i % 26);
	service_timer_every(100, 100, tick, NULL);
	if (!service_tcp_listen(PORT, &ops, NULL)) {
		service_log("http: cannot listen on port %d\n", PORT);
		service_exit(1);
		return;
	}
	if (service_net_config(0, &nc) == 0)
		service_log("http: %s %s/%d, listening on port %d\n", nc.name,
		            service_ip4_format(nc.addr, ip), nc.prefix, PORT);
	else
		service_log("http: no network device, listening on port %d\n", PORT);
}
