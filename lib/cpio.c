/* newc cpio writer over libarchive: our own walk (openat, lstat semantics, sorted names) so the
 * output is reproducible and never follows a link out of the tree. */
#include "lib/cpio.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

struct packer {
	struct archive *a;
	const char *root;
	unik_cpio_warn_fn warn;
	void *ctx;
	int64_t next_ino;
	struct unik_error *err;
};

static int archive_fail(struct packer *pk, const char *what, const char *path)
{
	unik_error_set(pk->err, UNIK_E_IO, "pack `%s`: %s `%s`: %s", pk->root, what, path,
	               archive_error_string(pk->a) ? archive_error_string(pk->a) : "unknown error");
	return -1;
}

static void entry_fill(struct packer *pk, struct archive_entry *e, const char *path,
                       const struct stat *st)
{
	archive_entry_set_pathname(e, path);
	archive_entry_set_mode(e, st->st_mode & (S_IFMT | 07777));
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	/* Synthetic inode numbers and no device: the host's would make archives differ by machine.
	 */
	archive_entry_set_ino64(e, pk->next_ino++);
	archive_entry_set_dev(e, 0);
	archive_entry_set_nlink(e, S_ISDIR(st->st_mode) ? 2 : 1);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	archive_entry_set_size(e, 0);
}

static int write_header(struct packer *pk, struct archive_entry *e, const char *path)
{
	if (archive_write_header(pk->a, e) != ARCHIVE_OK)
		return archive_fail(pk, "write header for", path);
	return 0;
}

static int pack_file(struct packer *pk, int dfd, const char *name, const char *path,
                     const struct stat *st)
{
	_cleanup_close_ int fd = -1;
	struct archive_entry *e;
	struct stat fst;
	char buf[65536];
	off_t left;
	int ret = -1;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		unik_error_sys(pk->err, errno, "pack `%s`: open `%s`", pk->root, path);
		return -1;
	}
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_size != st->st_size) {
		unik_error_set(pk->err, UNIK_E_STATE, "pack `%s`: `%s` changed while packing",
		               pk->root, path);
		return -1;
	}
	e = archive_entry_new();
	entry_fill(pk, e, path, st);
	archive_entry_set_size(e, st->st_size);
	if (write_header(pk, e, path) < 0)
		goto out;
	for (left = st->st_size; left > 0;) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unik_error_sys(pk->err, errno, "pack `%s`: read `%s`", pk->root, path);
			goto out;
		}
		if (n == 0) {
			unik_error_set(pk->err, UNIK_E_STATE,
			               "pack `%s`: `%s` shrank while packing", pk->root, path);
			goto out;
		}
		if (archive_write_data(pk->a, buf, (size_t)n) != n) {
			archive_fail(pk, "write data of", path);
			goto out;
		}
		left -= n;
	}
	ret = 0;
out:
	archive_entry_free(e);
	return ret;
}

static int pack_symlink(struct packer *pk, int dfd, const char *name, const char *path,
                        const struct stat *st)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
	_cleanup_free_ char *target = xmalloc(cap);
	struct archive_entry *e;
	ssize_t n;
	int ret;

	n = readlinkat(dfd, name, target, cap);
	if (n < 0) {
		unik_error_sys(pk->err, errno, "pack `%s`: read link `%s`", pk->root, path);
		return -1;
	}
	if ((size_t)n >= cap) {
		unik_error_set(pk->err, UNIK_E_STATE, "pack `%s`: link `%s` changed while packing",
		               pk->root, path);
		return -1;
	}
	target[n] = '\0';
	e = archive_entry_new();
	entry_fill(pk, e, path, st);
	archive_entry_set_symlink(e, target);
	ret = write_header(pk, e, path);
	archive_entry_free(e);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int pack_dir(struct packer *pk, int fd, const char *prefix);

static int pack_entry(struct packer *pk, int dfd, const char *name, const char *path)
{
	struct archive_entry *e;
	struct stat st;
	int fd, ret;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		unik_error_sys(pk->err, errno, "pack `%s`: stat `%s`", pk->root, path);
		return -1;
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return pack_file(pk, dfd, name, path, &st);
	case S_IFLNK:
		return pack_symlink(pk, dfd, name, path, &st);
	case S_IFDIR:
		e = archive_entry_new();
		entry_fill(pk, e, path, &st);
		ret = write_header(pk, e, path);
		archive_entry_free(e);
		if (ret < 0)
			return -1;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			unik_error_sys(pk->err, errno, "pack `%s`: open directory `%s`", pk->root,
			               path);
			return -1;
		}
		return pack_dir(pk, fd, path);
	case S_IFIFO:
		if (pk->warn)
			pk->warn(pk->ctx, path, "skipping fifo");
		return 0;
	case S_IFSOCK:
		if (pk->warn)
			pk->warn(pk->ctx, path, "skipping socket");
		return 0;
	default:
		if (pk->warn)
			pk->warn(pk->ctx, path, "skipping device node");
		return 0;
	}
}

/* Packs the entries of the directory open as fd (which this function closes). */
static int pack_dir(struct packer *pk, int fd, const char *prefix)
{
	_cleanup_strv_ struct strv names = {0};
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = fdopendir(fd);
	if (!d) {
		unik_error_sys(pk->err, errno, "pack `%s`: open directory `%s`", pk->root,
		               prefix ? prefix : ".");
		close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			strv_push(&names, de->d_name);
	}
	if (errno) {
		unik_error_sys(pk->err, errno, "pack `%s`: read directory `%s`", pk->root,
		               prefix ? prefix : ".");
		closedir(d);
		return -1;
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), cmp_names);
	for (size_t i = 0; i < names.n && ret == 0; i++) {
		_cleanup_free_ char *path =
		    prefix ? unik_path_join(prefix, names.v[i]) : xstrdup(names.v[i]);

		ret = pack_entry(pk, dirfd(d), names.v[i], path);
	}
	closedir(d);
	return ret;
}

int unik_cpio_pack_fd(const char *dir, int fd, unik_cpio_warn_fn warn, void *ctx,
                      struct unik_error *err)
{
	struct packer pk = {.root = dir, .warn = warn, .ctx = ctx, .next_ino = 1, .err = err};
	int dfd, ret = -1;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOTDIR)
			unik_error_set(err, UNIK_E_INVALID, "pack `%s`: not a directory", dir);
		else
			unik_error_sys(err, errno, "pack `%s`: open directory", dir);
		return -1;
	}
	pk.a = archive_write_new();
	if (!pk.a) {
		close(dfd);
		unik_error_set(err, UNIK_E_NOMEM, "pack `%s`: cannot create an archive writer",
		               dir);
		return -1;
	}
	/* No padding after the trailer: readers stop there and the image stays small. */
	if (archive_write_set_format_cpio_newc(pk.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(pk.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(pk.a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(pk.a, fd) != ARCHIVE_OK) {
		archive_fail(&pk, "set up archive for", dir);
		close(dfd);
		goto out;
	}
	if (pack_dir(&pk, dfd, NULL) < 0)
		goto out;
	if (archive_write_close(pk.a) != ARCHIVE_OK) {
		archive_fail(&pk, "finish archive of", dir);
		goto out;
	}
	ret = 0;
out:
	archive_write_free(pk.a);
	return ret;
}

int unik_cpio_pack(const char *dir, const char *out_path, unik_cpio_warn_fn warn, void *ctx,
                   struct unik_error *err)
{
	_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

	if (unik_atomic_file_open(&f, out_path, err) < 0 ||
	    unik_cpio_pack_fd(dir, f.fd, warn, ctx, err) < 0)
		return -1;
	return unik_atomic_file_commit(&f, out_path, 0644, err);
}
