/* Packing a directory tree into a newc cpio archive, the format of unik's root file systems
 * (embedded by unik-cc or passed as an initrd). */
#ifndef UNIK_CPIO_H
#define UNIK_CPIO_H

#include "lib/error.h"

/* Called for each entry that is left out (sockets, fifos, device nodes): path is relative to the
 * packed directory, reason says why ("skipping fifo"). */
typedef void (*unik_cpio_warn_fn)(void *ctx, const char *path, const char *reason);

/* Writes the contents of dir (not dir itself) as a newc archive to fd.  Entry names are relative
 * ("etc/motd"), directories come before their contents and siblings are sorted by byte order, so
 * the same tree always gives the same bytes.  Owners are 0:0; permission bits and modification
 * times are kept; symbolic links are stored, never followed (dir itself may be a link); hard links
 * are stored as separate files.  warn may be NULL to skip silently.  fd is not closed. */
int unik_cpio_pack_fd(const char *dir, int fd, unik_cpio_warn_fn warn, void *ctx,
                      struct unik_error *err);

/* The same into a file, which appears complete (through a rename) or not at all. */
int unik_cpio_pack(const char *dir, const char *out_path, unik_cpio_warn_fn warn, void *ctx,
                   struct unik_error *err);

#endif
