/* The init process of a unikernel container: what create leaves behind and the engine watches.
 * It waits on the exec FIFO until start, runs QEMU confined (lib/vmm_confine.h: an unprivileged
 * user, no capabilities, seccomp) with the guest console on a pipe, copies the
 * console byte for byte to the container's stdout while looking for the runtime's ending lines,
 * stops the VM on SIGTERM/SIGINT/SIGHUP/SIGQUIT, and exits with the guest's status. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci.h"
#include "proc.h"
#include "unik/abi.h"

/* How long QEMU gets to end after SIGTERM before it is killed. */
#define STOP_GRACE_MS 5000

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		unik_write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void die(int ready_fd, const char *what)
{
	report(ready_fd, "error %s: %s\n", what, strerror(errno));
	if (ready_fd < 0)
		fprintf(stderr, "unik-oci: %s: %s\n", what, strerror(errno));
	_exit(255);
}

/* Closes every descriptor but stdio and the ones listed, so the init process holds no lock,
 * pipe or socket of the engine's beyond what it was given. */
static void close_others(const int *keep, size_t nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd;

	if (!d)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		bool kept = fd <= 2 || fd == dfd || de->d_name[0] == '.';

		for (size_t i = 0; i < nkeep && !kept; i++)
			kept = keep[i] == fd;
		if (!kept)
			close(fd);
	}
	closedir(d);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Watches the console stream for lines that start with the runtime's prefixes. */
struct line_watch {
	char line[128];
	size_t len;
	bool overflow;
	int exit_status; /* -1 until an exit line */
	bool crashed;
};

static void watch_line_end(struct line_watch *w)
{
	size_t n = w->len;
	const size_t plen = strlen(UNIK_EXIT_LINE_PREFIX);

	if (n && w->line[n - 1] == '\r')
		n--;
	w->line[n] = '\0';
	if (!w->overflow && n > plen && !strncmp(w->line, UNIK_EXIT_LINE_PREFIX, plen)) {
		char *end;
		long v = strtol(w->line + plen, &end, 10);

		if (!*end && v >= 0 && v <= 255)
			w->exit_status = (int)v;
	} else if (!strncmp(w->line, UNIK_CRASH_LINE_PREFIX, strlen(UNIK_CRASH_LINE_PREFIX))) {
		w->crashed = true;
	}
	w->len = 0;
	w->overflow = false;
}

static void watch(struct line_watch *w, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			watch_line_end(w);
			continue;
		}
		if (w->len < sizeof(w->line) - 1)
			w->line[w->len++] = buf[i];
		else
			w->overflow = true;
	}
}

static void write_exit_record(const char *dir, int status, const char *how)
{
	_cleanup_free_ char *p = unik_path_join(dir, "exit");
	_cleanup_free_ char *text = xasprintf("exit_code=%d\nhow=%s\n", status, how);

	unik_write_file_atomic(p, text, strlen(text), 0644, NULL);
}

static void tail_qemu_err(const char *dir)
{
	_cleanup_free_ char *p = unik_path_join(dir, "qemu.err");
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (unik_read_file(p, &text, &len, NULL) < 0 || !len)
		return;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (!len)
		return;
	char *last = strrchr(text, '\n');
	fprintf(stderr, "unik-oci: qemu: %s\n", last ? last + 1 : text);
}

void oci_init_main(const struct oci_init_args *a)
{
	_cleanup_free_ char *fifo = unik_path_join(a->dir, OCI_FIFO_FILE);
	_cleanup_free_ char *errpath = unik_path_join(a->dir, "qemu.err");
	int keep[] = {a->ready_fd};
	int ready = a->ready_fd;
	int con[2], in[2], sfd, errfd, wst = 0, stop_sig = 0;
	char inbuf[4096];
	size_t inlen = 0, inoff = 0;
	bool stdin_open = true;
	sigset_t mask;
	pid_t qemu, me = getpid();
	long long kill_at = 0;
	struct line_watch w = {.exit_status = -1};
	bool console_open = true, qemu_done = false;
	unsigned long long qstart = 0;

	close_others(keep, 1);
	prctl(PR_SET_NAME, "unik-oci-init");
	signal(SIGPIPE, SIG_IGN);

	/* Until start, any signal that ends a process ends this one, as it would a container that
	 * has not run its program yet. */
	report(ready, "ok\n");
	close(ready);
	ready = -1;
	if (a->wait_for_start) {
		int fd;

		do {
			fd = open(fifo, O_WRONLY | O_CLOEXEC);
		} while (fd < 0 && errno == EINTR);
		if (fd < 0)
			die(-1, "open the exec FIFO");
		if (write(fd, "0", 1) != 1)
			die(-1, "write the exec FIFO");
		close(fd);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die(-1, "signalfd");
	/* The guest's input goes through init, not straight from the terminal: QEMU would put a
	 * terminal in raw mode, while a container's terminal stays cooked (echo, line editing,
	 * Enter as a newline, ^C as SIGINT to init, which then stops the VM). */
	if (pipe2(con, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)
		die(-1, "pipe");
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (errfd < 0)
		die(-1, "create qemu.err");

	qemu = fork();
	if (qemu < 0)
		die(-1, "fork");
	if (qemu == 0) {
		sigset_t none;

		/* No QEMU outlives its container: it dies with the init process. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != me)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Its own process group: terminal signals go to init, which decides. */
		setpgid(0, 0);
		if (dup2(in[0], 0) < 0 || dup2(con[1], 1) < 0 || dup2(errfd, 2) < 0 ||
		    chdir(a->dir) < 0)
			_exit(127);
		/* Unprivileged, no capabilities, only the descriptors it needs. */
		const char *what = "";
		if (unik_vmm_confine_child(&a->files, &a->user, &what) < 0) {
			dprintf(2, "unik-oci: %s: %s\n", what, strerror(errno));
			_exit(127);
		}
		/* A change of uid cleared the parent-death signal: set it again. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != me)
			_exit(127);
		execvp(a->qemu_argv[0], a->qemu_argv);
		dprintf(2, "exec %s: %s\n", a->qemu_argv[0], strerror(errno));
		_exit(127);
	}
	close(con[1]);
	close(in[0]);
	close(errfd);
	if (unik_proc_stat(qemu, NULL, &qstart) == 0) {
		_cleanup_free_ char *p = unik_path_join(a->dir, OCI_QEMU_PID);
		_cleanup_free_ char *t = xasprintf("%d %llu\n", (int)qemu, qstart);

		unik_write_file_atomic(p, t, strlen(t), 0644, NULL);
	}

	while (console_open || !qemu_done) {
		struct pollfd pfd[4] = {
		    {.fd = sfd, .events = POLLIN},
		    {.fd = console_open ? con[0] : -1, .events = POLLIN},
		    {.fd = stdin_open && inlen == 0 ? 0 : -1, .events = POLLIN},
		    {.fd = inlen ? in[1] : -1, .events = POLLOUT},
		};
		int timeout = -1;

		if (kill_at) {
			long long left = kill_at - now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		if (poll(pfd, 4, timeout) < 0 && errno != EINTR)
			die(-1, "poll");
		if (kill_at && now_ms() >= kill_at && !qemu_done) {
			kill(qemu, SIGKILL);
			kill_at = 0;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[16384];
			ssize_t n = read(con[0], buf, sizeof(buf));

			if (n > 0) {
				watch(&w, buf, (size_t)n);
				/* The engine may have gone (EPIPE): the VM runs on regardless. */
				unik_write_all(1, buf, (size_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				console_open = false;
			}
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(0, inbuf, sizeof(inbuf));

			if (n > 0) {
				inlen = (size_t)n;
				inoff = 0;
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				stdin_open = false;
				close(in[1]);
				in[1] = -1;
			}
		}
		if (inlen && (pfd[3].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(in[1], inbuf + inoff, inlen);

			if (n > 0) {
				inoff += (size_t)n;
				inlen -= (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				inlen = 0; /* QEMU stopped reading: the input has nowhere to go */
			}
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGCHLD)
					continue;
				if (sig == SIGUSR1 || sig == SIGUSR2)
					continue; /* a unikernel has no signals to take them */
				if (qemu_done)
					continue;
				if (!stop_sig)
					stop_sig = sig;
				kill(qemu, SIGTERM);
				if (!kill_at)
					kill_at = now_ms() + STOP_GRACE_MS;
			}
		}
		if (!qemu_done && waitpid(qemu, &wst, WNOHANG) == qemu) {
			qemu_done = true;
			kill_at = 0;
		}
	}
	if (w.len)
		watch_line_end(&w);

	int status;
	const char *how;

	if (w.exit_status >= 0) {
		status = w.exit_status;
		how = w.crashed ? "crash" : "exit line";
	} else if (w.crashed) {
		status = UNIK_EXIT_CRASH;
		how = "crash";
	} else if (stop_sig) {
		status = 128 + stop_sig;
		how = "stopped";
	} else if (WIFSIGNALED(wst)) {
		status = 128 + WTERMSIG(wst);
		how = "qemu killed";
	} else {
		status = UNIK_EXIT_CRASH;
		how = "qemu ended without an exit line";
		tail_qemu_err(a->dir);
	}
	write_exit_record(a->dir, status, how);
	_exit(status);
}
