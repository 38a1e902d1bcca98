/* The console copier: xenconsoled connects a guest's PV console to a pty in dom0; a small
 * detached process copies that pty into <instance_dir>/console.log until xenconsoled closes it
 * when the domain is destroyed.  It is forked from a process that may have threads (the
 * daemon), so the child only makes system calls: no allocation, no stdio, no libxl. */
#include "providers/xen/xen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/util.h"

static _Noreturn void copier(int tty, int log)
{
	char buf[4096];
	sigset_t none;
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and gaps */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		ssize_t n = read(tty, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		/* EIO: xenconsoled closed the master side, the domain is gone. */
		if (n <= 0)
			_exit(0);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(log, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			off += w;
		}
	}
}

int xen_console_start(const char *dir, const char *tty_path, struct unik_error *err)
{
	_cleanup_free_ char *log_path = unik_path_join(dir, XEN_CONSOLE_FILE);
	_cleanup_free_ char *pid_path = unik_path_join(dir, XEN_CONSOLE_PID_FILE);
	_cleanup_close_ int tty = -1, log = -1, devnull = -1;
	struct termios tio;
	unsigned long long start = 0;
	char state, text[64];
	int pfd[2], ws;
	pid_t mid, pid = 0;
	ssize_t n;

	tty = open(tty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0) {
		unik_error_sys(err, errno, "xen: open the console pty `%s`", tty_path);
		return -1;
	}
	/* Raw, without echo: an echo would send the guest its own output back as input. */
	if (tcgetattr(tty, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(tty, TCSANOW, &tio);
	}
	log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (log < 0 || devnull < 0) {
		unik_error_sys(err, errno, "xen: open `%s`", log < 0 ? log_path : "/dev/null");
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "xen: pipe");
		return -1;
	}
	mid = fork();
	if (mid < 0) {
		unik_error_sys(err, errno, "xen: fork");
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (mid == 0) {
		/* Its own session, then a grandchild that no one waits for: it outlives the
		 * daemon, and init reaps it. */
		pid_t gc;

		setsid();
		gc = fork();
		if (gc == 0) {
			/* Out of the way first, so no dup2 below overwrites a descriptor it
			 * still has to copy. */
			int t = fcntl(tty, F_DUPFD, 10), l = fcntl(log, F_DUPFD, 10);
			int z = fcntl(devnull, F_DUPFD, 10);

			if (t < 0 || l < 0 || z < 0 || dup2(z, 0) < 0 || dup2(z, 1) < 0 ||
			    dup2(z, 2) < 0 || dup2(t, 3) < 0 || dup2(l, 4) < 0)
				_exit(1);
			close_range(5, ~0U, 0);
			copier(3, 4);
		}
		(void)!write(pfd[1], &gc, sizeof(gc));
		_exit(gc < 0);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], &pid, sizeof(pid))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	while (waitpid(mid, &ws, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(pid) || pid <= 0) {
		unik_error_set(err, UNIK_E_IO, "xen: the console copier did not start");
		return -1;
	}
	if (unik_proc_stat(pid, &state, &start) < 0)
		start = 0; /* it ended already: the pty closed at once */
	snprintf(text, sizeof(text), "%d %llu\n", (int)pid, start);
	return unik_write_file_atomic(pid_path, text, strlen(text), 0644, err);
}

/* The copier's PID if it is alive and still the recorded process, else 0. */
static pid_t copier_pid(const char *dir)
{
	_cleanup_free_ char *path = unik_path_join(dir, XEN_CONSOLE_PID_FILE);
	_cleanup_free_ char *text = NULL;
	unsigned long long start, now;
	char state;
	int pid;

	if (unik_read_file(path, &text, NULL, NULL) < 0 ||
	    sscanf(text, "%d %llu", &pid, &start) != 2 || pid <= 0)
		return 0;
	if (unik_proc_stat(pid, &state, &now) < 0 || now != start || state == 'Z' || state == 'X')
		return 0;
	return pid;
}

bool xen_console_running(const char *dir, int wait_ms)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int waited = 0;; waited += 10) {
		if (!copier_pid(dir))
			return false;
		if (waited >= wait_ms)
			return true;
		nanosleep(&ts, NULL);
	}
}

void xen_console_kill(const char *dir)
{
	pid_t pid = copier_pid(dir);

	if (pid > 0) {
		kill(pid, SIGKILL);
		xen_console_running(dir, 1000);
	}
}
