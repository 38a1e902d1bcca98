/* Image formats: how a built kernel (and its root fs) is packed into what a provider boots.
 * One packer per format behind this table: `elf` (the kernel as is, images/elf/) and the disk
 * images of images/disk/ (raw, qcow2, vmdk, vhd, iso), `oci` (images/oci/) and `xl`, an xl.cfg
 * for Xen (images/xl/). */
#ifndef UNIK_IMAGE_FORMAT_H
#define UNIK_IMAGE_FORMAT_H

#include <stdint.h>

#include "lib/error.h"
#include "lib/artifacts.h"

struct unik_image_format {
	const char *name; /* "elf" */
	const char *description;
	const char *file; /* its file in an image's directory: "kernel.elf", "disk.raw" */
	/* Writes the image in this format to out_path (appears complete or not at all); *size is
	 * its size in bytes. */
	int (*pack)(const struct unik_artifacts *a, const char *out_path, uint64_t *size,
	            struct unik_error *err);
	/* 0 if path is a sound image in this format, checked before it is handed out or booted;
	 * else UNIK_E_INVALID saying what is wrong ("truncated: ..."). */
	int (*check)(const char *path, struct unik_error *err);
};

extern const struct unik_image_format *const unik_image_formats[]; /* NULL-terminated */
const struct unik_image_format *unik_image_format_find(const char *name);
/* "elf, raw, qcow2, ...": the names in the table's order, for messages.  Static storage. */
const char *unik_image_format_names(void);

#endif
