/* The libxl domain configuration of a unik guest: PVH, direct kernel boot, the root fs as the
 * ramdisk.  Pure: it needs neither a libxl_ctx nor a hypervisor, so tests compare it with
 * golden JSON and with what xl makes of the exported xl.cfg. */
#include "providers/xen/xen.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl_utils.h>
#include <libxlutil.h>

#include "lib/util.h"

#define XEN_MAX_VCPUS 128 /* what a PVH guest gets at most (HVM_MAX_VCPUS) */

char *xen_domain_name(const char *instance_name, const char *instance_id)
{
	char *n = xasprintf("unik-%s-%s", instance_name && *instance_name ? instance_name : "guest",
	                    instance_id ? instance_id : "");

	for (char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			*p = '-';
	/* Xen keeps names in xenstore: long ones work, but a short one reads better in `xl list`;
	 * the id at the end keeps it unique. */
	if (strlen(n) > 64) {
		size_t idl = instance_id ? strlen(instance_id) : 0;

		memmove(n + 64 - idl - 1, n + strlen(n) - idl - 1, idl + 2);
	}
	return n;
}

int xen_guest_options(const char *const *opts, struct unik_xl_guest *g, struct unik_error *err)
{
	const char *v = unik_provider_opt(opts, "vcpus");
	const char *crash = unik_provider_opt(opts, "on_crash");
	const char *disk = unik_provider_opt(opts, "disk");

	g->vcpus = 1;
	if (v) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (!*v || *end || n == 0 || n > XEN_MAX_VCPUS) {
			unik_error_set(err, UNIK_E_INVALID,
			               "xen: vcpus=%.20s: want a number from 1 to %d", v,
			               XEN_MAX_VCPUS);
			return -1;
		}
		g->vcpus = (unsigned)n;
	}
	g->on_poweroff = "destroy";
	g->on_reboot = "destroy";
	g->on_crash = "destroy";
	if (crash) {
		if (!unik_xl_action_valid(crash)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "xen: on_crash=%.40s: want destroy, preserve or "
			               "coredump-destroy",
			               crash);
			return -1;
		}
		g->on_crash = crash;
	}
	g->disk = disk && *disk ? disk : NULL;
	return 0;
}

static int action_of(const char *name, libxl_action_on_shutdown *out, struct unik_error *err)
{
	if (!name || !strcmp(name, "destroy"))
		*out = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	else if (!strcmp(name, "preserve"))
		*out = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	else if (!strcmp(name, "coredump-destroy"))
		*out = LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_DESTROY;
	else {
		unik_error_set(err, UNIK_E_INVALID, "xen: unknown shutdown action \"%.40s\"", name);
		return -1;
	}
	return 0;
}

/* One disk from its xl-disk-configuration(5) spec, parsed by libxlutil as xl does. */
static int parse_disk(const char *spec, libxl_device_disk *disk, struct unik_error *err)
{
	char *report = NULL;
	size_t report_len = 0;
	FILE *rf = open_memstream(&report, &report_len);
	XLU_Config *cfg;
	int rc = -1, e;

	if (!rf) {
		unik_error_sys(err, errno, "xen: open_memstream");
		return -1;
	}
	cfg = xlu_cfg_init(rf, "disk option");
	if (!cfg) {
		unik_error_set(err, UNIK_E_NOMEM, "xen: xlu_cfg_init failed");
		goto out;
	}
	e = xlu_disk_parse(cfg, 1, &spec, disk);
	fflush(rf);
	if (e) {
		size_t n = report ? strlen(report) : 0;

		while (n > 0 && report[n - 1] == '\n')
			report[--n] = '\0';
		unik_error_set(err, UNIK_E_INVALID, "xen: disk=%.200s: %s", spec,
		               n ? report : strerror(e));
		goto out;
	}
	rc = 0;
out:
	if (cfg)
		xlu_cfg_destroy(cfg);
	fclose(rf);
	free(report);
	return rc;
}

int xen_build_config(const struct unik_xl_guest *g, const libxl_uuid *uuid, libxl_domain_config *c,
                     struct unik_error *err)
{
	libxl_domain_build_info *b = &c->b_info;

	if (!g->name || !*g->name || !g->kernel || g->kernel[0] != '/' ||
	    (g->ramdisk && g->ramdisk[0] != '/')) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "xen: a guest needs a name and an absolute kernel (and ramdisk) path");
		return -1;
	}
	if (g->memory_mb == 0 || g->memory_mb > UINT64_MAX / 1024 / 2 || g->vcpus == 0 ||
	    g->vcpus > XEN_MAX_VCPUS) {
		unik_error_set(err, UNIK_E_INVALID, "xen: bad memory (%llu MiB) or vcpus (%u)",
		               (unsigned long long)g->memory_mb, g->vcpus);
		return -1;
	}
	if (action_of(g->on_poweroff, &c->on_poweroff, err) < 0 ||
	    action_of(g->on_reboot, &c->on_reboot, err) < 0 ||
	    action_of(g->on_crash, &c->on_crash, err) < 0)
		return -1;

	c->c_info.type = LIBXL_DOMAIN_TYPE_PVH;
	c->c_info.name = xstrdup(g->name);
	if (uuid)
		libxl_uuid_copy(NULL, &c->c_info.uuid, uuid);

	/* As xl does for type="pvh": the build info follows the domain type. */
	libxl_domain_build_info_init_type(b, LIBXL_DOMAIN_TYPE_PVH);
	b->kernel = xstrdup(g->kernel);
	b->ramdisk = g->ramdisk ? xstrdup(g->ramdisk) : NULL;
	b->cmdline = xstrdup(g->cmdline ? g->cmdline : "");
	b->target_memkb = g->memory_mb * 1024;
	b->max_memkb = g->memory_mb * 1024;
	b->max_vcpus = (int)g->vcpus;
	/* vcpus online at boot: all of them.  libxl_cpu_bitmap_alloc wants a ctx only to learn
	 * the host's CPU count, which a given size does not need, so the map is made here. */
	b->avail_vcpus.size = (g->vcpus + 7) / 8;
	b->avail_vcpus.map = xcalloc(b->avail_vcpus.size, 1);
	for (unsigned i = 0; i < g->vcpus; i++)
		libxl_bitmap_set(&b->avail_vcpus, (int)i);

	if (g->disk) {
		c->disks = xcalloc(1, sizeof(*c->disks));
		libxl_device_disk_init(&c->disks[0]);
		c->num_disks = 1;
		if (parse_disk(g->disk, &c->disks[0], err) < 0)
			return -1;
	}
	return 0;
}

/* Appends one element to a libxl device array of n (a realloc'd array of structs). */
#define XEN_APPEND(arr, n)                                                                         \
	((arr) = xrealloc((arr), sizeof(*(arr)) * (size_t)((n) + 1)), &(arr)[(n)++])

const char *xen_nic_bridge(const struct unik_device *d)
{
	/* A device filled in by hand (tests, older callers) may name the bridge as its
	 * network. */
	return d->bridge && d->bridge[0] ? d->bridge : d->network;
}

char *xen_xl_vifs(const struct unik_device *devs, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool any = false;

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];

		if (d->kind != UNIK_DEVICE_NET)
			continue;
		fprintf(f, "%s'mac=%s,bridge=%s'", any ? ", " : "vif = [ ", d->mac,
		        xen_nic_bridge(d) ? xen_nic_bridge(d) : "");
		any = true;
	}
	if (any)
		fputs(" ]\n", f);
	if (fclose(f) != 0 || !any) {
		free(buf);
		return NULL;
	}
	return buf;
}

int xen_add_devices(const struct unik_device *devs, size_t n, libxl_domain_config *c,
                    struct unik_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];

		switch (d->kind) {
		case UNIK_DEVICE_NET: {
			libxl_device_nic *nic;
			unsigned m[6];

			/* netback makes the host end itself (vifD.N) and adds it to a bridge:
			 * there is no existing tap to take over and no user-mode stack. */
			if (!xen_nic_bridge(d) || !xen_nic_bridge(d)[0]) {
				unik_error_set(
				    err, UNIK_E_UNSUPPORTED,
				    "xen: net device \"%s\": Xen joins a NIC to a bridge "
				    "(a named network)%s; give the device a network",
				    d->name,
				    d->tap && d->tap[0]
				        ? ", its backend makes the host's end itself, "
				          "so it cannot use an existing tap"
				        : " and has no user-mode networking");
				return -1;
			}
			if (d->nports) {
				char port[96];

				unik_port_format(&d->ports[0], port, sizeof(port));
				unik_error_set(
				    err, UNIK_E_UNSUPPORTED,
				    "xen: net device \"%s\": cannot publish port %s: Xen has no "
				    "forwarder on the host; reach the guest at its own address on "
				    "the network%s%s%s instead",
				    d->name, port, d->ip ? " (" : "", d->ip ? d->ip : "",
				    d->ip ? ")" : "");
				return -1;
			}
			if (sscanf(d->mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3],
			           &m[4], &m[5]) != 6) {
				unik_error_set(err, UNIK_E_INVALID,
				               "xen: net device \"%s\": MAC \"%s\"", d->name,
				               d->mac);
				return -1;
			}
			nic = XEN_APPEND(c->nics, c->num_nics);
			libxl_device_nic_init(nic);
			/* A PVH guest has no emulated NIC: netfront only. */
			nic->nictype = LIBXL_NIC_TYPE_VIF;
			for (int k = 0; k < 6; k++)
				nic->mac[k] = (uint8_t)m[k];
			nic->bridge = xstrdup(xen_nic_bridge(d));
			break;
		}
		case UNIK_DEVICE_BLK: {
			libxl_device_disk *disk;
			_cleanup_free_ char *spec = NULL;

			if (c->num_disks >= 26) {
				unik_error_set(err, UNIK_E_INVALID, "xen: more than 26 disks");
				return -1;
			}
			/* In xl-disk-configuration(5) syntax, read by libxlutil as xl reads it;
			 * target= last, as it takes the rest of the spec (commas included).
			 * blkfront has no serial: the guest pairs volumes with the manifest by
			 * order (docs/guest-abi.md). */
			spec = xasprintf("format=%s, vdev=xvd%c, access=%s, target=%s",
			                 d->format ? d->format : "raw", 'a' + c->num_disks,
			                 d->readonly ? "ro" : "rw", d->path);
			disk = XEN_APPEND(c->disks, c->num_disks);
			libxl_device_disk_init(disk);
			if (parse_disk(spec, disk, err) < 0)
				return -1;
			break;
		}
		case UNIK_DEVICE_FS: {
			libxl_device_p9 *p9;

			/* libxl's 9pfs has no read-only share. */
			if (d->readonly) {
				unik_error_set(
				    err, UNIK_E_UNSUPPORTED,
				    "xen: fs device \"%s\": Xen's 9pfs backend cannot share "
				    "a directory read-only",
				    d->name);
				return -1;
			}
			p9 = XEN_APPEND(c->p9s, c->num_p9s);
			libxl_device_p9_init(p9);
			p9->tag = xstrdup(d->name);
			p9->path = xstrdup(d->path);
			/* The only model libxl has, and the qemu provider's (docs/guest-abi.md). */
			p9->security_model = xstrdup("none");
			break;
		}
		default:
			unik_error_set(err, UNIK_E_UNSUPPORTED,
			               "xen: device \"%s\" is of a kind xen does not attach",
			               d->name ? d->name : "");
			return -1;
		}
	}
	return 0;
}

char *xen_config_json(libxl_domain_config *c)
{
	/* libxl uses the ctx of to_json only to log a failure to generate (out of memory); with
	 * no hypervisor there is no ctx to give, so a failure aborts here instead. */
	libxl_ctx *ctx = xen_ctx(NULL, 0);
	char *j = libxl_domain_config_to_json(ctx, c);

	if (!j) {
		fputs("unik: libxl_domain_config_to_json failed\n", stderr);
		abort();
	}
	return j;
}
