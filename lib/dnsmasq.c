/* dnsmasq as a network's DHCP server (lib/dnsmasq.h).  Spawned from an argument vector with
 * --conf-file=/dev/null, so nothing on the host configures it but these words; it drops root for
 * its own user (nobody) once it holds its sockets and files, keeping only what DHCP needs. */
#include "lib/dnsmasq.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/unik_spawn.h"
#include "lib/util.h"

#define PID_FILE   "dnsmasq.pid"
#define LEASE_FILE "dnsmasq.leases"
#define LOG_FILE   "dnsmasq.log"
#define ERR_FILE   "dnsmasq.err"
/* How long a lease lasts; the guest renews it halfway (lwIP's T1). */
#define LEASE_TIME "1h"

/* Whether /proc/pid/cmdline holds the word want. */
static bool cmdline_has(pid_t pid, const char *want)
{
	char buf[4096];
	ssize_t n = unik_proc_cmdline(pid, buf, sizeof(buf));

	if (n < 0)
		return false;
	for (char *w = buf; w < buf + n; w += strlen(w) + 1)
		if (strcmp(w, want) == 0)
			return true;
	return false;
}

pid_t unik_dnsmasq_running(const char *dir)
{
	_cleanup_free_ char *path = unik_path_join(dir, PID_FILE), *text = NULL;
	_cleanup_free_ char *word = xasprintf("--pid-file=%s", path);
	long pid;

	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return 0;
	pid = strtol(text, NULL, 10);
	if (pid <= 1 || pid > 0x7fffffff)
		return 0;
	return cmdline_has((pid_t)pid, word) ? (pid_t)pid : 0;
}

int unik_dnsmasq_start(const struct unik_dnsmasq_conf *conf, struct unik_error *err)
{
	const char *prog = getenv(UNIK_DNSMASQ_ENV);
	_cleanup_free_ char *pidf = unik_path_join(conf->dir, PID_FILE);
	_cleanup_free_ char *errf = unik_path_join(conf->dir, ERR_FILE);
	_cleanup_free_ char *a_pid = xasprintf("--pid-file=%s", pidf);
	_cleanup_free_ char *a_lease = NULL, *a_log = NULL, *a_if = NULL, *a_range = NULL;
	_cleanup_free_ char *a_router = NULL, *a_exc = NULL, *lf = NULL, *logf = NULL;
	struct unik_spawn_opts o = UNIK_SPAWN_OPTS_INIT;
	int status = 0, efd;

	if (unik_dnsmasq_running(conf->dir))
		return 0;
	if (!prog || !prog[0])
		prog = "dnsmasq";
	lf = unik_path_join(conf->dir, LEASE_FILE);
	logf = unik_path_join(conf->dir, LOG_FILE);
	a_lease = xasprintf("--dhcp-leasefile=%s", lf);
	a_log = xasprintf("--log-facility=%s", logf);
	a_if = xasprintf("--interface=%s", conf->bridge);
	a_range = xasprintf("--dhcp-range=%s,%s,%s,%s", conf->first, conf->last, conf->netmask,
	                    LEASE_TIME);
	a_router = xasprintf("--dhcp-option=option:router,%s", conf->router);
	a_exc = xstrdup("--except-interface=lo");
	{
		const char *argv[] = {prog,
		                      "--conf-file=/dev/null",
		                      "--port=0",
		                      "--bind-interfaces",
		                      a_if,
		                      a_exc,
		                      a_range,
		                      a_router,
		                      "--dhcp-authoritative",
		                      a_lease,
		                      a_pid,
		                      a_log,
		                      "--log-dhcp",
		                      NULL};

		efd = open(errf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (efd < 0) {
			unik_error_set(err, UNIK_E_IO, "open %s: %s", errf, strerror(errno));
			return -1;
		}
		o.stdin_fd = UNIK_SPAWN_DEVNULL;
		o.stdout_fd = UNIK_SPAWN_DEVNULL;
		o.stderr_fd = efd;
		if (unik_spawn(argv, &o, &status, err) < 0) {
			close(efd);
			if (err && err->code == UNIK_E_NOTFOUND)
				unik_error_set(
				    err, UNIK_E_NOTFOUND,
				    "dnsmasq (%s) is not installed or not in the daemon's "
				    "PATH: install Debian's dnsmasq-base, or name it with $%s",
				    prog, UNIK_DNSMASQ_ENV);
			else
				unik_error_prefix(err, "dnsmasq");
			return -1;
		}
		close(efd);
	}
	if (status != 0) {
		_cleanup_free_ char *msg = NULL;

		if (unik_read_file(errf, &msg, NULL, NULL) == 0)
			msg[strcspn(msg, "\n")] = '\0';
		unik_error_set(err, UNIK_E_IO, "dnsmasq on %s exited with status %d: %.300s",
		               conf->bridge, status, msg && msg[0] ? msg : "(it said nothing)");
		return -1;
	}
	if (!unik_dnsmasq_running(conf->dir)) {
		unik_error_set(
		    err, UNIK_E_IO,
		    "dnsmasq on %s said it started, but no dnsmasq runs with pid file %s",
		    conf->bridge, pidf);
		return -1;
	}
	return 0;
}

int unik_dnsmasq_stop(const char *dir, struct unik_error *err)
{
	pid_t pid = unik_dnsmasq_running(dir);
	int64_t until;

	if (!pid)
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		unik_error_set(err, unik_error_code_from_errno(errno), "stop dnsmasq (pid %d): %s",
		               (int)pid, strerror(errno));
		return -1;
	}
	until = unik_now_ms() + 5000;
	for (bool killed = false; unik_dnsmasq_running(dir) == pid;) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (unik_now_ms() > until) {
			if (killed) {
				unik_error_set(err, UNIK_E_IO,
				               "dnsmasq (pid %d) is still there 5 s after SIGKILL",
				               (int)pid);
				return -1;
			}
			kill(pid, SIGKILL);
			killed = true;
			until = unik_now_ms() + 5000;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

int unik_dnsmasq_lease(const char *dir, const char *mac, char *ip, size_t len)
{
	_cleanup_free_ char *path = unik_path_join(dir, LEASE_FILE);
	_cleanup_fclose_ FILE *f = NULL;
	char line[512];

	if (!mac || !mac[0])
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* "EXPIRY MAC IP HOSTNAME CLIENT-ID", one lease a line. */
	while (fgets(line, sizeof(line), f)) {
		char m[64], a[64];

		if (sscanf(line, "%*s %63s %63s", m, a) == 2 && strcasecmp(m, mac) == 0) {
			snprintf(ip, len, "%s", a);
			return 0;
		}
	}
	return -1;
}
