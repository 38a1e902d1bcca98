/* Small host helpers everyone shares: allocation that aborts on OOM, cleanup attributes, paths,
 * temporary directories, whole-file I/O and argument vectors. */
#ifndef UNIK_UTIL_H
#define UNIK_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* Allocation: out of memory prints a message and aborts, so these never return NULL.  The caller
 * owns (and frees) what they return. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t size);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Cleanup attributes: the variable is released when it goes out of scope.  Hand ownership over
 * with unik_steal_ptr / unik_steal_fd, which also disarm the cleanup. */
void unik_freep(void *pp);
void unik_closep(int *fdp);
void unik_fclosep(FILE **fp);
#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(unik_freep)
#define _cleanup_close_  _cleanup_(unik_closep)
#define _cleanup_fclose_ _cleanup_(unik_fclosep)

static inline void *unik_steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;

	*p = NULL;
	return r;
}

static inline int unik_steal_fd(int *fdp)
{
	int fd = *fdp;

	*fdp = -1;
	return fd;
}

bool unik_str_has_prefix(const char *s, const char *prefix);
bool unik_str_has_suffix(const char *s, const char *suffix);

/* "a" + "b" -> "a/b" with exactly one slash between them; an absolute or empty b is appended as
 * a relative name.  Caller frees. */
char *unik_path_join(const char *a, const char *b);

/* Creates a fresh mode-0700 directory "$TMPDIR/<prefix>-XXXXXX" (TMPDIR defaults to /tmp) and
 * returns its absolute path; caller frees the string and removes the directory. */
char *unik_mkdtemp(const char *prefix, struct unik_error *err);

/* Removes path and everything below it, like rm -rf: symbolic links are removed, never followed,
 * and the tree is walked with openat() so a link swapped in mid-walk cannot redirect it.  A path
 * that does not exist is not an error. */
int unik_rmtree(const char *path, struct unik_error *err);

/* Reads a whole file.  *out is NUL-terminated (so text can be used as a string) and owned by the
 * caller; *len (if not NULL) excludes the NUL. */
int unik_read_file(const char *path, char **out, size_t *len, struct unik_error *err);

/* A file replaced atomically, for content written a piece at a time: open creates a temporary
 * "<path>.tmp-XXXXXX" next to path (mode 0600 until commit); write to fd; commit applies mode
 * (as given, no umask), syncs the file, renames it over path and syncs the directory, so readers
 * see the old contents or the new, never a mix, even after a crash.  abort (or a failed commit)
 * removes the temporary.  The struct owns fd and tmp; abort after commit does nothing, so it can
 * serve as the cleanup on every path. */
struct unik_atomic_file {
	int fd;
	char *tmp;
};
int unik_atomic_file_open(struct unik_atomic_file *f, const char *path, struct unik_error *err);
int unik_atomic_file_commit(struct unik_atomic_file *f, const char *path, mode_t mode,
                            struct unik_error *err);
void unik_atomic_file_abort(struct unik_atomic_file *f);
#define _cleanup_atomic_file_ _cleanup_(unik_atomic_file_abort)

/* The same for data in memory: writes len bytes to path atomically with that mode. */
int unik_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct unik_error *err);
/* Like unik_write_file_atomic, without the syncs: readers never see a mix, but a host crash may
 * lose the file.  For records that mean nothing after a crash (PIDs) on a hot path. */
int unik_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            struct unik_error *err);

/* Monotonic time (CLOCK_MONOTONIC) in milliseconds and microseconds: for timeouts and intervals,
 * never for dates.  The origin is arbitrary (usually boot), so only differences mean anything. */
int64_t unik_now_ms(void);
int64_t unik_now_us(void);
/* The wall-clock time now as RFC 3339 UTC with digits (0 to 9) of fractions of a second:
 * "2026-12-02T07:20:00.123Z" for 3.  Caller frees. */
char *unik_now_rfc3339(unsigned digits);

/* write(2) until all of buf is written, retrying on EINTR; -1 with errno set on failure. */
int unik_write_all(int fd, const void *buf, size_t len);

/* The small records providers keep in an instance directory (docs/providers.md). */
/* Whether dir/name exists. */
bool unik_file_exists_in(const char *dir, const char *name);
/* Writes text to dir/name (created 0644 or truncated), without syncing: these records matter
 * only while the host is up.  Use unik_write_file_atomic where a reader may race the write. */
int unik_write_text_in(const char *dir, const char *name, const char *text, struct unik_error *err);
/* Their key=value records are read and written with lib/kv.h. */

/* A growable, NULL-terminated vector of owned strings, e.g. to build an argument vector.
 * Zero-initialise it ({0}); v is NULL until the first push, so use strv_argv() to pass it on. */
struct strv {
	char **v;
	size_t n;
	size_t cap;
};

void strv_push(struct strv *s, const char *str); /* pushes a copy */
void strv_push_take(struct strv *s, char *str);  /* takes ownership of a malloc'd str */
void strv_pushf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_extend(struct strv *s, const struct strv *other); /* pushes copies */
void strv_free(struct strv *s);                             /* frees all and zeroes s */
char *const *strv_argv(const struct strv *s);               /* never NULL; NULL-terminated */
/* The words joined with sep between them ("" for none).  Caller frees. */
char *strv_join(const struct strv *s, const char *sep);
#define _cleanup_strv_ _cleanup_(strv_free)

#endif
