/* The process-monitor providers, spt and hvt: each instance is one monitor process (bin/unik-spt
 * running a unix-target mirage application, bin/unik-hvt a KVM virtual machine of an hvt-target
 * one), supervised by unik-shim exactly as the qemu provider's QEMU is (the same records in the
 * instance directory, the same confinement: an unprivileged user, no capabilities,
 * no_new_privs), so status, stop, remove and events are the qemu provider's.  Net devices are
 * taps the provider makes on their networks' bridges, owned by that user, which the shim
 * attaches; they and block devices reach the monitor as descriptors (--net/--block NAME=fd:N).
 * One table (monitors[]) says what differs between them; one run function serves both. */
#include "providers/spt/spt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/hostnet.h"
#include "lib/vmm_confine.h"
#include "providers/qemu/qemu.h"

extern char **environ;

/* unik-spt takes at most UNIK_SPT_DEVICES_MAX devices (lib/spt.h), unik-hvt UNIK_HVT_DEVICES
 * (include/unik/hvt.h); both are 16. */
#define SPT_DEVICES_MAX 16

const struct spt_monitor spt_monitors[] = {
    {.provider = "spt", .program = "unik-spt", .env = "UNIK_SPT", .target = "unix"},
    {.provider = "hvt",
     .program = "unik-hvt",
     .env = "UNIK_HVT",
     .target = "hvt",
     .needs_kvm = true},
};
const size_t spt_nmonitors = sizeof(spt_monitors) / sizeof(spt_monitors[0]);

const struct spt_monitor *spt_monitor_find(const char *provider)
{
	for (size_t i = 0; provider && i < spt_nmonitors; i++)
		if (!strcmp(spt_monitors[i].provider, provider))
			return &spt_monitors[i];
	return NULL;
}

bool spt_monitor_available(const struct spt_monitor *m, char *reason, size_t reason_len)
{
	_cleanup_free_ char *prog = qemu_find_program(m->env, m->program);
	_cleanup_free_ char *shim = qemu_find_program("UNIK_SHIM", "unik-shim");
	const char *user = getenv(UNIK_QEMU_USER_ENV);
	struct unik_vmm_user vu;
	struct unik_error err;

	if (!prog || !shim) {
		snprintf(reason, reason_len,
		         "%s was not found (set %s, or install it next to unik)",
		         prog ? "unik-shim" : m->program, prog ? "UNIK_SHIM" : m->env);
		return false;
	}
	if (!m->needs_kvm)
		return true;
	if (!user)
		user = UNIK_QEMU_USER_DEFAULT;
	if (unik_vmm_user_parse(user, &vu, &err) < 0) {
		snprintf(reason, reason_len, "%s", err.msg);
		return false;
	}
	if (!unik_vmm_can_open_kvm(&vu)) {
		snprintf(reason, reason_len,
		         "%s needs /dev/kvm, which the confined user %s cannot open (give it "
		         "access: add it to /dev/kvm's group, or set %s to a user who can)",
		         m->program, user, UNIK_QEMU_USER_ENV);
		return false;
	}
	return true;
}

static bool spt_available(const char *const *opts, char *reason, size_t reason_len)
{
	(void)opts;
	return spt_monitor_available(spt_monitor_find("spt"), reason, reason_len);
}

static bool hvt_available(const char *const *opts, char *reason, size_t reason_len)
{
	(void)opts;
	return spt_monitor_available(spt_monitor_find("hvt"), reason, reason_len);
}

int spt_build_argv(const struct unik_run_spec *spec, const char *kernel, const char *const *taps,
                   int fd_base, struct strv *out, struct unik_error *err)
{
	struct unik_cmdline cl = {0};
	const char *name = spec->instance_name ? spec->instance_name : "app";

	(void)taps; /* the shim attaches them: the monitor finds each at fd_base + i */

	if (unik_cmdline_split(spec->cmdline ? spec->cmdline : "", &cl, err) < 0) {
		unik_cmdline_free(&cl);
		return -1;
	}
	strv_push(out, "--console-abi");
	strv_push(out, "--mem");
	strv_pushf(out, "%llu", (unsigned long long)(spec->memory_mb ? spec->memory_mb : 64));
	strv_push(out, "--argv0");
	strv_push(out, cl.argv.n ? cl.argv.v[0] : name);
	for (size_t i = 0; i < spec->ndevices; i++) {
		const struct unik_device *d = &spec->devices[i];

		if (d->kind == UNIK_DEVICE_NET) {
			strv_push(out, "--net");
			strv_pushf(out, "%s=fd:%d,mac=%s%s%s%s%s", d->name, fd_base + (int)i,
			           d->mac, d->ip ? ",ip=" : "", d->ip ? d->ip : "",
			           d->ip && d->gateway ? ",gw=" : "",
			           d->ip && d->gateway ? d->gateway : "");
		} else if (d->kind == UNIK_DEVICE_BLK) {
			strv_push(out, "--block");
			strv_pushf(out, "%s=fd:%d%s", d->name, fd_base + (int)i,
			           d->readonly ? ":ro" : "");
		}
	}
	strv_push(out, kernel);
	for (size_t i = 1; i < cl.argv.n; i++)
		strv_push(out, cl.argv.v[i]);
	unik_cmdline_free(&cl);
	return 0;
}

static int spawn_shim(const struct spt_monitor *m, const char *shim, const char *dir,
                      const char *kernel, const char *user, const struct strv *fds,
                      const struct strv *sargv, int ready_w, pid_t *pid, struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
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
	strv_push(&argv, QEMU_CONSOLE_MAX_DEFAULT);
	/* The monitor reads the application as /proc/self/fd/4 (UNIK_VMM_FD_KERNEL), as QEMU
	 * does its kernel: $UNIK_HOME is closed to the confined user. */
	strv_push(&argv, "--kernel");
	strv_push(&argv, kernel);
	for (size_t i = 0; i < fds->n; i++) {
		strv_push(&argv, "--fd");
		strv_push(&argv, fds->v[i]);
	}
	strv_push(&argv, "--user");
	strv_push(&argv, user);
	strv_push(&argv, "--");
	strv_extend(&argv, sargv);

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&defaults);
	sigdelset(&defaults, SIGKILL);
	sigdelset(&defaults, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	for (int fd = 0; !rc && fd < 3; fd++)
		rc = posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, ready_w, 3);
	if (!rc)
		rc = posix_spawn(pid, shim, &fa, &attr, strv_argv(&argv), environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		unik_error_sys(err, rc, "%s: run `%s`", m->provider, shim);
		return -1;
	}
	return 0;
}

static int monitor_run(const struct spt_monitor *m, const struct unik_run_spec *spec,
                       struct unik_instance_status *st, struct unik_error *err)
{
	_cleanup_free_ char *dir = NULL, *kernel = NULL, *initrd = NULL, *shim = NULL, *spt = NULL;
	_cleanup_free_ char *taplist = NULL, *state = NULL;
	_cleanup_strv_ struct strv argv = {0}, fds = {0}, dev_paths = {0};
	_cleanup_free_ struct unik_device *devs = NULL;
	_cleanup_close_ int ready_r = -1;
	char taps[SPT_DEVICES_MAX][UNIK_IFNAME_MAX + 1];
	const char *tap_of[SPT_DEVICES_MAX];
	const char *user = getenv(UNIK_QEMU_USER_ENV);
	struct unik_run_spec s = *spec;
	struct unik_vmm_user vu;
	char report[1024], ip[64] = "";
	int pfd[2], ws, n;
	pid_t pid;
	size_t made = 0;

	memset(st, 0, sizeof(*st));
	st->state = UNIK_STATE_PENDING;
	st->exit_code = -1;
	if (spec->foreground) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "%s: runs only detached instances (not under unik-oci)",
		               m->provider);
		return -1;
	}
	if (unik_run_spec_paths(m->provider, spec, &dir, &kernel, &initrd, err) < 0)
		return -1;
	if (spec->ndevices > SPT_DEVICES_MAX) {
		unik_error_set(err, UNIK_E_INVALID, "%s: at most %d devices", m->provider,
		               SPT_DEVICES_MAX);
		return -1;
	}
	shim = qemu_find_program("UNIK_SHIM", "unik-shim");
	spt = qemu_find_program(m->env, m->program);
	if (!shim || !spt) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "%s: %s was not found (set %s, or install it next to unik)",
		               m->provider, shim ? m->program : "unik-shim",
		               shim ? m->env : "UNIK_SHIM");
		return -1;
	}
	if (!user)
		user = UNIK_QEMU_USER_DEFAULT;
	if (unik_vmm_user_parse(user, &vu, err) < 0)
		return -1;
	if (unik_run_spec_devices(m->provider, spec, &devs, &dev_paths, err) < 0)
		return -1;
	s.devices = devs;
	taplist = xstrdup("");
	for (size_t i = 0; i < spec->ndevices; i++) {
		const struct unik_device *d = &devs[i];

		taps[i][0] = '\0';
		tap_of[i] = taps[i];
		if (d->kind == UNIK_DEVICE_NET) {
			if (d->tap) {
				tap_of[i] = d->tap;
			} else if (!d->bridge) {
				unik_error_set(
				    err, UNIK_E_UNSUPPORTED,
				    "%s has no user-mode network: bind net device `%s` to a "
				    "network (--net %s=NETWORK, unik network create)",
				    m->provider, d->name, d->name);
				return -1;
			} else {
				char *next;

				unik_tap_name(spec->instance_id, (unsigned)i, taps[i]);
				next = xasprintf("%s%s%s", taplist, *taplist ? "," : "", taps[i]);
				free(taplist);
				taplist = next;
			}
			strv_pushf(&fds, "%d:rawtap:%s", UNIK_VMM_FD_DEVICES + (int)i, tap_of[i]);
			if (!ip[0] && d->ip) {
				snprintf(ip, sizeof(ip), "%s", d->ip);
				if (strchr(ip, '/'))
					*strchr(ip, '/') = '\0';
			}
		} else if (d->kind == UNIK_DEVICE_BLK) {
			if (d->format && strcmp(d->format, "raw")) {
				unik_error_set(err, UNIK_E_UNSUPPORTED,
				               "%s: block device `%s` is %s; %s takes raw files",
				               m->provider, d->name, d->format, m->program);
				return -1;
			}
			strv_pushf(&fds, "%d:%s:%s", UNIK_VMM_FD_DEVICES + (int)i,
			           d->readonly ? "ro" : "rw", d->path);
		}
	}
	strv_push(&argv, spt);
	if (spt_build_argv(&s, "/proc/self/fd/4", tap_of, UNIK_VMM_FD_DEVICES, &argv, err) < 0 ||
	    qemu_forget_previous_run(dir, err) < 0)
		return -1;
	state = xasprintf("provider=%s\ninstance_id=%s\nkernel=%s\nmemory_mb=%llu\ntaps=%s\n"
	                  "ip=%s\n",
	                  m->provider, spec->instance_id ? spec->instance_id : "", kernel,
	                  (unsigned long long)spec->memory_mb, taplist, ip);
	if (unik_write_text_in(dir, QEMU_STATE_FILE, state, err) < 0)
		return -1;
	for (size_t i = 0; i < spec->ndevices; i++) {
		if (!taps[i][0])
			continue;
		if (unik_tap_create(taps[i], devs[i].bridge, vu.uid, vu.gid, err) < 0)
			goto fail;
		made++;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "%s: pipe", m->provider);
		goto fail;
	}
	ready_r = pfd[0];
	if (spawn_shim(m, shim, dir, kernel, user, &fds, &argv, pfd[1], &pid, err) < 0) {
		close(pfd[1]);
		goto fail;
	}
	close(pfd[1]);
	n = qemu_shim_read_ready(ready_r, report, sizeof(report));
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (n > 3 && !strncmp(report, "ok ", 3)) {
		st->state = UNIK_STATE_RUNNING;
		st->pid = (pid_t)atoi(report + 3);
		snprintf(st->ip, sizeof(st->ip), "%s", ip);
		return 0;
	}
	if (n > 6 && !strncmp(report, "error ", 6)) {
		char *nl = strchr(report, '\n'), *msg;
		long e = strtol(report + 6, &msg, 10);

		if (nl)
			*nl = '\0';
		if (*msg == ' ')
			msg++;
		unik_error_set(err, e > 0 ? unik_error_code_from_errno((int)e) : UNIK_E_IO,
		               "%s: %s", m->provider, msg);
	} else {
		char line[256];

		qemu_last_line(dir, QEMU_SHIM_LOG_FILE, line, sizeof(line));
		unik_error_set(err, UNIK_E_IO, "%s: unik-shim %s%s%s%s", m->provider,
		               n < 0 ? "did not report in time" : "ended without starting ",
		               n < 0 ? "" : m->program, line[0] ? ": " : "", line);
	}
fail:
	if (made || *taplist) {
		struct unik_error ignored;

		(void)qemu_delete_taps(taplist, &ignored);
	}
	return -1;
}

static int spt_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                   struct unik_error *err)
{
	(void)ctx;
	return monitor_run(spt_monitor_find("spt"), spec, st, err);
}

static int hvt_run(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
                   struct unik_error *err)
{
	(void)ctx;
	return monitor_run(spt_monitor_find("hvt"), spec, st, err);
}

const struct unik_provider unik_provider_spt = {
    .name = "spt",
    .description = "mirage applications built for the unix target, as seccomp-confined host "
                   "processes (unik-spt)",
    .image_format = "elf",
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK),
    .user_net = false,
    .available = spt_available,
    .run = spt_run,
    .status = qemu_status,
    .stop = qemu_stop,
    .remove = qemu_remove,
    .event_fd = qemu_event_fd,
};

const struct unik_provider unik_provider_hvt = {
    .name = "hvt",
    .description = "mirage applications built for the hvt target, each in its own KVM virtual "
                   "machine under unik's own monitor (unik-hvt)",
    .image_format = "elf",
    .caps = UNIK_DEVICE_BIT(UNIK_DEVICE_NET) | UNIK_DEVICE_BIT(UNIK_DEVICE_BLK),
    .user_net = false,
    .available = hvt_available,
    .run = hvt_run,
    .status = qemu_status,
    .stop = qemu_stop,
    .remove = qemu_remove,
    .event_fd = qemu_event_fd,
};
