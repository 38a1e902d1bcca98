/* libFuzzer target: QMP replies as the qemu provider reads them (providers/qemu/qmp.c).  A
 * thread plays QEMU on a real unix socket: it sends the input as everything QEMU says (greeting,
 * the answer to qmp_capabilities, events, the answer to a command), then hangs up; the client
 * opens the connection and runs one command. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "providers/qemu/qemu.h"
#include "util.h"

static char *dir, *sock;
static int listen_fd = -1;

struct peer {
	const uint8_t *data;
	size_t size;
};

static void *play_qemu(void *arg)
{
	const struct peer *p = arg;
	int fd = accept(listen_fd, NULL, NULL);
	char sink[4096];

	if (fd < 0)
		return NULL;
	unik_write_all(fd, p->data, p->size);
	shutdown(fd, SHUT_WR);
	/* Read what the client sends until it closes, so its writes never meet a closed socket. */
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	return NULL;
}

static void cleanup(void)
{
	unik_rmtree(dir, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer p = {data, size};
	struct qemu_qmp *q = NULL;
	struct unik_error err;
	pthread_t t;
	char *ret = NULL;

	if (listen_fd < 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		dir = unik_mkdtemp("unik-fuzz-qmp", &err);
		if (!dir)
			abort();
		atexit(cleanup);
		sock = unik_path_join(dir, QEMU_QMP_FILE);
		if (strlen(sock) >= sizeof(sa.sun_path))
			abort();
		memcpy(sa.sun_path, sock, strlen(sock) + 1);
		listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(listen_fd, 4) < 0)
			abort();
	}
	if (pthread_create(&t, NULL, play_qemu, &p))
		abort();
	if (qemu_qmp_open(sock, 5000, &q, &err) == 0) {
		if (qemu_qmp_execute(q, "query-status", &ret, &err) == 0)
			free(ret);
	}
	qemu_qmp_close(q);
	pthread_join(t, NULL);
	return 0;
}
