/* Packing without the daemon: see pack.h. */
#include "core/pack.h"

#include <stdio.h>
#include <string.h>

#include "images/disk/disk.h"

/* The tag the ISO's GRUB searches for when a configuration is printed on its own: fixed, so the
 * output can be compared with golden files. */
#define PRINT_TAG "/unik-0123456789abcdef"

bool unik_core_pack_format_known(const char *name)
{
	return unik_disk_format_parse(name) >= 0;
}

const char *unik_core_pack_format_names(void)
{
	return unik_disk_format_names();
}

int unik_core_pack(const char *kernel, const char *initrd, const char *cmdline, const char *format,
                   const char *out, const struct unik_pack_options *o, struct unik_error *err)
{
	static const enum unik_disk_firmware fw[] = {
	    [UNIK_PACK_FW_HYBRID] = UNIK_DISK_FW_HYBRID,
	    [UNIK_PACK_FW_BIOS] = UNIK_DISK_FW_BIOS,
	    [UNIK_PACK_FW_UEFI] = UNIK_DISK_FW_UEFI,
	};
	int f = unik_disk_format_parse(format);
	struct unik_disk_spec spec = {
	    .kernel = kernel,
	    .initrd = initrd,
	    .cmdline = cmdline,
	    .output = out,
	    .firmware = UNIK_DISK_FW_HYBRID,
	};

	if (f < 0) {
		unik_error_set(err, UNIK_E_INVALID, "unknown format `%s` (%s)",
		               format ? format : "", unik_core_pack_format_names());
		return -1;
	}
	spec.format = (enum unik_disk_format)f;
	if (o) {
		if ((unsigned)o->firmware >= sizeof(fw) / sizeof(fw[0])) {
			unik_error_set(err, UNIK_E_INTERNAL, "bad firmware %d", (int)o->firmware);
			return -1;
		}
		spec.firmware = fw[o->firmware];
		spec.grub_dir = o->grub_dir;
	}
	return unik_disk_pack(&spec, err);
}

int unik_core_pack_check(const char *path, const char *format, struct unik_error *err)
{
	int f = -1;

	if (format && (f = unik_disk_format_parse(format)) < 0) {
		unik_error_set(err, UNIK_E_INVALID, "unknown format `%s` (%s)", format,
		               unik_core_pack_format_names());
		return -1;
	}
	return unik_disk_check(path, f, err);
}

int unik_core_pack_dump_layout(const char *path, char **out, struct unik_error *err)
{
	return unik_disk_dump_layout(path, out, err);
}

int unik_core_pack_grub_config(const char *which, const char *cmdline, bool initrd, char **out,
                               struct unik_error *err)
{
	return unik_disk_grub_config(which, cmdline, initrd, PRINT_TAG, out, err);
}
