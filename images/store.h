/* The image store on disk: $UNIK_HOME/images/<id>/ holds kernel.elf (the `elf` format),
 * rootfs.cpio (optional), image.json, and a file per other format it was packed in (disk.raw,
 * disk.qcow2, ...: images/format.h).  The daemon keeps the index (SQLite); this keeps the files. */
#ifndef UNIK_IMAGE_STORE_H
#define UNIK_IMAGE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "images/format.h"

struct unik_image_files {
	uint64_t elf_size;    /* bytes of kernel.elf */
	uint64_t rootfs_size; /* bytes of rootfs.cpio, 0 when there is none */
};

/* Creates images_dir/<id>/ from what a build produced: a->kernel (checked and copied as
 * kernel.elf) and a->rootfs (the compiler's newc cpio, copied as rootfs.cpio, or NULL), with
 * meta_json written as image.json.  The directory appears complete (a rename) or not at all. */
int unik_image_store_put(const char *images_dir, const char *id, const struct unik_artifacts *a,
                         const char *meta_json, struct unik_image_files *files,
                         struct unik_error *err);

/* Removes images_dir/<id>/ and everything in it. */
int unik_image_store_remove(const char *images_dir, const char *id, struct unik_error *err);

/* Paths of an image's files (caller frees).  The root fs path is returned only if it exists. */
char *unik_image_kernel_path(const char *images_dir, const char *id);
char *unik_image_rootfs_path(const char *images_dir, const char *id);

/* The path of an image's file in format f, whether it exists or not (caller frees). */
char *unik_image_format_path(const char *images_dir, const char *id,
                             const struct unik_image_format *f);

/* Packs images_dir/<id>/ in format f from its kernel.elf and rootfs.cpio, with cmdline (NULL
 * for the kernel's baked defaults) baked into disk formats.  The file is replaced atomically, so
 * readers see the old one or the new one, whole.  For `elf`, which is kernel.elf itself, this
 * only checks it.  name, base and memory_mb are metadata some formats record (`oci`'s tag and
 * labels); base may be NULL.  *size: the file's size in bytes. */
int unik_image_store_pack(const char *images_dir, const char *id, const struct unik_image_format *f,
                          const char *cmdline, const char *name, const char *base,
                          uint64_t memory_mb, uint64_t *size, struct unik_error *err);

/* Replaces images_dir/<id>/image.json (atomically). */
int unik_image_store_write_meta(const char *images_dir, const char *id, const char *meta_json,
                                struct unik_error *err);

#endif
