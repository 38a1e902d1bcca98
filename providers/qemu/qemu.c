/* The qemu provider: each instance is one QEMU process (microvm, PVH direct boot, KVM or TCG)
 * supervised by unik-shim, with everything about it kept in its instance directory so that any
 * daemon process, including one started later, can tell its state, stop it and clean up. */
#include "providers/qemu/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/hostnet.h"
#include "lib/kv.h"
#include "lib/selfpath.h"

extern char **environ;

#define QEMU_DEFAULT "qemu-system-x86_64"

/* How long run() waits for unik-shim to report that QEMU was exec'd: it takes about a
 * millisecond; anything near this means the host is in trouble. */
#define SHIM_READY_TIMEOUT_MS 10000

static const char *qemu_program(void)
{
	const char *q = getenv("UNIK_QEMU");

	return q && *q ? q : QEMU_DEFAULT;
}

/* The absolute path of prog found in PATH (or prog itself when it has a slash), NULL if it is
 * not an executable file there.  Caller frees. */
static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		_cleanup_free_ char *dir = n ? xstrndup(p, n) : xstrdup(".");
		char *cand = unik_path_join(dir, prog);
		struct stat st;

		if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
			return cand;
		free(cand);
		if (!colon)
			return NULL;
		p = colon + 1;
	}
}

/* A unik program (unik-shim, unik-spt): $ENV_NAME, else beside the running program or in its
 * installed layout (lib/selfpath.h: bin/unik-daemon beside bin/unik-shim, or PREFIX/libexec/unik
 * and PREFIX/bin), else in PATH.  Caller frees; NULL when not found. */
char *qemu_find_program(const char *env_name, const char *name)
{
	const char *env = getenv(env_name);
	char *found;

	if (env && *env)
		return access(env, X_OK) == 0 ? xstrdup(env) : NULL;
	found = unik_find_program(name);
	return found ? found : find_in_path(name);
}

static char *find_shim(void)
{
	return qemu_find_program("UNIK_SHIM", "unik-shim");
}

static bool qemu_available(const char *const *opts, char *reason, size_t reason_len)
{
	(void)opts;
	_cleanup_free_ char *q = find_in_path(qemu_program());
	_cleanup_free_ char *shim = NULL;

	if (!q) {
		snprintf(reason, reason_len,
		         "%s is not installed or not in PATH (Debian: apt-get install "
		         "qemu-system-x86)",
		         qemu_program());
		return false;
	}
	shim = find_shim();
	if (!shim) {
		snprintf(reason, reason_len,
		         "unik-shim was not found (set UNIK_SHIM, or install it next to unik)");
		return false;
	}
	return true;
}

/* ---- small files in the instance directory --------------------------------------------------- */

static char *dir_file(const char *dir, const char *name)
{
	return unik_path_join(dir, name);
}

/* Reads a small file into buf (NUL-terminated); -1 when it is missing. */
static ssize_t read_small(const char *dir, const char *name, char *buf, size_t size)
{
	_cleanup_free_ char *path = dir_file(dir, name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The last non-empty line of a log in the directory, for error messages. */
void qemu_last_line(const char *dir, const char *name, char *out, size_t size)
{
	char buf[4096];
	ssize_t n = read_small(dir, name, buf, sizeof(buf));
	char *end, *start;

	out[0] = '\0';
	if (n <= 0)
		return;
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = end;
	while (start > buf && start[-1] != '\n')
		start--;
	n = (ssize_t)strlen(start);
	if ((size_t)n >= size)
		n = (ssize_t)size - 1;
	memcpy(out, start, (size_t)n);
	out[n] = '\0';
}

/* ---- run ----------------------------------------------------------------------------------- */

/* The taps of c, "a,b" ("" for none), as provider.state's taps= records them for remove(). */
static char *taps_list(const struct qemu_config *c)
{
	char *list = xstrdup("");

	for (size_t i = 0; i < c->ndevices && i < UNIK_VMM_FD_DEVICES_MAX / 2; i++) {
		char *more;

		if (!c->taps[i][0])
			continue;
		more = xasprintf("%s%s%s", list, list[0] ? "," : "", c->taps[i]);
		free(list);
		list = more;
	}
	return list;
}

/* The guest's address that status() shows: the first NIC's, without its prefix. */
static void guest_ip(const struct qemu_config *c, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct unik_device *d = &c->devices[i];
		struct unik_cidr ip;
		struct unik_error err;

		if (d->kind != UNIK_DEVICE_NET)
			continue;
		if (d->ip && d->ip[0] && unik_cidr_parse(d->ip, true, &ip, &err) == 0)
			unik_cidr_format(&ip, false, buf, len);
		return;
	}
}

/* Deletes the taps named in list ("a,b"); the first failure goes to err, the rest are still
 * tried. */
int qemu_delete_taps(const char *list, struct unik_error *err)
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL;
	int rc = 0;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct unik_error e;

		if (unik_tap_delete(t, &e) < 0 && rc == 0) {
			if (err) /* remove() may be called without one */
				*err = e;
			rc = -1;
		}
	}
	return rc;
}

/* Makes c's taps, owned by QEMU's user, on their networks' bridges; on failure deletes those
 * it made. */
static int create_taps(const struct qemu_config *c, const struct unik_vmm_user *vu,
                       struct unik_error *err)
{
	for (size_t i = 0; i < c->ndevices && i < UNIK_VMM_FD_DEVICES_MAX / 2; i++) {
		if (!c->taps[i][0])
			continue;
		if (unik_tap_create(c->taps[i], c->devices[i].bridge, vu->uid, vu->gid, err) < 0) {
			struct unik_error ignored;

			for (size_t j = 0; j < i; j++)
				if (c->taps[j][0])
					(void)unik_tap_delete(c->taps[j], &ignored);
			return -1;
		}
	}
	return 0;
}

/* What a published port that cannot be had says, here and in unik-shim. */
static void port_in_use(const struct unik_port *p, struct unik_error *err)
{
	unik_error_set(err, UNIK_E_EXISTS,
	               "port %u/%s on %s is in use (by another instance or program); pick another "
	               "with -p HOSTPORT:GUESTPORT",
	               p->host_port, unik_port_proto_name(p->proto),
	               p->host_ip[0] ? p->host_ip : "0.0.0.0");
}

/* Whether every published port can be bound now, before anything starts: a port in use fails
 * the run with a clear error and leaves nothing behind.  TCP is tried with SO_REUSEADDR, as
 * QEMU and unik-shim bind it, so that connections of a previous run in TIME_WAIT do not count;
 * a listener still conflicts.  UDP without it, which would let two sockets share the port. */
static int check_ports(const struct qemu_config *c, struct unik_error *err)
{
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct unik_device *d = &c->devices[i];

		for (size_t k = 0; d->kind == UNIK_DEVICE_NET && k < d->nports; k++) {
			const struct unik_port *p = &d->ports[k];
			bool tcp = p->proto == UNIK_PORT_TCP;
			struct sockaddr_in sin = {.sin_family = AF_INET,
			                          .sin_port = htons(p->host_port)};
			_cleanup_close_ int fd =
			    socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
			int one = 1;

			if (p->host_ip[0] && inet_pton(AF_INET, p->host_ip, &sin.sin_addr) != 1) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "qemu: published port %u: `%s` is not an IPv4 address",
				    p->host_port, p->host_ip);
				return -1;
			}
			if (fd < 0) {
				unik_error_sys(err, errno, "qemu: socket");
				return -1;
			}
			if (tcp)
				(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
				continue;
			if (errno == EADDRINUSE) {
				port_in_use(p, err);
				return -1;
			}
			unik_error_sys(err, errno, "qemu: port %u/%s on %s cannot be bound",
			               p->host_port, unik_port_proto_name(p->proto),
			               p->host_ip[0] ? p->host_ip : "0.0.0.0");
			return -1;
		}
	}
	return 0;
}

static int write_records(const struct unik_run_spec *spec, const struct qemu_config *c,
                         const struct strv *argv, struct unik_error *err)
{
	_cleanup_free_ char *state = NULL, *taps = taps_list(c);
	struct strv words = {0};
	char ip[INET_ADDRSTRLEN];
	char *cmd;
	size_t len = 0;
	int rc;

	guest_ip(c, ip, sizeof(ip));
	/* taps= is what remove() deletes, whichever process calls it; ip= is what status()
	 * shows. */
	state = xasprintf("provider=qemu\ninstance_id=%s\naccel=%s\nqemu=%s\nkernel=%s\n"
	                  "initrd=%s\nmemory_mb=%llu\ntaps=%s\nip=%s\n",
	                  spec->instance_id ? spec->instance_id : "", c->accel, c->qemu, c->kernel,
	                  c->initrd ? c->initrd : "", (unsigned long long)c->memory_mb, taps, ip);
	if (unik_write_text_in(c->dir, QEMU_STATE_FILE, state, err) < 0)
		return -1;
	/* The command line as a shell would take it, for whoever debugs the instance. */
	for (size_t i = 0; i < argv->n; i++) {
		strv_push_take(&words, unik_cmdline_quote_word(argv->v[i]));
		len += strlen(words.v[i]) + 1;
	}
	cmd = xmalloc(len + 1);
	len = 0;
	for (size_t i = 0; i < words.n; i++) {
		size_t n = strlen(words.v[i]);

		memcpy(cmd + len, words.v[i], n);
		len += n;
		cmd[len++] = i + 1 < words.n ? ' ' : '\n';
	}
	cmd[len] = '\0';
	strv_free(&words);
	rc = unik_write_text_in(c->dir, "qemu.cmd", cmd, err);
	free(cmd);
	return rc;
}

/* Reads the shim's one-line report ("ok PID" or "error ERRNO MESSAGE") from fd. */
int qemu_shim_read_ready(int fd, char *buf, size_t size)
{
	long long deadline = unik_now_ms() + SHIM_READY_TIMEOUT_MS;
	size_t got = 0;

	while (got + 1 < size) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - unik_now_ms();
		int rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
		ssize_t n;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	return (int)got;
}

static int spawn_shim(const char *shim, const struct unik_run_spec *spec,
                      const struct qemu_config *c, const char *user, const char *console_max,
                      const struct strv *forwards, const struct strv *qargv, int ready_w,
                      pid_t *pid, struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
	struct unik_vmm_fd fds[UNIK_VMM_FD_DEVICES_MAX];
	size_t nfds = qemu_device_fds(c, fds);
	const char *dir = c->dir;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int rc;

	strv_push(&argv, shim);
	strv_push(&argv, "--dir");
	strv_push(&argv, dir);
	strv_push(&argv, "--ready-fd");
	strv_push(&argv, "3");
	strv_push(&argv, "--console-max");
	strv_push(&argv, console_max);
	strv_push(&argv, "--kernel");
	strv_push(&argv, c->kernel);
	if (c->initrd) {
		strv_push(&argv, "--initrd");
		strv_push(&argv, c->initrd);
	}
	strv_push(&argv, "--qmp");
	strv_push_take(&argv, qemu_qmp_path(dir));
	for (size_t i = 0; i < nfds; i++) {
		strv_push(&argv, "--fd");
		strv_push_take(&argv, unik_vmm_fd_format(&fds[i]));
	}
	for (size_t i = 0; i < forwards->n; i++) {
		strv_push(&argv, "--forward");
		strv_push(&argv, forwards->v[i]);
	}
	strv_push(&argv, "--user");
	strv_push(&argv, user);
	if (spec->foreground) {
		strv_push(&argv, "--foreground");
		if (spec->hold_fifo) {
			strv_push(&argv, "--hold-fifo");
			strv_push(&argv, spec->hold_fifo);
		}
	}
	strv_push(&argv, "--");
	strv_extend(&argv, qargv);

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&defaults);
	sigdelset(&defaults, SIGKILL);
	sigdelset(&defaults, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	/* A detached shim holds none of its starter's stdio; a foreground one is the container's
	 * process, on the container's stdio. */
	if (!rc && !spec->foreground)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	if (!rc && !spec->foreground)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_RDWR, 0);
	if (!rc && !spec->foreground)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_RDWR, 0);
	/* dup2 clears close-on-exec on the copy; glibc does so even when ready_w is already 3. */
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, ready_w, 3);
	if (!rc)
		rc = posix_spawn(pid, shim, &fa, &attr, strv_argv(&argv), environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		unik_error_sys(err, rc, "run `%s`", shim);
		return -1;
	}
	return 0;
}

/* A restart reuses the directory: forget how the previous run ended, and note where this run's
 * output will begin in the console log it appends to. */
int qemu_forget_previous_run(const char *dir, struct unik_error *err)
{
	static const char *const stale[] = {QEMU_EXIT_FILE, QEMU_STOPPED_FILE, QEMU_PID_FILE,
	                                    QEMU_SHIM_PID_FILE, QEMU_ERR_FILE};
	_cleanup_free_ char *console = unik_path_join(dir, QEMU_CONSOLE_FILE);
	struct stat sb;
	char text[32];

	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		_cleanup_free_ char *p = unik_path_join(dir, stale[i]);
		if (unlink(p) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "qemu: remove `%s`", p);
			return -1;
		}
	}
	snprintf(text, sizeof(text), "%lld\n",
	         stat(console, &sb) == 0 ? (long long)sb.st_size : 0LL);
	return unik_write_text_in(dir, QEMU_CONSOLE_START_FILE, text, err);
}

static int qemu_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                    struct unik_error *err)
{
	(void)ctx;
	_cleanup_free_ char *dir = NULL, *kernel = NULL, *initrd = NULL, *shim = NULL;
	_cleanup_strv_ struct strv argv = {0}, dev_paths = {0}, forwards = {0};
	_cleanup_free_ struct unik_device *devs = NULL;
	_cleanup_close_ int ready_r = -1;
	struct qemu_config c = {0};
	struct unik_vmm_user vu;
	const char *user = getenv(UNIK_QEMU_USER_ENV);
	const char *console_max = unik_provider_opt(spec->opts, QEMU_OPT_CONSOLE_MAX);
	long long cap;
	char report[1024];
	int pfd[2], ws, n;
	pid_t pid;

	memset(st, 0, sizeof(*st));
	st->state = UNIK_STATE_PENDING;
	st->exit_code = -1;
	if (unik_run_spec_paths("qemu", spec, &dir, &kernel, &initrd, err) < 0)
		return -1;
	shim = find_shim();
	if (!shim) {
		unik_error_set(
		    err, UNIK_E_UNSUPPORTED,
		    "qemu: unik-shim was not found (set UNIK_SHIM, or install it next to "
		    "unik)");
		return -1;
	}
	/* Both checked here, where the error reaches the user, before the shim sees them. */
	if (!user)
		user = UNIK_QEMU_USER_DEFAULT;
	if (unik_vmm_user_parse(user, &vu, err) < 0)
		return -1;
	if (!console_max)
		console_max = QEMU_CONSOLE_MAX_DEFAULT;
	if (unik_console_max_parse("qemu: provider option " QEMU_OPT_CONSOLE_MAX, console_max, &cap,
	                           err) < 0)
		return -1;
	c.qemu = qemu_program();
	c.accel = qemu_pick_accel(geteuid() == 0 ? &vu : NULL);
	c.dir = dir;
	c.kernel = kernel;
	c.initrd = initrd;
	c.cmdline = spec->cmdline ? spec->cmdline : "";
	c.memory_mb = spec->memory_mb;
	c.machine = unik_provider_opt(spec->opts, QEMU_OPT_MACHINE);
	if (unik_run_spec_devices("qemu", spec, &devs, &dev_paths, err) < 0)
		return -1;
	c.devices = devs;
	c.ndevices = spec->ndevices;
	c.instance_id = spec->instance_id;
	qemu_name_taps(&c);
	if (qemu_build_argv(&c, &argv, err) < 0 || qemu_forwards(&c, &forwards, err) < 0 ||
	    check_ports(&c, err) < 0 || qemu_forget_previous_run(dir, err) < 0 ||
	    write_records(spec, &c, &argv, err) < 0)
		return -1;
	/* From here on a failure deletes the taps again: nothing is left of a run that did not
	 * start. */
	if (create_taps(&c, &vu, err) < 0)
		return -1;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "qemu: pipe");
		goto fail;
	}
	ready_r = pfd[0];
	if (spawn_shim(shim, spec, &c, user, console_max, &forwards, &argv, pfd[1], &pid, err) <
	    0) {
		close(pfd[1]);
		goto fail;
	}
	close(pfd[1]);
	n = qemu_shim_read_ready(ready_r, report, sizeof(report));
	if (spec->foreground && n > 3 && !strncmp(report, "ok ", 3)) {
		/* The shim stays: it is the caller's child, and QEMU starts later. */
		st->pid = pid;
		return 0;
	}
	/* The first shim process forks the supervisor and exits at once: reap it (a foreground
	 * one that failed exits too, or is made to). */
	if (spec->foreground && n <= 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (n > 3 && !strncmp(report, "ok ", 3)) {
		st->state = UNIK_STATE_RUNNING;
		st->pid = (pid_t)atoi(report + 3);
		guest_ip(&c, st->ip, sizeof(st->ip));
		return 0;
	}
	if (n > 6 && !strncmp(report, "error ", 6)) {
		/* "error ERRNO MESSAGE" */
		char *nl = strchr(report, '\n'), *msg;
		long e = strtol(report + 6, &msg, 10);

		if (nl)
			*nl = '\0';
		if (*msg == ' ')
			msg++;
		unik_error_set(err, e > 0 ? unik_error_code_from_errno((int)e) : UNIK_E_IO,
		               "qemu: %s", msg);
	} else {
		char line[256];

		qemu_last_line(dir, QEMU_SHIM_LOG_FILE, line, sizeof(line));
		unik_error_set(err, UNIK_E_IO, "qemu: unik-shim %s%s%s",
		               n < 0 ? "did not report in time" : "ended without starting QEMU",
		               line[0] ? ": " : "", line);
	}
fail:
	/* A shim that did not report in time may still be starting QEMU on those taps; it was
	 * told nothing, so its tap descriptors keep working and only the names go. */
	{
		_cleanup_free_ char *taps = taps_list(&c);
		struct unik_error ignored;

		(void)qemu_delete_taps(taps, &ignored);
	}
	return -1;
}

/* ---- status -------------------------------------------------------------------------------- */

/* How long status() waits, in the rare moment between QEMU's end and the shim's record of it,
 * for that record. */
#define SHIM_RECORD_WAIT_MS 200

/* QEMU's user-mode stack could not bind a published port ("Could not set up host forwarding
 * rule 'tcp:127.0.0.1:8080-:80'"): another program took it after run() checked it was free.
 * Says so as run() would have. */
static bool hostfwd_failed(const char *errline, struct unik_instance_status *st)
{
	const char *rule = strstr(errline, "Could not set up host forwarding rule");
	char proto[8] = "", host[64] = "";
	unsigned port = 0;

	if (!rule)
		return false;
	rule = strchr(rule, '\'');
	if (rule && sscanf(rule + 1, "%7[a-z]:%63[0-9.]:%u-", proto, host, &port) < 3) {
		host[0] = '\0';
		if (sscanf(rule + 1, "%7[a-z]::%u-", proto, &port) < 2)
			port = 0;
	}
	if (!port) {
		unik_status_detail(st, "qemu could not publish a port: %s", errline);
		return true;
	}
	unik_status_detail(st,
	                   "port %u/%s on %s is in use (by another instance or program); pick "
	                   "another with -p HOSTPORT:GUESTPORT",
	                   port, proto, host[0] ? host : "0.0.0.0");
	return true;
}

/* The state of an instance whose VM process is gone, from its records. */
static void ended_status(const char *dir, const char *exitrec, bool have_exit,
                         struct unik_instance_status *st)
{
	char val[200], errline[160];

	/* The guest's own word (docs/guest-abi.md): QEMU's exit code folds N and N + 128. */
	if (unik_status_from_console(dir, unik_file_exists_in(dir, QEMU_STOPPED_FILE), st))
		return;
	st->state = UNIK_STATE_CRASHED;
	st->exit_code = -1;
	if (!have_exit) {
		unik_status_detail(
		    st, "qemu ended, and its supervisor (unik-shim) recorded no exit status");
	} else if (unik_kv_get(exitrec, "error", val, sizeof(val))) {
		unik_status_detail(st, "%s", val);
	} else if (unik_kv_get(exitrec, "signal", val, sizeof(val))) {
		unik_status_detail(st, "qemu killed by signal %s", val);
	} else {
		unik_kv_get(exitrec, "exit_code", val, sizeof(val));
		qemu_last_line(dir, QEMU_ERR_FILE, errline, sizeof(errline));
		if (hostfwd_failed(errline, st))
			return;
		if (errline[0])
			unik_status_detail(st, "qemu exited with status %s: %s", val[0] ? val : "?",
			                   errline);
		else
			unik_status_detail(
			    st, "qemu exited with status %s without an exit status from the guest",
			    val[0] ? val : "?");
	}
}

int qemu_status(void *ctx, const char *dir, struct unik_instance_status *st, struct unik_error *err)
{
	(void)ctx;
	struct qemu_proc vm, shim;
	struct stat sb;
	char exitrec[1024];
	bool have_vm, have_exit, have_shim;

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	if (stat(dir, &sb) < 0) {
		unik_error_sys(err, errno, "qemu: instance directory `%s`", dir);
		return -1;
	}
	have_vm = qemu_proc_read(dir, QEMU_PID_FILE, &vm) == 0;
	if (have_vm && qemu_proc_alive(&vm)) {
		char state[2048];

		st->state = UNIK_STATE_RUNNING;
		st->pid = vm.pid;
		/* Recorded by run(), so any process, a restarted daemon's too, can tell. */
		if (read_small(dir, QEMU_STATE_FILE, state, sizeof(state)) >= 0)
			unik_kv_get(state, "ip", st->ip, sizeof(st->ip));
		return 0;
	}
	have_exit = read_small(dir, QEMU_EXIT_FILE, exitrec, sizeof(exitrec)) >= 0;
	have_shim = qemu_proc_read(dir, QEMU_SHIM_PID_FILE, &shim) == 0;
	if (!have_exit && have_shim && qemu_proc_alive(&shim)) {
		if (!have_vm) {
			/* Starting: the shim has not recorded QEMU's PID yet. */
			st->state = UNIK_STATE_PENDING;
			return 0;
		}
		/* QEMU just ended and the shim is writing down how. */
		qemu_proc_wait_gone(&shim, SHIM_RECORD_WAIT_MS);
		have_exit = read_small(dir, QEMU_EXIT_FILE, exitrec, sizeof(exitrec)) >= 0;
	}
	if (!have_vm && !have_exit && !have_shim) {
		/* Nothing was started here (or remove() cleared the records). */
		st->state = UNIK_STATE_PENDING;
		return 0;
	}
	ended_status(dir, have_exit ? exitrec : "", have_exit, st);
	return 0;
}

/* ---- stop ---------------------------------------------------------------------------------- */

/* After SIGKILL a process ends within milliseconds unless the host is stuck. */
#define KILL_WAIT_MS 5000

int qemu_stop(void *ctx, const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	(void)ctx;
	struct unik_instance_status st;
	struct qemu_proc vm, shim;
	bool have_vm, have_shim;
	long long deadline = unik_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	if (qemu_status(ctx, dir, &st, err) < 0)
		return -1;
	if (st.state != UNIK_STATE_RUNNING && st.state != UNIK_STATE_PENDING)
		return 0; /* ended already: nothing to do, and its state stays as it ended */
	have_vm = qemu_proc_read(dir, QEMU_PID_FILE, &vm) == 0;
	have_shim = qemu_proc_read(dir, QEMU_SHIM_PID_FILE, &shim) == 0;
	if (!have_vm && !have_shim)
		return 0; /* never started */
	if (unik_write_text_in(dir, QEMU_STOPPED_FILE, "stopped on request\n", err) < 0)
		return -1;
	if (!have_vm) {
		/* Still starting: the shim forwards SIGTERM to QEMU once it has one. */
		qemu_proc_kill(&shim, SIGTERM);
		if (!qemu_proc_wait_gone(&shim, timeout_ms)) {
			qemu_proc_kill(&shim, SIGKILL);
			qemu_proc_wait_gone(&shim, KILL_WAIT_MS);
		}
		have_vm = qemu_proc_read(dir, QEMU_PID_FILE, &vm) == 0;
		if (have_vm)
			qemu_proc_kill(&vm, SIGKILL);
		return 0;
	}
	if (!force) {
		_cleanup_free_ char *sock = dir_file(dir, QEMU_QMP_FILE);
		struct qemu_qmp *q = NULL;
		struct unik_error qerr;

		if (qemu_qmp_open(sock, timeout_ms, &q, &qerr) == 0 &&
		    qemu_qmp_execute(q, "quit", NULL, &qerr) == 0) {
			/* QEMU answers, then exits. */
		} else {
			/* No monitor yet (QEMU still initialising) or a broken one: QEMU also
			 * shuts down cleanly on SIGTERM. */
			qemu_proc_kill(&vm, SIGTERM);
		}
		qemu_qmp_close(q);
		long long left = deadline - unik_now_ms();

		if (qemu_proc_wait_gone(&vm, left > 0 ? (int)left : 0))
			goto ended;
	}
	qemu_proc_kill(&vm, SIGKILL);
	if (!qemu_proc_wait_gone(&vm, KILL_WAIT_MS)) {
		unik_error_set(err, UNIK_E_IO, "qemu: process %d survived SIGKILL", (int)vm.pid);
		return -1;
	}
ended:
	/* Let the shim record the end, so status() right after stop() is final. */
	if (have_shim)
		qemu_proc_wait_gone(&shim, SHIM_RECORD_WAIT_MS * 5);
	return 0;
}

/* ---- remove -------------------------------------------------------------------------------- */

int qemu_remove(void *ctx, const char *dir, struct unik_error *err)
{
	(void)ctx;
	/* The shim's temporaries (lib/util.h's "<name>.tmp-XXXXXX") go with the directory. */
	static const char *const files[] = {QEMU_QMP_FILE, QEMU_PID_FILE, QEMU_SHIM_PID_FILE};
	struct unik_instance_status st;

	if (qemu_status(ctx, dir, &st, err) < 0)
		return -1;
	if (st.state == UNIK_STATE_RUNNING ||
	    (st.state == UNIK_STATE_PENDING && unik_file_exists_in(dir, QEMU_SHIM_PID_FILE))) {
		unik_error_set(err, UNIK_E_STATE,
		               "qemu: the instance in `%s` is running; stop it first", dir);
		return -1;
	}
	/* The taps go with the instance (stop keeps them, for a start again). */
	{
		char state[2048], taps[1024];

		if (read_small(dir, QEMU_STATE_FILE, state, sizeof(state)) >= 0 &&
		    unik_kv_get(state, "taps", taps, sizeof(taps)) && taps[0] &&
		    qemu_delete_taps(taps, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *path = dir_file(dir, files[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "qemu: remove `%s`", path);
			return -1;
		}
	}
	return 0;
}

/* Events in place of polling: a pidfd of the instance's shim, which outlives QEMU and records how
 * it ended, so the descriptor turns readable once status() can tell. */
int qemu_event_fd(void *ctx, const char *dir, struct unik_error *err)
{
	struct qemu_proc shim;
	int fd;

	(void)ctx;
	if (qemu_proc_read(dir, QEMU_SHIM_PID_FILE, &shim) < 0 || !qemu_proc_alive(&shim) ||
	    (fd = pidfd_open(shim.pid, 0)) < 0) {
		unik_error_set(err, UNIK_E_NOTFOUND, "qemu: no live shim in `%s`", dir);
		return -1;
	}
	/* The PID may have been reused between the check and the open: check again. */
	if (!qemu_proc_alive(&shim)) {
		close(fd);
		unik_error_set(err, UNIK_E_NOTFOUND, "qemu: no live shim in `%s`", dir);
		return -1;
	}
	return fd;
}

static const char *const qemu_opt_keys[] = {QEMU_OPT_CONSOLE_MAX, QEMU_OPT_MACHINE, NULL};
static const char *const qemu_opt_help[] = {
    "cap on console.log, rotated to console.log.1 when reached: MiB (\"16\", the default) or "
    "with a unit (\"512K\", \"1G\")",
    "machine type: microvm (the default; devices on virtio-mmio), pc or q35 (devices on "
    "virtio-pci)",
    NULL};

const struct unik_provider unik_provider_qemu = {
    .name = "qemu",
    .description = "local QEMU microvm per instance (KVM when /dev/kvm opens, else TCG)",
    .image_format = "elf",
    .opt_keys = qemu_opt_keys,
    .opt_help = qemu_opt_help,
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK) |
            UNIK_DEVICE_BIT(UNIK_DEVICE_FS),
    .user_net = true,
    .available = qemu_available,
    .run = qemu_run,
    .status = qemu_status,
    .stop = qemu_stop,
    .remove = qemu_remove,
    .event_fd = qemu_event_fd,
};
