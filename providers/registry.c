/* The provider registry (the compiled-in providers, lookup by name, state names) and the small
 * helpers every provider shares: options, status details, how an ended guest ended. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/guest_console.h"
#include "providers/provider.h"
#include "providers/qemu/qemu.h"
#include "providers/aws/awsprov.h"
#include "providers/kvm/kvm.h"
#include "providers/xen/xen.h"
#include "providers/spt/spt.h"

const struct unik_provider *const unik_providers[] = {
    &unik_provider_qemu,
    &unik_provider_kvm,
    &unik_provider_xen,
    &unik_provider_aws,
    &unik_provider_spt,
    &unik_provider_hvt,
    NULL,
};

const struct unik_provider *unik_provider_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; unik_providers[i]; i++)
		if (!strcmp(unik_providers[i]->name, name))
			return unik_providers[i];
	return NULL;
}

const char *unik_provider_default(void)
{
	return "qemu";
}

const char *unik_instance_state_name(enum unik_instance_state s)
{
	switch (s) {
	case UNIK_STATE_PENDING:
		return "pending";
	case UNIK_STATE_RUNNING:
		return "running";
	case UNIK_STATE_EXITED:
		return "exited";
	case UNIK_STATE_CRASHED:
		return "crashed";
	case UNIK_STATE_STOPPED:
		return "stopped";
	}
	return "unknown";
}

const char *unik_provider_opt(const char *const *opts, const char *key)
{
	const char *r = NULL;
	size_t kl = strlen(key);

	for (size_t i = 0; opts && opts[i]; i++)
		if (strncmp(opts[i], key, kl) == 0 && opts[i][kl] == '=')
			r = opts[i] + kl + 1;
	return r;
}

char *unik_provider_path(const char *provider, const char *what, const char *path,
                         struct unik_error *err)
{
	char *r = realpath(path, NULL);

	if (!r)
		unik_error_sys(err, errno, "%s: %s `%s`", provider, what, path);
	return r;
}

int unik_run_spec_paths(const char *provider, const struct unik_run_spec *spec, char **dir,
                        char **kernel, char **initrd, struct unik_error *err)
{
	*dir = *kernel = *initrd = NULL;
	if (!spec->instance_dir || !spec->kernel) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s: an instance needs a directory and a kernel", provider);
		return -1;
	}
	if (!(*dir = unik_provider_path(provider, "instance directory", spec->instance_dir, err)) ||
	    !(*kernel = unik_provider_path(provider, "kernel", spec->kernel, err)) ||
	    (spec->initrd &&
	     !(*initrd = unik_provider_path(provider, "initrd", spec->initrd, err))))
		goto fail;
	if (access(*kernel, R_OK) < 0 || (*initrd && access(*initrd, R_OK) < 0)) {
		unik_error_sys(err, errno, "%s: read `%s`", provider,
		               access(*kernel, R_OK) < 0 ? *kernel : *initrd);
		goto fail;
	}
	return 0;
fail:
	free(*dir);
	free(*kernel);
	free(*initrd);
	*dir = *kernel = *initrd = NULL;
	return -1;
}

void unik_status_detail(struct unik_instance_status *st, const char *fmt, ...)
{
	va_list ap;

	/* A va_list keeps the compiler from warning that a message may be cut: it may. */
	va_start(ap, fmt);
	vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
}

bool unik_status_from_console(const char *dir, bool stopped, struct unik_instance_status *st)
{
	struct unik_console_end con;

	unik_console_read_end(dir, &con);
	if (con.crashed) {
		st->state = UNIK_STATE_CRASHED;
		st->exit_code = 255;
		unik_status_detail(st, "%s", con.crash_line);
		return true;
	}
	if (con.exit_status >= 0) {
		st->state = UNIK_STATE_EXITED;
		st->exit_code = con.exit_status;
		return true;
	}
	if (stopped) {
		st->state = UNIK_STATE_STOPPED;
		st->exit_code = -1;
		unik_status_detail(st, "stopped on request");
		return true;
	}
	return false;
}

bool unik_provider_attaches(const struct unik_provider *p, enum unik_device_kind kind)
{
	return kind == UNIK_DEVICE_CONSOLE || (p->caps & UNIK_DEVICE_BIT(kind));
}

int unik_run_spec_devices(const char *provider, const struct unik_run_spec *spec,
                          struct unik_device **out, struct strv *paths, struct unik_error *err)
{
	struct unik_device *devs = NULL;

	*out = NULL;
	if (!spec->ndevices)
		return 0;
	devs = xcalloc(spec->ndevices, sizeof(*devs));
	for (size_t i = 0; i < spec->ndevices; i++) {
		devs[i] = spec->devices[i];
		if (devs[i].kind != UNIK_DEVICE_BLK && devs[i].kind != UNIK_DEVICE_FS)
			continue;
		char *abs = unik_provider_path(
		    provider, devs[i].kind == UNIK_DEVICE_BLK ? "disk file" : "host directory",
		    devs[i].path, err);
		if (!abs) {
			free(devs);
			return -1;
		}
		strv_push_take(paths, abs);
		devs[i].path = paths->v[paths->n - 1];
	}
	*out = devs;
	return 0;
}
