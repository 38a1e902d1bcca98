/* Unit tests for the kvm provider's bounded connection open (providers/kvm/conn.c), against
 * unix sockets made here: one that accepts connections into its backlog and never answers
 * (a hung libvirtd), then the same path with nobody listening (a libvirtd that died).  No
 * libvirtd is needed; the integration tests cover real ones. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/kvm/kvm.h"

#define CALLERS 4

struct hung {
	char dir[64];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char uri[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	int fd;
};

struct call {
	const char *uri;
	int timeout_ms;
	int rc;
	double seconds;
	struct unik_error err;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;
	struct kvm_conn conn;
	double t0 = (unik_now_us() / 1e6);

	c->rc = kvm_conn_get(c->uri, c->timeout_ms, &conn, &c->err);
	c->seconds = (unik_now_us() / 1e6) - t0;
	if (c->rc == 0)
		kvm_conn_put(&conn);
	return NULL;
}

static void one_call(struct call *c)
{
	call_thread(c);
}

static int setup(void **state)
{
	struct hung *h = calloc(1, sizeof(*h));
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	/* /tmp, not $TMPDIR: a socket path has room for 107 bytes only. */
	snprintf(h->dir, sizeof(h->dir), "/tmp/unik-kvm-conn-XXXXXX");
	if (!mkdtemp(h->dir))
		return -1;
	if ((size_t)snprintf(h->path, sizeof(h->path), "%.63s/libvirt-sock", h->dir) >=
	    sizeof(h->path))
		return -1;
	snprintf(h->uri, sizeof(h->uri), "qemu+unix:///system?socket=%s", h->path);
	memcpy(a.sun_path, h->path, sizeof(a.sun_path));
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(h->fd, 64) < 0)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct hung *h = *state;

	if (h->fd >= 0)
		close(h->fd);
	unlink(h->path);
	rmdir(h->dir);
	free(h);
	return 0;
}

/* Callers at once, a hung daemon, then the daemon gone: one sequence, because the connection
 * cache is per process and the open begun in the first step is what the later ones see. */
static void test_hung_then_dead(void **state)
{
	struct hung *h = *state;
	struct call calls[CALLERS];
	pthread_t t[CALLERS];
	struct call late = {.uri = h->uri, .timeout_ms = 700};
	struct call dead = {.uri = h->uri, .timeout_ms = 700};
	double t0;

	/* Several callers on one URI share one open; each gives up at its timeout. */
	for (int i = 0; i < CALLERS; i++) {
		calls[i] = (struct call){.uri = h->uri, .timeout_ms = 700};
		assert_int_equal(pthread_create(&t[i], NULL, call_thread, &calls[i]), 0);
	}
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(calls[i].rc, -1);
		assert_non_null(strstr(calls[i].err.msg, "no answer within 1 s"));
		assert_non_null(strstr(calls[i].err.msg, h->uri));
		assert_true(calls[i].seconds >= 0.5);
		assert_true(calls[i].seconds < 5);
	}

	/* Once its time is up, a later call on the still pending open fails at once. */
	one_call(&late);
	assert_int_equal(late.rc, -1);
	assert_non_null(strstr(late.err.msg, "no answer within"));
	assert_true(late.seconds < 0.3);

	/* The daemon dies: the pending open fails (its connection is reset), and the next call
	 * opens again and gets libvirt's own reason, not the stale timeout. */
	close(h->fd);
	h->fd = -1;
	t0 = (unik_now_us() / 1e6);
	do {
		one_call(&dead);
		assert_int_equal(dead.rc, -1);
		if (!strstr(dead.err.msg, "no answer within"))
			break;
		usleep(50000);
	} while ((unik_now_us() / 1e6) - t0 < 10);
	assert_null(strstr(dead.err.msg, "no answer within"));
	assert_non_null(strstr(dead.err.msg, "Failed to connect socket"));
	assert_non_null(strstr(dead.err.msg, "is libvirtd running?"));
	assert_true(dead.seconds < 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hung_then_dead, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
