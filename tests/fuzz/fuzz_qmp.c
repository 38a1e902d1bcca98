/* libFuzzer target: QMP replies as the qemu provider reads them (providers/qemu/qmp.c).  The
 * input is everything QEMU says in a session (greeting, the answer to qmp_capabilities, events,
 * the answer to a command), then it hangs up; the client opens the connection and runs one
 * command.  A thread playing QEMU behind a listening socket made each input wait for the
 * scheduler (200 executions a second on a loaded machine), so connect() is interposed instead:
 * for the fake socket path, the client's socket becomes one end of a socketpair whose other end
 * already holds the input. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "providers/qemu/qemu.h"
#include "lib/util.h"

#define FAKE_SOCK "/nonexistent/unik-fuzz-qmp.sock"

static const uint8_t *input;
static size_t input_size;
static int peer = -1; /* QEMU's end, kept open (and unread) until the session ends */

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_un *sa = (const struct sockaddr_un *)addr;
	int sv[2];

	if (addr->sa_family != AF_UNIX || strcmp(sa->sun_path, FAKE_SOCK))
		return (int)syscall(SYS_connect, fd, addr, len);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* What does not fit in the socket buffer is cut: the session ends there. */
	for (size_t off = 0; off < input_size;) {
		ssize_t w = write(sv[1], input + off, input_size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	fcntl(sv[0], F_SETFL, O_NONBLOCK); /* as qmp.c made its own socket */
	if (dup3(sv[0], fd, O_CLOEXEC) < 0)
		abort();
	close(sv[0]);
	peer = sv[1];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qemu_qmp *q = NULL;
	struct unik_error err;
	char *ret = NULL;

	input = data;
	input_size = size;
	if (qemu_qmp_open(FAKE_SOCK, 5000, &q, &err) == 0) {
		if (qemu_qmp_execute(q, "query-status", &ret, &err) == 0)
			free(ret);
	}
	qemu_qmp_close(q);
	if (peer >= 0)
		close(peer);
	peer = -1;
	return 0;
}
