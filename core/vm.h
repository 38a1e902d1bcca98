/* The core's one way to drive a provider: open its context, check an instance's devices against
 * what it attaches, compose the guest's boot command line, and run, watch, stop, start and remove
 * the VM.  The daemon's instances, unik-oci and the provider contract tests all go through here,
 * so a provider is driven the same way whichever door asked. */
#ifndef UNIK_CORE_VM_H
#define UNIK_CORE_VM_H

#include <stdbool.h>

#include "lib/error.h"
#include "providers/provider.h"

/* An open provider: the provider and the context its open() made (NULL when it has none). */
struct unik_vm {
	const struct unik_provider *p;
	void *ctx;
};

/* Opens provider p (from the registry, or any other table, such as the tests' fake) with
 * "key=value" options (NULL-ended, or NULL for none; the caller has checked the keys against
 * p->opt_keys).  Close it with unik_vm_close. */
int unik_vm_open(struct unik_vm *vm, const struct unik_provider *p, const char *const *opts,
                 struct unik_error *err);
/* The same, by name in the registry; an unknown name is UNIK_E_NOTFOUND with a suggestion. */
int unik_vm_open_name(struct unik_vm *vm, const char *name, const char *const *opts,
                      struct unik_error *err);
void unik_vm_close(struct unik_vm *vm);

/* Runs spec on the provider.  Devices are checked (unik_devices_check against the provider's
 * caps: a kind it lacks is UNIK_E_UNSUPPORTED, before anything starts) and their MACs filled in,
 * which is why spec is not const.  The guest gets the devices' manifest words in front of its
 * command line (unik_devices_cmdline); an image older than guest ABI v2 gets no devices
 * (UNIK_E_UNSUPPORTED, before anything starts). */
int unik_vm_run(struct unik_vm *vm, struct unik_run_spec *spec, struct unik_instance_status *st,
                struct unik_error *err);
int unik_vm_status(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                   struct unik_error *err);
int unik_vm_stop(struct unik_vm *vm, const char *dir, bool force, int timeout_ms,
                 struct unik_error *err);
/* Starts an ended instance again in place; UNIK_E_UNSUPPORTED when the provider cannot (the
 * caller then removes it and runs its spec again). */
int unik_vm_start(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                  struct unik_error *err);
int unik_vm_remove(struct unik_vm *vm, const char *dir, struct unik_error *err);
/* After a restart: the provider's reconcile(), or status() for one without it. */
int unik_vm_reconcile(struct unik_vm *vm, const char *dir, struct unik_instance_status *st,
                      struct unik_error *err);
/* Copies an image to where the provider runs it from (an AMI); 0 at once without stage(). */
int unik_vm_stage(struct unik_vm *vm, const struct unik_stage_spec *spec, struct unik_error *err);
/* Undoes stage() for an image being removed; 0 at once without unstage(). */
int unik_vm_unstage(struct unik_vm *vm, const char *image_dir, const char *const *opts,
                    struct unik_error *err);
/* A descriptor that becomes readable when the instance's state may have changed, or -1 when the
 * provider has no events for it (then poll unik_vm_status). */
int unik_vm_event_fd(struct unik_vm *vm, const char *dir);

#endif
