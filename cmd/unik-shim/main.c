/* unik-shim: the supervisor of one VM, as conmon is of a container.  It detaches from whoever
 * started it (so a daemon may die and come back), runs QEMU as its child, records both PIDs with
 * their start times, forwards SIGTERM, and writes QEMU's wait status into the instance directory
 * when it ends.  QEMU is started confined (lib/vmm_confine.h): its files are opened here and
 * handed over as descriptors, then it runs as an unprivileged user with no capabilities.  With
 * --console-max the guest console (QEMU's stdout) comes through a pipe and is written to
 * console.log with a cap and one rotation (lib/guest_console.h).
 *
 * With --foreground it is a container's process instead (unik-oci): it stays the starter's child
 * on the starter's stdio, waits at --hold-fifo until the engine's `start`, copies the console to
 * stdout as well as to console.log, feeds stdin to the guest, stops the VM on SIGTERM, SIGINT,
 * SIGHUP or SIGQUIT, takes QEMU with it when it is killed, and exits with the guest's status.
 * Usage: unik-shim --dir DIR [--ready-fd N] [--console-max BYTES] [--kernel F] [--initrd F]
 *                  [--qmp SOCKET] [--fd N:ro|rw|dir|tap:PATH]... [--user UID:GID]
 *                  [--forward tcp|udp:HOSTIP:HOSTPORT:GUESTIP:GUESTPORT]...
 *                  [--foreground [--hold-fifo FIFO]] -- PROGRAM [ARGS...]
 * --fd hands QEMU a device's disk, shared directory or tap as descriptor N (lib/vmm_confine.h).
 * --forward publishes a port of a guest on a network (forward.h): its socket is bound before
 * QEMU starts, so a port in use fails the start, and the shim relays it while it lives. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik-shim/forward.h"
#include "lib/error.h"
#include "lib/guest_console.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "lib/vmm_confine.h"

/* Names shared with providers/qemu (qemu.h): the records in the instance directory. */
#define PID_FILE      "qemu.pid"
#define SHIM_PID_FILE "shim.pid"
#define EXIT_FILE     "exit"
#define ERR_FILE      "qemu.err"
#define LOG_FILE      "shim.log"
/* The guest's input for a daemon's instance (`unik run -i`): QEMU reads it as its stdin, and
 * holds it open for writing too, so it never reads an end when a writer leaves. */
#define STDIN_FIFO "stdin.fifo"

/* The status a container reports when the guest gave none (docs/guest-abi.md: a crash). */
#define GUEST_NO_STATUS 255

/* In the foreground, how long QEMU gets to end after SIGTERM before it is killed. */
#define STOP_GRACE_MS 5000

static volatile sig_atomic_t child_pid;

/* Where logmsg writes: stderr, which is shim.log when detached; in the foreground stderr is
 * the container's, so shim.log is opened apart. */
static int log_fd = 2;

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
	      "                 [--initrd FILE] [--qmp SOCKET] [--fd N:ro|rw|dir|tap:PATH]...\n"
	      "                 [--user UID:GID] [--forward tcp|udp:HOSTIP:HOSTPORT:GUESTIP:"
	      "GUESTPORT]...\n"
	      "                 [--foreground [--hold-fifo FIFO]]\n"
	      "                 -- PROGRAM [ARGS...]\n",
	      stderr);
	exit(2);
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;

	if (log_fd < 0)
		return;
	dprintf(log_fd, "unik-shim[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vdprintf(log_fd, fmt, ap);
	va_end(ap);
	dprintf(log_fd, "\n");
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

/* A container's process waits here until the engine's `start` opens the FIFO for reading.
 * Signals keep their default actions until then: a container that has not started its program
 * ends as any process would. */
static int hold_at_fifo(const char *fifo)
{
	int fd;

	do {
		fd = open(fifo, O_WRONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (write(fd, "0", 1) != 1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The last line QEMU wrote to qemu.err, on the container's stderr when the VM ended without a
 * word from the guest. */
static void tail_qemu_err(const char *dir)
{
	_cleanup_free_ char *p = unik_path_join(dir, ERR_FILE);
	_cleanup_free_ char *text = NULL;
	size_t len;
	char *last;

	if (unik_read_file(p, &text, &len, NULL) < 0 || !len)
		return;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (!len)
		return;
	last = strrchr(text, '\n');
	fprintf(stderr, "unik-shim: qemu: %s\n", last ? last + 1 : text);
}

/* What the foreground loop works with. */
struct fg {
	const char *dir;
	pid_t qemu;
	int sfd;     /* signalfd: SIGCHLD, the stop signals, SIGUSR1/2 */
	int console; /* read end of QEMU's stdout */
	int input;   /* write end of QEMU's stdin, or -1 once stdin ended */
	struct unik_console_log *log;
};

/* Copies the console to stdout and console.log and stdin to QEMU until QEMU has ended and its
 * console is drained; a stop signal asks QEMU to end (SIGTERM, then SIGKILL after a grace).
 * Returns the container's exit status. */
static int foreground_loop(struct fg *f)
{
	char inbuf[4096], buf[16384];
	size_t inlen = 0, inoff = 0;
	bool stdin_open = true, console_open = true, qemu_done = false, log_ok = true;
	long long kill_at = 0;
	int ws = 0, stop_sig = 0;
	struct unik_console_end end;

	while (console_open || !qemu_done) {
		struct pollfd pfd[4] = {
		    {.fd = f->sfd, .events = POLLIN},
		    {.fd = console_open ? f->console : -1, .events = POLLIN},
		    {.fd = stdin_open && inlen == 0 ? 0 : -1, .events = POLLIN},
		    {.fd = inlen ? f->input : -1, .events = POLLOUT},
		};
		int timeout = -1;

		if (kill_at) {
			long long left = kill_at - unik_now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		if (poll(pfd, 4, timeout) < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			pfd[0].revents = pfd[1].revents = pfd[2].revents = pfd[3].revents = 0;
			usleep(10000);
		}
		if (kill_at && unik_now_ms() >= kill_at && !qemu_done) {
			kill(f->qemu, SIGKILL);
			kill_at = 0;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(f->console, buf, sizeof(buf));

			if (n > 0) {
				if (log_ok && unik_console_log_write(f->log, buf, (size_t)n) < 0) {
					logmsg("write the console log: %s (the rest is dropped)",
					       strerror(errno));
					log_ok = false;
				}
				/* The engine may have gone (EPIPE): the VM runs on regardless. */
				(void)unik_write_all(1, buf, (size_t)n);
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
				close(f->input);
				f->input = -1;
			}
		}
		if (inlen && (pfd[3].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(f->input, inbuf + inoff, inlen);

			if (n > 0) {
				inoff += (size_t)n;
				inlen -= (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				inlen = 0; /* QEMU stopped reading: the input has nowhere to go */
			}
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(f->sfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = (int)si.ssi_signo;

				/* SIGCHLD only wakes the loop; a unikernel has no signals to take
				 * SIGUSR1 or SIGUSR2. */
				if (sig == SIGCHLD || sig == SIGUSR1 || sig == SIGUSR2 || qemu_done)
					continue;
				if (!stop_sig)
					stop_sig = sig;
				kill(f->qemu, SIGTERM);
				if (!kill_at)
					kill_at = unik_now_ms() + STOP_GRACE_MS;
			}
		}
		if (!qemu_done && waitpid(f->qemu, &ws, WNOHANG) == f->qemu) {
			qemu_done = true;
			kill_at = 0;
		}
	}
	child_pid = 0;
	unik_console_log_close(f->log);
	write_exit(f->dir, f->qemu, ws, NULL);

	/* The guest's own word first, as the provider reads it (lib/guest_console.h). */
	unik_console_read_end(f->dir, &end);
	if (end.exit_status >= 0)
		return end.exit_status;
	if (end.crashed)
		return GUEST_NO_STATUS;
	if (stop_sig)
		return 128 + stop_sig;
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	tail_qemu_err(f->dir);
	return GUEST_NO_STATUS;
}

/* Makes sure 0, 1 and 2 are open, so no descriptor opened later takes their place. */
static void stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);

			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *user = NULL, *console_max = NULL, *hold_fifo = NULL;
	bool foreground = false;
	struct unik_vmm_files files = {0};
	struct unik_vmm_fd fds[UNIK_VMM_FD_DEVICES_MAX];
	struct unik_error fd_err;
	struct unik_vmm_user vmm_user;
	struct unik_console_log con = {.fd = -1};
	long long cap = 0;
	int infifo = -1;
	int ready_fd = -1, i, dirfd, errfd, pfd[2], cpipe[2] = {-1, -1}, inpipe[2] = {-1, -1},
	    sfd = -1, ws, child_errno = 0;
	char child_what[128] = "";
	char **prog;
	struct sigaction sa;
	sigset_t mask, old;
	pid_t pid, me;
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
		else if (!strcmp(argv[i], "--foreground"))
			foreground = true;
		else if (!strcmp(argv[i], "--forward") && i + 1 < argc) {
			if (fwd_add(argv[++i], &fd_err) < 0) {
				fprintf(stderr, "unik-shim: %s\n", fd_err.msg);
				usage();
			}
		} else if (!strcmp(argv[i], "--hold-fifo") && i + 1 < argc)
			hold_fifo = argv[++i];
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
	if (!dir || i >= argc || (hold_fifo && !foreground))
		usage();
	prog = argv + i;

	/* Descriptors: 0, 1 and 2 (/dev/null and shim.log, or the container's stdio in the
	 * foreground), 3 the ready pipe, nothing else. */
	if (ready_fd >= 0 && ready_fd != 3) {
		if (dup2(ready_fd, 3) < 0)
			ready_fd = -1;
		else
			ready_fd = 3;
	}
	close_others(ready_fd >= 0 ? 3 : 2);
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	if (foreground)
		stdio_open();
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "error %d open `%s`: %s\n", errno, dir, strerror(errno));
		ready(ready_fd, msg);
		return 1;
	}
	if (foreground) {
		log_fd = openat(dirfd, LOG_FILE, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	} else {
		int devnull = open("/dev/null", O_RDWR);
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
		/* Published ports before anything starts: one in use is the start's failure. */
		if (fwd_bind(&err) < 0) {
			int e = err.code == UNIK_E_EXISTS ? EEXIST
			        : err.code == UNIK_E_PERM ? EACCES
			                                  : EIO;
			_cleanup_free_ char *line = xasprintf("error %d %s\n", e, err.msg);

			logmsg("%s", err.msg);
			ready(ready_fd, line);
			return 1;
		}
	}

	if (foreground) {
		/* Its own session, so the engine's terminal or process group signals reach it
		 * only through kill; a terminal it was given (--console-socket) becomes its
		 * controlling one, with ^C as SIGINT to it. */
		(void)setsid();
		if (isatty(0))
			(void)ioctl(0, TIOCSCTTY, 0);
	} else {
		/* Detach: a new session, then fork so the supervisor is no session leader and no
		 * child of the starter, which only has to reap the short-lived first process. */
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
	}
	me = getpid();

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (!foreground) {
		signal(SIGHUP, SIG_IGN);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = forward;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		/* Held until QEMU's PID is known, so a SIGTERM sent right away is forwarded, not
		 * lost. */
		sigprocmask(SIG_BLOCK, &mask, &old);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}

	write_pid(dir, SHIM_PID_FILE, me);
	errfd = openat(dirfd, ERR_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (console_max || foreground) {
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
	/* The guest's input goes through here, not straight from the terminal: QEMU would put a
	 * terminal in raw mode, while a container's terminal stays cooked (echo, line editing,
	 * Enter as a newline, ^C as SIGINT to this process, which then stops the VM). */
	if (pipe2(pfd, O_CLOEXEC) < 0 || (foreground && pipe2(inpipe, O_CLOEXEC) < 0)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "error %d pipe: %s\n", errno, strerror(errno));
		ready(ready_fd, msg);
		return 1;
	}
	if (foreground) {
		char msg[64];

		/* Ready: the container's process exists.  QEMU starts after `start`. */
		snprintf(msg, sizeof(msg), "ok %d\n", (int)me);
		ready(ready_fd, msg);
		ready_fd = -1;
		if (hold_fifo && hold_at_fifo(hold_fifo) < 0) {
			int e = errno;
			_cleanup_free_ char *msg2 =
			    xasprintf("hold at `%s`: %s", hold_fifo, strerror(e));

			logmsg("%s", msg2);
			fprintf(stderr, "unik-shim: %s\n", msg2);
			write_exit(dir, 0, 0, msg2);
			return GUEST_NO_STATUS;
		}
		fcntl(inpipe[1], F_SETFL, O_NONBLOCK);
	}

	if (foreground) {
		/* Read from a signalfd by the loop, which decides what each one means. */
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGQUIT);
		sigaddset(&mask, SIGUSR1);
		sigaddset(&mask, SIGUSR2);
		sigaddset(&mask, SIGCHLD);
		sigprocmask(SIG_BLOCK, &mask, &old);
		sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
		if (sfd < 0) {
			logmsg("signalfd: %s", strerror(errno));
			fprintf(stderr, "unik-shim: signalfd: %s\n", strerror(errno));
			write_exit(dir, 0, 0, "signalfd failed");
			return GUEST_NO_STATUS;
		}
	}

	if (!foreground) {
		(void)unlinkat(dirfd, STDIN_FIFO, 0);
		if (mkfifoat(dirfd, STDIN_FIFO, 0600) == 0)
			infifo = openat(dirfd, STDIN_FIFO, O_RDWR | O_CLOEXEC);
		if (infifo < 0)
			logmsg("%s: %s (the guest gets no input)", STDIN_FIFO, strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl;
		const char *what = NULL;
		/* Above the descriptors QEMU is given (vmm_confine.h), so none clobbers it. */
		int report_fd = fcntl(pfd[1], F_DUPFD_CLOEXEC, UNIK_VMM_FD_PRIVATE);

		if (foreground) {
			/* No QEMU outlives its container: it dies with this process, and in a
			 * process group of its own terminal signals come here, not to it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(127);
			setpgid(0, 0);
		}
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
		if (inpipe[0] >= 0)
			dup2(inpipe[0], 0);
		else if (infifo >= 0)
			dup2(infifo, 0);
		/* QEMU runs in the instance directory: a QMP socket path too long for a socket
		 * address is given relative to it. */
		if (fchdir(dirfd) < 0)
			what = "enter the instance directory";
		else if (unik_vmm_confine_child(&files, user ? &vmm_user : NULL, &what) == 0) {
			/* A change of uid cleared the parent-death signal: set it again. */
			if (foreground && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != me))
				_exit(127);
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
		if (foreground)
			fprintf(stderr, "unik-shim: %s\n", msg);
		return foreground ? GUEST_NO_STATUS : 1;
	}
	child_pid = pid;
	close(pfd[1]);
	if (cpipe[1] >= 0)
		close(cpipe[1]);
	if (inpipe[0] >= 0)
		close(inpipe[0]);
	if (infifo >= 0)
		close(infifo);
	if (errfd >= 0)
		close(errfd);
	write_pid(dir, PID_FILE, pid);
	if (!foreground)
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
		if (foreground) {
			fprintf(stderr, "unik-shim: %s\n", msg);
			return GUEST_NO_STATUS;
		}
		{
			_cleanup_free_ char *line = xasprintf("error %d %s\n", child_errno, msg);

			ready(ready_fd, line);
		}
		return 1;
	}

	{
		struct unik_error err;

		if (fwd_start(log_fd, &err) < 0)
			logmsg("%s (published ports are not relayed)", err.msg);
	}
	if (foreground) {
		struct fg f = {.dir = dir,
		               .qemu = pid,
		               .sfd = sfd,
		               .console = cpipe[0],
		               .input = inpipe[1],
		               .log = &con};

		return foreground_loop(&f);
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
