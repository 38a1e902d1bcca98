/* How a guest ended, read from its console: the last "unik: exit status N" line is authoritative
 * (docs/guest-abi.md), and "unik: crash: " lines mark a crash. */
#include "lib/guest_console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

#define EXIT_PREFIX  "unik: exit status "
#define CRASH_PREFIX "unik: crash: "

/* A crash report and its exit line are a few hundred bytes; the tail also has to survive an
 * application that printed a long line just before the end. */
#define CONSOLE_TAIL 65536

static int parse_status(const char *s, size_t len)
{
	int n = 0;

	if (len == 0 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n <= 255 ? n : -1;
}

static void parse_line(const char *line, size_t len, struct unik_console_end *out)
{
	size_t ep = strlen(EXIT_PREFIX), cp = strlen(CRASH_PREFIX);

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > ep && !memcmp(line, EXIT_PREFIX, ep)) {
		int n = parse_status(line + ep, len - ep);

		if (n >= 0)
			out->exit_status = n;
	} else if (len >= cp && !memcmp(line, CRASH_PREFIX, cp)) {
		if (!out->crashed) {
			size_t n = len;

			if (n >= sizeof(out->crash_line))
				n = sizeof(out->crash_line) - 1;
			memcpy(out->crash_line, line, n);
			out->crash_line[n] = '\0';
		}
		out->crashed = true;
	}
}

void unik_console_parse(const char *text, size_t len, struct unik_console_end *out)
{
	const char *p = text, *end = text + len;

	out->exit_status = -1;
	out->crashed = false;
	out->crash_line[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		/* A last line without its newline counts: it is only read once the VM has ended. */
		if (!nl)
			nl = end;
		parse_line(p, (size_t)(nl - p), out);
		p = nl + 1;
	}
}

off_t unik_console_start(const char *dir)
{
	_cleanup_free_ char *path = unik_path_join(dir, UNIK_CONSOLE_START_FILE);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (unik_read_file(path, &text, &len, NULL) < 0)
		return 0;
	return (off_t)strtoll(text, NULL, 10);
}

void unik_console_read_end(const char *dir, struct unik_console_end *out)
{
	_cleanup_free_ char *path = unik_path_join(dir, UNIK_CONSOLE_FILE);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	off_t off = 0;
	ssize_t n;
	size_t got = 0, want;
	const char *start;

	unik_console_parse("", 0, out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	if (st.st_size > CONSOLE_TAIL)
		off = st.st_size - CONSOLE_TAIL;
	/* A restarted instance appends to its console: only this run's output counts. */
	off_t run_start = unik_console_start(dir);
	bool at_line = false;
	if (run_start > off && run_start <= st.st_size) {
		off = run_start;
		at_line = true;
	}
	want = (size_t)(st.st_size - off);
	buf = xmalloc(want + 1);
	while (got < want) {
		n = pread(fd, buf + got, want - got, off + (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	start = buf;
	if (off > 0 && !at_line) {
		/* Cut into the middle of a line: skip to the next whole one. */
		const char *nl = memchr(buf, '\n', got);

		if (!nl)
			return;
		start = nl + 1;
	}
	unik_console_parse(start, got - (size_t)(start - buf), out);
}

/* ---- the capped log -------------------------------------------------------------------------- */

/* How near the cap a newline ends the file: any line shorter than this that begins before it
 * lands whole in one file, so the runtime's ending lines are never split. */
#define ROTATE_SLACK 512

int unik_console_log_open(struct unik_console_log *l, const char *dir, long long max,
                          struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(dir, UNIK_CONSOLE_FILE);
	struct stat st;

	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (l->fd < 0 || fstat(l->fd, &st) < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		return -1;
	}
	l->dir = xstrdup(dir);
	l->size = (long long)st.st_size;
	l->times_ms = 0;
	{
		_cleanup_free_ char *tp = unik_path_join(dir, UNIK_CONSOLE_TIMES_FILE);

		/* Times are a help, not the log: a log without them is still written. */
		l->times_fd = open(tp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	l->max = max > 0 ? max : UNIK_CONSOLE_MAX_DEFAULT;
	/* A run that follows one which (nearly) filled the file starts a new one. */
	l->full = l->size >= l->max - ROTATE_SLACK;
	return 0;
}

static int rotate(struct unik_console_log *l)
{
	_cleanup_free_ char *path = unik_path_join(l->dir, UNIK_CONSOLE_FILE);
	_cleanup_free_ char *old = unik_path_join(l->dir, UNIK_CONSOLE_OLD_FILE);
	_cleanup_free_ char *start = unik_path_join(l->dir, UNIK_CONSOLE_START_FILE);
	int fd;

	if (rename(path, old) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(l->fd);
	l->fd = fd;
	l->size = 0;
	if (l->times_fd >= 0) {
		_cleanup_free_ char *tp = unik_path_join(l->dir, UNIK_CONSOLE_TIMES_FILE);
		_cleanup_free_ char *told = unik_path_join(l->dir, UNIK_CONSOLE_OLD_TIMES_FILE);

		close(l->times_fd);
		(void)rename(tp, told);
		l->times_fd = open(tp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		l->times_ms = 0;
	}
	/* This run's output now begins at the start of the new file. */
	(void)unik_write_file_atomic(start, "0\n", 2, 0644, NULL);
	return 0;
}

/* One "OFFSET MS" line for the bytes about to be written at l->size, unless the last one is
 * recent enough to stand for them. */
static void note_time(struct unik_console_log *l)
{
	struct timespec ts;
	long long now;
	char line[64];
	int w;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (l->times_fd < 0 || (l->times_ms && now - l->times_ms < UNIK_CONSOLE_TIMES_MS))
		return;
	w = snprintf(line, sizeof(line), "%lld %lld\n", l->size, now);
	if (w > 0 && unik_write_all(l->times_fd, line, (size_t)w) == 0)
		l->times_ms = now;
}

int unik_console_log_write(struct unik_console_log *l, const char *buf, size_t n)
{
	long long soft = l->max - ROTATE_SLACK;

	while (n > 0) {
		/* Rotated only once there is more to write, so console.log never ends up empty
		 * with the last lines (an exit line) in console.log.1. */
		if (l->full) {
			if (rotate(l) < 0)
				return -1;
			l->full = false;
		}
		size_t room = l->size < l->max ? (size_t)(l->max - l->size) : 0;
		size_t scan = n < room ? n : room, cut = n;
		bool full = false;

		/* The first newline past the soft mark ends this file. */
		for (size_t i = 0; i < scan; i++)
			if (buf[i] == '\n' && l->size + (long long)i + 1 >= soft) {
				cut = i + 1;
				full = true;
				break;
			}
		if (!full && n > room) {
			cut = room; /* a line longer than the slack: cut where the cap falls */
			full = true;
		}
		if (cut > 0) {
			note_time(l);
			if (unik_write_all(l->fd, buf, cut) < 0)
				return -1;
			l->size += (long long)cut;
			buf += cut;
			n -= cut;
		}
		l->full = full;
	}
	return 0;
}

void unik_console_log_close(struct unik_console_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->times_fd >= 0)
		close(l->times_fd);
	l->times_fd = -1;
	free(l->dir);
	l->dir = NULL;
}

int unik_console_max_parse(const char *what, const char *s, long long *out, struct unik_error *err)
{
	char *end;
	long long v, mult = 1 << 20;

	errno = 0;
	v = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
	if (v >= 0 && !errno) {
		if (!strcmp(end, "B"))
			mult = 1;
		else if (!strcmp(end, "K"))
			mult = 1 << 10;
		else if (!strcmp(end, "G"))
			mult = 1 << 30;
		else if (strcmp(end, "M") && *end)
			v = -1;
	}
	if (v < 0 || errno || v > (1LL << 50) / mult || v * mult < 4096) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "%s \"%.40s\": give a size of at least 4K, in MiB (\"16\") or with a "
		    "unit (\"512K\", \"16M\", \"1G\", \"65536B\")",
		    what, s ? s : "");
		return -1;
	}
	*out = v * mult;
	return 0;
}

/* ---- the times of the log -------------------------------------------------------------------- */

int unik_console_times_load(const char *dir, struct unik_console_time **out, size_t *n)
{
	_cleanup_free_ char *path = unik_path_join(dir, UNIK_CONSOLE_TIMES_FILE);
	_cleanup_free_ char *text = NULL;
	struct unik_console_time *t = NULL;
	size_t len = 0, cnt = 0, cap = 0;
	struct unik_error ignored;

	*out = NULL;
	*n = 0;
	if (unik_read_file(path, &text, &len, &ignored) < 0)
		return -1;
	for (char *p = text, *end; p && *p; p = end ? end + 1 : NULL) {
		long long off, ms;

		end = strchr(p, '\n');
		if (!end)
			break; /* a line being written */
		if (sscanf(p, "%lld %lld", &off, &ms) != 2 || (cnt && off < t[cnt - 1].off))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			t = xrealloc(t, cap * sizeof(*t));
		}
		t[cnt].off = off;
		t[cnt].ms = ms;
		cnt++;
	}
	*out = t;
	*n = cnt;
	return 0;
}

long long unik_console_time_at(const struct unik_console_time *t, size_t n, long long off)
{
	size_t lo = 0, hi = n;

	/* The last entry with t[i].off <= off. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? t[lo - 1].ms : -1;
}
