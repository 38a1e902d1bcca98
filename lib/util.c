/* Small host helpers: allocation, cleanup, paths, temporary directories, tree removal, file I/O
 * and string vectors. */
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t size)
{
	fprintf(stderr, "unik: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom(nmemb * size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		oom(size);
	return p;
}

void *xmemdup(const void *p, size_t size)
{
	void *d = xmalloc(size ? size : 1);

	memcpy(d, p, size);
	return d;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom(strlen(s) + 1);
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom(n + 1);
	return p;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		oom(strlen(fmt));
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void unik_freep(void *pp)
{
	free(*(void **)pp);
}

void unik_closep(int *fdp)
{
	if (*fdp >= 0) {
		int saved = errno;

		close(*fdp);
		errno = saved;
	}
}

void unik_fclosep(FILE **fp)
{
	if (*fp)
		fclose(*fp);
}

bool unik_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool unik_str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *unik_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 0)
		return xstrdup(b);
	if (*b == '\0')
		return xstrndup(a, la);
	if (a[la - 1] == '/')
		return xasprintf("%.*s%s", (int)la, a, b);
	return xasprintf("%.*s/%s", (int)la, a, b);
}

char *unik_mkdtemp(const char *prefix, struct unik_error *err)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *template = NULL;
	char *abs;

	if (!tmp || *tmp == '\0')
		tmp = "/tmp";
	template = xasprintf("%s/%s-XXXXXX", tmp, prefix);
	if (!mkdtemp(template)) {
		unik_error_sys(err, errno, "create a temporary directory `%s`", template);
		return NULL;
	}
	/* Callers embed the path in generated files and pass it to tools run elsewhere. */
	abs = realpath(template, NULL);
	if (!abs) {
		unik_error_sys(err, errno, "resolve `%s`", template);
		rmdir(template);
		return NULL;
	}
	return abs;
}

static int rmtree_at(int dirfd, const char *name, const char *path, struct unik_error *err);

/* Empties the directory open as fd (which this function closes). */
static int rmtree_dir_contents(int fd, const char *path, struct unik_error *err)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	/* A directory we may not write or search cannot be emptied; we own it, so fix that. */
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		(void)fchmod(fd, st.st_mode | 0700);
	d = fdopendir(fd);
	if (!d) {
		unik_error_sys(err, errno, "open directory `%s`", path);
		close(fd);
		return -1;
	}
	for (;;) {
		_cleanup_free_ char *child = NULL;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				unik_error_sys(err, errno, "read directory `%s`", path);
				ret = -1;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = unik_path_join(path, de->d_name);
		if (rmtree_at(dirfd(d), de->d_name, child, err) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int rmtree_at(int dirfd, const char *name, const char *path, struct unik_error *err)
{
	struct stat st;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		unik_error_sys(err, errno, "stat `%s`", path);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		/* O_NOFOLLOW: if a symlink replaced the directory since fstatat, do not enter it.
		 */
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			unik_error_sys(err, errno, "open directory `%s`", path);
			return -1;
		}
		if (rmtree_dir_contents(fd, path, err) < 0)
			return -1;
		if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			unik_error_sys(err, errno, "remove directory `%s`", path);
			return -1;
		}
		return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
		unik_error_sys(err, errno, "remove `%s`", path);
		return -1;
	}
	return 0;
}

int unik_rmtree(const char *path, struct unik_error *err)
{
	if (*path == '\0') {
		unik_error_set(err, UNIK_E_INVALID, "remove tree: empty path");
		return -1;
	}
	return rmtree_at(AT_FDCWD, path, path, err);
}

int unik_read_file(const char *path, char **out, size_t *len, struct unik_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 4096;
	struct stat st;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		unik_error_sys(err, errno, "stat `%s`", path);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID, "read `%s`: is a directory", path);
		return -1;
	}
	/* st_size is only a hint: files in /proc report 0 and files may grow while we read. */
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		if (size + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + size, cap - size - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			unik_error_sys(err, errno, "read `%s`", path);
			return -1;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	buf[size] = '\0';
	*out = unik_steal_ptr(&buf);
	if (len)
		*len = size;
	return 0;
}

bool unik_file_exists_in(const char *dir, const char *name)
{
	_cleanup_free_ char *path = unik_path_join(dir, name);

	return access(path, F_OK) == 0;
}

int unik_write_text_in(const char *dir, const char *name, const char *text, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(dir, name);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || unik_write_all(fd, text, strlen(text)) < 0) {
		unik_error_sys(err, errno, "write `%s`", path);
		return -1;
	}
	return 0;
}

int64_t unik_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *unik_now_rfc3339(unsigned digits)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];
	long frac;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (digits > 9)
		digits = 9;
	frac = ts.tv_nsec;
	for (unsigned i = digits; i < 9; i++)
		frac /= 10;
	return digits ? xasprintf("%s.%0*ldZ", buf, (int)digits, frac) : xasprintf("%sZ", buf);
}

int64_t unik_now_ms(void)
{
	return unik_now_us() / 1000;
}

int unik_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void sync_parent_dir(const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (!slash)
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
		slash[slash == dir ? 1 : 0] = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	/* Best effort: the rename is already visible; this only makes it survive a crash. */
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int unik_atomic_file_open(struct unik_atomic_file *f, const char *path, struct unik_error *err)
{
	f->tmp = xasprintf("%s.tmp-XXXXXX", path);
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		unik_error_sys(err, errno, "create a temporary file next to `%s`", path);
		free(f->tmp);
		f->tmp = NULL;
		return -1;
	}
	return 0;
}

void unik_atomic_file_abort(struct unik_atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
}

static int commit(struct unik_atomic_file *f, const char *path, mode_t mode, bool durable,
                  struct unik_error *err)
{
	int fd = f->fd;

	f->fd = -1;
	if (fchmod(fd, mode) < 0) {
		unik_error_sys(err, errno, "chmod `%s`", f->tmp);
		goto fail;
	}
	if (durable && fsync(fd) < 0) {
		unik_error_sys(err, errno, "sync `%s`", f->tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		unik_error_sys(err, errno, "close `%s`", f->tmp);
		goto fail;
	}
	fd = -1;
	if (rename(f->tmp, path) < 0) {
		unik_error_sys(err, errno, "rename `%s` to `%s`", f->tmp, path);
		goto fail;
	}
	free(f->tmp);
	f->tmp = NULL;
	if (durable)
		sync_parent_dir(path);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unik_atomic_file_abort(f);
	return -1;
}

int unik_atomic_file_commit(struct unik_atomic_file *f, const char *path, mode_t mode,
                            struct unik_error *err)
{
	return commit(f, path, mode, true, err);
}

static int write_whole(const char *path, const void *data, size_t len, mode_t mode, bool durable,
                       struct unik_error *err)
{
	_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

	if (unik_atomic_file_open(&f, path, err) < 0)
		return -1;
	if (unik_write_all(f.fd, data, len) < 0) {
		unik_error_sys(err, errno, "write `%s`", f.tmp);
		return -1;
	}
	return commit(&f, path, mode, durable, err);
}

int unik_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct unik_error *err)
{
	return write_whole(path, data, len, mode, true, err);
}

int unik_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            struct unik_error *err)
{
	return write_whole(path, data, len, mode, false, err);
}

void strv_push_take(struct strv *s, char *str)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

void strv_push(struct strv *s, const char *str)
{
	strv_push_take(s, xstrdup(str));
}

void strv_pushf(struct strv *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strv_push_take(s, xvasprintf(fmt, ap));
	va_end(ap);
}

void strv_extend(struct strv *s, const struct strv *other)
{
	for (size_t i = 0; i < other->n; i++)
		strv_push(s, other->v[i]);
}

char *strv_join(const struct strv *s, const char *sep)
{
	size_t len = 1, seplen = strlen(sep), at = 0;
	char *out;

	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + (i ? seplen : 0);
	out = xmalloc(len);
	for (size_t i = 0; i < s->n; i++) {
		size_t n = strlen(s->v[i]);

		if (i) {
			memcpy(out + at, sep, seplen);
			at += seplen;
		}
		memcpy(out + at, s->v[i], n);
		at += n;
	}
	out[at] = '\0';
	return out;
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

char *const *strv_argv(const struct strv *s)
{
	static char *const empty[] = {NULL};

	return s->v ? s->v : empty;
}
