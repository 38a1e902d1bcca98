/* The disk image formats (raw, qcow2, vmdk, vhd, iso) in the image store's table of formats
 * (images/format.h), each packed by unik_disk_pack and checked by unik_disk_check. */
#include "images/format.h"

#include <errno.h>
#include <sys/stat.h>

#include "images/disk/disk.h"

static int disk_pack(enum unik_disk_format f, const struct unik_artifacts *a, const char *out,
                     uint64_t *size, struct unik_error *err)
{
	struct unik_disk_spec spec = {
	    .kernel = a->kernel,
	    .initrd = a->rootfs,
	    .cmdline = a->cmdline,
	    .format = f,
	    .output = out,
	    .firmware = UNIK_DISK_FW_HYBRID,
	};
	struct stat sb;

	if (unik_disk_pack(&spec, err) < 0)
		return -1;
	if (stat(out, &sb) < 0) {
		unik_error_sys(err, errno, "stat %s", out);
		return -1;
	}
	*size = (uint64_t)sb.st_size;
	return 0;
}

#define DISK_FORMAT(NAME, ENUM, FILE, DESC)                                                        \
	static int NAME##_pack(const struct unik_artifacts *a, const char *out, uint64_t *size,    \
	                       struct unik_error *err)                                             \
	{                                                                                          \
		return disk_pack(ENUM, a, out, size, err);                                         \
	}                                                                                          \
	static int NAME##_check(const char *path, struct unik_error *err)                          \
	{                                                                                          \
		return unik_disk_check(path, ENUM, err);                                           \
	}                                                                                          \
	const struct unik_image_format unik_image_format_##NAME = {                                \
	    .name = #NAME,                                                                         \
	    .description = DESC,                                                                   \
	    .file = FILE,                                                                          \
	    .pack = NAME##_pack,                                                                   \
	    .check = NAME##_check,                                                                 \
	};

DISK_FORMAT(raw, UNIK_DISK_RAW, "disk.raw",
            "a partitioned disk that boots by itself under BIOS and UEFI (bare metal, libvirt)")
DISK_FORMAT(qcow2, UNIK_DISK_QCOW2, "disk.qcow2",
            "the raw disk as qcow2 (QEMU, libvirt, OpenStack)")
DISK_FORMAT(vmdk, UNIK_DISK_VMDK, "disk.vmdk", "the raw disk as a monolithic sparse VMDK (VMware)")
DISK_FORMAT(vhd, UNIK_DISK_VHD, "disk.vhd", "the raw disk as a fixed VHD (Hyper-V, Azure)")
DISK_FORMAT(iso, UNIK_DISK_ISO, "disk.iso",
            "a bootable ISO 9660 image, also a hybrid disk (CD-ROM, USB stick)")
