/* Unpacking untrusted source archives (gzip or plain tar) into a private directory: every entry
 * is checked before anything is written, and the first bad one stops the unpack with a message
 * that names it. */
#ifndef UNIK_UNTAR_H
#define UNIK_UNTAR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct unik_untar_limits {
	uint64_t max_bytes; /* total file bytes after decompression (default 256 MiB) */
	uint64_t max_files; /* entries of any kind (default 20,000) */
	uint64_t max_ratio; /* decompressed : compressed, checked past 16 MiB (default 200) */
};

#define UNIK_UNTAR_LIMITS_DEFAULT                                                                  \
	{                                                                                          \
		.max_bytes = 256ull << 20, .max_files = 20000, .max_ratio = 200                    \
	}

struct unik_untar_stats {
	uint64_t files; /* entries unpacked */
	uint64_t bytes; /* file bytes written */
};

/* Unpacks the archive at archive_path into dest (an existing, empty directory).  Refused, with
 * UNIK_E_INVALID and a message naming the entry: absolute paths, ".." components, symbolic or
 * hard links whose target leaves dest, device nodes, fifos and sockets, setuid and setgid bits,
 * anything over the limits (UNIK_E_INVALID too, "too large"), and anything libarchive cannot
 * read.  On failure dest is left empty.  lim and st may be NULL. */
int unik_untar(const char *archive_path, const char *dest, const struct unik_untar_limits *lim,
               struct unik_untar_stats *st, struct unik_error *err);

/* The same checks on an archive in memory without writing anything (dest == NULL); for tests and
 * the fuzzer. */
int unik_untar_check_mem(const void *buf, size_t len, const struct unik_untar_limits *lim,
                         struct unik_error *err);

/* Lexical checks on one entry name or link target, exposed for tests: 0 when path is relative
 * and has no ".." component; for a link target, when it stays inside the tree as seen from the
 * link's own directory (link_path).  Messages name the entry. */
int unik_untar_check_path(const char *path, struct unik_error *err);
int unik_untar_check_link(const char *link_path, const char *target, struct unik_error *err);

#endif
