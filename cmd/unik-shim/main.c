/* unik-shim: the supervisor of one VM, as conmon is of a container.  It detaches from whoever
 * started it (so a daemon may die and come back), runs QEMU as its child, records both PIDs with
 * their start times, forwards SIGTERM, and writes QEMU's wait status into the instance directory
 * when it ends.  QEMU is started confined (lib/vmm_confine.h): its files are opened here and
 * handed over as descriptors, then it runs as an unprivileged user with no capabilities.  With
 * --console-max the guest console (QEMU's stdout) comes through a pipe and is written to
 * console.log with a cap and one rotation (lib/guest_console.h).
 * Usage: unik-shim --dir DIR [--ready-fd N] [--console-max BYTES] [--kernel F] [--initrd F]
 *                  [--qmp SOCKET] [--fd N:ro|rw|dir:PATH]... [--user UID:GID]
 *                  -- PROGRAM [ARGS...]
 * --fd hands QEMU a device's disk or shared directory as descriptor N (lib/vmm_confine.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "guest_console.h"
#include "proc.h"
#include "util.h"
#include "vmm_confine.h"

/* Names shared with providers/qemu (qemu.h): the records in the instance directory. */
#define PID_FILE      "qemu.pid"
#define SHIM_PID_FILE "shim.pid"
#define EXIT_FILE     "exit"
#define ERR_FILE      "qemu.err"
#define LOG_FILE      "shim.log"

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	int saved = errno;

	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	errno = saved;
}

static void usage(void)
{
	fputs("usage: unik-shim --dir DIR [--ready-fd N] [--console-max BYTES] [--kernel FILE]\n"
	      "                 [--initrd FILE] [--qmp SOCKET] [--fd N:ro|rw|dir:PATH]...\n"
	      "                 [--user UID:GID] -- PROGRAM [ARGS...]\n",
	      stderr);
	exit(2);
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "unik-shim[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* Start time of pid, 0 when unreadable.  The provider compares it with /proc later to tell a
 * live VM from a recycled PID. */
static unsigned long long start_time(pid_t pid)
{
	unsigned long long start = 0;
	return unik_proc_stat(pid, NULL, &start) == 0 ? start : 0;
}

/* Atomic, not synced: PIDs mean nothing after a host crash, and this is on the start path. */
static int write_pid(const char *dir, const char *name, pid_t pid)
{
	_cleanup_free_ char *path = unik_path_join(dir, name);
	char text[64];

	snprintf(text, sizeof(text), "%d %llu\n", (int)pid, start_time(pid));
	return unik_write_file_replace(path, text, strlen(text), 0644, NULL);
}

static void ready(int fd, const char *text)
{
	if (fd < 0)
		return;
	/* The starter may be gone already; SIGPIPE is ignored. */
	(void)unik_write_all(fd, text, strlen(text));
	close(fd);
}

static void write_exit(const char *dir, pid_t pid, int ws, const char *error)
{
	_cleanup_free_ char *path = unik_path_join(dir, EXIT_FILE);
	_cleanup_free_ char *text = NULL;
	struct unik_error err;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (error)
		text = xasprintf("pid=%d\nerror=%s\nfinished=%lld.%09ld\n", (int)pid, error,
		                 (long long)ts.tv_sec, ts.tv_nsec);
	else if (WIFEXITED(ws))
		text = xasprintf("pid=%d\nwait_status=%d\nexit_code=%d\nfinished=%lld.%09ld\n",
		                 (int)pid, ws, WEXITSTATUS(ws), (long long)ts.tv_sec, ts.tv_nsec);
	else
		text = xasprintf("pid=%d\nwait_status=%d\nsignal=%d\nfinished=%lld.%09ld\n",
		                 (int)pid, ws, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0,
		                 (long long)ts.tv_sec, ts.tv_nsec);
	/* Synced: how the VM ended is the one record worth keeping across a host crash. */
	if (unik_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		logmsg("%s", err.msg);
}

/* Closes every descriptor above keep (the daemon's are not ours to hold open). */
static void close_others(int keep)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0)
		return;
#endif
	for (int fd = keep + 1; fd < 1024; fd++)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *user = NULL, *console_max = NULL;
	struct unik_vmm_files files = {0};
	struct unik_vmm_fd fds[UNIK_VMM_FD_DEVICES_MAX];
	struct unik_error fd_err;
	struct unik_vmm_user vmm_user;
	struct unik_console_log con = {.fd = -1};
	long long cap = 0;
	int ready_fd = -1, i, dirfd, errfd, devnull, pfd[2], cpipe[2] = {-1, -1}, ws,
	    child_errno = 0;
	char child_what[128] = "";
	char **prog;
	struct sigaction sa;
	sigset_t mask, old;
	pid_t pid;
	ssize_t n;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--ready-fd") && i + 1 < argc)
			ready_fd = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--console-max") && i + 1 < argc)
			console_max = argv[++i];
		else if (!strcmp(argv[i], "--kernel") && i + 1 < argc)
			files.kernel = argv[++i];
		else if (!strcmp(argv[i], "--initrd") && i + 1 < argc)
			files.initrd = argv[++i];
		else if (!strcmp(argv[i], "--qmp") && i + 1 < argc)
			files.qmp = argv[++i];
		else if (!strcmp(argv[i], "--user") && i + 1 < argc)
			user = argv[++i];
		else if (!strcmp(argv[i], "--fd") && i + 1 < argc) {
			if (files.nfds == UNIK_VMM_FD_DEVICES_MAX ||
			    unik_vmm_fd_parse(argv[++i], &fds[files.nfds], &fd_err) < 0) {
				fprintf(stderr, "unik-shim: %s\n",
				        files.nfds == UNIK_VMM_FD_DEVICES_MAX ? "too many --fd"
				                                              : fd_err.msg);
				usage();
			}
			files.fds = fds;
			files.nfds++;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			usage();
	}
	if (!dir || i >= argc)
		usage();
	prog = argv + i;

	/* Descriptors: 0 /dev/null, 1 and 2 shim.log, 3 the ready pipe, nothing else. */
	if (ready_fd >= 0 && ready_fd != 3) {
		if (dup2(ready_fd, 3) < 0)
			ready_fd = -1;
		else
			ready_fd = 3;
	}
	close_others(ready_fd >= 0 ? 3 : 2);
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "error %d open `%s`: %s\n", errno, dir, strerror(errno));
		ready(ready_fd, msg);
		return 1;
	}
	devnull = open("/dev/null", O_RDWR);
	{
		int logfd = openat(dirfd, LOG_FILE, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(devnull, 0);
		dup2(logfd >= 0 ? logfd : devnull, 1);
		dup2(logfd >= 0 ? logfd : devnull, 2);
		if (logfd > 2)
			close(logfd);
		if (devnull > 2)
			close(devnull);
	}

	{
		struct unik_error err;

		if ((user && unik_vmm_user_parse(user, &vmm_user, &err) < 0) ||
		    (console_max &&
		     unik_console_max_parse("--console-max", console_max, &cap, &err) < 0)) {
			_cleanup_free_ char *line = xasprintf("error %d %s\n", EINVAL, err.msg);

			ready(ready_fd, line);
			return 1;
		}
	}

	/* Detach: a new session, then fork so the supervisor is no session leader and no child of
	 * the starter, which only has to reap the short-lived first process. */
	(void)setsid();
	pid = fork();
	if (pid < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "error %d fork: %s\n", errno, strerror(errno));
		ready(ready_fd, msg);
		return 1;
	}
	if (pid > 0)
		_exit(0);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Held until QEMU's PID is known, so a SIGTERM sent right away is forwarded, not lost. */
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	write_pid(dir, SHIM_PID_FILE, getpid());
	errfd = openat(dirfd, ERR_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (console_max) {
		struct unik_error err;

		if (pipe2(cpipe, O_CLOEXEC) < 0 ||
		    unik_console_log_open(&con, dir, cap, &err) < 0) {
			_cleanup_free_ char *line =
			    xasprintf("error %d console: %s\n", errno ? errno : EIO,
			              cpipe[0] < 0 ? strerror(errno) : err.msg);

			ready(ready_fd, line);
			return 1;
		}
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "error %d pipe: %s\n", errno, strerror(errno));
		ready(ready_fd, msg);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl;
		const char *what = NULL;
		/* Above the descriptors QEMU is given (vmm_confine.h), so none clobbers it. */
		int report_fd = fcntl(pfd[1], F_DUPFD_CLOEXEC, UNIK_VMM_FD_PRIVATE);

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &dfl, NULL);
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGPIPE, &dfl, NULL);
		sigaction(SIGHUP, &dfl, NULL);
		sigemptyset(&mask);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		if (errfd >= 0) {
			dup2(errfd, 1);
			dup2(errfd, 2);
		}
		if (cpipe[1] >= 0)
			dup2(cpipe[1], 1);
		/* QEMU runs in the instance directory: a QMP socket path too long for a socket
		 * address is given relative to it. */
		if (fchdir(dirfd) < 0)
			what = "enter the instance directory";
		else if (unik_vmm_confine_child(&files, user ? &vmm_user : NULL, &what) == 0) {
			execvp(prog[0], prog);
			what = NULL;
		}
		child_errno = errno;
		{
			char rep[sizeof(int) + 128];

			memcpy(rep, &child_errno, sizeof(int));
			snprintf(rep + sizeof(int), sizeof(rep) - sizeof(int), "%s",
			         what ? what : "");
			(void)!write(report_fd, rep, sizeof(int) + strlen(rep + sizeof(int)));
		}
		_exit(127);
	}
	if (pid < 0) {
		int e = errno;
		_cleanup_free_ char *msg = xasprintf("fork: %s", strerror(e));
		_cleanup_free_ char *line = xasprintf("error %d %s\n", e, msg);

		write_exit(dir, 0, 0, msg);
		ready(ready_fd, line);
		return 1;
	}
	child_pid = pid;
	close(pfd[1]);
	if (cpipe[1] >= 0)
		close(cpipe[1]);
	if (errfd >= 0)
		close(errfd);
	write_pid(dir, PID_FILE, pid);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* EOF on the pipe means the exec succeeded (the descriptor closed with it). */
	{
		char rep[sizeof(int) + 128];

		do {
			n = read(pfd[0], rep, sizeof(rep) - 1);
		} while (n < 0 && errno == EINTR);
		if (n >= (ssize_t)sizeof(int)) {
			memcpy(&child_errno, rep, sizeof(int));
			rep[n] = '\0';
			snprintf(child_what, sizeof(child_what), "%s", rep + sizeof(int));
		}
	}
	close(pfd[0]);
	if (n >= (ssize_t)sizeof(child_errno)) {
		char msg[512];

		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		child_pid = 0;
		if (child_what[0])
			snprintf(msg, sizeof(msg), "run `%s`: %s: %s", prog[0], child_what,
			         strerror(child_errno));
		else
			snprintf(msg, sizeof(msg), "run `%s`: %s", prog[0], strerror(child_errno));
		logmsg("%s", msg);
		write_exit(dir, pid, ws, msg);
		unlinkat(dirfd, PID_FILE, 0);
		{
			_cleanup_free_ char *line = xasprintf("error %d %s\n", child_errno, msg);

			ready(ready_fd, line);
		}
		return 1;
	}
	{
		char msg[64];

		snprintf(msg, sizeof(msg), "ok %d\n", (int)pid);
		ready(ready_fd, msg);
	}

	/* The console until QEMU closes it (it ends), then QEMU's status. */
	if (cpipe[0] >= 0) {
		char buf[65536];
		bool ok = true;

		for (;;) {
			n = read(cpipe[0], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (ok && unik_console_log_write(&con, buf, (size_t)n) < 0) {
				logmsg("write the console log: %s (the rest is dropped)",
				       strerror(errno));
				ok = false;
			}
		}
		close(cpipe[0]);
		unik_console_log_close(&con);
	}
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR) {
			logmsg("wait for %d: %s", (int)pid, strerror(errno));
			return 1;
		}
	}
	child_pid = 0;
	write_exit(dir, pid, ws, NULL);
	return 0;
}
