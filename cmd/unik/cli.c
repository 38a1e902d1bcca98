/* The unik CLI's plumbing: finding the daemon (and starting one on the default socket when none
 * answers, so a newcomer's first command just works), requests with their errors printed, and
 * output as aligned tables or JSON. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik/cli.h"
#include "lib/cmdline.h"

#define AUTOSTART_WAIT_MS 10000
#define AUTOSTART_POLL_MS 5

volatile sig_atomic_t cli_interrupted;

static void on_signal(int sig)
{
	cli_interrupted = sig;
}

void cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

char *cli_home(void)
{
	const char *h = getenv("UNIK_HOME");
	const char *home = getenv("HOME");

	if (h && *h)
		return xstrdup(h);
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	return unik_path_join(home, ".unik");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !cli_interrupted)
		;
}

static void print_log_tail(const char *log)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	const char *start;
	int lines = 0;

	if (unik_read_file(log, &text, &len, NULL) < 0 || len == 0)
		return;
	start = text + len;
	while (start > text && lines <= 10)
		if (*--start == '\n')
			lines++;
	if (*start == '\n')
		start++;
	fprintf(stderr, "unik: the end of %s:\n%s", log, start);
	if (text[len - 1] != '\n')
		fputc('\n', stderr);
}

/* Whether the daemon we started has finished starting: it writes daemon.pid last, after
 * recovering its state, and a request served before that could race with the recovery. */
static bool daemon_ready(const char *home, pid_t pid, time_t started)
{
	_cleanup_free_ char *path = unik_path_join(home, "daemon.pid");
	_cleanup_free_ char *text = NULL;
	struct stat st;

	if (unik_read_file(path, &text, NULL, NULL) < 0)
		return false;
	if (atoi(text) == (int)pid)
		return true;
	return stat(path, &st) == 0 && st.st_mtime >= started;
}

int cli_start_daemon(const char *home, const char *sock, const struct strv *args,
                     struct unik_error *err)
{
	_cleanup_free_ char *log = unik_path_join(home, "daemon.log");
	_cleanup_close_ int logfd = -1;
	int pfd[2];
	pid_t child, daemon_pid = 0;
	int status;
	long deadline;
	time_t started = time(NULL);

	if (mkdir(home, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create `%s`", home);
		return -1;
	}
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		unik_error_sys(err, errno, "open `%s`", log);
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "pipe");
		return -1;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		unik_error_sys(err, errno, "fork");
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		pid_t gc;

		close(pfd[0]);
		setsid();
		gc = fork();
		if (gc == 0) {
			_cleanup_strv_ struct strv argv = {0};
			int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			if (null >= 0)
				dup2(null, 0);
			dup2(logfd, 1);
			dup2(logfd, 2);
			strv_push(&argv, "unik");
			strv_push(&argv, "daemon");
			if (args)
				strv_extend(&argv, args);
			execv("/proc/self/exe", (char *const *)strv_argv(&argv));
			dprintf(2, "unik: cannot run /proc/self/exe daemon: %s\n", strerror(errno));
			_exit(127);
		}
		if (gc > 0)
			unik_write_all(pfd[1], &gc, sizeof(gc));
		_exit(gc > 0 ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &daemon_pid, sizeof(daemon_pid)) != (ssize_t)sizeof(daemon_pid))
		daemon_pid = 0;
	close(pfd[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (daemon_pid <= 0) {
		unik_error_set(err, UNIK_E_IO, "could not start `unik daemon`");
		return -1;
	}
	deadline = unik_now_ms() + AUTOSTART_WAIT_MS;
	for (;;) {
		if (unik_client_probe_socket(sock) == 0 && daemon_ready(home, daemon_pid, started))
			break;
		if (kill(daemon_pid, 0) < 0 && errno == ESRCH) {
			unik_error_set(err, UNIK_E_IO,
			               "the daemon it started (`unik daemon`) exited");
			print_log_tail(log);
			return -1;
		}
		if (cli_interrupted) {
			unik_error_set(err, UNIK_E_IO, "interrupted while waiting for the daemon");
			return -1;
		}
		if (unik_now_ms() > deadline) {
			unik_error_set(
			    err, UNIK_E_IO,
			    "the daemon it started (pid %d) does not answer on %s after %d s",
			    (int)daemon_pid, sock, AUTOSTART_WAIT_MS / 1000);
			print_log_tail(log);
			return -1;
		}
		sleep_ms(AUTOSTART_POLL_MS);
	}
	fprintf(stderr, "unik: started the daemon (log: %s)\n", log);
	return 0;
}

struct unik_client *cli_client(struct cli *cli)
{
	_cleanup_free_ char *home = NULL, *cfg_path = NULL, *cfg_host = NULL, *sock = NULL,
	                    *base = NULL;
	const char *host = cli->host;
	const char *token = cli->token;
	const char *retry = cli->retry_timeout;
	long retry_ms = UNIK_CLIENT_RETRY_DEFAULT_MS;
	struct unik_error err = {0};

	if (cli->client)
		return cli->client;
	if (!retry || !*retry)
		retry = getenv("UNIK_RETRY_TIMEOUT");
	if (retry && *retry && unik_client_parse_retry(retry, &retry_ms, &err) < 0) {
		fprintf(stderr, "unik: %s: %s\n",
		        cli->retry_timeout && *cli->retry_timeout ? "--retry-timeout"
		                                                  : "UNIK_RETRY_TIMEOUT",
		        err.msg);
		return NULL;
	}
	if (!token || !*token)
		token = getenv("UNIK_TOKEN");
	if (!host || !*host)
		host = getenv("UNIK_HOST");
	home = cli_home();
	if (!host || !*host) {
		cfg_path = unik_path_join(home, "client-config.yaml");
		if (unik_client_config_load(cfg_path, &cfg_host, &err) < 0) {
			fprintf(stderr, "unik: %s\n", err.msg);
			return NULL;
		}
		host = cfg_host;
	}
	if (host && *host) {
		if (unik_client_parse_host(host, &sock, &base, &err) < 0) {
			fprintf(stderr, "unik: %s\n", err.msg);
			return NULL;
		}
	} else {
		int why;

		sock = unik_path_join(home, "daemon.sock");
		why = unik_client_probe_socket(sock);
		if ((why == ENOENT || why == ECONNREFUSED) && !cli->no_autostart &&
		    cli_start_daemon(home, sock, NULL, &err) < 0) {
			fprintf(stderr,
			        "unik: cannot reach the unik daemon at unix socket %s, and %s\n",
			        sock, err.msg);
			return NULL;
		}
	}
	cli->client = unik_client_new(sock, base, token);
	unik_client_set_cancel(cli->client, &cli_interrupted);
	unik_client_set_retry(cli->client, retry_ms);
	return cli->client;
}

int cli_fail(const struct unik_error *err)
{
	bool color = cli_color(2);

	fprintf(stderr, "%sunik:%s %s\n", color ? CLI_BOLD CLI_RED : "", color ? CLI_RESET : "",
	        err->msg);
	return CLI_FAILED;
}

json_t *cli_request(struct cli *cli, const char *method, const char *path, json_t *body)
{
	struct unik_client *c = cli_client(cli);
	struct unik_error err = {0};
	json_t *out = NULL;

	if (!c)
		return NULL;
	if (unik_client_json(c, method, path, body, &out, &err) < 0) {
		cli_fail(&err);
		return NULL;
	}
	return out;
}

int cli_each_ref(struct cli *cli, const struct strv *refs, const char *method, const char *fmt,
                 const char *query)
{
	json_t *all = json_array();
	int rc = CLI_OK;

	for (size_t i = 0; i < refs->n; i++) {
		_cleanup_free_ char *p = cli_path(fmt, refs->v[i]);
		_cleanup_free_ char *full = xasprintf("%s%s", p, query ? query : "");
		json_t *j = cli_request(cli, method, full, NULL);

		if (!j) {
			rc = CLI_FAILED;
			if (!cli->client)
				break;
			continue;
		}
		if (cli->json && json_is_null(j))
			json_array_append_new(all, json_string(refs->v[i]));
		else if (cli->json)
			json_array_append(all, j);
		else
			printf("%s\n", refs->v[i]);
		json_decref(j);
	}
	if (cli->json)
		cli_print_json(all);
	json_decref(all);
	return rc;
}

static int to_stdout(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	if (fwrite(data, 1, len, stdout) != len)
		return 1;
	fflush(stdout);
	return 0;
}

int cli_stream_to_stdout(struct cli *cli, const char *path)
{
	struct unik_client *c = cli_client(cli);
	struct unik_error err = {0};
	int r;

	if (!c)
		return -1;
	r = unik_client_stream(c, "GET", path, to_stdout, NULL, &err);
	fflush(stdout);
	if (r < 0) {
		if (!cli_interrupted)
			cli_fail(&err);
		return -1;
	}
	return 0;
}

long cli_parse_mem(const char *s)
{
	char *end = NULL;
	long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'G' || *end == 'g') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v <= 0 || v > (1LL << 30))
		return -1;
	return (long)v;
}

json_t *cli_env_object(const struct cli *cli, const struct strv *env)
{
	json_t *o = json_object();

	for (size_t i = 0; i < env->n; i++) {
		const char *w = env->v[i], *eq = strchr(w, '=');
		_cleanup_free_ char *name = eq ? xstrndup(w, (size_t)(eq - w)) : xstrdup(w);
		const char *value = eq ? eq + 1 : getenv(name);

		if (!unik_env_name_valid(name, strlen(name))) {
			cli_usage_error(cli,
			                "--env `%s`: want NAME=VALUE with NAME a letter or `_` "
			                "followed by letters, digits or `_`",
			                w);
			json_decref(o);
			return NULL;
		}
		if (!value) {
			cli_usage_error(cli, "--env `%s`: no `=VALUE`, and $%s is not set", w,
			                name);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, name, json_string(value));
	}
	return o;
}

json_t *cli_strv_json(const struct strv *words)
{
	json_t *a = json_array();

	for (size_t i = 0; i < words->n; i++)
		json_array_append_new(a, json_string(words->v[i]));
	return a;
}

json_t *cli_provider_opts(const struct cli *cli, const struct strv *words)
{
	json_t *o = json_object();

	for (size_t i = 0; i < words->n; i++) {
		const char *w = words->v[i], *eq = strchr(w, '=');
		_cleanup_free_ char *key = eq ? xstrndup(w, (size_t)(eq - w)) : NULL;

		if (!key || !*key ||
		    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(key)) {
			cli_usage_error(
			    cli,
			    "--provider-opt `%s`: want KEY=VALUE, with KEY in lower "
			    "case (see unik providers -o json for each provider's keys)",
			    w);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, key, json_string(eq + 1));
	}
	return o;
}

char *cli_path(const char *fmt, const char *ref)
{
	_cleanup_free_ char *esc = unik_client_escape(ref);

	return xasprintf(fmt, esc);
}

/* ------------------------------------------------------------------------------------------- */
/* Output */

void cli_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

static const json_t *lookup(const json_t *row, const char *field)
{
	_cleanup_free_ char *copy = xstrdup(field);
	char *save = NULL;
	const json_t *j = row;

	for (char *tok = strtok_r(copy, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
		j = json_object_get(j, tok);
	return j;
}

static const char *scalar_text(const json_t *v, char *buf, size_t len)
{
	if (!v || json_is_null(v))
		return "";
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else if (json_is_array(v)) {
		size_t i, used = 0;
		json_t *e;

		buf[0] = '\0';
		json_array_foreach(v, i, e)
		{
			char one[256];
			const char *t = scalar_text(e, one, sizeof(one));
			int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", t);

			if (w < 0 || (size_t)w >= len - used)
				break;
			used += (size_t)w;
		}
	} else {
		char *s = json_dumps(v, JSON_COMPACT);

		snprintf(buf, len, "%s", s ? s : "");
		free(s);
	}
	return buf;
}

const char *cli_field(const json_t *row, const char *field, char *buf, size_t len)
{
	return scalar_text(lookup(row, field), buf, len);
}

void cli_human_size(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", bytes);
	else
		snprintf(buf, len, "%.1f %s", bytes, units[u]);
}

const char *cli_fmt_size(const json_t *row, const char *field, char *buf, size_t len)
{
	const json_t *v = lookup(row, field);

	if (!json_is_number(v))
		return scalar_text(v, buf, len);
	cli_human_size(json_number_value(v), buf, len);
	return buf;
}

const char *cli_fmt_age(const json_t *row, const char *field, char *buf, size_t len)
{
	const char *s = json_string_value(lookup(row, field));
	struct tm tm;
	time_t then, now = time(NULL);
	long d;

	memset(&tm, 0, sizeof(tm));
	if (!s || !*s)
		return "";
	if (!strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return s;
	then = timegm(&tm);
	d = (long)difftime(now, then);
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, len, "%ld second%s ago", d, d == 1 ? "" : "s");
	else if (d < 3600)
		snprintf(buf, len, "%ld minute%s ago", d / 60, d / 60 == 1 ? "" : "s");
	else if (d < 86400)
		snprintf(buf, len, "%ld hour%s ago", d / 3600, d / 3600 == 1 ? "" : "s");
	else if (d < 60 * 86400)
		snprintf(buf, len, "%ld day%s ago", d / 86400, d / 86400 == 1 ? "" : "s");
	else if (d < 365 * 86400)
		snprintf(buf, len, "%ld months ago", d / (30 * 86400));
	else
		snprintf(buf, len, "%ld year%s ago", d / (365 * 86400),
		         d / (365 * 86400) == 1 ? "" : "s");
	return buf;
}

const char *cli_fmt_list(const json_t *row, const char *field, char *buf, size_t len)
{
	return scalar_text(lookup(row, field), buf, len);
}

static void short_size(double bytes, char *buf, size_t len)
{
	if (bytes < 1024)
		snprintf(buf, len, "%.0fB", bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, len, "%.0fK", bytes / 1024);
	else if (bytes < 1024.0 * 1024 * 1024)
		snprintf(buf, len, "%.1fM", bytes / (1024 * 1024));
	else
		snprintf(buf, len, "%.1fG", bytes / (1024.0 * 1024 * 1024));
}

const char *cli_fmt_formats(const json_t *row, const char *field, char *buf, size_t len)
{
	const json_t *f = lookup(row, field);
	const char *k;
	json_t *v;
	size_t used = 0;

	buf[0] = '\0';
	if (!json_is_object(f))
		return buf;
	json_object_foreach((json_t *)f, k, v)
	{
		const json_t *sz = json_object_get(v, "size_bytes");
		char s[32] = "?";
		int w;

		if (json_is_number(sz))
			short_size(json_number_value(sz), s, sizeof(s));
		w = snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "", k, s);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

const char *cli_color_when;

bool cli_color(int fd)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (cli_color_when && !strcmp(cli_color_when, "always"))
		return true;
	if (cli_color_when && !strcmp(cli_color_when, "never"))
		return false;
	if (nc && *nc)
		return false;
	if (term && !strcmp(term, "dumb"))
		return false;
	return isatty(fd);
}

const char *cli_state_color(const char *word)
{
	static const struct {
		const char *prefix, *esc;
	} colors[] = {
	    {"running", "\033[32m"}, {"yes", "\033[32m"},         {"succeeded", "\033[32m"},
	    {"exited (0)", ""},      {"exited", "\033[33m"},      {"stopped", "\033[33m"},
	    {"pending", "\033[36m"}, {"starting", "\033[36m"},    {"crashed", "\033[31m"},
	    {"failed", "\033[31m"},  {"unavailable", "\033[31m"}, {"error", "\033[31m"},
	};

	for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		if (!strncmp(word, colors[i].prefix, strlen(colors[i].prefix)))
			return colors[i].esc;
	return "";
}

size_t cli_width(void)
{
	const char *c = getenv("COLUMNS");
	struct winsize ws;

	if (c && *c) {
		char *end;
		long n = strtol(c, &end, 10);

		if (!*end && n >= 20 && n <= 10000)
			return (size_t)n;
	}
	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

size_t cli_text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Where a cell may be cut: after a space, a comma or a semicolon (the end of a word). */
static bool word_end(const char *p)
{
	return *p == ' ' || *p == ',' || *p == ';';
}

char *cli_ellipsize(const char *s, size_t width)
{
	size_t cols = 0;
	const char *p, *cut = NULL;

	if (cli_text_width(s) <= width)
		return xstrdup(s);
	/* The last word end that leaves room for the ellipsis. */
	for (p = s; *p && cols + 1 <= width; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (word_end(p) && p > s)
			cut = p;
		cols++;
	}
	if (!cut) {
		/* One long word: kept whole up to its end, then the ellipsis. */
		for (cut = s; *cut && !word_end(cut); cut++)
			;
		if (!*cut)
			return xstrdup(s);
	}
	while (cut > s && (word_end(cut - 1) || cut[-1] == '-' || cut[-1] == '('))
		cut--;
	return xasprintf("%.*s…", (int)(cut - s), s);
}

/* A column at most this wide is cut only when cutting the wider ones is not enough. */
#define SHORT_COLUMN 14

/* A column of state words: coloured, and never cut. */
static bool state_column(const struct cli_column *col)
{
	return !strcmp(col->heading, "STATE") || !strcmp(col->heading, "AVAILABLE");
}

/* The width below which a column is not cut: its heading, and each cell's first word with its
 * ellipsis (a cell is never cut inside a word). */
static size_t min_width(char **cells, size_t nrows, size_t ncols, size_t c, bool whole)
{
	size_t w = cli_text_width(cells[c]);

	for (size_t r = 1; r <= nrows; r++) {
		const char *t = cells[r * ncols + c];
		size_t n = whole ? cli_text_width(t) : 0;

		if (!whole) {
			while (t[n] && !word_end(t + n))
				n++;
			n = t[n] ? n + 1 : n;
		}
		if (n > w)
			w = n;
	}
	return w;
}

void cli_print_table(const struct cli *cli, const json_t *rows, const struct cli_column *cols,
                     size_t ncols)
{
	size_t nrows = json_is_array(rows) ? json_array_size(rows) : 0;
	_cleanup_free_ size_t *width = xcalloc(ncols, sizeof(*width));
	_cleanup_free_ size_t *floor = xcalloc(ncols, sizeof(*floor));
	_cleanup_free_ size_t *natural = xcalloc(ncols, sizeof(*natural));
	_cleanup_free_ char **cells = xcalloc((nrows + 1) * ncols, sizeof(*cells));
	bool color = cli_color(1);
	size_t total = 0, avail = cli_width(), gap = 3;

	if (cli->json) {
		cli_print_json(rows);
		return;
	}
	for (size_t c = 0; c < ncols; c++)
		cells[c] = xstrdup(cols[c].heading);
	for (size_t r = 0; r < nrows; r++) {
		const json_t *row = json_array_get(rows, r);

		for (size_t c = 0; c < ncols; c++) {
			char buf[512];
			const char *t = cols[c].format
			                    ? cols[c].format(row, cols[c].field, buf, sizeof(buf))
			                    : cli_field(row, cols[c].field, buf, sizeof(buf));
			char *one = xstrdup(t);

			/* A cell is one line. */
			for (char *p = one; *p; p++)
				if (*p == '\n' || *p == '\t' || *p == '\r')
					*p = ' ';
			cells[(r + 1) * ncols + c] = one;
		}
	}
	for (size_t i = 0; i < (nrows + 1) * ncols; i++)
		if (cli_text_width(cells[i]) > width[i % ncols])
			width[i % ncols] = cli_text_width(cells[i]);
	for (size_t c = 0; c < ncols; c++) {
		natural[c] = width[c];
		floor[c] = min_width(cells, nrows, ncols, c, state_column(&cols[c]));
		total += width[c] + (c + 1 < ncols ? gap : 0);
	}
	/* Three spaces between columns, two when that saves cutting. */
	if (!cli->no_trunc && total > avail && ncols > 1) {
		total -= ncols - 1;
		gap = 2;
	}
	/* Too wide: narrow the widest column that can still give, one column at a time; short
	 * columns (an id, an age) only once the long ones cannot give any more. */
	for (int pass = 0; pass < 2; pass++) {
		while (!cli->no_trunc && total > avail) {
			size_t best = ncols;

			for (size_t c = 0; c < ncols; c++) {
				size_t least = floor[c];

				if (pass == 0 && natural[c] <= SHORT_COLUMN)
					least = natural[c];
				if (width[c] > least && (best == ncols || width[c] > width[best]))
					best = c;
			}
			if (best == ncols)
				break;
			width[best]--;
			total--;
		}
	}
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			_cleanup_free_ char *t =
			    cli->no_trunc ? xstrdup(cells[r * ncols + c])
			                  : cli_ellipsize(cells[r * ncols + c], width[c]);
			const char *esc =
			    r && color && state_column(&cols[c]) ? cli_state_color(t) : "";
			size_t w = cli_text_width(t);

			fputs(esc, stdout);
			fputs(t, stdout);
			if (*esc)
				fputs(CLI_RESET, stdout);
			if (c + 1 < ncols)
				printf("%*s", (int)(width[c] - (w < width[c] ? w : width[c]) + gap),
				       "");
		}
		putchar('\n');
	}
	for (size_t i = 0; i < (nrows + 1) * ncols; i++)
		free(cells[i]);
}

void cli_print_ids(const json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));

		if (!id)
			id = json_string_value(json_object_get(row, "name"));
		if (id)
			printf("%s\n", id);
	}
}

static void flatten(const json_t *obj, const char *prefix, struct strv *keys, struct strv *vals)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v)
	{
		_cleanup_free_ char *key = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);

		if (json_is_object(v) && json_object_size(v) > 0) {
			flatten(v, key, keys, vals);
		} else {
			char buf[1024];

			strv_push(keys, key);
			strv_push(vals, json_is_object(v) ? "" : scalar_text(v, buf, sizeof(buf)));
		}
	}
}

void cli_print_object(const struct cli *cli, const json_t *obj)
{
	_cleanup_strv_ struct strv keys = {0}, vals = {0};
	size_t w = 0;

	if (cli->json || !json_is_object(obj)) {
		cli_print_json(obj);
		return;
	}
	flatten(obj, "", &keys, &vals);
	for (size_t i = 0; i < keys.n; i++)
		if (strlen(keys.v[i]) > w)
			w = strlen(keys.v[i]);
	for (size_t i = 0; i < keys.n; i++)
		printf("%s:%*s  %s\n", keys.v[i], (int)(w - strlen(keys.v[i])), "", vals.v[i]);
}

int cli_list_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                  const char *path, const struct cli_column *cols, size_t ncols)
{
	_cleanup_strv_ struct strv pos = {0};
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, "print only the ids, one a line"},
	};
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	if (!(j = cli_request(cli, "GET", path, NULL)))
		return CLI_FAILED;
	if (quiet && !cli->json)
		cli_print_ids(j);
	else
		cli_print_table(cli, j, cols, ncols);
	json_decref(j);
	return CLI_OK;
}

int cli_describe_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                      const char *flags, const char *noun, const char *collection)
{
	const char *ref = NULL;
	_cleanup_free_ char *meta = xstrdup(noun);
	for (char *c = meta; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	_cleanup_free_ char *what = xasprintf("the %s", noun);
	const struct cli_opt opts[] = {
	    {0, flags, CLI_OPT_STR, &ref, meta, what},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, help, &pos, &rc))
		return rc;
	if (!ref && pos.n == 1)
		ref = pos.v[0];
	else if (pos.n > (ref ? 0u : 1u))
		return cli_usage_error(cli, "takes one %s (got `%s` too)", noun, pos.v[pos.n - 1]);
	if (!ref)
		return cli_usage_error(cli, "which %s? (%s)", noun, help->usage);
	_cleanup_free_ char *esc = unik_client_escape(ref);
	path = xasprintf("%s/%s", collection, esc);
	if (!(j = cli_request(cli, "GET", path, NULL)))
		return CLI_FAILED;
	cli_print_object(cli, j);
	json_decref(j);
	return CLI_OK;
}

int cli_instance_action_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                             const char *action)
{
	const char *inst = NULL;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	};
	_cleanup_strv_ struct strv refs = {0};
	_cleanup_free_ char *path = xasprintf("/v1/instances/%%s/%s", action);
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, help, &refs, &rc))
		return rc;
	if (inst)
		strv_push(&refs, inst);
	if (!refs.n)
		return cli_usage_error(cli, "which instance? (unik %s INSTANCE...)", action);
	return cli_each_ref(cli, &refs, "POST", path, "");
}

/* Where cli_download writes, and how far it got. */
struct download_sink {
	int fd;
	uint64_t written, total;
	bool progress;
	int last_pct;
	int err; /* errno of a failed write */
	const char *what;
};

static int download_to(void *ctx, const char *data, size_t len)
{
	struct download_sink *s = ctx;

	if (unik_write_all(s->fd, data, len) < 0) {
		s->err = errno;
		return 1;
	}
	s->written += len;
	if (s->progress && s->total) {
		int pct = (int)(s->written * 100 / s->total);
		char a[32], b[32];

		if (pct != s->last_pct) {
			s->last_pct = pct;
			cli_human_size((double)s->written, a, sizeof(a));
			cli_human_size((double)s->total, b, sizeof(b));
			fprintf(stderr, "\r%s: %s of %s (%d%%)   ", s->what, a, b, pct);
		}
	}
	return 0;
}

int cli_download(struct cli *cli, const char *path, const char *dest, uint64_t total,
                 const char *what, uint64_t *written)
{
	struct download_sink s = {.fd = 1, .total = total, .last_pct = -1, .what = what};
	_cleanup_atomic_file_ struct unik_atomic_file af = {.fd = -1};
	struct unik_error err = {0};
	int rc;

	if (dest) {
		if (unik_atomic_file_open(&af, dest, &err) < 0)
			return cli_fail(&err), -1;
		s.fd = af.fd;
		s.progress = isatty(2) && total >= (1u << 20);
	}
	if (!cli_client(cli))
		return -1;
	rc = unik_client_stream(cli->client, "GET", path, download_to, &s, &err);
	if (s.progress && s.last_pct >= 0)
		fputc('\n', stderr);
	*written = s.written;
	if (rc != 0) {
		if (rc > 0)
			fprintf(stderr, "unik: write `%s`: %s\n", dest ? dest : "stdout",
			        strerror(s.err));
		else if (!cli_interrupted)
			cli_fail(&err);
		return -1;
	}
	if (total && s.written != total) {
		fprintf(stderr,
		        "unik: the daemon sent %llu bytes of %llu: the copy is incomplete\n",
		        (unsigned long long)s.written, (unsigned long long)total);
		return -1;
	}
	if (dest) {
		/* 0666 less the umask, as any file a command creates. */
		mode_t um = umask(0);

		umask(um);
		if (unik_atomic_file_commit(&af, dest, 0666 & ~um, &err) < 0)
			return cli_fail(&err), -1;
	}
	return 0;
}

int cli_subverb(struct cli *cli, int argc, char **argv, const char *noun, const char *blurb,
                const struct cli_subverb *subs)
{
	const char *cands[16];
	size_t n = 0;
	const char *sub = argc > 1 ? argv[1] : NULL, *guess;

	if (sub && cli_help_json() && (!strcmp(sub, "-h") || !strcmp(sub, "--help"))) {
		json_t *a = json_array();

		for (const struct cli_subverb *s = subs; s->name; s++)
			json_array_append_new(a, json_pack("{s:s, s:s?, s:s}", "name", s->name,
			                                   "alias", s->alias, "what", s->what));
		json_t *j =
		    json_pack("{s:s, s:s, s:o}", "verb", noun, "text", blurb, "subcommands", a);

		cli_print_json(j);
		json_decref(j);
		return CLI_OK;
	}
	if (!sub || strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		FILE *f = sub ? stdout : stderr;

		fprintf(f, "Usage: unik %s COMMAND [options]\n\n%s\n\nCommands:\n", noun, blurb);
		for (const struct cli_subverb *s = subs; s->name; s++)
			fprintf(f, "  %-8s %s\n", s->name, s->what);
		fprintf(f, "\nRun `unik %s COMMAND --help` for a command's options.\n", noun);
		return sub ? CLI_OK : CLI_USAGE;
	}
	for (const struct cli_subverb *s = subs; s->name && n < 16; s++) {
		if (strcmp(sub, s->name) == 0 || (s->alias && strcmp(sub, s->alias) == 0))
			return s->fn(cli, argc - 1, argv + 1);
		cands[n++] = s->name;
	}
	guess = cli_did_you_mean(sub, cands, n);
	if (guess)
		return cli_usage_error(cli, "unknown command `%s` (did you mean `%s`?)", sub,
		                       guess);
	return cli_usage_error(cli, "unknown command `%s` (see unik %s --help)", sub, noun);
}

int cli_one_name(struct cli *cli, const struct strv *pos, const char **name, const char *usage)
{
	if (!*name && pos->n == 1)
		*name = pos->v[0];
	else if (pos->n > (*name ? 0u : 1u))
		return cli_usage_error(cli, "takes one NAME (got `%s` too)", pos->v[pos->n - 1]);
	if (!*name)
		return cli_usage_error(cli, "which name? (%s)", usage);
	return 0;
}
