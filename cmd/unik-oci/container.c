/* A container's directory under --root: ids, locking, loading the record, the status, the
 * processes it names, and handing containers that are not unikernels to runc. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"
#include "lib/proc.h"

/* runc's rule for ids, which also keeps them safe as one path component. */
static bool id_valid(const char *id)
{
	if (!id[0] || !strcmp(id, ".") || !strcmp(id, "..") || strlen(id) > 1024)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
			return false;
	return true;
}

char *oci_container_dir(const char *id, struct unik_error *err)
{
	if (!id_valid(id)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "invalid container id \"%s\": use letters, digits, _ + - and .", id);
		return NULL;
	}
	return unik_path_join(oci_g.root, id);
}

bool oci_is_unik_container(const char *id)
{
	_cleanup_free_ char *dir = id_valid(id) ? unik_path_join(oci_g.root, id) : NULL;
	_cleanup_free_ char *rec = dir ? unik_path_join(dir, OCI_STATE_FILE) : NULL;

	return rec && access(rec, F_OK) == 0;
}

int oci_container_open(const char *id, bool exclusive, char **dirp, int *lockfd,
                       struct oci_state *st, struct unik_error *err)
{
	_cleanup_free_ char *dir = oci_container_dir(id, err);
	_cleanup_free_ char *rec = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	memset(st, 0, sizeof(*st));
	if (!dir)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		unik_error_set(err, UNIK_E_NOTFOUND, "container %s does not exist", id);
		return -1;
	}
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			unik_error_sys(err, errno, "lock `%s`", dir);
			return -1;
		}
	}
	/* A delete that held the lock before us removed the record: the container is gone. */
	rec = unik_path_join(dir, OCI_STATE_FILE);
	if (unik_read_file(rec, &text, &len, err) < 0) {
		if (err && err->code == UNIK_E_NOTFOUND)
			unik_error_set(err, UNIK_E_NOTFOUND, "container %s does not exist", id);
		return -1;
	}
	if (oci_state_parse(text, len, st, err) < 0) {
		unik_error_prefix(err, "`%s`", rec);
		return -1;
	}
	*lockfd = unik_steal_fd(&fd);
	if (dirp)
		*dirp = unik_steal_ptr(&dir);
	return 0;
}

bool oci_proc_alive(pid_t pid, unsigned long long start)
{
	unsigned long long s;
	char state;

	if (pid <= 0 || unik_proc_stat(pid, &state, &s) < 0)
		return false;
	return s == start && state != 'Z' && state != 'X';
}

int oci_signal_proc(pid_t pid, unsigned long long start, int sig)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0) {
		int rc = -1;

		/* Checked once the pidfd pins the process, so the PID cannot be reused between. */
		if (oci_proc_alive(pid, start))
			rc = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
		else
			errno = ESRCH;
		close(fd);
		return rc;
	}
#endif
	if (!oci_proc_alive(pid, start)) {
		errno = ESRCH;
		return -1;
	}
	return kill(pid, sig);
}

const char *oci_container_status(const char *dir, const struct oci_state *st)
{
	_cleanup_free_ char *fifo = NULL;

	if (st->pid <= 0)
		return "creating";
	if (!oci_proc_alive(st->pid, st->pid_start))
		return "stopped";
	fifo = unik_path_join(dir, OCI_FIFO_FILE);
	return access(fifo, F_OK) == 0 ? "created" : "running";
}

int oci_container_vm(struct unik_vm *vm, struct unik_error *err)
{
	return unik_vm_open_name(vm, "qemu", NULL, err);
}

void oci_signal_vm(struct unik_vm *vm, const char *dir, int sig)
{
	struct unik_instance_status vs;
	int fd = -1;

	if (unik_vm_status(vm, dir, &vs, NULL) < 0 || vs.state != UNIK_STATE_RUNNING || vs.pid <= 0)
		return;
#ifdef SYS_pidfd_open
	fd = (int)syscall(SYS_pidfd_open, vs.pid, 0);
	if (fd >= 0) {
		pid_t pid = vs.pid;

		/* Asked again once the pidfd pins the process, so a reused PID is never hit. */
		if (unik_vm_status(vm, dir, &vs, NULL) == 0 && vs.state == UNIK_STATE_RUNNING &&
		    vs.pid == pid)
			syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
		close(fd);
		return;
	}
#endif
	(void)fd;
	kill(vs.pid, sig);
}

int oci_write_pid_file(const char *path, pid_t pid, struct unik_error *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

	return unik_write_file_atomic(path, buf, (size_t)n, 0644, err);
}

const char *oci_runc_path(void)
{
	static char found[4096];
	static const char *const dirs[] = {"/usr/sbin",      "/usr/bin", "/usr/local/sbin",
	                                   "/usr/local/bin", "/sbin",    "/bin"};
	const char *env = getenv("UNIK_OCI_RUNC");
	const char *path = getenv("PATH");

	if (env && env[0])
		return access(env, X_OK) == 0 ? env : NULL;
	if (found[0])
		return found;
	for (const char *p = path ? path : ""; *p;) {
		const char *end = strchrnul(p, ':');
		int n = snprintf(found, sizeof(found), "%.*s/runc", (int)(end - p), p);

		if (n > 0 && (size_t)n < sizeof(found) && end > p && access(found, X_OK) == 0)
			return found;
		p = *end ? end + 1 : end;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(found, sizeof(found), "%s/runc", dirs[i]);
		if (access(found, X_OK) == 0)
			return found;
	}
	found[0] = '\0';
	return NULL;
}

int oci_delegate(struct unik_error *err)
{
	const char *runc = oci_runc_path();
	char **argv;

	if (!runc) {
		unik_error_set(
		    err, UNIK_E_UNSUPPORTED,
		    "this container is not a unikernel and runc is not installed to run it "
		    "(install runc, or set UNIK_OCI_RUNC)");
		return -1;
	}
	argv = xcalloc((size_t)oci_g.argc + 1, sizeof(*argv));
	argv[0] = (char *)runc;
	for (int i = 1; i < oci_g.argc; i++)
		argv[i] = oci_g.argv[i];
	oci_log("debug", "handing %s to %s", oci_g.argc > 1 ? oci_g.argv[1] : "?", runc);
	execv(runc, argv);
	unik_error_sys(err, errno, "exec `%s`", runc);
	free(argv);
	return -1;
}

int oci_parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
	    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"IOT", SIGIOT},   {"BUS", SIGBUS},
	    {"FPE", SIGFPE},   {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
	    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},
	    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
	    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
	    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
	    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},
	};
	char *end;
	long n;

	if (!s || !s[0])
		return -1;
	n = strtol(s, &end, 10);
	if (!*end)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].sig;
	return -1;
}
