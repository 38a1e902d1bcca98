/* The image store on disk: $UNIK_HOME/images/<id>/ holds kernel.elf, rootfs.cpio (optional)
 * and image.json.  The daemon keeps the index (SQLite); this keeps the files. */
#ifndef UNIK_IMAGE_STORE_H
#define UNIK_IMAGE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct unik_image_files {
	uint64_t elf_size;    /* bytes of kernel.elf */
	uint64_t rootfs_size; /* bytes of rootfs.cpio, 0 when there is none */
};

/* Creates images_dir/<id>/ from a kernel and an optional root fs directory (packed as newc
 * cpio), with meta_json written as image.json.  The directory appears complete (a rename) or not
 * at all.  warn_fd (or -1) receives a line for each root fs entry left out. */
int unik_image_store_put(const char *images_dir, const char *id, const char *kernel,
                         const char *rootfs_dir, const char *meta_json, int warn_fd,
                         struct unik_image_files *files, struct unik_error *err);

/* Removes images_dir/<id>/ and everything in it. */
int unik_image_store_remove(const char *images_dir, const char *id, struct unik_error *err);

/* Paths of an image's files (caller frees).  The root fs path is returned only if it exists. */
char *unik_image_kernel_path(const char *images_dir, const char *id);
char *unik_image_rootfs_path(const char *images_dir, const char *id);

#endif
