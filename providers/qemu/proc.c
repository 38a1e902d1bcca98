/* Processes recorded in an instance directory ("PID START" pid files written by unik-shim):
 * liveness checked against the recorded start time so a recycled PID is never mistaken for the
 * VM, and waiting for their end through pidfds. */
#include "providers/qemu/qemu.h"
#include "lib/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int qemu_proc_read(const char *dir, const char *file, struct qemu_proc *p)
{
	_cleanup_free_ char *path = unik_path_join(dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[64], *end;
	ssize_t n;
	long long pid;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	pid = strtoll(buf, &end, 10);
	if (errno || end == buf || *end != ' ' || pid <= 0 || pid > INT32_MAX)
		return -1;
	p->pid = (pid_t)pid;
	p->start = strtoull(end + 1, &end, 10);
	if (errno || *end != '\n')
		return -1;
	return 0;
}

bool qemu_proc_alive(const struct qemu_proc *p)
{
	unsigned long long start;
	char state;

	if (p->pid <= 0 || unik_proc_stat(p->pid, &state, &start) < 0)
		return false;
	return start == p->start && state != 'Z' && state != 'X';
}

int qemu_proc_open(const struct qemu_proc *p)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);

	if (fd < 0)
		return -1;
	/* Checked after the pidfd pins the process, so it cannot be recycled in between. */
	if (!qemu_proc_alive(p)) {
		close(fd);
		errno = ESRCH;
		return -1;
	}
	return fd;
#else
	(void)p;
	errno = ENOSYS;
	return -1;
#endif
}

bool qemu_proc_wait_gone(const struct qemu_proc *p, int timeout_ms)
{
	long long deadline = unik_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fd = qemu_proc_open(p);

	if (fd < 0 && errno == ESRCH)
		return true;
	if (fd >= 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc;

		/* A pidfd polls readable when the process has exited, zombie or not. */
		do {
			long long left = deadline - unik_now_ms();

			rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
		} while (rc < 0 && errno == EINTR);
		close(fd);
		return rc > 0;
	}
	for (;;) {
		if (!qemu_proc_alive(p))
			return true;
		if (unik_now_ms() >= deadline)
			return false;
		usleep(1000);
	}
}

void qemu_proc_kill(const struct qemu_proc *p, int sig)
{
	int fd = qemu_proc_open(p);

	if (fd >= 0) {
#ifdef SYS_pidfd_send_signal
		syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
#endif
		close(fd);
		return;
	}
	if (errno == ENOSYS && qemu_proc_alive(p))
		kill(p->pid, sig);
}
