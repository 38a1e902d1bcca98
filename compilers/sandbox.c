/* The build sandbox: bwrap's command line, handing a build directory to the build user, and
 * running one build command under the limits, its output copied to the build log. */
#include "compilers/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cmdline.h"

#define MAX_RO_DIRS 32
#define MAX_RW_DIRS 8
#define WALK_DEPTH  64

void unik_sandbox_free(struct unik_sandbox *sb)
{
	strv_free(&sb->rw_dirs);
	strv_free(&sb->ro_dirs);
	strv_free(&sb->env);
}

/* The directory right below /tmp that holds dir ("/tmp/ci" for "/tmp/ci/home/builds/x/src"),
 * or NULL when dir is not deeper than that.  Inside the sandbox /tmp is a writable tmpfs, so
 * the directories bwrap makes there above a bound directory would take a build's writes (to a
 * copy of the daemon's home, say); a tmpfs of their own, made read-only once the binds are in,
 * refuses them as the read-only root does elsewhere. */
static char *tmp_top(const char *dir)
{
	static const char tmp[] = "/tmp/";
	const char *rest, *slash;

	if (strncmp(dir, tmp, sizeof(tmp) - 1) != 0)
		return NULL;
	rest = dir + sizeof(tmp) - 1;
	slash = strchr(rest, '/');
	if (!slash || slash == rest || slash[1] == '\0')
		return NULL;
	return xstrndup(dir, (size_t)(slash - dir));
}

/* The tmp_top of every directory bound into the sandbox, each once. */
static void tmp_tops(const struct unik_sandbox *sb, struct strv *tops)
{
	const struct strv *lists[] = {&sb->ro_dirs, &sb->rw_dirs};

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			char *top = tmp_top(lists[l]->v[i]);
			bool seen = false;

			for (size_t j = 0; top && j < tops->n; j++)
				seen = seen || strcmp(tops->v[j], top) == 0;
			if (top && !seen)
				strv_push_take(tops, top);
			else
				free(top);
		}
}

/* OPT SOURCE DIR for each of dirs (at most max), SOURCE being the staged copy STAGE/TAG<i>
 * when the daemon is root (see struct unik_sandbox), else the directory itself. */
static void push_binds(const struct unik_sandbox *sb, const char *opt, const char *tag,
                       const struct strv *dirs, size_t max, struct strv *out)
{
	for (size_t i = 0; i < dirs->n && i < max; i++) {
		strv_push(out, opt);
		if (sb->staged)
			strv_pushf(out, UNIK_SANDBOX_STAGE "/%s%zu", tag, i);
		else
			strv_push(out, dirs->v[i]);
		strv_push(out, dirs->v[i]);
	}
}

void unik_sandbox_argv(const struct unik_sandbox *sb, const char *cwd, const char *const *cmd,
                       struct strv *out)
{
	_cleanup_strv_ struct strv tops = {0};

	/* Debian's /bin, /lib... are symlinks into /usr; binding them (which follows the link)
	 * also works where they are real directories. */
	static const char *const sys_dirs[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", NULL};
	/* ld.so's cache, and the alternatives some /usr/bin names point through. */
	static const char *const etc_files[] = {"/etc/ld.so.cache", "/etc/alternatives", NULL};

	strv_push(out, sb->bwrap ? sb->bwrap : UNIK_SANDBOX_BWRAP_DEFAULT);
	/* user, ipc, pid, net (only lo), uts and cgroup namespaces. */
	strv_push(out, "--unshare-all");
	strv_push(out, "--die-with-parent");
	strv_push(out, "--new-session");
	strv_push(out, "--cap-drop");
	strv_push(out, "ALL");
	strv_push(out, "--hostname");
	strv_push(out, "unik-build");
	strv_push(out, "--ro-bind");
	strv_push(out, "/usr");
	strv_push(out, "/usr");
	for (size_t i = 0; sys_dirs[i]; i++) {
		strv_push(out, "--ro-bind-try");
		strv_push(out, sys_dirs[i]);
		strv_push(out, sys_dirs[i]);
	}
	for (size_t i = 0; etc_files[i]; i++) {
		strv_push(out, "--ro-bind-try");
		strv_push(out, etc_files[i]);
		strv_push(out, etc_files[i]);
	}
	strv_push(out, "--proc");
	strv_push(out, "/proc");
	strv_push(out, "--dev");
	strv_push(out, "/dev");
	strv_push(out, "--tmpfs");
	strv_push(out, "/tmp");
	tmp_tops(sb, &tops);
	for (size_t i = 0; i < tops.n; i++) {
		strv_push(out, "--tmpfs");
		strv_push(out, tops.v[i]);
	}
	push_binds(sb, "--ro-bind", "ro", &sb->ro_dirs, MAX_RO_DIRS, out);
	push_binds(sb, "--bind", "rw", &sb->rw_dirs, MAX_RW_DIRS, out);
	/* bwrap's root, where it made the directories above the build directory, is a tmpfs:
	 * read-only, so nothing but the build directory and /tmp takes a write. */
	strv_push(out, "--remount-ro");
	strv_push(out, "/");
	for (size_t i = 0; i < tops.n; i++) {
		strv_push(out, "--remount-ro");
		strv_push(out, tops.v[i]);
	}
	strv_push(out, "--chdir");
	strv_push(out, cwd ? cwd : sb->rw_dirs.n ? sb->rw_dirs.v[0] : "/tmp");
	strv_push(out, "--clearenv");
	strv_push(out, "--setenv");
	strv_push(out, "PATH");
	strv_push(out, "/usr/local/bin:/usr/bin:/bin");
	strv_push(out, "--setenv");
	strv_push(out, "HOME");
	strv_push(out, "/tmp");
	strv_push(out, "--setenv");
	strv_push(out, "TMPDIR");
	strv_push(out, "/tmp");
	for (size_t i = 0; i < sb->env.n; i++) {
		const char *eq = strchr(sb->env.v[i], '=');

		if (!eq)
			continue;
		strv_push(out, "--setenv");
		strv_push_take(out, xstrndup(sb->env.v[i], (size_t)(eq - sb->env.v[i])));
		strv_push(out, eq + 1);
	}
	strv_push(out, "--info-fd");
	strv_pushf(out, "%d", UNIK_SANDBOX_FD_INFO);
	strv_push(out, "--");
	for (size_t i = 0; cmd[i]; i++)
		strv_push(out, cmd[i]);
}

/* ------------------------------------------------------------------------------------------ */

static bool drops_privileges(const struct unik_sandbox *sb)
{
	return sb->kind == UNIK_SANDBOX_BWRAP && geteuid() == 0 && sb->uid != 0;
}

static int chown_tree(int dirfd, int depth, uid_t uid, gid_t gid)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > WALK_DEPTH || fchown(dirfd, uid, gid) < 0)
		return -1;
	d = fdopendir(dirfd);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -1;
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			int fd = openat(dirfd, de->d_name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0 || chown_tree(fd, depth + 1, uid, gid) < 0)
				rc = -1;
		} else if (fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

int unik_sandbox_prepare(const struct unik_sandbox *sb, struct unik_error *err)
{
	if (!drops_privileges(sb))
		return 0;
	for (size_t i = 0; i < sb->rw_dirs.n; i++) {
		int fd = open(sb->rw_dirs.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0 || chown_tree(fd, 0, sb->uid, sb->gid) < 0) {
			unik_error_sys(err, errno, "hand %s to the build user %u:%u",
			               sb->rw_dirs.v[i], (unsigned)sb->uid, (unsigned)sb->gid);
			return -1;
		}
	}
	return 0;
}

/* Bytes under a directory, and its largest file (symlinks not followed). */
static void dir_usage(int dirfd, int depth, uint64_t *total, uint64_t *largest)
{
	DIR *d;
	struct dirent *de;

	if (depth > WALK_DEPTH || !(d = fdopendir(dirfd))) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*total += (uint64_t)sb.st_blocks * 512;
		if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > *largest)
			*largest = (uint64_t)sb.st_size;
		if (S_ISDIR(sb.st_mode)) {
			int fd = openat(dirfd, de->d_name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				dir_usage(fd, depth + 1, total, largest);
		}
	}
	closedir(d);
}

static void usage_of(const struct strv *dirs, uint64_t *total, uint64_t *largest)
{
	*total = *largest = 0;
	for (size_t i = 0; i < dirs->n; i++) {
		int fd = open(dirs->v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0)
			dir_usage(fd, 0, total, largest);
	}
}

static void set_limit(int what, uint64_t v)
{
	struct rlimit rl = {.rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v};

	(void)setrlimit(what, &rl);
}

static void __attribute__((noreturn)) child_fail(const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	_exit(127);
}

/* "/proc/self/fd/N" without stdio (async-signal-safe). */
static void fd_path(char *buf, int fd)
{
	char digits[16];
	size_t n = 0, len = strlen("/proc/self/fd/");

	memcpy(buf, "/proc/self/fd/", len);
	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd && n < sizeof(digits));
	while (n)
		buf[len++] = digits[--n];
	buf[len] = '\0';
}

/* In the child, as root: a mount namespace of its own where UNIK_SANDBOX_STAGE is a fresh
 * tmpfs holding the writable directories (rw0, ...) and the toolchain directories (ro0, ...),
 * so bwrap, as the build user, can reach them.  The sources are opened inside the new
 * namespace (a bind mount takes them from no other) and before the tmpfs hides anything. */
static int stage(char *const *sources, char *const *targets, size_t n)
{
	int fds[MAX_RO_DIRS + MAX_RW_DIRS];
	char path[48];

	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((fds[i] = open(sources[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -1;
	if (mount("unik-stage", UNIK_SANDBOX_STAGE, "tmpfs", MS_NOSUID | MS_NODEV,
	          "mode=0755,size=64k") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		fd_path(path, fds[i]);
		if (mkdir(targets[i], 0755) < 0 ||
		    mount(path, targets[i], NULL, MS_BIND | MS_REC, NULL) < 0)
			return -1;
		close(fds[i]);
	}
	return 0;
}

/* After fork: only async-signal-safe calls.  Every descriptor passed in is >= 64. */
static void __attribute__((noreturn))
child(const struct unik_sandbox *sb, char *const *argv, const char *cwd, int out_w, int info_w,
      char *const *sources, char *const *targets, size_t n_stage, pid_t parent, bool drop)
{
	sigset_t none;
	int null_fd;

	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		_exit(127);
	if (sb->staged && stage(sources, targets, n_stage) < 0)
		child_fail("unik: cannot prepare the build sandbox's mounts (a private mount "
		           "namespace with a tmpfs on " UNIK_SANDBOX_STAGE "): the daemon needs "
		           "CAP_SYS_ADMIN\n");
	if (sb->kind == UNIK_SANDBOX_BWRAP && dup2(info_w, UNIK_SANDBOX_FD_INFO) < 0)
		child_fail("unik: cannot pass a descriptor to the build sandbox\n");
	close_range(sb->kind == UNIK_SANDBOX_BWRAP ? UNIK_SANDBOX_FD_INFO + 1 : 3, ~0U, 0);
#ifndef __SANITIZE_ADDRESS__
	set_limit(RLIMIT_AS, sb->limits.memory_mb << 20);
#else
	/* make asan: the daemon's own unik-cc is built with AddressSanitizer too, and its shadow
	 * memory is terabytes of address space, which no address-space limit leaves room for. */
#endif
	set_limit(RLIMIT_FSIZE, sb->limits.output_mb << 20);
	set_limit(RLIMIT_CORE, 0);
	if (drop) {
		set_limit(RLIMIT_NPROC, sb->limits.max_procs);
		if (setgroups(0, NULL) < 0 || setgid(sb->gid) < 0 || setuid(sb->uid) < 0)
			child_fail("unik: cannot switch to the build user (build.uid, build.gid in "
			           "daemon-config.yaml)\n");
	}
	/* A daemon killed with SIGKILL takes its builds along; the parent-death signal is
	 * cleared by setuid, so it is set after. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (sb->kind != UNIK_SANDBOX_BWRAP && cwd && chdir(cwd) < 0)
		child_fail("unik: cannot enter the build directory\n");
	if (sb->kind == UNIK_SANDBOX_BWRAP)
		execv(argv[0], argv);
	else
		execvp(argv[0], argv);
	child_fail(sb->kind == UNIK_SANDBOX_BWRAP
	               ? "unik: cannot run bwrap (install bubblewrap, or set build_sandbox: "
	                 "none in daemon-config.yaml: unsafe)\n"
	               : "unik: cannot run the build command: not found\n");
}

static int high_fd(int fd)
{
	int n = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 64);

	if (fd >= 0)
		close(fd);
	return n;
}

static bool mentions_oom(const char *text)
{
	static const char *const words[] = {"memory exhausted", "Cannot allocate memory",
	                                    "out of memory", "std::bad_alloc", NULL};

	for (size_t i = 0; words[i]; i++)
		if (strstr(text, words[i]))
			return true;
	return false;
}

/* Appends what the build printed to a small ring of its last bytes (NUL-terminated). */
static void keep_tail(char *tail, size_t cap, const char *buf, size_t n)
{
	size_t have = strlen(tail);

	if (n >= cap - 1) {
		memcpy(tail, buf + n - (cap - 1), cap - 1);
		tail[cap - 1] = '\0';
		return;
	}
	if (have + n >= cap) {
		size_t drop = have + n - (cap - 1);

		memmove(tail, tail + drop, have - drop + 1);
		have -= drop;
	}
	memcpy(tail + have, buf, n);
	tail[have + n] = '\0';
}

int unik_sandbox_run(const struct unik_sandbox *sandbox, const char *const *cmd, const char *cwd,
                     int log_fd, const char *what, struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_strv_ struct strv sources = {0};
	_cleanup_strv_ struct strv targets = {0};
	struct unik_sandbox copy = *sandbox, *sb = &copy;
	size_t n_fds = 0;
	int pipe_out[2] = {-1, -1}, pipe_info[2] = {-1, -1};
	bool bwrap = sb->kind == UNIK_SANDBOX_BWRAP;
	bool drop = drops_privileges(sb);
	bool started = !bwrap, out_open = true, info_open = bwrap, exited = false;
	enum { LIM_NONE, LIM_TIME, LIM_LOG, LIM_OUTPUT } hit = LIM_NONE;
	uint64_t logged = 0, log_max = sb->limits.log_mb << 20;
	uint64_t out_max = sb->limits.output_mb << 20;
	uint64_t start = unik_now_ms(), exited_at = 0, next_usage = start + 1000, total, largest;
	uint64_t deadline = start + sb->limits.timeout_s * 1000;
	char tail[4096] = "", head[512] = "";
	size_t head_len = 0;
	pid_t parent = getpid(), pid;
	int ws = 0, rc = -1;

	sb->staged = drop;
	if (bwrap) {
		unik_sandbox_argv(sb, cwd, cmd, &argv);
	} else {
		for (size_t i = 0; cmd[i]; i++)
			strv_push(&argv, cmd[i]);
	}
	if (pipe2(pipe_out, O_CLOEXEC) < 0 || (bwrap && pipe2(pipe_info, O_CLOEXEC) < 0)) {
		unik_error_sys(err, errno, "run %s: create a pipe", what);
		goto out;
	}
	pipe_out[1] = high_fd(pipe_out[1]);
	pipe_info[1] = high_fd(pipe_info[1]);
	for (size_t i = 0; sb->staged && i < sb->rw_dirs.n && i < MAX_RW_DIRS; i++) {
		strv_push(&sources, sb->rw_dirs.v[i]);
		strv_pushf(&targets, UNIK_SANDBOX_STAGE "/rw%zu", i);
	}
	for (size_t i = 0; sb->staged && i < sb->ro_dirs.n && i < MAX_RO_DIRS; i++) {
		strv_push(&sources, sb->ro_dirs.v[i]);
		strv_pushf(&targets, UNIK_SANDBOX_STAGE "/ro%zu", i);
	}
	n_fds = sources.n;
	if (pipe_out[1] < 0 || (bwrap && pipe_info[1] < 0)) {
		unik_error_sys(err, errno, "run %s: move a descriptor", what);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		unik_error_sys(err, errno, "run %s: fork", what);
		goto out;
	}
	if (pid == 0)
		child(sb, strv_argv(&argv), cwd, pipe_out[1], pipe_info[1], strv_argv(&sources),
		      strv_argv(&targets), n_fds, parent, drop);
	close(pipe_out[1]);
	pipe_out[1] = -1;
	if (pipe_info[1] >= 0)
		close(pipe_info[1]);
	pipe_info[1] = -1;

	while (out_open || info_open || !exited) {
		struct pollfd p[2] = {{pipe_out[0], POLLIN, 0}, {pipe_info[0], POLLIN, 0}};
		uint64_t now = unik_now_ms();
		int wait_ms = 1000;

		if (!exited && hit == LIM_NONE && now >= deadline)
			hit = LIM_TIME;
		if (!exited && hit == LIM_NONE && now >= next_usage) {
			usage_of(&sb->rw_dirs, &total, &largest);
			if (total > out_max)
				hit = LIM_OUTPUT;
			next_usage = now + 2000;
		}
		if (hit != LIM_NONE && !exited) {
			/* bwrap's child dies with it, and the PID namespace with that child. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (!exited) {
			siginfo_t si = {0};

			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid) {
				/* Without a PID namespace, what the build left running goes with
				 * its session (killed before the reap frees the number). */
				kill(-pid, SIGKILL);
				while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
					;
				exited = true;
				exited_at = now;
			}
		}
		if (exited && !out_open && !info_open)
			break;
		if (exited)
			wait_ms = 200;
		else if (deadline > now && deadline - now < (uint64_t)wait_ms)
			wait_ms = (int)(deadline - now);
		p[0].fd = out_open ? pipe_out[0] : -1;
		p[1].fd = info_open ? pipe_info[0] : -1;
		int n = poll(p, 2, wait_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (exited && (n == 0 || (uint64_t)unik_now_ms() > exited_at + 2000))
			break; /* something outlived the build and holds the pipe */
		if (out_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[8192];
			ssize_t got = read(pipe_out[0], buf, sizeof(buf));

			if (got <= 0 && !(got < 0 && errno == EINTR)) {
				out_open = false;
			} else if (got > 0) {
				size_t keep = (size_t)got;

				if (head_len < sizeof(head) - 1) {
					size_t k = sizeof(head) - 1 - head_len;

					k = k < keep ? k : keep;
					memcpy(head + head_len, buf, k);
					head_len += k;
					head[head_len] = '\0';
				}
				if (logged + keep > log_max) {
					keep = (size_t)(log_max - logged);
					if (hit == LIM_NONE && !exited)
						hit = LIM_LOG;
				}
				if (hit != LIM_LOG || keep)
					(void)unik_write_all(log_fd, buf, keep);
				logged += keep;
				keep_tail(tail, sizeof(tail), buf, (size_t)got);
			}
		}
		if (info_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[512];
			ssize_t got = read(pipe_info[0], buf, sizeof(buf));

			if (got > 0)
				started = true;
			else if (!(got < 0 && errno == EINTR))
				info_open = false;
		}
	}
	if (!exited)
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;

	if (hit == LIM_TIME) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s ran longer than the build time limit of %llu s and was killed "
		               "(build.timeout_s in daemon-config.yaml raises it)",
		               what, (unsigned long long)sb->limits.timeout_s);
		goto out;
	}
	if (hit == LIM_LOG) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s printed more than the build log limit of %llu MiB and was "
		               "killed (build.max_log_mb in daemon-config.yaml raises it)",
		               what, (unsigned long long)sb->limits.log_mb);
		goto out;
	}
	usage_of(&sb->rw_dirs, &total, &largest);
	if (hit == LIM_OUTPUT || total > out_max || (out_max && largest >= out_max)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s wrote more than the build output limit of %llu MiB and was "
		               "stopped (build.max_output_mb in daemon-config.yaml raises it)",
		               what, (unsigned long long)sb->limits.output_mb);
		goto out;
	}
	if (!started) {
		char *nl;

		/* bwrap says why on its stderr, before anything of the build. */
		nl = strchr(head, '\n');
		if (nl)
			*nl = '\0';
		unik_error_set(
		    err, UNIK_E_IO,
		    "the build sandbox could not start (%s): it needs bubblewrap (%s) and "
		    "user namespaces (sysctl user.max_user_namespaces > 0); "
		    "build_sandbox: none in daemon-config.yaml builds without it "
		    "(unsafe: the build runs as the daemon's user with full access)",
		    head[0] ? head : "bwrap printed nothing",
		    sb->bwrap ? sb->bwrap : UNIK_SANDBOX_BWRAP_DEFAULT);
		goto out;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		rc = 0;
		goto out;
	}
	if (WIFSIGNALED(ws))
		unik_error_set(err, UNIK_E_INVALID, "%s was killed by signal %d", what,
		               WTERMSIG(ws));
	else
		unik_error_set(err, UNIK_E_INVALID, "%s exited with status %d", what,
		               WEXITSTATUS(ws));
	if (mentions_oom(tail)) {
		_cleanup_free_ char *m = xstrdup(err->msg);

		unik_error_set(err, UNIK_E_INVALID,
		               "%s; it ran out of memory under the build memory limit of %llu MiB "
		               "(build.memory_mb in daemon-config.yaml raises it)",
		               m, (unsigned long long)sb->limits.memory_mb);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pipe_out[i] >= 0)
			close(pipe_out[i]);
		if (pipe_info[i] >= 0)
			close(pipe_info[i]);
	}
	return rc;
}

int unik_sandbox_run_logged(const struct unik_sandbox *sb, const char *const *cmd, const char *cwd,
                            int log_fd, const char *what, struct unik_error *err)
{
	struct strv words = {0};
	_cleanup_free_ char *line = NULL;

	for (size_t i = 0; cmd[i]; i++)
		strv_push_take(&words, unik_cmdline_quote_word(cmd[i]));
	{
		_cleanup_free_ char *joined = strv_join(&words, " ");

		line = xasprintf("$ %s\n", joined);
	}
	strv_free(&words);
	(void)unik_write_all(log_fd, line, strlen(line));
	return unik_sandbox_run(sb, cmd, cwd, log_fd, what, err);
}

void unik_sandbox_copy(struct unik_sandbox *dst, const struct unik_sandbox *src)
{
	*dst = *src;
	memset(&dst->rw_dirs, 0, sizeof(dst->rw_dirs));
	memset(&dst->ro_dirs, 0, sizeof(dst->ro_dirs));
	memset(&dst->env, 0, sizeof(dst->env));
	strv_extend(&dst->rw_dirs, &src->rw_dirs);
	strv_extend(&dst->ro_dirs, &src->ro_dirs);
	strv_extend(&dst->env, &src->env);
}

void unik_sandbox_add_ro_dir(struct unik_sandbox *sb, const char *dir)
{
	_cleanup_free_ char *real = dir ? realpath(dir, NULL) : NULL;
	struct stat st;

	if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) || !strcmp(real, "/") ||
	    !strcmp(real, "/usr") || !strncmp(real, "/usr/", 5))
		return;
	for (size_t i = 0; i < sb->ro_dirs.n; i++)
		if (!strcmp(sb->ro_dirs.v[i], real))
			return;
	strv_push(&sb->ro_dirs, real);
}

void unik_sandbox_toolchain(struct unik_sandbox *sb, const char *cc)
{
	static const char *const rel[] = {"../lib/unik", "../build/runtime", "../runtime",
	                                  "../include"};
	static const char *const vars[] = {"UNIK_RUNTIME_DIR", "UNIK_MUSL_DIR", "UNIK_MUSL_INCLUDE",
	                                   "UNIK_GCC", NULL};
	_cleanup_free_ char *real = realpath(cc, NULL);
	char *slash = real ? strrchr(real, '/') : NULL;

	if (slash) {
		*slash = '\0';
		unik_sandbox_add_ro_dir(sb, real);
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			_cleanup_free_ char *d = unik_path_join(real, rel[i]);

			unik_sandbox_add_ro_dir(sb, d);
		}
	}
	for (size_t i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);
		struct stat st;

		if (!v || !*v)
			continue;
		strv_pushf(&sb->env, "%s=%s", vars[i], v);
		if (v[0] != '/' || stat(v, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			unik_sandbox_add_ro_dir(sb, v);
		} else {
			_cleanup_free_ char *d = xstrdup(v);

			*strrchr(d, '/') = '\0';
			unik_sandbox_add_ro_dir(sb, d[0] ? d : "/");
		}
	}
}
