/* unik daemon: runs the daemon (unik-daemon, beside this binary or in PREFIX/libexec/unik) in the
 * foreground, as the CLI does when it starts one; `unik daemon start|stop|status` start it in
 * the background, stop it and tell whether it runs (docs/cli.md, docs/daemon.md). */
#include "cmd/unik/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/selfpath.h"
#include "lib/util.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

/* systemctl's exit statuses for `status`: 0 running, 3 not running. */
enum { STATUS_NOT_RUNNING = 3 };

static int run_foreground(int argc, char **argv)
{
	_cleanup_free_ char *daemon = unik_find_program("unik-daemon");
	struct strv args = {0};

	if (!daemon) {
		_cleanup_free_ char *self = unik_self_dir();

		fprintf(
		    stderr,
		    "unik: cannot find unik-daemon beside %s or in its ../libexec/unik (is unik "
		    "installed completely?)\n",
		    self ? self : "this program");
		return 1;
	}
	strv_push(&args, daemon);
	for (int i = 1; i < argc; i++)
		strv_push(&args, argv[i]);
	execv(daemon, strv_argv(&args));
	fprintf(stderr, "unik: cannot run %s: %s (is unik installed completely?)\n", daemon,
	        strerror(errno));
	strv_free(&args);
	return 1;
}

/* The pid in HOME/daemon.pid when that process lives (not a zombie) and is a unik daemon; else
 * 0.  *start: its start time, to tell it from a recycled pid while waiting. */
static pid_t live_daemon_pid(const char *home, unsigned long long *start)
{
	_cleanup_free_ char *path = unik_path_join(home, "daemon.pid");
	_cleanup_free_ char *text = NULL;
	char state = 0;
	long pid;

	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return 0;
	pid = strtol(text, NULL, 10);
	if (pid <= 0 || pid > 0x3fffffff || unik_proc_stat((pid_t)pid, &state, start) < 0 ||
	    state == 'Z' || state == 'X')
		return 0;
	/* A pid file left by a daemon that died may name some other program by now. */
	{
		char link[64], exe[4096];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%ld/exe", pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			const char *base = strrchr(exe, '/');

			base = base ? base + 1 : exe;
			if (strncmp(base, "unik", 4) != 0)
				return 0;
		}
	}
	return (pid_t)pid;
}

static bool same_process(pid_t pid, unsigned long long start)
{
	char state = 0;
	unsigned long long now = 0;

	return unik_proc_stat(pid, &state, &now) == 0 && now == start && state != 'Z' &&
	       state != 'X';
}

static void wait_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !cli_interrupted)
		;
}

static int daemon_start(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik daemon start [--home DIR] [--listen ADDR:PORT]... [--token TOKEN]",
	    "Starts the daemon in the background, in its own session, with its output in\n"
	    "HOME/daemon.log, and returns once it answers on HOME/daemon.sock.  HOME is --home,\n"
	    "else $UNIK_HOME, else ~/.unik.  When a daemon already answers there, says so and\n"
	    "succeeds.  `unik daemon` alone runs it in the foreground instead.",
	    "  unik daemon start\n"
	    "  unik daemon start --home /var/lib/unik --listen 127.0.0.1:3000\n",
	};
	const char *home_opt = NULL;
	_cleanup_strv_ struct strv listen = {0}, pos = {0}, args = {0};
	const struct cli_opt opts[] = {
	    {0, "home", CLI_OPT_STR, &home_opt, "DIR", "the daemon's state directory"},
	    {0, "listen", CLI_OPT_LIST, &listen, "ADDR:PORT", "also serve on TCP (repeatable)"},
	};
	_cleanup_free_ char *home = NULL, *sock = NULL;
	struct unik_error err = {0};
	pid_t pid;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "daemon start takes no arguments (got `%s`)", pos.v[0]);
	home = home_opt ? xstrdup(home_opt) : cli_home();
	sock = unik_path_join(home, "daemon.sock");
	if (unik_client_probe_socket(sock) == 0) {
		unsigned long long start;

		pid = live_daemon_pid(home, &start);
		if (pid)
			printf("a daemon already runs on %s (pid %d)\n", sock, (int)pid);
		else
			printf("a daemon already answers on %s\n", sock);
		return CLI_OK;
	}
	if (home_opt) {
		strv_push(&args, "--home");
		strv_push(&args, home_opt);
	}
	for (size_t i = 0; i < listen.n; i++) {
		strv_push(&args, "--listen");
		strv_push(&args, listen.v[i]);
	}
	/* --token (parsed as every verb's) is the token the daemon requires on TCP. */
	if (cli->token && *cli->token) {
		strv_push(&args, "--token");
		strv_push(&args, cli->token);
	}
	cli_catch_signals();
	if (cli_start_daemon(home, sock, &args, &err) < 0) {
		fprintf(stderr, "unik: %s\n", err.msg);
		return CLI_FAILED;
	}
	{
		unsigned long long start;

		pid = live_daemon_pid(home, &start);
		printf("daemon started (pid %d) on %s\n", (int)pid, sock);
	}
	return CLI_OK;
}

static int daemon_stop(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik daemon stop [--home DIR] [--time SECONDS]",
	    "Stops the daemon of HOME (--home, else $UNIK_HOME, else ~/.unik): sends SIGTERM to\n"
	    "the pid in HOME/daemon.pid and waits until the process is gone.  The daemon lets\n"
	    "running builds finish; instances keep running and the next daemon adopts them.\n"
	    "Succeeds when no daemon runs.  A daemon that systemd started (unik.service) is\n"
	    "stopped with `systemctl stop unik.service unik.socket` instead.",
	    "  unik daemon stop\n"
	    "  unik daemon stop --home /var/lib/unik --time 120\n",
	};
	const char *home_opt = NULL, *time_opt = NULL;
	const struct cli_opt opts[] = {
	    {0, "home", CLI_OPT_STR, &home_opt, "DIR", "the daemon's state directory"},
	    {'t', "time", CLI_OPT_STR, &time_opt, "SECONDS",
	     "how long to wait for it to end (default 60)"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *home = NULL;
	unsigned long long start = 0;
	long wait_s = 60, deadline;
	pid_t pid;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "daemon stop takes no arguments (got `%s`)", pos.v[0]);
	if (time_opt) {
		char *end;

		errno = 0;
		wait_s = strtol(time_opt, &end, 10);
		if (!*time_opt || *end || errno || wait_s < 1 || wait_s > 86400)
			return cli_usage_error(
			    cli, "--time `%s`: give whole seconds from 1 to 86400", time_opt);
	}
	home = home_opt ? xstrdup(home_opt) : cli_home();
	pid = live_daemon_pid(home, &start);
	if (!pid) {
		_cleanup_free_ char *sock = unik_path_join(home, "daemon.sock");

		if (unik_client_probe_socket(sock) == 0) {
			fprintf(stderr,
			        "unik: a daemon answers on %s but %s/daemon.pid names no running "
			        "daemon; stop it with its service manager (systemctl stop "
			        "unik.service unik.socket)\n",
			        sock, home);
			return CLI_FAILED;
		}
		printf("no daemon runs for %s\n", home);
		return CLI_OK;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "unik: cannot stop the daemon (pid %d): %s\n", (int)pid,
		        strerror(errno));
		return CLI_FAILED;
	}
	cli_catch_signals();
	deadline = unik_now_ms() + wait_s * 1000;
	while (same_process(pid, start)) {
		if (cli_interrupted) {
			fprintf(stderr,
			        "unik: interrupted; the daemon (pid %d) is still stopping\n",
			        (int)pid);
			return CLI_FAILED;
		}
		if (unik_now_ms() > deadline) {
			fprintf(
			    stderr,
			    "unik: the daemon (pid %d) has not ended %ld s after SIGTERM (a build "
			    "may still be finishing); wait longer with --time, or kill -KILL %d\n",
			    (int)pid, wait_s, (int)pid);
			return CLI_FAILED;
		}
		wait_ms(50);
	}
	printf("daemon stopped (pid %d)\n", (int)pid);
	return CLI_OK;
}

static int daemon_status(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik daemon status [--home DIR] [--host HOST] [-o json]",
	    "Tells whether a daemon runs: its pid, version, home and the sockets it listens on.\n"
	    "It asks the daemon of --home (its daemon.sock), else the one the CLI talks to\n"
	    "(--host, UNIK_HOST, client-config.yaml, else ~/.unik/daemon.sock); it never starts\n"
	    "one.  Exits 0 when the daemon answers, 3 when none runs (as systemctl does) and 1\n"
	    "when HOME/daemon.pid names a live daemon that does not answer.",
	    "  unik daemon status\n"
	    "  unik daemon status --host unix:///run/unik/daemon.sock\n"
	    "  unik daemon status -o json\n",
	};
	const char *home_opt = NULL;
	const struct cli_opt opts[] = {
	    {0, "home", CLI_OPT_STR, &home_opt, "DIR", "the daemon's state directory"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *home = NULL;
	struct unik_client *own = NULL, *c;
	struct unik_error err = {0};
	json_t *d = NULL;
	unsigned long long start;
	pid_t pid;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "daemon status takes no arguments (got `%s`)",
		                       pos.v[0]);
	home = home_opt ? xstrdup(home_opt) : cli_home();
	cli->no_autostart = true;
	if (home_opt) {
		_cleanup_free_ char *sock = unik_path_join(home, "daemon.sock");

		c = own = unik_client_new(sock, NULL, NULL);
		unik_client_set_retry(own, 0);
	} else {
		c = cli_client(cli);
		if (!c)
			return CLI_FAILED;
	}
	if (unik_client_json(c, "GET", "/v1/daemon", NULL, &d, &err) < 0) {
		d = NULL;
		/* A daemon from before GET /v1/daemon: its version, and the pid file's pid. */
		if (err.code == UNIK_E_NOTFOUND &&
		    unik_client_json(c, "GET", "/v1/version", NULL, &d, &err) == 0) {
			json_t *socks = json_array();

			pid = live_daemon_pid(home, &start);
			json_object_set_new(d, "pid", json_integer(pid));
			json_object_set_new(d, "home", json_string(home));
			json_array_append_new(socks, json_string(unik_client_where(c)));
			json_object_set_new(d, "sockets", socks);
		}
	}
	if (d) {
		if (cli->json) {
			json_object_set_new(d, "running", json_true());
			cli_print_json(d);
		} else {
			json_t *s;
			size_t i;

			printf("running: yes\npid: %lld\nversion: %s\nhome: %s\nsockets:",
			       (long long)json_integer_value(json_object_get(d, "pid")),
			       json_string_value(json_object_get(d, "version")),
			       json_string_value(json_object_get(d, "home")));
			json_array_foreach(json_object_get(d, "sockets"), i, s)
			    printf("%s %s", i ? "," : "", json_string_value(s));
			printf("\n");
			if (json_is_true(json_object_get(d, "socket_activated")))
				printf("socket activated: yes\n");
		}
		json_decref(d);
		unik_client_free(own);
		return CLI_OK;
	}
	pid = live_daemon_pid(home, &start);
	if (cli->json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "running", 0, "home", home, "client",
		                      UNIK_VERSION, "error", err.msg);

		if (pid)
			json_object_set_new(o, "pid", json_integer(pid));
		cli_print_json(o);
		json_decref(o);
	} else if (pid) {
		printf("running: not answering\npid: %d\nhome: %s\nwhy: %s\n", (int)pid, home,
		       err.msg);
	} else {
		printf("running: no\nhome: %s\nwhy: %s\n", home, err.msg);
	}
	unik_client_free(own);
	return pid ? CLI_FAILED : STATUS_NOT_RUNNING;
}

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subverb subs[] = {
	    {"start", NULL, daemon_start, "start the daemon in the background"},
	    {"stop", NULL, daemon_stop, "stop the daemon and wait until it is gone"},
	    {"status", NULL, daemon_status, "whether a daemon runs: pid, version, home, sockets"},
	    {NULL, NULL, NULL, NULL},
	};

	if ((argc > 1 && (!strcmp(argv[1], "start") || !strcmp(argv[1], "stop") ||
	                  !strcmp(argv[1], "status"))) ||
	    (argc == 2 && cli_help_json() && !strcmp(argv[1], "--help")))
		return cli_subverb(
		    cli, argc, argv, "daemon",
		    "`unik daemon [--home DIR] [--listen ADDR:PORT]... [--token TOKEN]` "
		    "runs the daemon in the foreground (see unik-daemon(8)); the "
		    "commands below start it in the background, stop it, and tell "
		    "whether it runs.",
		    subs);
	return run_foreground(argc, argv);
}
