/* Packing a source directory as a gzip tar for upload (unik build), leaving out `.git/` and what
 * the directory's `.unikignore` names, with gitignore-like patterns. */
#ifndef UNIK_TARPACK_H
#define UNIK_TARPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* A parsed .unikignore.  Its grammar, a subset of gitignore's:
 *  - blank lines and lines starting with `#` are skipped (`\#` starts a pattern with `#`);
 *    trailing blanks are dropped unless escaped with `\`;
 *  - `!pattern` re-includes what an earlier pattern excluded (the last match wins), but nothing
 *    inside an excluded directory comes back, because an excluded directory is never walked;
 *  - a trailing `/` matches directories only;
 *  - a pattern with a `/` at its start or middle is anchored at the top of the tree (`/build`,
 *    `doc/x.txt`); one without matches a name at any depth (`*.o`);
 *  - `*`, `?` and `[...]` match within one path component (fnmatch); `**` as a whole component
 *    matches any number of components, at the start, the end or in the middle of a pattern.
 * Owned by the caller; free with unik_ignore_free. */
struct unik_ignore;

/* Parses the text of a .unikignore (never fails: malformed lines are patterns too). */
struct unik_ignore *unik_ignore_parse(const char *text, size_t len);

/* Reads dir/.unikignore; a missing file gives an empty rule set.  NULL on a read error. */
struct unik_ignore *unik_ignore_load(const char *dir, struct unik_error *err);

void unik_ignore_free(struct unik_ignore *ig);

/* Whether path (relative to the tree's top, `/`-separated, no leading `./`) is ignored; is_dir
 * says whether it names a directory.  Only the patterns are consulted, not the parents: the
 * walker never descends into an ignored directory. */
bool unik_ignore_match(const struct unik_ignore *ig, const char *path, bool is_dir);

/* Called for each entry left out for a reason other than the ignore rules (sockets, fifos,
 * devices): path is relative to the packed directory. */
typedef void (*unik_tarpack_warn_fn)(void *ctx, const char *path, const char *reason);

struct unik_tarpack_opts {
	unik_tarpack_warn_fn warn; /* may be NULL */
	void *warn_ctx;
	bool no_ignore_file; /* true: do not read .unikignore (only .git/ is left out) */
};

/* Packs the contents of dir (not dir itself) as a gzip-compressed tar (pax/ustar) into a buffer
 * that the caller owns and frees (*out, *len).  Names are relative ("src/main.c"), directories
 * come before their contents, siblings are sorted, owners are 0:0 with no user or group names,
 * permission bits (0777) and modification times are kept, set-id bits dropped; symbolic links are
 * stored as links, never followed; hard links are stored as separate files.  opts may be NULL.
 * *count (if not NULL) receives the number of entries written. */
int unik_tarpack(const char *dir, const struct unik_tarpack_opts *opts, char **out, size_t *len,
                 size_t *count, struct unik_error *err);

#endif
