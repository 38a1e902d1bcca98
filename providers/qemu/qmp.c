/* A small QMP client: connect to QEMU's monitor socket, read the greeting, negotiate
 * capabilities, run argument-less commands ("quit") and read their answers, skipping events.
 * QMP messages are JSON objects, one per line. */
#include "providers/qemu/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct qemu_qmp {
	int fd;
	long long deadline_ms;
	char *buf; /* bytes received and not yet consumed */
	size_t len, cap;
};

static int wait_fd(struct qemu_qmp *q, short events, const char *what, struct unik_error *err)
{
	struct pollfd pfd = {.fd = q->fd, .events = events};

	for (;;) {
		long long left = q->deadline_ms - unik_now_ms();
		int rc;

		if (left < 0)
			left = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0) {
			unik_error_set(err, UNIK_E_IO, "QMP: timed out %s", what);
			return -1;
		}
		if (errno != EINTR) {
			unik_error_sys(err, errno, "QMP: poll while %s", what);
			return -1;
		}
	}
}

/* The next message as a JSON object (caller's reference). */
static json_t *read_msg(struct qemu_qmp *q, const char *what, struct unik_error *err)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

		if (nl) {
			size_t n = (size_t)(nl - q->buf) + 1;
			json_error_t je;
			json_t *msg = json_loadb(q->buf, n, 0, &je);

			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			if (!msg || !json_is_object(msg)) {
				json_decref(msg);
				unik_error_set(err, UNIK_E_IO, "QMP: malformed message while %s",
				               what);
				return NULL;
			}
			return msg;
		}
		if (q->len + 4096 > q->cap) {
			q->cap = q->cap ? q->cap * 2 : 8192;
			if (q->cap > 1 << 20) {
				unik_error_set(err, UNIK_E_IO, "QMP: message too long while %s",
				               what);
				return NULL;
			}
			q->buf = xrealloc(q->buf, q->cap);
		}
		if (wait_fd(q, POLLIN, what, err) < 0)
			return NULL;
		ssize_t r = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);

		if (r == 0) {
			unik_error_set(err, UNIK_E_IO, "QMP: QEMU closed the connection while %s",
			               what);
			return NULL;
		}
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			unik_error_sys(err, errno, "QMP: read while %s", what);
			return NULL;
		}
		q->len += (size_t)r;
	}
}

static int send_all(struct qemu_qmp *q, const char *text, const char *what, struct unik_error *err)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t w = send(q->fd, text + off, len - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wait_fd(q, POLLOUT, what, err) < 0)
					return -1;
				continue;
			}
			unik_error_sys(err, errno, "QMP: write while %s", what);
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/* Connects to path; a path too long for sun_path is reached through its directory's
 * descriptor in /proc/self/fd. */
static int qmp_connect(const char *path, struct unik_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int dirfd = -1;
	int fd, rc;

	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		_cleanup_free_ char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');

		if (!slash) {
			unik_error_set(err, UNIK_E_INVALID, "QMP: socket name `%s` is too long",
			               path);
			return -1;
		}
		*slash = '\0';
		dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			unik_error_sys(err, errno, "QMP: open `%s`", dir);
			return -1;
		}
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd,
		                     slash + 1) >= sizeof(sa.sun_path)) {
			unik_error_set(err, UNIK_E_INVALID, "QMP: socket name `%s` is too long",
			               path);
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		unik_error_sys(err, errno, "QMP: socket");
		return -1;
	}
	/* A unix socket connects at once or fails (a full backlog gives EAGAIN). */
	do {
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		unik_error_sys(err, errno, "QMP: connect to `%s`", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for the answer to the command just sent: {"return": ...} or {"error": {...}}. */
static int read_answer(struct qemu_qmp *q, const char *command, char **ret, struct unik_error *err)
{
	_cleanup_free_ char *what = xasprintf("waiting for the answer to `%s`", command);

	for (;;) {
		json_t *msg = read_msg(q, what, err);
		json_t *v;

		if (!msg)
			return -1;
		if ((v = json_object_get(msg, "return"))) {
			if (ret)
				*ret = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			json_decref(msg);
			return 0;
		}
		if ((v = json_object_get(msg, "error"))) {
			const char *desc = json_string_value(json_object_get(v, "desc"));

			unik_error_set(err, UNIK_E_IO, "QMP: `%s` failed: %s", command,
			               desc ? desc : "(no description)");
			json_decref(msg);
			return -1;
		}
		/* An event ({"event": ...}) or anything else: not our answer. */
		json_decref(msg);
	}
}

int qemu_qmp_open(const char *sock_path, int timeout_ms, struct qemu_qmp **out,
                  struct unik_error *err)
{
	struct qemu_qmp *q = xcalloc(1, sizeof(*q));
	json_t *greeting;

	q->deadline_ms = unik_now_ms() + timeout_ms;
	q->fd = qmp_connect(sock_path, err);
	if (q->fd < 0)
		goto fail;
	greeting = read_msg(q, "waiting for the greeting", err);
	if (!greeting)
		goto fail;
	if (!json_object_get(greeting, "QMP")) {
		json_decref(greeting);
		unik_error_set(err, UNIK_E_IO, "QMP: `%s` did not greet with a QMP banner",
		               sock_path);
		goto fail;
	}
	json_decref(greeting);
	if (send_all(q, "{\"execute\":\"qmp_capabilities\"}\n", "negotiating capabilities", err) <
	        0 ||
	    read_answer(q, "qmp_capabilities", NULL, err) < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	qemu_qmp_close(q);
	return -1;
}

int qemu_qmp_execute(struct qemu_qmp *q, const char *command, char **ret, struct unik_error *err)
{
	_cleanup_free_ char *line = NULL;
	json_t *cmd = json_pack("{s:s}", "execute", command);
	char *text;

	if (!cmd) {
		unik_error_set(err, UNIK_E_INVALID, "QMP: bad command name");
		return -1;
	}
	text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	line = xasprintf("%s\n", text);
	free(text);
	if (send_all(q, line, "sending a command", err) < 0)
		return -1;
	return read_answer(q, command, ret, err);
}

void qemu_qmp_close(struct qemu_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}
