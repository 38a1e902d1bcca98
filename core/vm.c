/* Driving a provider (core/vm.h): its context, the device check and the boot command line. */
#include <string.h>

#include <unik/abi.h>

#include "core/vm.h"
#include "lib/devices.h"
#include "lib/guest_elf.h"
#include "lib/suggest.h"
#include "lib/util.h"

int unik_vm_open(struct unik_vm *vm, const struct unik_provider *p, const char *const *opts,
                 struct unik_error *err)
{
	static const char *const none[] = {NULL};

	vm->p = p;
	vm->ctx = NULL;
	if (p->open && p->open(opts ? opts : none, &vm->ctx, err) < 0) {
		unik_error_prefix(err, "provider %s", p->name);
		vm->p = NULL;
		return -1;
	}
	return 0;
}

int unik_vm_open_name(struct unik_vm *vm, const char *name, const char *const *opts,
                      struct unik_error *err)
{
	const struct unik_provider *p = unik_provider_find(name);
	const char *names[16] = {NULL}, *near;
	size_t n = 0;

	if (p)
		return unik_vm_open(vm, p, opts, err);
	for (; unik_providers[n] && n + 1 < sizeof(names) / sizeof(names[0]); n++)
		names[n] = unik_providers[n]->name;
	near = unik_suggest(name ? name : "", names, n);
	unik_error_set(err, UNIK_E_NOTFOUND, "no provider \"%s\"%s%s%s", name ? name : "",
	               near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
	return -1;
}

void unik_vm_close(struct unik_vm *vm)
{
	if (vm->p && vm->p->close)
		vm->p->close(vm->ctx);
	vm->p = NULL;
	vm->ctx = NULL;
}

int unik_vm_run(struct unik_vm *vm, struct unik_run_spec *spec, struct unik_instance_status *st,
                struct unik_error *err)
{
	/* The device structs are the caller's; check them in place (MACs filled in). */
	struct unik_device *devs = (struct unik_device *)spec->devices;
	_cleanup_free_ char *cmdline = NULL;
	const char *plain = spec->cmdline;
	int rc;

	if (unik_devices_check(devs, spec->ndevices, vm->p->caps, vm->p->name, spec->instance_id,
	                       err) < 0)
		return -1;
	struct unik_guest_elf app;
	const char *target = unik_guest_elf_read(spec->kernel, &app, NULL) == 0
	                         ? unik_guest_elf_app_target(&app)
	                         : NULL;

	/* An application of a target that runs on its own monitor (unix, hvt) has no boot line:
	 * the monitor hands it the devices itself. */
	if (spec->ndevices && !unik_target_monitor_provider(target)) {
		/* A v1 runtime would take the first manifest word for argv[0]. */
		int abi = unik_guest_elf_abi_version(spec->kernel, err);

		if (abi < 0)
			return -1;
		if (abi < UNIK_ABI_VERSION_DEVICES) {
			unik_error_set(
			    err, UNIK_E_UNSUPPORTED,
			    "the image was built for guest ABI v%d, which has no devices "
			    "(v%d and later do): rebuild it with this unik to attach devices",
			    abi, UNIK_ABI_VERSION_DEVICES);
			return -1;
		}
		/* The guest is named after the instance: uname -n, and /etc/hosts once a NIC is
		 * up (docs/guest-abi.md).  The word follows the manifest words. */
		_cleanup_free_ char *named = NULL;
		const char *host = spec->hostname ? spec->hostname : spec->instance_name;
		if (host && host[0]) {
			_cleanup_free_ char *word = unik_hostname_word(host);
			named = xasprintf("%s%s%s", word, plain && plain[0] ? " " : "",
			                  plain ? plain : "");
		}
		cmdline =
		    unik_devices_cmdline(spec->devices, spec->ndevices, named ? named : plain);
		spec->cmdline = cmdline;
	}
	rc = vm->p->run(vm->ctx, spec, st, err);
	spec->cmdline = plain;
	return rc;
}

int unik_vm_status(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                   struct unik_error *err)
{
	return vm->p->status(vm->ctx, dir, st, err);
}

int unik_vm_stop(struct unik_vm *vm, const char *dir, bool force, int timeout_ms,
                 struct unik_error *err)
{
	return vm->p->stop(vm->ctx, dir, force, timeout_ms, err);
}

int unik_vm_start(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                  struct unik_error *err)
{
	if (!vm->p->start) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "provider %s cannot start an instance again", vm->p->name);
		return -1;
	}
	return vm->p->start(vm->ctx, dir, st, err);
}

int unik_vm_remove(struct unik_vm *vm, const char *dir, struct unik_error *err)
{
	return vm->p->remove(vm->ctx, dir, err);
}

int unik_vm_reconcile(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err)
{
	if (vm->p->reconcile)
		return vm->p->reconcile(vm->ctx, dir, st, err);
	return vm->p->status(vm->ctx, dir, st, err);
}

int unik_vm_stage(struct unik_vm *vm, const struct unik_stage_spec *spec, struct unik_error *err)
{
	return vm->p->stage ? vm->p->stage(vm->ctx, spec, err) : 0;
}

int unik_vm_unstage(struct unik_vm *vm, const char *image_dir, const char *const *opts,
                    struct unik_error *err)
{
	return vm->p->unstage ? vm->p->unstage(vm->ctx, image_dir, opts, err) : 0;
}

int unik_vm_event_fd(struct unik_vm *vm, const char *dir)
{
	if (!vm->p->event_fd)
		return -1;
	return vm->p->event_fd(vm->ctx, dir, NULL);
}
