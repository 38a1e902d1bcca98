/* Running programs with posix_spawnp: glibc reports exec failures (such as a missing program) to
 * the parent as the return value, so "command not found" needs no extra pipe. */
#include "lib/unik_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

extern char **environ;

static const struct unik_spawn_opts default_opts = UNIK_SPAWN_OPTS_INIT;

/* Our environment with env_add applied; NULL when there is nothing to add (use environ). */
static int build_env(const char *const *env_add, struct strv *env, struct unik_error *err)
{
	if (!env_add)
		return 0;
	for (size_t i = 0; env_add[i]; i++) {
		if (!strchr(env_add[i], '=') || env_add[i][0] == '=') {
			unik_error_set(err, UNIK_E_INVALID,
			               "environment entry `%s` is not of the form NAME=VALUE",
			               env_add[i]);
			return -1;
		}
	}
	for (char **e = environ; e && *e; e++) {
		size_t name_len = strcspn(*e, "=");
		bool replaced = false;

		for (size_t i = 0; env_add[i] && !replaced; i++)
			replaced =
			    strncmp(env_add[i], *e, name_len) == 0 && env_add[i][name_len] == '=';
		if (!replaced)
			strv_push(env, *e);
	}
	for (size_t i = 0; env_add[i]; i++)
		strv_push(env, env_add[i]);
	return 0;
}

static int add_redirect(posix_spawn_file_actions_t *fa, int fd, int target)
{
	if (fd == UNIK_SPAWN_INHERIT)
		return 0;
	if (fd == UNIK_SPAWN_DEVNULL)
		return posix_spawn_file_actions_addopen(fa, target, "/dev/null",
		                                        target == 0 ? O_RDONLY : O_WRONLY, 0);
	/* dup2 onto itself would keep FD_CLOEXEC on older glibc; the fd is already in place. */
	if (fd == target)
		return 0;
	return posix_spawn_file_actions_adddup2(fa, fd, target);
}

static int spawn_start(const char *const *argv, const struct unik_spawn_opts *opts, int capture_fd,
                       pid_t *pid, struct unik_error *err)
{
	_cleanup_strv_ struct strv env = {0};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int rc;

	if (!argv || !argv[0] || argv[0][0] == '\0') {
		unik_error_set(err, UNIK_E_INVALID, "run a program: empty argument vector");
		return -1;
	}
	if (build_env(opts->env_add, &env, err) < 0)
		return -1;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* A caller that blocks signals or ignores SIGPIPE (as a daemon does) must not pass that on:
	 * compilers and QEMU expect the defaults. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = add_redirect(&fa, opts->stdin_fd, 0);
	if (!rc)
		rc = add_redirect(&fa, capture_fd >= 0 ? capture_fd : opts->stdout_fd, 1);
	if (!rc)
		rc = add_redirect(&fa, opts->stderr_fd, 2);
	if (!rc && opts->cwd)
		rc = posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	if (rc) {
		unik_error_sys(err, rc, "run `%s`: prepare the child", argv[0]);
	} else {
		rc = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv,
		                  env.v ? env.v : environ);
		if (rc == ENOENT && opts->cwd && access(opts->cwd, X_OK) < 0)
			unik_error_sys(err, errno, "run `%s`: working directory `%s`", argv[0],
			               opts->cwd);
		else if (rc == ENOENT && !strchr(argv[0], '/'))
			unik_error_set(err, UNIK_E_NOTFOUND,
			               "run `%s`: command not found (is it installed and in PATH?)",
			               argv[0]);
		else if (rc)
			unik_error_sys(err, rc, "run `%s`", argv[0]);
	}
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc ? -1 : 0;
}

static int spawn_wait(pid_t pid, const char *name, int *status, struct unik_error *err)
{
	int ws;

	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR) {
			unik_error_sys(err, errno, "wait for `%s`", name);
			return -1;
		}
	}
	if (WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	else if (WIFSIGNALED(ws))
		*status = 128 + WTERMSIG(ws);
	else
		*status = 255;
	return 0;
}

int unik_spawn(const char *const *argv, const struct unik_spawn_opts *opts, int *status,
               struct unik_error *err)
{
	pid_t pid;

	if (!opts)
		opts = &default_opts;
	if (spawn_start(argv, opts, -1, &pid, err) < 0)
		return -1;
	return spawn_wait(pid, argv[0], status, err);
}

int unik_spawn_capture(const char *const *argv, const struct unik_spawn_opts *opts, char **out,
                       size_t *len, int *status, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 256;
	int pipefd[2];
	pid_t pid;
	int ret = 0;

	if (!opts)
		opts = &default_opts;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "run `%s`: create a pipe",
		               argv && argv[0] ? argv[0] : "");
		return -1;
	}
	if (spawn_start(argv, opts, pipefd[1], &pid, err) < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	close(pipefd[1]);
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;

		if (size + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(pipefd[0], buf + size, cap - size - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unik_error_sys(err, errno, "read the output of `%s`", argv[0]);
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	close(pipefd[0]);
	/* Always reap the child, even when reading failed, so no zombie is left behind. */
	if (spawn_wait(pid, argv[0], status, ret < 0 ? NULL : err) < 0 || ret < 0)
		return -1;
	buf[size] = '\0';
	*out = unik_steal_ptr(&buf);
	if (len)
		*len = size;
	return 0;
}
