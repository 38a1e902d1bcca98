/* `unik daemon`: options, $UNIK_HOME, the pid file, start-up in order (config, state, adopt
 * instances, build workers, listeners) and a clean stop on SIGTERM or SIGINT. */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/http_guard.h"
#include "daemon/internal.h"

void http_quiesce(void);

struct daemon D;

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

static const char usage[] =
    "usage: unik daemon [--home DIR] [--listen ADDR:PORT]... [--token TOKEN]\n"
    "                   [--header-timeout SECONDS] [--body-timeout SECONDS]\n"
    "\n"
    "Runs unik's daemon in the foreground: the REST API on $UNIK_HOME/daemon.sock\n"
    "(mode 0600) and, with --listen, on TCP too.  A TCP address that is not loopback\n"
    "needs a token (--token, $UNIK_TOKEN or \"token:\" in daemon-config.yaml), which\n"
    "clients send as \"Authorization: Bearer TOKEN\".  See docs/daemon.md.\n"
    "\n"
    "  --home DIR          state directory (default $UNIK_HOME, else ~/.unik)\n"
    "  --listen ADDR:PORT  also serve on TCP (repeatable), e.g. 127.0.0.1:3000\n"
    "  --token TOKEN       require this bearer token on TCP\n"
    "  --header-timeout S  close a connection whose request headers are not complete\n"
    "                      S seconds after it opened or got its last answer (30)\n"
    "  --body-timeout S    close a connection whose request body stalls for S seconds (60)\n"
    "  --foreground        stay in the foreground (the default)\n"
    "  --help              this text\n"
    "\n"
    "`unik daemon start`, `stop` and `status` start it in the background, stop it and\n"
    "tell whether it runs (unik daemon status --help).\n"
    "\n"
    "Sockets passed by a service manager (systemd's unik.socket: LISTEN_PID and\n"
    "LISTEN_FDS) are served instead of $UNIK_HOME/daemon.sock; see docs/daemon.md.\n";

static int mkdir_0700(const char *p)
{
	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "unik daemon: create %s: %s\n", p, strerror(errno));
		return -1;
	}
	return 0;
}

static char *default_home(void)
{
	const char *h = getenv("UNIK_HOME");

	if (h && *h)
		return xstrdup(h);
	h = getenv("HOME");
	return unik_path_join(h && *h ? h : "/root", ".unik");
}

static int seconds_arg(const char *opt, const char *v, unsigned *out)
{
	unsigned long n = 0;

	if (*v && strlen(v) <= 6 && strspn(v, "0123456789") == strlen(v))
		n = strtoul(v, NULL, 10);
	if (n < 1 || n > 86400) {
		fprintf(stderr, "unik daemon: %s \"%s\": give whole seconds from 1 to 86400\n", opt,
		        v);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

int unik_daemon_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"listen", required_argument, NULL, 'l'},
	    {"token", required_argument, NULL, 't'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {"header-timeout", required_argument, NULL, 'T'},
	    {"body-timeout", required_argument, NULL, 'B'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_strv_ struct strv listen = {0};
	_cleanup_free_ char *home = NULL;
	_cleanup_free_ char *token = NULL;
	_cleanup_free_ char *cfg_path = NULL;
	struct unik_error err = {0};
	int c, rc = 1;
	bool started_http = false;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			free(home);
			home = xstrdup(optarg);
			break;
		case 'l':
			strv_push(&listen, optarg);
			break;
		case 't':
			free(token);
			token = xstrdup(optarg);
			break;
		case 'f':
			break;
		case 'T':
		case 'B':
			if (seconds_arg(c == 'T' ? "--header-timeout" : "--body-timeout", optarg,
			                c == 'T' ? &http_limits.header_timeout_s
			                         : &http_limits.body_timeout_s) < 0)
				return 2;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "unik daemon: unknown option %s\n%s", argv[optind - 1],
			        usage);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unik daemon: unexpected argument %s\n%s", argv[optind], usage);
		return 2;
	}
	if (!home)
		home = default_home();

	memset(&D, 0, sizeof(D));
	D.home = xstrdup(home);
	D.tmp_dir = unik_path_join(home, "tmp");
	D.sock_path = unik_path_join(home, "daemon.sock");
	D.pid_path = unik_path_join(home, "daemon.pid");
	{
		static const char *const dirs[] = {"images", "instances", "builds", "tmp"};

		if (mkdir_0700(home) < 0)
			return 1;
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			_cleanup_free_ char *d = unik_path_join(home, dirs[i]);

			if (mkdir_0700(d) < 0)
				return 1;
		}
	}
	(void)chmod(home, 0700);

	cfg_path = unik_path_join(home, "daemon-config.yaml");
	if (config_load(cfg_path, &D.cfg, &err) < 0) {
		fprintf(stderr, "unik daemon: %s\n", err.msg);
		config_free(&D.cfg);
		return 1;
	}
	strv_extend(&D.cfg.listen, &listen);
	if (token) {
		free(D.cfg.token);
		D.cfg.token = xstrdup(token);
	} else if (getenv("UNIK_TOKEN") && *getenv("UNIK_TOKEN") && !D.cfg.token) {
		D.cfg.token = xstrdup(getenv("UNIK_TOKEN"));
	}
	if (D.cfg.default_provider && !unik_core_registry_provider(D.cfg.default_provider)) {
		fprintf(
		    stderr,
		    "unik daemon: daemon-config.yaml: default_provider \"%s\" is not compiled in\n",
		    D.cfg.default_provider);
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	if (pipe2(sig_pipe, O_CLOEXEC) < 0) {
		perror("unik daemon: pipe");
		goto out;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	/* The socket first: it says whether another daemon owns this home.  It answers only once
	 * the state is loaded and the workers run (http_serve below). */
	if (http_start(&err) < 0) {
		fprintf(stderr, "unik daemon: %s\n", err.msg);
		http_stop();
		goto out;
	}
	started_http = true;
	/* Requests cannot arrive yet: the sockets answer only after http_serve(). */
	{
		struct unik_core_config cc;

		config_core(&D.cfg, home, &cc);
		if (unik_core_open(&cc, &D.core, &err) < 0) {
			fprintf(stderr, "unik daemon: %s\n", err.msg);
			goto out;
		}
	}
	{
		_cleanup_free_ char *pid = xasprintf("%d\n", (int)getpid());
		if (unik_write_file_atomic(D.pid_path, pid, strlen(pid), 0600, &err) < 0)
			fprintf(stderr, "unik daemon: %s\n", err.msg);
	}
	if (http_serve(&err) < 0) {
		fprintf(stderr, "unik daemon: %s\n", err.msg);
		goto out;
	}
	{
		_cleanup_strv_ struct strv addrs = {0};

		http_addresses(&addrs);
		fprintf(stderr, "unik daemon: listening on");
		for (size_t i = 0; i < addrs.n; i++)
			fprintf(stderr, "%s %s", i ? " and" : "", addrs.v[i]);
		fprintf(stderr, " (pid %d, home %s)\n", (int)getpid(), home);
	}

	for (;;) {
		unsigned char sig;
		ssize_t n = read(sig_pipe[0], &sig, 1);

		if (n == 1) {
			fprintf(stderr,
			        "unik daemon: signal %d: stopping (instances keep running)\n", sig);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	rc = 0;
out:
	D.stopping = true;
	if (D.core)
		unik_core_stop(D.core);
	if (started_http)
		http_quiesce();
	/* Requests end (waiters woke above); then the core lets running builds finish. */
	http_stop();
	unik_core_close(D.core);
	D.core = NULL;
	if (rc == 0)
		unlink(D.pid_path);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
	}
	config_free(&D.cfg);
	free(D.home);
	free(D.tmp_dir);
	free(D.sock_path);
	free(D.pid_path);
	return rc;
}
