/* The bundle's hooks (config.json "hooks"), run as the runtime spec says: each program with its
 * args and env, the container's state on its stdin, killed at its timeout.  A unikernel has no
 * container namespaces for createContainer and startContainer hooks to run in; create runs the
 * ones that run in the runtime's namespaces before the guest's network is read: prestart and
 * createRuntime (the engine's network set-up, such as Docker's libnetwork-setkey). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"

/* Waits for pid, killing it after timeout_s seconds (0: no limit).  Returns its wait status. */
static int wait_hook(pid_t pid, long timeout_s, bool *timed_out)
{
	struct timespec start, now, nap = {.tv_nsec = 10 * 1000 * 1000};
	int ws = 0;

	*timed_out = false;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &ws, timeout_s ? WNOHANG : 0);

		if (r == pid)
			return ws;
		if (r < 0 && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_s && now.tv_sec - start.tv_sec >= timeout_s) {
			kill(pid, SIGKILL);
			*timed_out = true;
			while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
				;
			return ws;
		}
		if (timeout_s)
			nanosleep(&nap, NULL);
	}
}

static int run_hook(const char *kind, size_t index, json_t *h, const char *state,
                    struct unik_error *err)
{
	const char *path = json_string_value(json_object_get(h, "path"));
	json_t *args = json_object_get(h, "args"), *env = json_object_get(h, "env"), *v;
	json_t *t = json_object_get(h, "timeout");
	_cleanup_strv_ struct strv argv = {0}, envp = {0};
	posix_spawn_file_actions_t fa;
	int pfd[2], rc, ws;
	bool timed_out;
	size_t i;
	pid_t pid;

	json_array_foreach(args, i, v) strv_push(&argv, json_string_value(v));
	if (argv.n == 0)
		strv_push(&argv, path);
	json_array_foreach(env, i, v) strv_push(&envp, json_string_value(v));
	/* The state is a few hundred bytes: it fits the pipe, so it is written before the hook
	 * runs and no hook that ignores its stdin can block us. */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "hooks.%s[%zu]: pipe", kind, index);
		return -1;
	}
	if (unik_write_all(pfd[1], state, strlen(state)) < 0) {
		unik_error_sys(err, errno, "hooks.%s[%zu]: write the state", kind, index);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(pfd[1]);
	posix_spawn_file_actions_init(&fa);
	rc = posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
	/* Its output goes to the runtime's stderr (the engine's log), never to the container's
	 * stdout, where create's stdout may lead. */
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, 2, 1);
	if (!rc)
		rc = posix_spawn(&pid, path, &fa, NULL, strv_argv(&argv), strv_argv(&envp));
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[0]);
	if (rc) {
		unik_error_sys(err, rc, "hooks.%s[%zu]: run `%s`", kind, index, path);
		return -1;
	}
	ws = wait_hook(pid, t ? (long)json_integer_value(t) : 0, &timed_out);
	if (timed_out) {
		unik_error_set(err, UNIK_E_IO, "hooks.%s[%zu]: `%s` did not end within %lld s",
		               kind, index, path, (long long)json_integer_value(t));
		return -1;
	}
	if (ws < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws)) {
		unik_error_set(err, UNIK_E_IO, "hooks.%s[%zu]: `%s` failed (%s %d)", kind, index,
		               path, ws >= 0 && WIFSIGNALED(ws) ? "signal" : "exit status",
		               ws < 0            ? -1
		               : WIFSIGNALED(ws) ? WTERMSIG(ws)
		                                 : WEXITSTATUS(ws));
		return -1;
	}
	return 0;
}

int oci_run_hooks(json_t *hooks, const char *kind, const struct oci_state *st, const char *status,
                  pid_t pid, bool stop_on_error, struct unik_error *err)
{
	json_t *arr = json_object_get(hooks, kind), *h, *j;
	_cleanup_free_ char *text = NULL;
	int rc = 0;
	size_t i;

	if (!json_array_size(arr))
		return 0;
	j = oci_state_public(st, status);
	json_object_set_new(j, "pid", json_integer(pid));
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	json_array_foreach(arr, i, h)
	{
		struct unik_error e;

		oci_log("debug", "running hooks.%s[%zu]", kind, i);
		if (run_hook(kind, i, h, text ? text : "{}", &e) == 0)
			continue;
		if (stop_on_error) {
			*err = e;
			return -1;
		}
		/* poststart and poststop failures are only logged, as the runtime spec says. */
		oci_log("warning", "%s", e.msg);
		rc = -1;
	}
	return stop_on_error ? 0 : rc;
}
