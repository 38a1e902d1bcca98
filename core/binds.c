/* A device application's devices (the mirage backend, docs/backends/mirage.md): its kernel declares
 * them by name (UNIK_NOTE_APP_DEVICES), a run binds each name to a network or a volume, and the
 * devices the instance boots with carry the declared names.  The bindings become the run's NICs
 * and volumes, so that networks.c and volumes.c attach them as for any image; a block device is a
 * volume "mounted" at BINDS_RAW_AT, which volumes.c attaches whole and leaves to the application.
 */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/store.h"
#include "lib/guest_elf.h"
#include "unik/devices.h"

/* The image's kernel headers; false when it cannot be read (the run fails later, saying why). */
static bool kernel_info(struct unik_core *c, const char *image_id, struct unik_guest_elf *g)
{
	_cleanup_free_ char *kernel = unik_image_kernel_path(c->images_dir, image_id);

	return unik_guest_elf_check_image(kernel, g, NULL) == 0;
}

static const char *kind_word(unsigned kind)
{
	return kind == UNIK_DEV_NET ? "net" : "block";
}

int binds_check_provider(struct unik_core *c, const struct unik_image *im, const char *provider,
                         struct unik_error *err)
{
	struct unik_guest_elf g;
	const char *target = kernel_info(c, im->id, &g) ? unik_guest_elf_app_target(&g) : NULL;
	const char *own = unik_target_monitor_provider(target);
	const char *runs = unik_monitor_provider_target(provider); /* the only target it runs */

	if (own && strcmp(own, provider)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "image %s is a mirage application built for the %s target: it runs "
		               "on the %s provider (--provider %s), not on %s; build it with "
		               "--target virtio for %s",
		               im->name, target, own, own, provider, provider);
		return -1;
	}
	if (runs && !own) {
		unik_error_set(err, UNIK_E_INVALID,
		               "provider %s runs only mirage applications built for the %s target "
		               "(unik build --target %s); image %s is %s",
		               provider, runs, runs, im->name,
		               target ? "built for the virtio target: run it on qemu"
		                      : "a kernel for a virtual machine");
		return -1;
	}
	return 0;
}

int binds_apply(struct unik_core *c, const struct unik_image *im, const struct unik_run_request *rr,
                struct strv *networks, struct strv *volumes, struct unik_error *err)
{
	struct unik_guest_elf g;
	const char *bound[16] = {0};

	if (!kernel_info(c, im->id, &g) || !g.app) {
		if (rr->binds.n) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "image %s declares no devices (it is not a mirage application): "
			    "give it NICs with --network NAME and volumes with -v",
			    im->name);
			return -1;
		}
		return 0;
	}
	if (rr->networks.n || rr->volumes.n) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "image %s is a mirage application: bind the devices it declares by "
		    "name (--net NAME=NETWORK, --block NAME=VOLUME) instead of --network "
		    "and -v",
		    im->name);
		return -1;
	}
	for (size_t i = 0; i < rr->binds.n; i++) {
		const char *b = rr->binds.v[i], *colon = strchr(b, ':'), *eq = strchr(b, '=');
		unsigned kind;
		size_t k;

		if (!colon || !eq || eq < colon || eq == colon + 1 || !eq[1]) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "bind \"%.80s\": expected net:NAME=NETWORK or blk:NAME=VOLUME", b);
			return -1;
		}
		if (!strncmp(b, "net:", 4))
			kind = UNIK_DEV_NET;
		else if (!strncmp(b, "blk:", 4) || !strncmp(b, "block:", 6))
			kind = UNIK_DEV_BLK;
		else {
			unik_error_set(err, UNIK_E_INVALID,
			               "bind \"%.80s\": the kind is net or blk", b);
			return -1;
		}
		for (k = 0; k < g.napp_devices; k++)
			if (g.app_devices[k].kind == kind &&
			    strlen(g.app_devices[k].name) == (size_t)(eq - colon - 1) &&
			    !strncmp(g.app_devices[k].name, colon + 1, (size_t)(eq - colon - 1)))
				break;
		if (k == g.napp_devices) {
			_cleanup_strv_ struct strv names = {0};

			for (size_t j = 0; j < g.napp_devices; j++)
				strv_pushf(&names, "%s %s", kind_word(g.app_devices[j].kind),
				           g.app_devices[j].name);
			_cleanup_free_ char *list = strv_join(&names, ", ");
			unik_error_set(err, UNIK_E_INVALID,
			               "image %s declares no %s device \"%.*s\" (it declares: %s)",
			               im->name, kind_word(kind), (int)(eq - colon - 1), colon + 1,
			               names.n ? list : "none");
			return -1;
		}
		if (bound[k]) {
			unik_error_set(err, UNIK_E_INVALID, "device \"%s\" is bound twice",
			               g.app_devices[k].name);
			return -1;
		}
		bound[k] = eq + 1;
	}
	for (size_t k = 0; k < g.napp_devices; k++) {
		const struct unik_guest_elf_device *d = &g.app_devices[k];

		if (!bound[k]) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "image %s declares %s device \"%s\", which this run does not "
			    "bind: add --%s %s=%s",
			    im->name, kind_word(d->kind), d->name,
			    d->kind == UNIK_DEV_NET ? "net" : "block", d->name,
			    d->kind == UNIK_DEV_NET ? "NETWORK" : "VOLUME");
			return -1;
		}
		if (d->kind == UNIK_DEV_BLK)
			strv_pushf(volumes, "%s:" BINDS_RAW_AT "%s", bound[k], d->name);
		else
			strv_push(networks, bound[k]);
	}
	/* Declared no NIC: none, whatever the image's other notes say. */
	if (!networks->n && !rr->ports.n)
		strv_push(networks, "none");
	return 0;
}

void binds_name_devices(struct unik_core *c, const char *image_id, struct unik_device *devs,
                        size_t n, struct strv *strings)
{
	struct unik_guest_elf g;
	size_t next[UNIK_DEV_KINDS] = {0};

	if (!kernel_info(c, image_id, &g) || !g.app)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned kind = devs[i].kind == UNIK_DEVICE_NET   ? UNIK_DEV_NET
		                : devs[i].kind == UNIK_DEVICE_BLK ? UNIK_DEV_BLK
		                                                  : UNIK_DEV_KINDS;
		size_t seen = 0;

		if (kind == UNIK_DEV_KINDS)
			continue;
		/* The i-th bound device of a kind is the i-th declared one: binds_apply made the
		 * NICs in declaration order. */
		for (size_t k = 0; k < g.napp_devices; k++) {
			if (g.app_devices[k].kind != kind || seen++ != next[kind])
				continue;
			strv_push(strings, g.app_devices[k].name);
			devs[i].name = strings->v[strings->n - 1];
			devs[i].mount = NULL;
			break;
		}
		next[kind]++;
	}
}

void unik_core_instance_binds(struct unik_core *c, const struct unik_instance *in, struct strv *out)
{
	struct unik_guest_elf g;
	size_t nic = 0;

	if (!in->image_id || !kernel_info(c, in->image_id, &g) || !g.app)
		return;
	for (size_t k = 0; k < g.napp_devices; k++) {
		const struct unik_guest_elf_device *d = &g.app_devices[k];

		if (d->kind == UNIK_DEV_NET) {
			/* binds_apply made the NICs in declaration order. */
			if (nic < in->nnics)
				strv_pushf(out, "net:%s=%s", d->name,
				           in->nics[nic].network ? in->nics[nic].network : "user");
			nic++;
			continue;
		}
		for (size_t m = 0; m < in->nmounts; m++) {
			const char *at = in->mounts[m].at;

			if (in->mounts[m].volume && at &&
			    !strncmp(at, BINDS_RAW_AT, strlen(BINDS_RAW_AT)) &&
			    !strcmp(at + strlen(BINDS_RAW_AT), d->name)) {
				strv_pushf(out, "blk:%s=%s", d->name, in->mounts[m].volume);
				break;
			}
		}
	}
}
