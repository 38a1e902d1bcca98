/* start: releases a created unikernel's init process through its exec FIFO. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] = "usage: unik-oci start ID\n\nStarts a created container.\n";

int cmd_start(int argc, char **argv)
{
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *fifo = NULL;
	_cleanup_close_ int lockfd = -1;
	_cleanup_close_ int fd = -1;
	struct oci_state st;
	struct unik_error err;
	const char *status;
	int rc = 1;

	if (oci_parse_opts(argc, argv, NULL, usage, &pos) < 0)
		return 1;
	if (pos.n != 1) {
		unik_error_set(&err, UNIK_E_INVALID, "start: expected one container id");
		return oci_fail(&err);
	}
	if (!oci_is_unik_container(pos.v[0]) && oci_runc_path()) {
		oci_delegate(&err);
		return oci_fail(&err);
	}
	if (oci_container_open(pos.v[0], true, &dir, &lockfd, &st, &err) < 0)
		return oci_fail(&err);
	status = oci_container_status(dir, &st);
	if (strcmp(status, "created")) {
		unik_error_set(&err, UNIK_E_STATE,
		               !strcmp(status, "stopped")
		                   ? "cannot start a container that has stopped"
		                   : "cannot start an already running container");
		goto out;
	}
	fifo = unik_path_join(dir, OCI_FIFO_FILE);
	fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		unik_error_sys(&err, errno, "open `%s`", fifo);
		goto out;
	}
	/* The init process writes one byte once it has the FIFO open; until then, and as long as
	 * it lives, wait for it. */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;
		ssize_t n;

		if (poll(&p, 1, 100) < 0 && errno != EINTR) {
			unik_error_sys(&err, errno, "poll `%s`", fifo);
			goto out;
		}
		n = read(fd, &c, 1);
		if (n == 1)
			break;
		if (!oci_proc_alive(st.pid, st.pid_start)) {
			unik_error_set(&err, UNIK_E_STATE,
			               "cannot start a container that has stopped");
			goto out;
		}
	}
	unlink(fifo);
	rc = 0;
out:
	oci_state_free(&st);
	return rc ? oci_fail(&err) : 0;
}
