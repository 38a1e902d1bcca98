/* The xen provider: each instance is one PVH domain made through libxl in the dom0 the daemon
 * runs in.  Its identity (domid, name, uuid) and how it ended live in its instance directory;
 * any daemon process finds the live domain again by uuid (libxl_list_domain).  Xen itself keeps
 * the guest running, so the only helper process is the console copier (console.c).  xl's role of
 * carrying out on_poweroff/on_crash when a domain shuts down falls to status(), which the daemon
 * calls while an instance runs. */
#include "providers/xen/xen.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxl_utils.h>
#include <xentoollog.h>

#include "lib/guest_console.h"
#include "lib/kv.h"
#include "lib/util.h"

/* How long an unavailable libxl is believed before trying again: `unik providers` and every
 * status call stay fast on a host without Xen. */
#define XEN_RETRY_MS 5000
/* xenconsoled writes the console's pty into xenstore soon after the domain appears. */
#define XEN_TTY_WAIT_MS 3000
/* After destroy, xenconsoled closes the pty and the copier ends within milliseconds. */
#define XEN_COPIER_WAIT_MS 2000

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ---- libxl's log, captured ----------------------------------------------------------------- */

/* libxl logs through a xentoollog_logger.  Calls made with ao_how == NULL log on the calling
 * thread, so a per-thread buffer tells each caller what its own call said. */
static _Thread_local char log_buf[1024];

static void cap_vmessage(struct xentoollog_logger *lg, xentoollog_level level, int errnoval,
                         const char *context, const char *format, va_list al)
{
	size_t used = strlen(log_buf);
	char msg[512];

	(void)lg;
	if (level < XTL_WARN)
		return;
	vsnprintf(msg, sizeof(msg), format, al);
	if (used + 4 >= sizeof(log_buf))
		return;
	snprintf(log_buf + used, sizeof(log_buf) - used, "%s%s%s%s%s%s", used ? "; " : "",
	         context ? context : "", context ? ": " : "", msg, errnoval >= 0 ? ": " : "",
	         errnoval >= 0 ? strerror(errnoval) : "");
}

static void cap_progress(struct xentoollog_logger *lg, const char *context, const char *doing,
                         int percent, unsigned long done, unsigned long total)
{
	(void)lg, (void)context, (void)doing, (void)percent, (void)done, (void)total;
}

static void cap_destroy(struct xentoollog_logger *lg)
{
	(void)lg;
}

static xentoollog_logger capture_logger = {
    .vmessage = cap_vmessage,
    .progress = cap_progress,
    .destroy = cap_destroy,
};

void xen_log_reset(void)
{
	log_buf[0] = '\0';
}

const char *xen_log_text(void)
{
	return log_buf;
}

/* ---- the context --------------------------------------------------------------------------- */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static libxl_ctx *ctx_shared;
static char ctx_reason[768];
static long long ctx_failed_at = -1;

/* Why this host has no libxl: libxl's words, and what they mean here. */
static void explain(const char *said, char *out, size_t len)
{
	_cleanup_free_ char *caps = NULL;
	const char *hint;

	if (unik_read_file("/proc/xen/capabilities", &caps, NULL, NULL) < 0)
		hint = "this host is not running the Xen hypervisor (no /proc/xen/capabilities); "
		       "run unik's daemon in a Xen dom0";
	else if (!strstr(caps, "control_d"))
		hint = "this host is a Xen guest (domU), not dom0; libxl works only in dom0";
	else
		hint = "this is a Xen dom0; is xenstored running, and is unik's daemon root?";
	snprintf(out, len, "libxl cannot open a context (%s): %s",
	         said && *said ? said : "no reason given", hint);
}

libxl_ctx *xen_ctx(char *reason, size_t reason_len)
{
	libxl_ctx *ctx = NULL;

	pthread_mutex_lock(&ctx_lock);
	if (!ctx_shared && (ctx_failed_at < 0 || unik_now_ms() - ctx_failed_at >= XEN_RETRY_MS)) {
		xen_log_reset();
		if (libxl_ctx_alloc(&ctx_shared, LIBXL_VERSION, 0, &capture_logger) != 0) {
			ctx_shared = NULL;
			explain(xen_log_text(), ctx_reason, sizeof(ctx_reason));
			ctx_failed_at = unik_now_ms();
		}
	}
	ctx = ctx_shared;
	if (!ctx && reason && reason_len)
		snprintf(reason, reason_len, "%s", ctx_reason);
	pthread_mutex_unlock(&ctx_lock);
	return ctx;
}

static bool xen_available(const char *const *opts, char *reason, size_t reason_len)
{
	(void)opts;
	return xen_ctx(reason, reason_len) != NULL;
}

/* A libxl call failed: its return code and what libxl logged about it. */
static void libxl_failed(struct unik_error *err, int rc, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
static void libxl_failed(struct unik_error *err, int rc, const char *what, ...)
{
	char doing[256];
	va_list ap;

	va_start(ap, what);
	vsnprintf(doing, sizeof(doing), what, ap);
	va_end(ap);
	unik_error_set(err, rc == ERROR_NOMEM ? UNIK_E_NOMEM : UNIK_E_IO,
	               "xen: %s failed (libxl error %d)%s%s", doing, rc, *log_buf ? ": " : "",
	               log_buf);
}

/* ---- records ------------------------------------------------------------------------------- */

static char *dir_file(const char *dir, const char *name)
{
	return unik_path_join(dir, name);
}

static int write_state(const char *dir, const struct unik_run_spec *spec,
                       const struct unik_xl_guest *g, long long domid, const char *uuid,
                       struct unik_error *err)
{
	_cleanup_free_ char *path = dir_file(dir, XEN_STATE_FILE);
	_cleanup_free_ char *text = NULL;
	char ip[64] = "";

	/* The first NIC's static address, which status reports; none with DHCP. */
	for (size_t i = 0; i < spec->ndevices; i++) {
		const struct unik_device *d = &spec->devices[i];

		if (d->kind != UNIK_DEVICE_NET)
			continue;
		if (d->ip)
			snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(d->ip, "/"), d->ip);
		break;
	}
	text = xasprintf(
	    "provider=xen\ninstance_id=%s\ndomid=%lld\nname=%s\nuuid=%s\nkernel=%s\n"
	    "initrd=%s\nmemory_mb=%llu\nvcpus=%u\non_poweroff=%s\non_reboot=%s\non_crash=%s\n"
	    "ip=%s\n",
	    spec->instance_id ? spec->instance_id : "", domid, g->name, uuid, g->kernel,
	    g->ramdisk ? g->ramdisk : "", (unsigned long long)g->memory_mb, g->vcpus,
	    g->on_poweroff, g->on_reboot, g->on_crash, ip);

	return unik_write_file_atomic(path, text, strlen(text), 0644, err);
}

int xen_state_read(const char *dir, struct xen_state *s, struct unik_error *err)
{
	_cleanup_free_ char *path = dir_file(dir, XEN_STATE_FILE);
	_cleanup_free_ char *text = NULL;
	char domid[32];

	memset(s, 0, sizeof(*s));
	s->domid = -1;
	if (unik_read_file(path, &text, NULL, err) < 0)
		return -1;
	unik_kv_get(text, "name", s->name, sizeof(s->name));
	unik_kv_get(text, "uuid", s->uuid, sizeof(s->uuid));
	unik_kv_get(text, "ip", s->ip, sizeof(s->ip));
	unik_kv_get(text, "on_poweroff", s->on_poweroff, sizeof(s->on_poweroff));
	unik_kv_get(text, "on_reboot", s->on_reboot, sizeof(s->on_reboot));
	unik_kv_get(text, "on_crash", s->on_crash, sizeof(s->on_crash));
	if (unik_kv_get(text, "domid", domid, sizeof(domid)) && domid[0])
		s->domid = strtoll(domid, NULL, 10);
	if (!s->name[0] || !s->uuid[0]) {
		unik_error_set(err, UNIK_E_STATE, "xen: `%s` names no domain", path);
		return -1;
	}
	return 0;
}

/* Records how the domain ended, once: the first caller to link the record in wins, and only it
 * carries out the shutdown action.  False when another caller already recorded it. */
static bool record_exit(const char *dir, const char *text)
{
	_cleanup_free_ char *path = dir_file(dir, XEN_EXIT_FILE);
	_cleanup_free_ char *tmp =
	    xasprintf("%s.%d.%lx", path, (int)getpid(), (unsigned long)pthread_self());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool won;

	if (fd < 0)
		return !unik_file_exists_in(dir, XEN_EXIT_FILE);
	if (unik_write_all(fd, text, strlen(text)) < 0) {
		unlink(tmp);
		return !unik_file_exists_in(dir, XEN_EXIT_FILE);
	}
	won = link(tmp, path) == 0;
	unlink(tmp);
	return won;
}

void xen_ended_status(const char *dir, struct unik_instance_status *st)
{
	_cleanup_free_ char *path = dir_file(dir, XEN_EXIT_FILE);
	_cleanup_free_ char *rec = NULL;
	char reason[64], action[64], error[160];

	st->pid = 0;
	if (unik_status_from_console(dir, unik_file_exists_in(dir, XEN_STOPPED_FILE), st))
		return;
	st->state = UNIK_STATE_CRASHED;
	st->exit_code = -1;
	if (unik_read_file(path, &rec, NULL, NULL) < 0) {
		unik_status_detail(st, "the domain ended, and no record says how");
		return;
	}
	unik_kv_get(rec, "reason", reason, sizeof(reason));
	unik_kv_get(rec, "action", action, sizeof(action));
	unik_kv_get(rec, "error", error, sizeof(error));
	if (!strcmp(reason, "gone"))
		unik_status_detail(
		    st, "the domain is gone without an exit status from the guest (destroyed "
		        "outside unik?)");
	else
		unik_status_detail(
		    st,
		    "the domain shut down (reason %s) without an exit status from the "
		    "guest; on_%s: %s%s%s",
		    reason[0] ? reason : "unknown",
		    !strcmp(reason, "poweroff") || !strcmp(reason, "reboot") ? reason : "crash",
		    action[0] ? action : "?", error[0] ? ": " : "", error);
}

/* ---- finding the domain -------------------------------------------------------------------- */

/* The domain with this uuid, found in libxl's list.  1 found (info filled, caller disposes),
 * 0 not there, -1 libxl failed. */
static int find_domain(libxl_ctx *ctx, const char *uuid_text, libxl_dominfo *info,
                       struct unik_error *err)
{
	libxl_uuid uuid;
	libxl_dominfo *list;
	int n = 0, found = 0;

	if (libxl_uuid_from_string(&uuid, uuid_text) != 0) {
		unik_error_set(err, UNIK_E_STATE, "xen: bad uuid \"%.40s\" in provider.state",
		               uuid_text);
		return -1;
	}
	xen_log_reset();
	list = libxl_list_domain(ctx, &n);
	if (!list) {
		libxl_failed(err, ERROR_FAIL, "listing domains");
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!libxl_uuid_compare(&list[i].uuid, &uuid)) {
			libxl_dominfo_init(info);
			libxl_dominfo_copy(ctx, info, &list[i]);
			found = 1;
			break;
		}
	libxl_dominfo_list_free(list, n);
	return found;
}

static void fill_handle(const struct xen_state *s, struct unik_instance_status *st)
{
	snprintf(st->handle, sizeof(st->handle), "%s", s->name);
	snprintf(st->handle_id, sizeof(st->handle_id), "%s", s->uuid);
	snprintf(st->ip, sizeof(st->ip), "%s", s->ip);
}

/* ---- run ----------------------------------------------------------------------------------- */

/* The pty xenconsoled made for the domain's PV console, once it is in xenstore. */
static char *console_tty(libxl_ctx *ctx, uint32_t domid, struct unik_error *err)
{
	long long deadline = unik_now_ms() + XEN_TTY_WAIT_MS;
	char *path = NULL;
	int rc;

	for (;;) {
		xen_log_reset();
		rc = libxl_console_get_tty(ctx, domid, 0, LIBXL_CONSOLE_TYPE_PV, &path);
		if (rc == 0 && path && *path)
			return path;
		free(path);
		path = NULL;
		if (unik_now_ms() >= deadline)
			break;
		sleep_ms(50);
	}
	libxl_failed(err, rc ? rc : ERROR_FAIL,
	             "finding domain %u's console pty (is xenconsoled running?)", domid);
	return NULL;
}

static void destroy_quietly(libxl_ctx *ctx, uint32_t domid)
{
	xen_log_reset();
	libxl_domain_destroy(ctx, domid, NULL);
}

static int xen_run(void *pctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                   struct unik_error *err)
{
	(void)pctx;
	struct unik_error local_err;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	_cleanup_free_ char *dir = NULL, *kernel = NULL, *initrd = NULL, *name = NULL;
	_cleanup_free_ char *cfg_text = NULL, *cfg_path = NULL, *tty = NULL, *vifs = NULL;
	_cleanup_free_ struct unik_device *devs = NULL;
	_cleanup_strv_ struct strv dev_paths = {0};
	struct unik_xl_guest g = {0};
	struct xen_state s;
	libxl_domain_config c;
	libxl_uuid uuid;
	char uuid_text[LIBXL_UUID_FMTLEN + 1], reason[768];
	uint32_t domid = 0;
	bool created = false;
	libxl_ctx *ctx;
	int rc = -1, lrc;

	memset(st, 0, sizeof(*st));
	st->state = UNIK_STATE_PENDING;
	st->exit_code = -1;
	libxl_domain_config_init(&c);
	ctx = xen_ctx(reason, sizeof(reason));
	if (!ctx) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "xen: %s", reason);
		goto out;
	}
	if (unik_run_spec_paths("xen", spec, &dir, &kernel, &initrd, err) < 0)
		goto out;
	if (xen_guest_options(spec->opts, &g, err) < 0)
		goto out;
	name = xen_domain_name(spec->instance_name, spec->instance_id);
	g.name = name;
	g.kernel = kernel;
	g.ramdisk = initrd;
	g.cmdline = spec->cmdline ? spec->cmdline : "";
	g.memory_mb = spec->memory_mb;
	libxl_uuid_generate(&uuid);
	snprintf(uuid_text, sizeof(uuid_text), LIBXL_UUID_FMT, LIBXL_UUID_BYTES(uuid));
	if (xen_build_config(&g, &uuid, &c, err) < 0 ||
	    unik_run_spec_devices("xen", spec, &devs, &dev_paths, err) < 0 ||
	    xen_add_devices(devs, spec->ndevices, &c, err) < 0)
		goto out;
	/* The same guest as an xl.cfg, for whoever wants to look or to boot it by hand. */
	cfg_path = dir_file(dir, XEN_XLCFG_FILE);
	if (unik_xl_cfg_text(&g, &cfg_text, err) < 0)
		goto out;
	vifs = xen_xl_vifs(devs, spec->ndevices);
	if (vifs) {
		char *both = xasprintf("%s%s", cfg_text, vifs);

		free(cfg_text);
		cfg_text = both;
	}
	if (unik_write_file_atomic(cfg_path, cfg_text, strlen(cfg_text), 0644, err) < 0)
		goto out;
	/* Recorded before the domain exists: a daemon that dies mid-create can still find it. */
	if (write_state(dir, spec, &g, -1, uuid_text, err) < 0)
		goto out;

	/* libxl makes the domain paused: the console copier attaches before the guest says
	 * anything. */
	xen_log_reset();
	lrc = libxl_domain_create_new(ctx, &c, &domid, NULL, NULL);
	if (lrc != 0) {
		libxl_failed(err, lrc, "creating domain %s", name);
		goto out; /* libxl destroys what it half made */
	}
	created = true;
	if (write_state(dir, spec, &g, domid, uuid_text, err) < 0)
		goto out;
	if (!(tty = console_tty(ctx, domid, err)) || xen_console_start(dir, tty, err) < 0)
		goto out;
	xen_log_reset();
	lrc = libxl_domain_unpause(ctx, domid, NULL);
	if (lrc != 0) {
		libxl_failed(err, lrc, "unpausing domain %s", name);
		goto out;
	}
	st->state = UNIK_STATE_RUNNING;
	if (xen_state_read(dir, &s, NULL) == 0)
		snprintf(st->ip, sizeof(st->ip), "%s", s.ip);
	snprintf(st->handle, sizeof(st->handle), "%s", name);
	snprintf(st->handle_id, sizeof(st->handle_id), "%s", uuid_text);
	rc = 0;
out:
	if (rc < 0 && created) {
		destroy_quietly(ctx, domid);
		if (dir)
			xen_console_kill(dir);
	}
	libxl_domain_config_dispose(&c);
	return rc;
}

/* ---- status -------------------------------------------------------------------------------- */

static const char *action_for(const struct xen_state *s, libxl_shutdown_reason r)
{
	const char *a = r == LIBXL_SHUTDOWN_REASON_POWEROFF ? s->on_poweroff
	                : r == LIBXL_SHUTDOWN_REASON_REBOOT ? s->on_reboot
	                                                    : s->on_crash;

	return *a ? a : "destroy";
}

/* The domain has shut down: write down why, then do what its configuration says, as xl's
 * monitor would (xl is not running it). */
static void handle_shutdown(libxl_ctx *ctx, const char *dir, const struct xen_state *s,
                            const libxl_dominfo *info)
{
	const char *reason = libxl_shutdown_reason_to_string(info->shutdown_reason);
	const char *action = action_for(s, info->shutdown_reason);
	_cleanup_free_ char *rec = NULL, *core = NULL;
	char error[200] = "";
	int lrc;

	rec = xasprintf("reason=%s\naction=%s\n", reason ? reason : "unknown", action);
	if (!record_exit(dir, rec))
		return; /* someone else is on it */
	if (!strcmp(action, "preserve"))
		return; /* left for inspection (xl list); remove() destroys it */
	if (!strcmp(action, "coredump-destroy")) {
		core = dir_file(dir, XEN_CORE_FILE);
		xen_log_reset();
		lrc = libxl_domain_core_dump(ctx, info->domid, core, NULL);
		if (lrc)
			snprintf(error, sizeof(error), "core dump failed (libxl error %d): %s", lrc,
			         xen_log_text());
	}
	xen_log_reset();
	lrc = libxl_domain_destroy(ctx, info->domid, NULL);
	if (lrc && !error[0])
		snprintf(error, sizeof(error), "destroy failed (libxl error %d): %s", lrc,
		         xen_log_text());
	if (error[0]) {
		_cleanup_free_ char *path = dir_file(dir, XEN_EXIT_FILE);
		_cleanup_free_ char *text = xasprintf("%serror=%s\n", rec, error);

		unik_write_file_atomic(path, text, strlen(text), 0644, NULL);
	}
	/* The copier has the last of the console once xenconsoled lets go of the pty. */
	xen_console_running(dir, XEN_COPIER_WAIT_MS);
}

static int xen_status(void *pctx, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err)
{
	(void)pctx;
	struct unik_error local_err;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	struct xen_state s;
	libxl_dominfo info;
	libxl_ctx *ctx;
	char reason[768];
	int found;

	memset(st, 0, sizeof(*st));
	st->exit_code = -1;
	if (xen_state_read(dir, &s, err) < 0) {
		struct stat sb;

		if (stat(dir, &sb) == 0 && err->code == UNIK_E_NOTFOUND) {
			st->state = UNIK_STATE_PENDING; /* nothing was started here */
			return 0;
		}
		return -1;
	}
	fill_handle(&s, st);
	if (unik_file_exists_in(dir, XEN_EXIT_FILE)) {
		_cleanup_free_ char *path = dir_file(dir, XEN_EXIT_FILE);
		_cleanup_free_ char *rec = NULL;
		char action[32] = "";

		/* Whoever recorded the end may still be destroying the domain: its console's
		 * last line comes once the copier has ended, which is at once after destroy.
		 * A preserved domain keeps its pty (and copier) until remove(): a moment is
		 * enough there, its guest said its last already. */
		if (unik_read_file(path, &rec, NULL, NULL) == 0)
			unik_kv_get(rec, "action", action, sizeof(action));
		xen_console_running(dir, !strcmp(action, "preserve") ? 50 : XEN_COPIER_WAIT_MS);
		xen_ended_status(dir, st);
		return 0;
	}
	ctx = xen_ctx(reason, sizeof(reason));
	if (!ctx) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "xen: %s", reason);
		return -1;
	}
	found = find_domain(ctx, s.uuid, &info, err);
	if (found < 0)
		return -1;
	if (found == 0) {
		if (s.domid < 0 && !unik_file_exists_in(dir, XEN_CONSOLE_PID_FILE) &&
		    !unik_file_exists_in(dir, XEN_STOPPED_FILE)) {
			/* Between the record and libxl_domain_create_new, or a create that
			 * failed and was undone. */
			st->state = UNIK_STATE_PENDING;
			return 0;
		}
		record_exit(dir, "reason=gone\naction=none\n");
		xen_console_running(dir, XEN_COPIER_WAIT_MS);
		xen_ended_status(dir, st);
		return 0;
	}
	if (info.shutdown) {
		handle_shutdown(ctx, dir, &s, &info);
		libxl_dominfo_dispose(&info);
		xen_ended_status(dir, st);
		return 0;
	}
	st->state = UNIK_STATE_RUNNING;
	if (info.dying && unik_file_exists_in(dir, XEN_STOPPED_FILE))
		st->state = UNIK_STATE_STOPPED;
	libxl_dominfo_dispose(&info);
	return 0;
}

/* ---- stop, remove -------------------------------------------------------------------------- */

static int write_plain(const char *dir, const char *name, const char *text, struct unik_error *err)
{
	_cleanup_free_ char *path = dir_file(dir, name);

	return unik_write_file_atomic(path, text, strlen(text), 0644, err);
}

static int xen_stop(void *pctx, const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	(void)pctx;
	struct unik_error local_err;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	struct unik_instance_status st;
	struct xen_state s;
	libxl_dominfo info;
	libxl_ctx *ctx;
	char reason[768];
	long long deadline = unik_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int found, lrc;

	if (xen_status(pctx, dir, &st, err) < 0)
		return -1;
	if (st.state != UNIK_STATE_RUNNING)
		return 0; /* ended already, or never started: its state stays as it is */
	if (xen_state_read(dir, &s, err) < 0)
		return -1;
	ctx = xen_ctx(reason, sizeof(reason));
	if (!ctx) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "xen: %s", reason);
		return -1;
	}
	if (write_plain(dir, XEN_STOPPED_FILE, "stopped on request\n", err) < 0)
		return -1;
	found = find_domain(ctx, s.uuid, &info, err);
	if (found <= 0)
		return found;
	if (!force) {
		/* A clean shutdown request through xenstore's control/shutdown; a guest that
		 * does not watch it is destroyed when the time is up. */
		xen_log_reset();
		lrc = libxl_domain_shutdown(ctx, info.domid, NULL);
		while (lrc == 0 && unik_now_ms() < deadline) {
			libxl_dominfo now;
			int f = find_domain(ctx, s.uuid, &now, err);

			if (f <= 0)
				break;
			bool down = now.shutdown || now.dying;

			libxl_dominfo_dispose(&now);
			if (down)
				break;
			sleep_ms(50);
		}
	}
	record_exit(dir, "reason=stopped\naction=destroy\n");
	xen_log_reset();
	lrc = libxl_domain_destroy(ctx, info.domid, NULL);
	if (lrc != 0 && find_domain(ctx, s.uuid, &info, NULL) == 1) {
		libxl_failed(err, lrc, "destroying domain %s", s.name);
		libxl_dominfo_dispose(&info);
		return -1;
	}
	libxl_dominfo_dispose(&info);
	xen_console_running(dir, XEN_COPIER_WAIT_MS);
	return 0;
}

static int xen_remove(void *pctx, const char *dir, struct unik_error *err)
{
	(void)pctx;
	struct unik_error local_err;

	if (!err)
		err = &local_err; /* callers may pass NULL */
	static const char *const files[] = {XEN_CONSOLE_PID_FILE};
	struct unik_instance_status st;
	struct xen_state s;

	if (xen_status(pctx, dir, &st, err) < 0)
		return -1;
	if (st.state == UNIK_STATE_RUNNING) {
		unik_error_set(err, UNIK_E_STATE,
		               "xen: the instance in `%s` is running; stop it first", dir);
		return -1;
	}
	/* A domain preserved after its end (on_crash=preserve) goes with its instance. */
	if (xen_state_read(dir, &s, NULL) == 0) {
		char reason[768];
		libxl_ctx *ctx = xen_ctx(reason, sizeof(reason));
		libxl_dominfo info;

		if (ctx && find_domain(ctx, s.uuid, &info, NULL) == 1) {
			xen_log_reset();
			int lrc = libxl_domain_destroy(ctx, info.domid, NULL);

			libxl_dominfo_dispose(&info);
			if (lrc != 0) {
				libxl_failed(err, lrc, "destroying domain %s", s.name);
				return -1;
			}
		}
	}
	xen_console_kill(dir);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *path = dir_file(dir, files[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "xen: remove `%s`", path);
			return -1;
		}
	}
	return 0;
}

static const char *const xen_opt_keys[] = {"vcpus", "on_crash", "disk", NULL};
static const char *const xen_opt_help[] = {
    "virtual CPUs (default 1)",
    "what to do with a domain that crashed: destroy (default), preserve (keep it for `xl`), "
    "or coredump-destroy (core dump into the instance directory)",
    "one disk in xl-disk-configuration(5) syntax, e.g. "
    "format=raw,vdev=xvda,access=rw,target=/path/disk.img",
    NULL,
};

const struct unik_provider unik_provider_xen = {
    .name = "xen",
    .description = "a Xen PVH domain per instance, through libxl (needs a Xen dom0)",
    .image_format = "elf",
    .opt_keys = xen_opt_keys,
    .opt_help = xen_opt_help,
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK) |
            UNIK_DEVICE_BIT(UNIK_DEVICE_FS),
    .available = xen_available,
    .run = xen_run,
    .status = xen_status,
    .stop = xen_stop,
    .remove = xen_remove,
};
