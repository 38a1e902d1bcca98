/* The host side of the device model (include/unik/devices.h): the devices an instance runs with,
 * checked once, and the manifest words that tell the guest about them.  Providers attach the
 * devices (providers/provider.h, unik_run_spec.devices); the core fills them in from a run. */
#ifndef UNIK_LIB_DEVICES_H
#define UNIK_LIB_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* enum unik_dev_kind's values, for code above lib/, which may not include include/unik/. */
enum unik_device_kind {
	UNIK_DEVICE_CONSOLE = 0,
	UNIK_DEVICE_NET,
	UNIK_DEVICE_BLK,
	UNIK_DEVICE_FS,
	UNIK_DEVICE_KINDS
};
#define UNIK_DEVICE_BIT(kind) (1u << (kind))

/* One device of an instance.  Strings are owned by whoever filled the struct. */
struct unik_device {
	enum unik_device_kind kind;
	const char *name; /* the guest's name for it: [a-z][a-z0-9_-]{0,14} */
	/* Backing, by kind: */
	const char *network; /* net: the named network (a bridge) the NIC joins, or NULL */
	const char *tap;     /* net: an existing host tap device to use, or NULL (the provider
	                        makes one, or uses user-mode networking where it has it) */
	const char *path;    /* blk: the disk file; fs: the host directory */
	const char *format;  /* blk: "raw" or "qcow2" */
	const char *mount;   /* blk, fs: where the guest mounts it ("/data"), or NULL */
	bool readonly;
	char mac[18]; /* net: "52:54:00:xx:xx:xx"; unik_devices_check fills it when empty */
};

/* "net", ...; NULL for a value out of range. */
const char *unik_device_kind_name(enum unik_device_kind kind);
/* The kind named name; -1 if none. */
int unik_device_kind_parse(const char *name);
/* "net, blk" for a capability mask (console left out); "none" when no bit is set. */
void unik_device_caps_string(unsigned caps, char *buf, size_t len);

/* Checks n devices for a provider with capability mask caps: names valid and unique, kinds the
 * provider attaches (else UNIK_E_UNSUPPORTED naming the kind, the provider and what it does
 * attach), backing present for the kind, MACs well formed.  A net device without a MAC gets one
 * derived from instance_id and its index (52:54:00:..., stable across restarts).  At most
 * UNIK_DEV_MAX devices. */
int unik_devices_check(struct unik_device *devs, size_t n, unsigned caps, const char *provider,
                       const char *instance_id, struct unik_error *err);

/* The manifest words for the guest's command line (include/unik/devices.h), each shell-quoted
 * when it needs it, joined by blanks, and then cmdline ("" for the image's defaults): the boot
 * command line a v2 guest gets.  Caller frees.  With no devices, a copy of cmdline. */
char *unik_devices_cmdline(const struct unik_device *devs, size_t n, const char *cmdline);

#endif
