/* Image formats: how a built kernel (and its root fs) is packed into what a provider boots.
 * One packer per format behind this table; `elf` (the kernel as is) today, disk formats later. */
#ifndef UNIK_IMAGE_FORMAT_H
#define UNIK_IMAGE_FORMAT_H

#include <stdint.h>

#include "error.h"

/* What a build produced.  Paths are owned by the caller. */
struct unik_artifacts {
	const char *kernel; /* the kernel ELF */
	const char *rootfs; /* newc cpio of the root fs, or NULL */
};

struct unik_image_format {
	const char *name; /* "elf" */
	const char *description;
	/* Writes the image in this format to out_path (appears complete or not at all); *size is
	 * its size in bytes. */
	int (*pack)(const struct unik_artifacts *a, const char *out_path, uint64_t *size,
	            struct unik_error *err);
};

extern const struct unik_image_format *const unik_image_formats[]; /* NULL-terminated */
const struct unik_image_format *unik_image_format_find(const char *name);

/* 0 if path is a unik kernel: an x86-64 ELF executable carrying the "unik" ABI note
 * (include/unik/abi.h); else UNIK_E_INVALID saying what it is instead. */
int unik_elf_check_kernel(const char *path, struct unik_error *err);

#endif
