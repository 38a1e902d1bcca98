/* The fake provider (fake_provider.h): a simulated guest whose state lives in its instance
 * directory, and a log of every call, for the core's unit tests and the provider contract. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tests/lib/fake_provider.h"
#include "lib/devices.h"
#include "lib/kv.h"
#include "lib/util.h"

#define NAME      "fake"
#define CTX_MAGIC 0xfa4eu
#define ALL_CAPS                                                                                   \
	(UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK) |                     \
	 UNIK_DEVICE_BIT(UNIK_DEVICE_FS))
#define LOCK_FILE  "fake.lock"
#define CONSOLE    "console.log"
#define MAX_EVENTS 64

/* A context: which open() made it (its number in this process), the failure it was asked to
 * simulate, and the timer descriptors event_fd() handed out, kept as duplicates so stop() can
 * fire them whatever the caller did with its copy. */
struct fake_ctx {
	unsigned magic;
	unsigned id;
	char *fail;
	struct {
		char *dir;
		int fd;
	} events[MAX_EVENTS];
	size_t nevents;
};

static struct unik_fake_counts counts;
static unsigned next_ctx_id;
static char *log_path;

void unik_fake_set_caps(unsigned caps)
{
	unik_provider_fake.caps = caps;
}

void unik_fake_set_log(const char *path)
{
	free(log_path);
	log_path = path ? xstrdup(path) : NULL;
}

void unik_fake_counts(struct unik_fake_counts *out)
{
	*out = counts;
}

void unik_fake_reset(void)
{
	memset(&counts, 0, sizeof(counts));
	unik_fake_set_caps(ALL_CAPS);
	unik_fake_set_log(NULL);
}

/* ---- the call log ---------------------------------------------------------------------------- */

static void put_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\t')
			fputs("\\t", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else
			fputc(*s, f);
	}
}

/* One line: op, then "key", value, ... pairs up to a NULL key.  The line is written with one
 * write() on an O_APPEND descriptor, so lines of concurrent processes never interleave. */
static void log_call(const char *op, const struct fake_ctx *c, ...)
{
	const char *path = log_path ? log_path : getenv("UNIK_FAKE_LOG");
	_cleanup_free_ char *line = NULL;
	size_t len = 0;
	const char *key;
	va_list ap;
	FILE *f;

	if (!path || !*path)
		return;
	f = open_memstream(&line, &len);
	if (!f)
		abort();
	/* ctx 0: none, or not one of the fake's (check_ctx refuses the call after logging it). */
	fprintf(f, "%s\tpid=%d\tctx=%u", op, (int)getpid(), c && c->magic == CTX_MAGIC ? c->id : 0);
	va_start(ap, c);
	while ((key = va_arg(ap, const char *))) {
		fprintf(f, "\t%s=", key);
		put_escaped(f, va_arg(ap, const char *));
	}
	va_end(ap);
	fputc('\n', f);
	fclose(f);

	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, len) != (ssize_t)len)
		fprintf(stderr, "fake provider: cannot log to `%s`: %s\n", path, strerror(errno));
}

/* ---- context --------------------------------------------------------------------------------- */

static int check_ctx(void *ctx, const char *op, struct unik_error *err)
{
	struct fake_ctx *c = ctx;

	if (!c || c->magic != CTX_MAGIC) {
		unik_error_set(err, UNIK_E_INTERNAL,
		               "fake: %s called without the context open() made", op);
		return -1;
	}
	if (c->fail && !strcmp(c->fail, op)) {
		unik_error_set(err, UNIK_E_IO, "fake: %s fails, as asked (fail=%s)", op, op);
		return -1;
	}
	return 0;
}

static int fake_open(const char *const *opts, void **ctx, struct unik_error *err)
{
	const char *fail = unik_provider_opt(opts, UNIK_FAKE_OPT_FAIL);
	struct fake_ctx *c;

	if (fail && !strcmp(fail, "open")) {
		log_call("open", NULL, "result", "failed", NULL);
		unik_error_set(err, UNIK_E_IO, "fake: open fails, as asked (fail=open)");
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->magic = CTX_MAGIC;
	c->id = ++next_ctx_id;
	c->fail = fail ? xstrdup(fail) : NULL;
	counts.open++;
	counts.live_ctx++;
	log_call("open", c, NULL);
	*ctx = c;
	return 0;
}

static void fake_close(void *ctx)
{
	struct fake_ctx *c = ctx;

	if (!c)
		return;
	log_call("close", c, NULL);
	for (size_t i = 0; i < c->nevents; i++) {
		free(c->events[i].dir);
		close(c->events[i].fd);
	}
	free(c->fail);
	c->magic = 0;
	free(c);
	counts.close++;
	counts.live_ctx--;
}

static bool fake_available(const char *const *opts, char *reason, size_t reason_len)
{
	(void)opts;
	if (reason_len)
		reason[0] = '\0';
	return true;
}

/* ---- the simulated guest ----------------------------------------------------------------------
 */

/* An instance's record, read and written under an exclusive lock on <dir>/fake.lock, so two
 * processes never both write the guest's end. */
struct inst {
	int lock;
	char *path;
	struct unik_kv kv;
};

static void inst_close(struct inst *in)
{
	if (in->lock >= 0)
		close(in->lock); /* releases the flock */
	free(in->path);
	unik_kv_free(&in->kv);
	in->lock = -1;
	in->path = NULL;
}
#define _cleanup_inst_ _cleanup_(inst_close)

/* Locks and loads dir's record; with must_exist, a directory the fake never ran is
 * UNIK_E_NOTFOUND. */
static int inst_open(struct inst *in, const char *dir, bool must_exist, struct unik_error *err)
{
	_cleanup_free_ char *lock = unik_path_join(dir, LOCK_FILE);

	in->lock = -1;
	in->path = unik_path_join(dir, UNIK_FAKE_STATE_FILE);
	memset(&in->kv, 0, sizeof(in->kv));
	in->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (in->lock < 0) {
		unik_error_sys(err, errno, "fake: open `%s`", lock);
		return -1;
	}
	if (flock(in->lock, LOCK_EX) < 0) {
		unik_error_sys(err, errno, "fake: lock `%s`", lock);
		return -1;
	}
	if (unik_kv_load(in->path, &in->kv, err) < 0)
		return -1;
	if (must_exist && !unik_kv_find(&in->kv, "state")) {
		unik_error_set(err, UNIK_E_NOTFOUND, "fake: no instance in `%s`", dir);
		return -1;
	}
	return 0;
}

static long long kv_ll(const struct unik_kv *kv, const char *key, long long dflt)
{
	const char *v = unik_kv_find(kv, key);
	return v && *v ? strtoll(v, NULL, 10) : dflt;
}

static void kv_set_ll(struct unik_kv *kv, const char *key, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	unik_kv_set(kv, key, buf);
}

static int append_console(const char *dir, const char *text, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(dir, CONSOLE);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		unik_error_sys(err, errno, "fake: write `%s`", path);
		return -1;
	}
	return 0;
}

/* When the running guest ends, on the monotonic clock (the same in every process). */
static long long end_us(const struct unik_kv *kv)
{
	long long run_ms = kv_ll(kv, "run_ms", UNIK_FAKE_DEFAULT_RUN_MS);
	return run_ms < 0 ? -1 : kv_ll(kv, "started_us", 0) + run_ms * 1000;
}

/* Notes the guest's end if its time is up: the exit line in the console, the state saved. */
static int settle(struct inst *in, const char *dir, struct unik_error *err)
{
	const char *state = unik_kv_find(&in->kv, "state");
	long long end = end_us(&in->kv), code = kv_ll(&in->kv, "exit_code", 0);
	char line[96];

	if (!state || strcmp(state, "running") || end < 0 || unik_now_us() < end)
		return 0;
	if (code == 255)
		snprintf(line, sizeof(line),
		         "unik: crash: fake guest fault\nunik: exit status 255\n");
	else
		snprintf(line, sizeof(line), "unik: exit status %lld\n", code);
	if (append_console(dir, line, err) < 0)
		return -1;
	unik_kv_set(&in->kv, "state", code == 255 ? "crashed" : "exited");
	return unik_kv_save(in->path, &in->kv, err);
}

static void fill_status(const struct unik_kv *kv, struct unik_instance_status *st)
{
	const char *state = unik_kv_find(kv, "state");

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	st->state = UNIK_STATE_PENDING;
	if (!state)
		return;
	if (!strcmp(state, "running")) {
		st->state = UNIK_STATE_RUNNING;
	} else if (!strcmp(state, "exited")) {
		st->state = UNIK_STATE_EXITED;
		st->exit_code = (int)kv_ll(kv, "exit_code", 0);
	} else if (!strcmp(state, "crashed")) {
		st->state = UNIK_STATE_CRASHED;
		st->exit_code = 255;
		unik_status_detail(st, "unik: crash: fake guest fault");
	} else if (!strcmp(state, "stopped")) {
		st->state = UNIK_STATE_STOPPED;
		unik_status_detail(st, "stopped on request");
	}
	/* No process stands for the guest: pid stays 0, as the interface allows. */
	snprintf(st->handle, sizeof(st->handle), "fake-%s", unik_kv_find(kv, "id") ?: "");
	snprintf(st->handle_id, sizeof(st->handle_id), "run-%lld", kv_ll(kv, "runs", 0));
}

/* A (re)start of the guest: running from now, its boot line in the console. */
static int boot(struct inst *in, const char *dir, struct unik_error *err)
{
	_cleanup_free_ char *line = NULL;

	kv_set_ll(&in->kv, "runs", kv_ll(&in->kv, "runs", 0) + 1);
	kv_set_ll(&in->kv, "started_us", unik_now_us());
	unik_kv_set(&in->kv, "state", "running");
	line = xasprintf("fake: boot %lld of %s: %s\n", kv_ll(&in->kv, "runs", 0),
	                 unik_kv_find(&in->kv, "kernel"), unik_kv_find(&in->kv, "cmdline"));
	if (append_console(dir, line, err) < 0 ||
	    unik_write_text_in(dir, UNIK_FAKE_HELD_FILE, "held\n", err) < 0)
		return -1;
	return unik_kv_save(in->path, &in->kv, err);
}

/* "kind:name:key=value:..." for each device, ';' between them. */
static char *devices_text(const struct unik_run_spec *spec)
{
	_cleanup_strv_ struct strv all = {0};

	for (size_t i = 0; i < spec->ndevices; i++) {
		const struct unik_device *d = &spec->devices[i];
		_cleanup_strv_ struct strv one = {0};

		strv_push(&one, unik_device_kind_name(d->kind) ?: "?");
		strv_push(&one, d->name ?: "");
		if (d->network)
			strv_pushf(&one, "network=%s", d->network);
		if (d->tap)
			strv_pushf(&one, "tap=%s", d->tap);
		if (d->path)
			strv_pushf(&one, "path=%s", d->path);
		if (d->format)
			strv_pushf(&one, "format=%s", d->format);
		if (d->mount)
			strv_pushf(&one, "mount=%s", d->mount);
		if (d->readonly)
			strv_push(&one, "ro");
		if (d->mac[0])
			strv_pushf(&one, "mac=%s", d->mac);
		strv_push_take(&all, strv_join(&one, ":"));
	}
	return strv_join(&all, ";");
}

static char *opts_text(const char *const *opts)
{
	_cleanup_strv_ struct strv all = {0};

	for (size_t i = 0; opts && opts[i]; i++)
		strv_push(&all, opts[i]);
	return strv_join(&all, ",");
}

static int parse_opt(const char *const *opts, const char *key, long long lo, long long hi,
                     long long dflt, long long *out, struct unik_error *err)
{
	const char *v = unik_provider_opt(opts, key);
	char *end;

	*out = dflt;
	if (!v)
		return 0;
	errno = 0;
	*out = strtoll(v, &end, 10);
	if (!*v || *end || errno || *out < lo || *out > hi) {
		unik_error_set(err, UNIK_E_INVALID,
		               "fake: option %s=\"%s\": want a number from %lld "
		               "to %lld",
		               key, v, lo, hi);
		return -1;
	}
	return 0;
}

static int fake_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                    struct unik_error *err)
{
	_cleanup_free_ char *dir = NULL, *kernel = NULL, *initrd = NULL, *devs = NULL, *opts = NULL;
	_cleanup_inst_ struct inst in = {.lock = -1};
	char mem[32];
	long long run_ms, code;

	counts.run++;
	devs = devices_text(spec);
	opts = opts_text(spec->opts);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)spec->memory_mb);
	log_call("run", ctx, "dir", spec->instance_dir, "id", spec->instance_id, "name",
	         spec->instance_name, "kernel", spec->kernel, "initrd", spec->initrd ?: "",
	         "cmdline", spec->cmdline, "mem", mem, "opts", opts, "devices", devs, NULL);
	if (check_ctx(ctx, "run", err) < 0 ||
	    parse_opt(spec->opts, UNIK_FAKE_OPT_RUN_MS, -1, 3600 * 1000, UNIK_FAKE_DEFAULT_RUN_MS,
	              &run_ms, err) < 0 ||
	    parse_opt(spec->opts, UNIK_FAKE_OPT_EXIT_CODE, 0, 255, 0, &code, err) < 0 ||
	    unik_run_spec_paths(NAME, spec, &dir, &kernel, &initrd, err) < 0 ||
	    inst_open(&in, dir, false, err) < 0)
		return -1;
	if (settle(&in, dir, err) < 0)
		return -1;
	if (unik_kv_find(&in.kv, "state") && !strcmp(unik_kv_find(&in.kv, "state"), "running")) {
		unik_error_set(err, UNIK_E_STATE, "fake: an instance already runs in `%s`", dir);
		return -1;
	}
	unik_kv_free(&in.kv);
	unik_kv_set(&in.kv, "provider", NAME);
	unik_kv_set(&in.kv, "id", spec->instance_id);
	unik_kv_set(&in.kv, "name", spec->instance_name);
	unik_kv_set(&in.kv, "kernel", kernel);
	unik_kv_set(&in.kv, "initrd", initrd);
	unik_kv_set(&in.kv, "cmdline", spec->cmdline);
	unik_kv_set(&in.kv, "memory_mb", mem);
	unik_kv_set(&in.kv, "devices", devs);
	kv_set_ll(&in.kv, "run_ms", run_ms);
	kv_set_ll(&in.kv, "exit_code", code);
	if (boot(&in, dir, err) < 0)
		return -1;
	fill_status(&in.kv, st);
	return 0;
}

/* The status calls share this: lock, load, settle, report; reap frees what an ended instance
 * still holds. */
static int report(void *ctx, const char *op, const char *dir, bool reap,
                  struct unik_instance_status *st, struct unik_error *err)
{
	_cleanup_inst_ struct inst in = {.lock = -1};

	log_call(op, ctx, "dir", dir, NULL);
	if (check_ctx(ctx, op, err) < 0 || inst_open(&in, dir, true, err) < 0 ||
	    settle(&in, dir, err) < 0)
		return -1;
	fill_status(&in.kv, st);
	if (reap && st->state != UNIK_STATE_RUNNING) {
		_cleanup_free_ char *held = unik_path_join(dir, UNIK_FAKE_HELD_FILE);

		if (unlink(held) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "fake: remove `%s`", held);
			return -1;
		}
	}
	return 0;
}

static int fake_status(void *ctx, const char *dir, struct unik_instance_status *st,
                       struct unik_error *err)
{
	counts.status++;
	return report(ctx, "status", dir, false, st, err);
}

static int fake_reconcile(void *ctx, const char *dir, struct unik_instance_status *st,
                          struct unik_error *err)
{
	counts.reconcile++;
	return report(ctx, "reconcile", dir, true, st, err);
}

/* Fires the event descriptors this context handed out for dir. */
static void notify(struct fake_ctx *c, const char *dir)
{
	struct itimerspec now = {.it_value = {.tv_nsec = 1}};

	for (size_t i = 0; i < c->nevents; i++)
		if (!strcmp(c->events[i].dir, dir))
			timerfd_settime(c->events[i].fd, 0, &now, NULL);
}

static int fake_stop(void *ctx, const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	_cleanup_inst_ struct inst in = {.lock = -1};
	char tmo[16];

	counts.stop++;
	snprintf(tmo, sizeof(tmo), "%d", timeout_ms);
	log_call("stop", ctx, "dir", dir, "force", force ? "yes" : "no", "timeout_ms", tmo, NULL);
	if (check_ctx(ctx, "stop", err) < 0 || inst_open(&in, dir, true, err) < 0 ||
	    settle(&in, dir, err) < 0)
		return -1;
	/* Idempotent: an instance that has ended stays as it ended. */
	if (strcmp(unik_kv_find(&in.kv, "state"), "running"))
		return 0;
	unik_kv_set(&in.kv, "state", "stopped");
	unik_kv_set(&in.kv, "stopped_by", force ? "force" : "request");
	if (unik_kv_save(in.path, &in.kv, err) < 0)
		return -1;
	notify(ctx, dir);
	return 0;
}

static int fake_start(void *ctx, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err)
{
	_cleanup_inst_ struct inst in = {.lock = -1};

	counts.start++;
	log_call("start", ctx, "dir", dir, NULL);
	if (check_ctx(ctx, "start", err) < 0 || inst_open(&in, dir, true, err) < 0 ||
	    settle(&in, dir, err) < 0)
		return -1;
	if (!strcmp(unik_kv_find(&in.kv, "state"), "running")) {
		unik_error_set(err, UNIK_E_STATE, "fake: the instance in `%s` is running", dir);
		return -1;
	}
	if (boot(&in, dir, err) < 0)
		return -1;
	fill_status(&in.kv, st);
	return 0;
}

static int fake_remove(void *ctx, const char *dir, struct unik_error *err)
{
	static const char *const files[] = {UNIK_FAKE_HELD_FILE, UNIK_FAKE_STATE_FILE};
	_cleanup_inst_ struct inst in = {.lock = -1};
	const char *state;

	counts.remove++;
	log_call("remove", ctx, "dir", dir, NULL);
	if (check_ctx(ctx, "remove", err) < 0 || inst_open(&in, dir, false, err) < 0 ||
	    settle(&in, dir, err) < 0)
		return -1;
	state = unik_kv_find(&in.kv, "state");
	if (state && !strcmp(state, "running")) {
		unik_error_set(err, UNIK_E_STATE,
		               "fake: the instance in `%s` is running; stop it first", dir);
		return -1;
	}
	/* console.log stays, as the interface asks; the lock file goes with the directory. */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *path = unik_path_join(dir, files[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "fake: remove `%s`", path);
			return -1;
		}
	}
	return 0;
}

/* A timer that fires when the guest's time is up (at once if it has ended), and on stop() in
 * this process.  A stop by another process is seen at the next status() poll. */
static int fake_event_fd(void *ctx, const char *dir, struct unik_error *err)
{
	_cleanup_inst_ struct inst in = {.lock = -1};
	_cleanup_close_ int fd = -1;
	struct fake_ctx *c = ctx;
	struct itimerspec when = {0};
	long long end;

	counts.event_fd++;
	log_call("event_fd", ctx, "dir", dir, NULL);
	if (check_ctx(ctx, "event_fd", err) < 0 || inst_open(&in, dir, true, err) < 0 ||
	    settle(&in, dir, err) < 0)
		return -1;
	if (c->nevents == MAX_EVENTS) {
		unik_error_set(err, UNIK_E_IO, "fake: more than %d event descriptors", MAX_EVENTS);
		return -1;
	}
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0) {
		unik_error_sys(err, errno, "fake: timerfd_create");
		return -1;
	}
	end = end_us(&in.kv);
	if (strcmp(unik_kv_find(&in.kv, "state"), "running"))
		when.it_value.tv_nsec = 1; /* it has ended: readable at once */
	else if (end >= 0)
		when.it_value =
		    (struct timespec){.tv_sec = end / 1000000, .tv_nsec = (end % 1000000) * 1000};
	if ((when.it_value.tv_sec || when.it_value.tv_nsec) &&
	    timerfd_settime(fd, TFD_TIMER_ABSTIME, &when, NULL) < 0) {
		unik_error_sys(err, errno, "fake: timerfd_settime");
		return -1;
	}
	c->events[c->nevents].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (c->events[c->nevents].fd < 0) {
		unik_error_sys(err, errno, "fake: dup");
		return -1;
	}
	c->events[c->nevents++].dir = xstrdup(dir);
	return unik_steal_fd(&fd);
}

static const char *const fake_opt_keys[] = {UNIK_FAKE_OPT_RUN_MS, UNIK_FAKE_OPT_EXIT_CODE,
                                            UNIK_FAKE_OPT_FAIL, NULL};
static const char *const fake_opt_help[] = {
    "how long the simulated guest runs, in ms (\"100\", the default; -1 until stopped)",
    "the simulated guest's exit status, 0-255 (255 is a crash)",
    "an operation that fails (open, run, status, stop, start, remove, reconcile, event_fd)", NULL};

struct unik_provider unik_provider_fake = {
    .name = NAME,
    .description = "a simulated guest that records every call (tests only)",
    .image_format = "elf",
    .opt_keys = fake_opt_keys,
    .opt_help = fake_opt_help,
    .caps = ALL_CAPS,
    .user_net = true,
    .open = fake_open,
    .close = fake_close,
    .available = fake_available,
    .run = fake_run,
    .status = fake_status,
    .stop = fake_stop,
    .remove = fake_remove,
    .start = fake_start,
    .reconcile = fake_reconcile,
    .event_fd = fake_event_fd,
};
