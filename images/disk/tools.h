/* Internal to images/disk: running the external tools (grub-mkimage, mtools, xorriso, qemu-img)
 * with their output kept for error messages, and small file helpers. */
#ifndef UNIK_IMAGES_DISK_TOOLS_H
#define UNIK_IMAGES_DISK_TOOLS_H

#include <stdint.h>

#include "lib/error.h"

/* The absolute path of a tool (PATH, then /usr/sbin and /sbin, where Debian keeps mkfs.fat),
 * or NULL with UNIK_E_UNSUPPORTED naming the Debian package.  Caller frees. */
char *disk_tool(const char *name, const char *package, struct unik_error *err);

/* Runs argv with stdout and stderr going to log_path; a failure (or a non-zero exit) puts the
 * log's last lines into the message.  out_text, when not NULL, receives the log (caller frees). */
int disk_run(const char *const *argv, const char *log_path, char **out_text,
             struct unik_error *err);

/* Copies the whole of src to the open descriptor fd at offset. */
int disk_copy_into(const char *src, int fd, uint64_t offset, struct unik_error *err);

/* The size of path in bytes. */
int disk_file_size(const char *path, uint64_t *size, struct unik_error *err);

/* Moves a finished file into place: rename when on the same file system, else a copy to a
 * temporary name next to dest and a rename, so dest appears complete or not at all. */
int disk_install(const char *src, const char *dest, struct unik_error *err);

/* Sets every timestamp in the FAT file system at offset of the image at path to the fixed
 * DOS time of 2000-01-01 00:00, so the same inputs give the same bytes. */
int disk_fat_fix_times(const char *path, uint64_t offset, struct unik_error *err);

#endif
