/* create and run: read the bundle, hand ordinary containers to runc, and for a unikernel set up
 * the state directory and the console, and start the container's process (unik-shim, through
 * the core and the qemu provider) that waits for start. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"
#include "lib/guest_elf.h"
#include "lib/hostnet.h"
#include "lib/proc.h"
#include "core/vm.h"

static const char create_usage[] =
    "usage: unik-oci create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET]\n"
    "                       [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID\n\n"
    "Creates the container: a unikernel's init process is left waiting for `start`.\n";

static const char run_usage[] =
    "usage: unik-oci run [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET]\n"
    "                    [--detach] [--keep] [--no-pivot] [--no-new-keyring] ID\n\n"
    "Creates and starts the container and waits for it, exiting with its status (or returns\n"
    "at once with --detach).\n";

struct create_opts {
	const char *bundle, *pid_file, *console_socket, *detach, *keep;
	const char *no_pivot, *no_new_keyring, *preserve_fds, *no_subreaper, *pidfd_socket;
	const char *id;
};

static int mkdir_p(const char *path, mode_t mode, struct unik_error *err)
{
	_cleanup_free_ char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			unik_error_sys(err, errno, "create `%s`", p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create `%s`", p);
		return -1;
	}
	return 0;
}

/* Sends the pty master to the engine over --console-socket, as runc does (SCM_RIGHTS, with the
 * terminal's name as the message). */
static int send_console(const char *sock_path, int master, const char *name, struct unik_error *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;

	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		unik_error_set(err, UNIK_E_INVALID, "console socket path `%s` is too long",
		               sock_path);
		return -1;
	}
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		unik_error_sys(err, errno, "connect to the console socket `%s`", sock_path);
		return -1;
	}
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(s, &msg, MSG_NOSIGNAL) < 0) {
		unik_error_sys(err, errno, "send the console to `%s`", sock_path);
		return -1;
	}
	return 0;
}

/* Opens a pseudo-terminal, sends its master away and returns the slave (or -1). */
static int make_console(const char *sock_path, struct unik_error *err)
{
	_cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char name[PATH_MAX];
	int slave;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, name, sizeof(name)) != 0) {
		unik_error_sys(err, errno, "allocate a pseudo-terminal");
		return -1;
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		unik_error_sys(err, errno, "open `%s`", name);
		return -1;
	}
	if (send_console(sock_path, master, name, err) < 0) {
		close(slave);
		return -1;
	}
	return slave;
}

/* Puts fd on this process's stdio for the supervisor to inherit, keeping copies of the old
 * ones in saved[] for restore_stdio. */
static int swap_stdio(int fd, int saved[3], struct unik_error *err)
{
	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
		if (saved[i] < 0 || dup2(fd, i) < 0) {
			unik_error_sys(err, errno, "hand the terminal to the container");
			return -1;
		}
	}
	return 0;
}

static void restore_stdio(int saved[3])
{
	for (int i = 0; i < 3; i++)
		if (saved[i] >= 0) {
			dup2(saved[i], i);
			close(saved[i]);
			saved[i] = -1;
		}
}

/* Says what of the container's mounts the guest does not get.  On stderr, which is the
 * container's own at create (the engine's log: `docker logs`), and in --log as well. */
static void note_shares(const struct oci_shares *sh)
{
	for (size_t i = 0; i < sh->notes.n; i++) {
		if (oci_g.log_path)
			fprintf(stderr, "unik-oci: note: %s\n", sh->notes.v[i]);
		oci_log("warning", "%s", sh->notes.v[i]);
	}
}

/* The compiler base of the kernel (the org.unik.base label `unik export --format oci` writes,
 * which an engine hands over as an annotation: podman --annotation, a Kubernetes pod), checked
 * against the kernel: a mirage application carries its device declaration (UNIK_NOTE_APP_DEVICES),
 * a rump program or an includeos service does not.  Without the annotation, "mirage" for a kernel
 * with the declaration, else NULL (unknown).  The result is recorded in the container's state. */
static int kernel_base(const struct oci_config *cfg, const char *kernel, const char **base,
                       struct unik_error *err)
{
	json_t *a = cfg->annotations ? json_object_get(cfg->annotations, OCI_LABEL_BASE) : NULL;
	const char *said = json_is_string(a) ? json_string_value(a) : NULL;
	struct unik_guest_elf g;

	*base = NULL;
	if (unik_guest_elf_check(kernel, &g, err) < 0)
		return -1;
	if (said && strcmp(said, "rump") && strcmp(said, "includeos") && strcmp(said, "mirage")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "annotation %s=\"%.40s\": not a base unik builds (rump, includeos, "
		               "mirage)",
		               OCI_LABEL_BASE, said);
		return -1;
	}
	if (said && (!strcmp(said, "mirage")) != g.app) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "annotation %s=%s, but the kernel %s: the image and its label disagree",
		    OCI_LABEL_BASE, said,
		    g.app ? "is a mirage application (it declares its devices)"
		          : "declares no devices, as a mirage application does");
		return -1;
	}
	*base = said ? said : g.app ? "mirage" : NULL;
	return 0;
}

/* Creates a unikernel container; returns its process's PID, or -1.  The process is unik-shim in
 * the foreground (providers/provider.h), started through the core and the qemu provider as for
 * `unik run`: it waits at the exec FIFO for start (when wait_for_start), then runs QEMU with the
 * console on the container's stdout.  On failure nothing is left behind: no process and no
 * state directory. */
static pid_t create_unikernel(const struct create_opts *o, const char *bundle,
                              struct oci_config *cfg, const char *kernel, bool wait_for_start,
                              struct unik_error *err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *rootfs = NULL;
	_cleanup_free_ char *cmdline = NULL;
	_cleanup_free_ char *fifo = NULL;
	_cleanup_free_ char *rec = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int lockfd = -1;
	_cleanup_close_ int slave = -1;
	struct oci_state st = {0};
	struct unik_vm vm = {0};
	struct unik_run_spec spec = {0};
	struct unik_instance_status vst;
	struct oci_net net;
	struct oci_shares shares = {0};
	_cleanup_free_ struct unik_device *devs = NULL;
	int saved_ns = -1;
	/* The console's copy that matters is the engine's (the container's stdout); the one in
	 * console.log, where the shim reads how the guest ended, needs only its tail.  The state
	 * root is usually a tmpfs. */
	static const char *const run_opts[] = {"console_max=64K", NULL};
	int saved[3] = {-1, -1, -1};
	uint64_t mem;
	pid_t pid = -1;
	int rc;

	const char *base;

	oci_net_init(&net);
	if (oci_guest_cmdline(cfg, &cmdline, err) < 0 || oci_guest_memory_mb(cfg, &mem, err) < 0 ||
	    kernel_base(cfg, kernel, &base, err) < 0)
		return -1;
	/* Volumes and bound directories (docker run -v) become 9p shares, mounted where the
	 * container would have them (docs/oci.md "Volumes"). */
	if (oci_config_shares(cfg, &shares, err) < 0) {
		oci_shares_free(&shares);
		return -1;
	}
	note_shares(&shares);
	dir = oci_container_dir(o->id, err);
	if (!dir)
		return -1;
	if (cfg->terminal && !o->console_socket && wait_for_start) {
		unik_error_set(err, UNIK_E_INVALID,
		               "process.terminal is set but no --console-socket was given");
		return -1;
	}
	if (mkdir_p(oci_g.root, 0711, err) < 0)
		return -1;
	if (mkdir(dir, 0711) < 0) {
		if (errno == EEXIST)
			unik_error_set(err, UNIK_E_EXISTS, "container with id %s already exists",
			               o->id);
		else
			unik_error_sys(err, errno, "create `%s`", dir);
		return -1;
	}
	lockfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		unik_error_sys(err, errno, "lock `%s`", dir);
		goto fail;
	}

	st.id = xstrdup(o->id);
	st.oci_version = xstrdup(cfg->oci_version[0] ? cfg->oci_version : OCI_SPEC_VERSION);
	st.bundle = xstrdup(bundle);
	st.rootfs = xstrdup(cfg->root_path);
	st.created = unik_now_rfc3339(9);
	st.owner = xstrdup("");
	st.kernel = xstrdup(kernel);
	st.cmdline = xstrdup(cmdline);
	/* The provider picks the accelerator and records it in its own files. */
	st.accel = xstrdup("");
	st.memory_mb = mem;
	st.terminal = cfg->terminal;
	st.annotations = cfg->annotations ? json_deep_copy(cfg->annotations) : json_object();
	if (base)
		json_object_set_new(st.annotations, OCI_LABEL_BASE, json_string(base));
	rec = unik_path_join(dir, OCI_STATE_FILE);
	text = oci_state_dump(&st);
	if (unik_write_file_atomic(rec, text, strlen(text), 0600, err) < 0)
		goto fail;

	if (wait_for_start) {
		fifo = unik_path_join(dir, OCI_FIFO_FILE);
		if (mkfifo(fifo, 0600) < 0) {
			unik_error_sys(err, errno, "create `%s`", fifo);
			goto fail;
		}
	}
	if (o->console_socket && cfg->terminal) {
		slave = make_console(o->console_socket, err);
		if (slave < 0)
			goto fail;
	}

	/* The container's directory is the VM's instance directory: the provider's records
	 * (qemu.pid, shim.pid, exit, console.log) live next to unik.json and the FIFO. */
	rootfs = xasprintf("%s" OCI_ROOTFS_SUFFIX, kernel);
	spec.instance_id = o->id;
	spec.instance_name = o->id;
	spec.hostname = cfg->hostname[0] ? cfg->hostname : NULL;
	spec.instance_dir = dir;
	spec.kernel = kernel;
	spec.image = kernel;
	/* The image's root fs, when it ships one next to the kernel (images/oci/oci.c). */
	spec.initrd = access(rootfs, R_OK) == 0 ? rootfs : NULL;
	spec.cmdline = cmdline;
	spec.memory_mb = mem;
	spec.opts = run_opts;
	spec.foreground = true;
	spec.hold_fifo = fifo;
	if (oci_container_vm(&vm, err) < 0)
		goto fail;

	/* The network, as runc orders it: the namespace exists, the engine's hooks configure it
	 * (Docker moves its veth in from a prestart hook), and then the guest takes over the
	 * interface they left there.  The supervisor and QEMU start inside the namespace, where
	 * the tap is. */
	if (oci_net_prepare(cfg, &net, err) < 0 ||
	    oci_run_hooks(cfg->hooks, "prestart", &st, "creating", oci_net_hook_pid(&net), true,
	                  err) < 0 ||
	    oci_run_hooks(cfg->hooks, "createRuntime", &st, "creating", oci_net_hook_pid(&net),
	                  true, err) < 0 ||
	    oci_net_enter(&net, &saved_ns, err) < 0)
		goto fail;
	if (oci_net_attach(&net, cfg, err) < 0)
		goto fail;
	/* The NIC (net0) first, then the shares. */
	devs = xcalloc(shares.n + 1, sizeof(*devs));
	if (net.nic)
		devs[spec.ndevices++] = net.dev;
	for (size_t i = 0; i < shares.n; i++)
		devs[spec.ndevices++] = shares.devs[i];
	spec.devices = devs;
	/* With a console the pty is the container's stdio; the supervisor inherits ours. */
	if (slave >= 0 && swap_stdio(slave, saved, err) < 0) {
		restore_stdio(saved);
		goto fail;
	}
	fflush(NULL);
	rc = unik_vm_run(&vm, &spec, &vst, err);
	restore_stdio(saved);
	oci_net_leave(saved_ns);
	saved_ns = -1;
	oci_net_release(&net);
	if (rc < 0)
		goto fail;
	pid = vst.pid;
	st.pid = pid;
	if (pid <= 0 || unik_proc_stat(pid, NULL, &st.pid_start) < 0) {
		unik_error_set(err, UNIK_E_IO, "the container's process %d vanished", (int)pid);
		goto fail;
	}
	free(text);
	text = oci_state_dump(&st);
	if (unik_write_file_atomic(rec, text, strlen(text), 0600, err) < 0)
		goto fail;
	if (o->pid_file && oci_write_pid_file(o->pid_file, pid, err) < 0)
		goto fail;
	unik_vm_close(&vm);
	oci_state_free(&st);
	oci_shares_free(&shares);
	return pid;

fail:
	/* A tap left in a namespace that outlives us (a named one) would take the name next
	 * time; the filters go with it. */
	if (net.nic && saved_ns >= 0)
		unik_tap_delete(net.tap, NULL);
	oci_net_leave(saved_ns);
	oci_net_release(&net);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (vm.p)
		unik_vm_close(&vm);
	unik_rmtree(dir, NULL);
	oci_state_free(&st);
	oci_shares_free(&shares);
	return -1;
}

static int parse(int argc, char **argv, bool run, struct create_opts *o)
{
	const struct oci_opt opts[] = {
	    {"bundle", 'b', true, &o->bundle},
	    {"pid-file", 0, true, &o->pid_file},
	    {"console-socket", 0, true, &o->console_socket},
	    {"no-pivot", 0, false, &o->no_pivot},
	    {"no-new-keyring", 0, false, &o->no_new_keyring},
	    {"preserve-fds", 0, true, &o->preserve_fds},
	    {"pidfd-socket", 0, true, &o->pidfd_socket},
	    {"detach", run ? 'd' : 0, false, run ? &o->detach : &o->no_subreaper},
	    {"keep", 0, false, &o->keep},
	    {"no-subreaper", 0, false, &o->no_subreaper},
	    {NULL, 0, false, NULL},
	};
	_cleanup_strv_ struct strv pos = {0};
	struct unik_error err;

	memset(o, 0, sizeof(*o));
	if (oci_parse_opts(argc, argv, opts, run ? run_usage : create_usage, &pos) < 0)
		return -1;
	if (pos.n != 1) {
		unik_error_set(&err, UNIK_E_INVALID,
		               "%s: expected exactly one container id (see "
		               "unik-oci %s --help)",
		               argv[0], argv[0]);
		oci_fail(&err);
		return -1;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], pos.v[0]))
			o->id = argv[i];
	return 0;
}

/* Reads the bundle and decides.  Returns 1 for a unikernel (cfg and kernel filled), 0 after a
 * failed hand-over to runc (err set), -1 on an error. */
static int prepare(const struct create_opts *o, char **bundle, struct oci_config *cfg,
                   char **kernel, struct unik_error *err)
{
	char cwd[PATH_MAX];
	int r;

	if (!o->bundle || o->bundle[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			unik_error_sys(err, errno, "getcwd");
			return -1;
		}
		*bundle = o->bundle ? unik_path_join(cwd, o->bundle) : xstrdup(cwd);
	} else {
		*bundle = xstrdup(o->bundle);
	}
	if (oci_config_load(*bundle, cfg, err) < 0) {
		unik_error_prefix(err, "bundle `%s`", *bundle);
		return -1;
	}
	r = oci_detect_kernel(cfg, kernel, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		oci_delegate(err);
		unik_error_prefix(err, "`%s` in the root fs is not a unik kernel", cfg->args.v[0]);
		return 0;
	}
	return 1;
}

int cmd_create(int argc, char **argv)
{
	struct create_opts o;
	struct oci_config cfg = {0};
	_cleanup_free_ char *bundle = NULL;
	_cleanup_free_ char *kernel = NULL;
	struct unik_error err;
	int rc = 1;

	if (parse(argc, argv, false, &o) < 0)
		return 1;
	if (prepare(&o, &bundle, &cfg, &kernel, &err) <= 0)
		goto out;
	if (create_unikernel(&o, bundle, &cfg, kernel, true, &err) < 0)
		goto out;
	rc = 0;
out:
	oci_config_free(&cfg);
	return rc ? oci_fail(&err) : 0;
}

static volatile sig_atomic_t fwd_pid;

static void forward(int sig)
{
	if (fwd_pid > 0)
		kill((pid_t)fwd_pid, sig);
}

int cmd_run(int argc, char **argv)
{
	struct create_opts o;
	struct oci_config cfg = {0};
	_cleanup_free_ char *bundle = NULL;
	_cleanup_free_ char *kernel = NULL;
	_cleanup_free_ char *dir = NULL;
	struct unik_error err;
	struct sigaction sa = {.sa_handler = forward};
	pid_t pid;
	int wst, status;

	if (parse(argc, argv, true, &o) < 0)
		return 1;
	if (prepare(&o, &bundle, &cfg, &kernel, &err) <= 0) {
		oci_config_free(&cfg);
		return oci_fail(&err);
	}
	/* Detached, it is create + start; in the foreground no FIFO is needed and this process
	 * waits for the init process, as runc run does. */
	pid = create_unikernel(&o, bundle, &cfg, kernel, o.detach != NULL, &err);
	oci_config_free(&cfg);
	if (pid < 0)
		return oci_fail(&err);
	if (o.detach) {
		char *sargv[] = {"start", (char *)o.id, NULL};
		return cmd_start(2, sargv);
	}
	fwd_pid = pid;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	if (!o.keep) {
		dir = oci_container_dir(o.id, NULL);
		if (dir)
			unik_rmtree(dir, NULL);
	}
	return status;
}
