/* Unit tests for lib/client: UniK's client-config.yaml (parsed with libyaml, written back), the
 * host forms users give, escaping, error-code mapping, a clear transport error when no daemon
 * listens, and the retries of a busy one: a unix socket whose listen queue is full and never
 * accepted, one that accepts late, and connections reset after the request went out. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/client.h"
#include "lib/util.h"

static char *parse_ok(const char *text)
{
	struct unik_error err = {0};
	char *host = NULL;

	if (unik_client_config_parse(text, strlen(text), &host, &err) < 0)
		fail_msg("parsing %s: %s", text, err.msg);
	return host;
}

static void test_config_parse(void **state)
{
	static const char *const cases[][2] = {
	    {"host: \"10.0.0.5:3000\"\n", "10.0.0.5:3000"},
	    {"host: 10.0.0.5:3000\n", "10.0.0.5:3000"},
	    {"# written by unik target\nhost: 'h:1'\n", "h:1"},
	    {"other: 1\nnested:\n  host: wrong\n  list: [1, 2]\nhost: right:2\n", "right:2"},
	    {"seq:\n  - host: no\nhost: yes:3\nafter: {a: b}\n", "yes:3"},
	    {"---\nhost: doc:4\n...\n", "doc:4"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *host = parse_ok(cases[i][0]);

		assert_non_null(host);
		assert_string_equal(host, cases[i][1]);
	}
}

static void test_config_without_host(void **state)
{
	static const char *const cases[] = {"", "\n# nothing\n", "host:\n", "host: \"\"\n",
	                                    "other: x\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *host = parse_ok(cases[i]);

		assert_null(host);
	}
}

static void test_config_errors(void **state)
{
	static const char *const cases[][2] = {
	    {"- a\n- b\n", "line 1"},
	    {"host: [a, b]\n", "host must be a string"},
	    {"host: {a: b}\n", "host must be a string"},
	    {"x: 1\nhost: \"unterminated\n", "line"},
	    {"just text\n", "expected a mapping"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unik_error err = {0};
		char *host = NULL;

		assert_int_equal(
		    unik_client_config_parse(cases[i][0], strlen(cases[i][0]), &host, &err), -1);
		assert_null(host);
		assert_int_equal(err.code, UNIK_E_INVALID);
		if (!strstr(err.msg, cases[i][1]))
			fail_msg("%s: message `%s` lacks `%s`", cases[i][0], err.msg, cases[i][1]);
	}
}

static void test_config_write_and_load(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *dir = unik_mkdtemp("unik-test-client", &err);
	_cleanup_free_ char *path = NULL, *text = NULL, *host = NULL, *none = NULL;
	_cleanup_free_ char *missing = NULL;

	(void)state;
	assert_non_null(dir);
	path = unik_path_join(dir, "client-config.yaml");
	assert_int_equal(unik_client_config_write(path, "127.0.0.1:3000", &err), 0);
	assert_int_equal(unik_read_file(path, &text, NULL, &err), 0);
	assert_string_equal(text, "host: \"127.0.0.1:3000\"\n");
	assert_int_equal(unik_client_config_load(path, &host, &err), 0);
	assert_string_equal(host, "127.0.0.1:3000");
	missing = unik_path_join(dir, "nope.yaml");
	assert_int_equal(unik_client_config_load(missing, &none, &err), 0);
	assert_null(none);
	free(host);
	host = NULL;
	assert_int_equal(unik_client_config_write(path, "we\"ird\\host", &err), 0);
	assert_int_equal(unik_client_config_load(path, &host, &err), 0);
	assert_string_equal(host, "we\"ird\\host");
	unik_rmtree(dir, NULL);
}

static void test_parse_host(void **state)
{
	static const char *const cases[][3] = {
	    /* input, socket, base url */
	    {"10.0.0.5", NULL, "http://10.0.0.5:3000"},
	    {"10.0.0.5:8080", NULL, "http://10.0.0.5:8080"},
	    {"localhost:1", NULL, "http://localhost:1"},
	    {"[::1]:3001", NULL, "http://[::1]:3001"},
	    {"[::1]", NULL, "http://[::1]:3000"},
	    {"::1", NULL, "http://[::1]:3000"},
	    {"http://h:9/", NULL, "http://h:9"},
	    {"https://unik.example.org", NULL, "https://unik.example.org"},
	    {"unix:/run/unik.sock", "/run/unik.sock", NULL},
	    {"unix:///run/unik.sock", "/run/unik.sock", NULL},
	    {"/tmp/x/daemon.sock", "/tmp/x/daemon.sock", NULL},
	};
	static const char *const bad[] = {"",    "h:",   "h:0",    "h:70000", "h:12x",
	                                  ":80", "[::1", "[::1]x", "unix:"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unik_error err = {0};
		_cleanup_free_ char *sock = NULL, *base = NULL;

		if (unik_client_parse_host(cases[i][0], &sock, &base, &err) < 0)
			fail_msg("%s: %s", cases[i][0], err.msg);
		if (cases[i][1])
			assert_string_equal(sock, cases[i][1]);
		else
			assert_null(sock);
		if (cases[i][2])
			assert_string_equal(base, cases[i][2]);
		else
			assert_null(base);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct unik_error err = {0};
		char *sock = NULL, *base = NULL;

		if (unik_client_parse_host(bad[i], &sock, &base, &err) == 0)
			fail_msg("`%s` was accepted", bad[i]);
		assert_int_equal(err.code, UNIK_E_INVALID);
		assert_null(sock);
		assert_null(base);
	}
}

static void test_escape_and_codes(void **state)
{
	_cleanup_free_ char *a = unik_client_escape("hello-1.2_x~");
	_cleanup_free_ char *b = unik_client_escape("a b/c?d&e%");

	(void)state;
	assert_string_equal(a, "hello-1.2_x~");
	assert_string_equal(b, "a%20b%2Fc%3Fd%26e%25");
	assert_int_equal(unik_client_error_code("not_found", 500), UNIK_E_NOTFOUND);
	assert_int_equal(unik_client_error_code("state", 409), UNIK_E_STATE);
	assert_int_equal(unik_client_error_code("exists", 409), UNIK_E_EXISTS);
	assert_int_equal(unik_client_error_code(NULL, 404), UNIK_E_NOTFOUND);
	assert_int_equal(unik_client_error_code("whatever", 400), UNIK_E_INVALID);
	assert_int_equal(unik_client_error_code(NULL, 401), UNIK_E_PERM);
	assert_int_equal(unik_client_error_code(NULL, 501), UNIK_E_UNSUPPORTED);
	assert_int_equal(unik_client_error_code(NULL, 502), UNIK_E_IO);
}

static void test_no_daemon_is_a_clear_error(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *dir = unik_mkdtemp("unik-test-client", &err);
	_cleanup_free_ char *sock = unik_path_join(dir, "daemon.sock");
	_cleanup_free_ char *want = NULL;
	struct unik_client *c = unik_client_new(sock, NULL, "tok");
	json_t *out = (json_t *)1;

	(void)state;
	assert_int_equal(unik_client_json(c, "GET", "/v1/version", NULL, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, UNIK_E_IO);
	assert_int_equal(unik_client_last_status(c), 0);
	want = xasprintf(
	    "cannot reach the unik daemon at unix socket %s: no such file or directory", sock);
	assert_string_equal(err.msg, want);
	unik_client_free(c);
	unik_rmtree(dir, NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* A busy daemon */

struct fake {
	char *dir, *sock;
	int fd;          /* the listening socket */
	int fillers[64]; /* connections that fill its queue, never accepted */
	size_t nfillers;
	pthread_t thread;
	bool running;
	int delay_ms; /* before the server starts accepting */
	int resets;   /* connections to read a request from and reset before answering */
	int requests; /* requests read (reset or answered) */
	int answered;
	bool tcp;     /* 127.0.0.1 rather than a unix socket */
	char url[64]; /* its base URL, over TCP */
};

/* A unix socket listening with a queue of one; fill fills the queue. */
static void fake_listen(struct fake *f, bool listen_too, bool fill)
{
	struct unik_error err = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	f->dir = unik_mkdtemp("unik-test-client", &err);
	assert_non_null(f->dir);
	f->sock = unik_path_join(f->dir, "d.sock");
	if (f->tcp) {
		struct sockaddr_in in = {.sin_family = AF_INET,
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(in);

		assert_false(fill);
		f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(f->fd >= 0);
		assert_int_equal(bind(f->fd, (struct sockaddr *)&in, sizeof(in)), 0);
		assert_int_equal(getsockname(f->fd, (struct sockaddr *)&in, &len), 0);
		snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", ntohs(in.sin_port));
		if (listen_too)
			assert_int_equal(listen(f->fd, 16), 0);
		return;
	}
	assert_true(strlen(f->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listen_too)
		assert_int_equal(listen(f->fd, 0), 0);
	while (fill && f->nfillers < sizeof(f->fillers) / sizeof(f->fillers[0])) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(c);
			break;
		}
		f->fillers[f->nfillers++] = c;
	}
	if (fill)
		assert_int_equal(unik_client_probe_socket(f->sock), EAGAIN);
}

/* Reads one request head (and a short body that came with it) from c; false when the peer
 * sent nothing, as the connections that filled the queue. */
static bool read_request(int c)
{
	char buf[4096];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	return n > 0;
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                             "Content-Length: 2\r\nConnection: close\r\n\r\n[]";

	usleep((useconds_t)f->delay_ms * 1000);
	for (;;) {
		int c = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			return NULL;
		for (size_t i = 0; i < f->nfillers; i++)
			if (f->fillers[i] >= 0) {
				close(f->fillers[i]);
				f->fillers[i] = -1;
			}
		if (__atomic_load_n(&f->running, __ATOMIC_SEQ_CST) == false) {
			close(c);
			return NULL;
		}
		if (!read_request(c)) {
			close(c);
			continue;
		}
		__atomic_add_fetch(&f->requests, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&f->resets, __ATOMIC_SEQ_CST) > 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};

			__atomic_sub_fetch(&f->resets, 1, __ATOMIC_SEQ_CST);
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		} else {
			unik_write_all(c, answer, sizeof(answer) - 1);
			__atomic_add_fetch(&f->answered, 1, __ATOMIC_SEQ_CST);
		}
		close(c);
	}
}

static struct unik_client *fake_client(struct fake *f)
{
	return f->tcp ? unik_client_new(NULL, f->url, NULL) : unik_client_new(f->sock, NULL, NULL);
}

/* Wakes the server's accept with one more connection. */
static void fake_wake(struct fake *f)
{
	if (f->tcp) {
		struct sockaddr_in in = {.sin_family = AF_INET};
		socklen_t len = sizeof(in);
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_int_equal(getsockname(f->fd, (struct sockaddr *)&in, &len), 0);
		assert_int_equal(connect(c, (struct sockaddr *)&in, len), 0);
		close(c);
	} else {
		int why = unik_client_probe_socket(f->sock);

		assert_true(why == 0 || why == EAGAIN);
	}
}

static void fake_start(struct fake *f)
{
	f->running = true;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	if (f->running) {
		__atomic_store_n(&f->running, false, __ATOMIC_SEQ_CST);
		fake_wake(f);
		pthread_join(f->thread, NULL);
	}
	for (size_t i = 0; i < f->nfillers; i++)
		if (f->fillers[i] >= 0)
			close(f->fillers[i]);
	close(f->fd);
	unik_rmtree(f->dir, NULL);
	free(f->dir);
	free(f->sock);
}

static void test_full_queue_is_retried_then_overloaded(void **state)
{
	struct fake f = {0};
	struct unik_error err = {0};
	struct unik_client *c;
	_cleanup_free_ char *want = NULL;
	long t0;

	(void)state;
	fake_listen(&f, true, true);
	c = unik_client_new(f.sock, NULL, NULL);
	unik_client_set_retry(c, 300);
	t0 = unik_now_ms();
	assert_int_equal(unik_client_json(c, "GET", "/v1/instances", NULL, NULL, &err), -1);
	assert_true(unik_now_ms() - t0 >= 300);
	assert_true(unik_client_last_attempts(c) > 2);
	assert_int_equal(err.code, UNIK_E_IO);
	want = xasprintf("the unik daemon at unix socket %s is overloaded: resource temporarily "
	                 "unavailable, ",
	                 f.sock);
	if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, "--retry-timeout") ||
	    !strstr(err.msg, "UNIK_RETRY_TIMEOUT (now 0.3 s)"))
		fail_msg("not the overloaded message: %s", err.msg);

	/* With retries off, the first refusal is the answer, as it was before retries. */
	unik_client_set_retry(c, 0);
	assert_int_equal(unik_client_json(c, "GET", "/v1/instances", NULL, NULL, &err), -1);
	assert_int_equal(unik_client_last_attempts(c), 1);
	assert_non_null(strstr(err.msg, "cannot reach the unik daemon"));
	assert_non_null(strstr(err.msg, "resource temporarily unavailable"));
	unik_client_free(c);
	fake_stop(&f);
}

static void test_full_queue_then_accepted(void **state)
{
	struct fake f = {.delay_ms = 300};
	struct unik_error err = {0};
	struct unik_client *c;
	json_t *body = json_object(), *out = NULL;

	(void)state;
	fake_listen(&f, true, true);
	fake_start(&f);
	c = unik_client_new(f.sock, NULL, NULL);
	/* Not a GET: a POST whose connection never got through has sent nothing. */
	if (unik_client_json(c, "POST", "/v1/instances", body, &out, &err) < 0)
		fail_msg("a daemon that accepts after 300 ms: %s", err.msg);
	assert_true(json_is_array(out));
	assert_true(unik_client_last_attempts(c) > 1);
	assert_int_equal(__atomic_load_n(&f.requests, __ATOMIC_SEQ_CST), 1);
	json_decref(body);
	json_decref(out);
	unik_client_free(c);
	fake_stop(&f);
}

static void reset_repeats_only_idempotent(bool tcp)
{
	struct fake f = {.resets = 1, .tcp = tcp};
	struct unik_error err = {0};
	struct unik_client *c;
	json_t *body = json_pack("{s:s}", "image", "hello");
	json_t *out = NULL;

	fake_listen(&f, true, false);
	fake_start(&f);
	c = fake_client(&f);

	/* A GET reset before its answer goes again and gets the answer. */
	if (unik_client_json(c, "GET", "/v1/instances", NULL, &out, &err) < 0)
		fail_msg("a GET reset once: %s", err.msg);
	assert_int_equal(unik_client_last_attempts(c), 2);
	assert_int_equal(__atomic_load_n(&f.requests, __ATOMIC_SEQ_CST), 2);
	json_decref(out);

	/* A POST the daemon read is never sent twice, however long retries may go on. */
	__atomic_store_n(&f.resets, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(unik_client_json(c, "POST", "/v1/instances", body, &out, &err), -1);
	assert_int_equal(unik_client_last_attempts(c), 1);
	assert_int_equal(__atomic_load_n(&f.requests, __ATOMIC_SEQ_CST), 3);
	assert_int_equal(__atomic_load_n(&f.answered, __ATOMIC_SEQ_CST), 1);
	assert_non_null(strstr(err.msg, tcp ? f.url : "the unik daemon at unix socket"));
	assert_null(strstr(err.msg, "overloaded"));
	json_decref(body);
	unik_client_free(c);
	fake_stop(&f);
}

static void test_reset_repeats_only_idempotent(void **state)
{
	(void)state;
	reset_repeats_only_idempotent(false);
}

static void test_reset_repeats_only_idempotent_tcp(void **state)
{
	(void)state;
	reset_repeats_only_idempotent(true);
}

static void test_refused_and_missing(void **state)
{
	struct fake f = {0};
	struct unik_error err = {0};
	struct unik_client *c;
	_cleanup_free_ char *missing = NULL;

	(void)state;
	fake_listen(&f, false, false); /* bound, not listening: refused */
	assert_int_equal(unik_client_probe_socket(f.sock), ECONNREFUSED);
	c = unik_client_new(f.sock, NULL, NULL);
	unik_client_set_retry(c, 200);
	assert_int_equal(unik_client_json(c, "GET", "/v1/version", NULL, NULL, &err), -1);
	assert_true(unik_client_last_attempts(c) > 1);
	assert_non_null(strstr(err.msg, "connection refused"));
	assert_null(strstr(err.msg, "overloaded"));
	unik_client_free(c);

	/* No socket at all is no busy daemon: one attempt. */
	missing = unik_path_join(f.dir, "none.sock");
	assert_int_equal(unik_client_probe_socket(missing), ENOENT);
	c = unik_client_new(missing, NULL, NULL);
	assert_int_equal(unik_client_json(c, "GET", "/v1/version", NULL, NULL, &err), -1);
	assert_int_equal(unik_client_last_attempts(c), 1);
	assert_non_null(strstr(err.msg, "no such file or directory"));
	unik_client_free(c);
	fake_stop(&f);
}

static volatile sig_atomic_t cancel_flag;

static void *cancel_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	cancel_flag = 1;
	return NULL;
}

/* Ctrl-C ends the waits between retries too, not only a request in progress. */
static void test_cancel_ends_retries(void **state)
{
	struct fake f = {0};
	struct unik_error err = {0};
	struct unik_client *c;
	pthread_t t;

	(void)state;
	fake_listen(&f, true, true);
	c = fake_client(&f);
	unik_client_set_retry(c, 600000);
	unik_client_set_cancel(c, &cancel_flag);
	cancel_flag = 0;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	assert_int_equal(unik_client_json(c, "GET", "/v1/instances", NULL, NULL, &err), -1);
	pthread_join(t, NULL);
	assert_string_equal(err.msg, "interrupted");
	assert_true(unik_client_last_attempts(c) > 1);
	unik_client_free(c);
	fake_stop(&f);
}

static void test_parse_retry(void **state)
{
	static const char *const bad[] = {"", "x", "-1", "1s", "nan", "1e9", "3x"};
	struct unik_error err = {0};
	long ms = -1;

	(void)state;
	assert_int_equal(unik_client_parse_retry("30", &ms, &err), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(unik_client_parse_retry("0.25", &ms, &err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(unik_client_parse_retry("0", &ms, &err), 0);
	assert_int_equal(ms, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(unik_client_parse_retry(bad[i], &ms, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		assert_non_null(strstr(err.msg, "give seconds"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_parse),
	    cmocka_unit_test(test_config_without_host),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_write_and_load),
	    cmocka_unit_test(test_parse_host),
	    cmocka_unit_test(test_escape_and_codes),
	    cmocka_unit_test(test_no_daemon_is_a_clear_error),
	    cmocka_unit_test(test_full_queue_is_retried_then_overloaded),
	    cmocka_unit_test(test_full_queue_then_accepted),
	    cmocka_unit_test(test_reset_repeats_only_idempotent),
	    cmocka_unit_test(test_reset_repeats_only_idempotent_tcp),
	    cmocka_unit_test(test_refused_and_missing),
	    cmocka_unit_test(test_cancel_ends_retries),
	    cmocka_unit_test(test_parse_retry),
	};

	signal(SIGPIPE, SIG_IGN); /* a fake daemon writing to a client that left */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
