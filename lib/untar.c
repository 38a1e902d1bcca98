/* Safe unpacking of untrusted tar archives with libarchive: see untar.h. */
#include "lib/untar.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

#define MAX_NAME       1024
#define RATIO_CHECK_AT (16ull << 20)

static const char *shown(const char *path, char *buf, size_t len)
{
	/* Names in messages are cut short and stripped of control characters. */
	size_t i = 0;

	for (; path[i] && i + 4 < len && i < 200; i++)
		buf[i] = (unsigned char)path[i] < 0x20 || path[i] == 0x7f ? '?' : path[i];
	if (path[i] && i + 4 <= len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

#define SHOWN(p) shown((p), (char[256]){0}, 256)

int unik_untar_check_path(const char *path, struct unik_error *err)
{
	const char *p = path;

	if (!path || !*path) {
		unik_error_set(err, UNIK_E_INVALID, "archive entry with an empty name");
		return -1;
	}
	if (strlen(path) > MAX_NAME) {
		unik_error_set(err, UNIK_E_INVALID, "archive entry %s: name longer than %d bytes",
		               SHOWN(path), MAX_NAME);
		return -1;
	}
	if (path[0] == '/') {
		unik_error_set(err, UNIK_E_INVALID, "archive entry %s: absolute path", SHOWN(path));
		return -1;
	}
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			unik_error_set(err, UNIK_E_INVALID, "archive entry %s: \"..\" in the path",
			               SHOWN(path));
			return -1;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

int unik_untar_check_link(const char *link_path, const char *target, struct unik_error *err)
{
	long depth = 0;
	const char *p;

	if (!target || !*target) {
		unik_error_set(err, UNIK_E_INVALID, "archive entry %s: link with an empty target",
		               SHOWN(link_path));
		return -1;
	}
	if (target[0] == '/') {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "archive entry %s: link to an absolute path (%s) leaves the source tree",
		    SHOWN(link_path), SHOWN(target));
		return -1;
	}
	if (strlen(target) > MAX_NAME) {
		unik_error_set(err, UNIK_E_INVALID, "archive entry %s: link target too long",
		               SHOWN(link_path));
		return -1;
	}
	/* The link's own directory: every component of link_path but the last. */
	for (p = link_path; *p;) {
		size_t n = strcspn(p, "/");

		if (p[n] == '\0')
			break;
		if (!(n == 1 && p[0] == '.') && n > 0)
			depth++;
		p += n;
		while (*p == '/')
			p++;
	}
	for (p = target; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "archive entry %s: link target %s leaves the source tree",
				    SHOWN(link_path), SHOWN(target));
				return -1;
			}
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* "./a//b/" -> "a/b"; "." or "./" -> "". */
static char *normalize(const char *path)
{
	char *out = xmalloc(strlen(path) + 1);
	size_t o = 0;
	const char *p = path;

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return out;
}

struct job {
	struct archive *a;
	struct archive *w; /* NULL: check only */
	const char *dest;
	struct unik_untar_limits lim;
	struct unik_untar_stats st;
	struct unik_error *err;
};

static int check_ratio(struct job *j, const char *name)
{
	int64_t out = archive_filter_bytes(j->a, 0);
	int64_t in = archive_filter_bytes(j->a, -1);

	if (out > in) {
		int64_t t = out;
		out = in;
		in = t;
	}
	/* here in >= out: in is the expanded count, out the raw bytes read */
	if ((uint64_t)in >= RATIO_CHECK_AT && out > 0 && (uint64_t)(in / out) > j->lim.max_ratio) {
		unik_error_set(j->err, UNIK_E_INVALID,
		               "archive entry %s: the archive expands more than %llu times (a tar "
		               "bomb?)",
		               SHOWN(name), (unsigned long long)j->lim.max_ratio);
		return -1;
	}
	return 0;
}

static int too_large(struct job *j, const char *name)
{
	unik_error_set(j->err, UNIK_E_INVALID,
	               "archive entry %s: the source is too large (over %llu MiB unpacked)",
	               SHOWN(name), (unsigned long long)(j->lim.max_bytes >> 20));
	return -1;
}

static int copy_data(struct job *j, const char *name, struct archive_entry *e)
{
	uint64_t got = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(j->a, &buf, &size, &off);

		if (r == ARCHIVE_EOF) {
			/* A short gzip stream can end an entry early without an error. */
			if (archive_entry_size_is_set(e) && archive_entry_sparse_count(e) == 0 &&
			    got < (uint64_t)archive_entry_size(e)) {
				unik_error_set(j->err, UNIK_E_INVALID,
				               "archive entry %s: truncated (%llu of %lld bytes)",
				               SHOWN(name), (unsigned long long)got,
				               (long long)archive_entry_size(e));
				return -1;
			}
			return 0;
		}
		if (r < ARCHIVE_WARN) {
			unik_error_set(j->err, UNIK_E_INVALID, "archive entry %s: %s", SHOWN(name),
			               archive_error_string(j->a) ? archive_error_string(j->a)
			                                          : "cannot read the data");
			return -1;
		}
		j->st.bytes += size;
		got += size;
		if (j->st.bytes > j->lim.max_bytes)
			return too_large(j, name);
		if (check_ratio(j, name) < 0)
			return -1;
		if (j->w && archive_write_data_block(j->w, buf, size, off) < ARCHIVE_WARN) {
			unik_error_set(j->err, UNIK_E_IO, "unpack %s: %s", SHOWN(name),
			               archive_error_string(j->w));
			return -1;
		}
	}
}

static int one_entry(struct job *j, struct archive_entry *e)
{
	const char *raw0 = archive_entry_pathname(e);
	const char *hl0 = archive_entry_hardlink(e);
	/* copies: setting the entry's path below frees libarchive's strings */
	_cleanup_free_ char *raw = raw0 ? xstrdup(raw0) : NULL;
	_cleanup_free_ char *hl = hl0 ? xstrdup(hl0) : NULL;
	mode_t type = archive_entry_filetype(e);
	mode_t mode = archive_entry_mode(e);
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *full = NULL;
	_cleanup_free_ char *hlfull = NULL;

	if (!raw) {
		unik_error_set(j->err, UNIK_E_INVALID,
		               "archive entry %llu: a name that is not valid text",
		               (unsigned long long)j->st.files);
		return -1;
	}
	if (++j->st.files > j->lim.max_files) {
		unik_error_set(j->err, UNIK_E_INVALID,
		               "archive entry %s: the source has more than %llu files", SHOWN(raw),
		               (unsigned long long)j->lim.max_files);
		return -1;
	}
	if (unik_untar_check_path(raw, j->err) < 0)
		return -1;
	name = normalize(raw);
	if (hl) {
		_cleanup_free_ char *hn = NULL;

		if (unik_untar_check_path(hl, j->err) < 0) {
			unik_error_prefix(j->err, "hard link %s", SHOWN(raw));
			return -1;
		}
		hn = normalize(hl);
		if (!*hn) {
			unik_error_set(j->err, UNIK_E_INVALID,
			               "archive entry %s: hard link to the top directory",
			               SHOWN(raw));
			return -1;
		}
		if (j->dest)
			hlfull = unik_path_join(j->dest, hn);
	} else {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
			break;
		case AE_IFLNK:
			if (unik_untar_check_link(name, archive_entry_symlink(e), j->err) < 0)
				return -1;
			break;
		case AE_IFCHR:
		case AE_IFBLK:
			unik_error_set(j->err, UNIK_E_INVALID,
			               "archive entry %s: device nodes are not allowed",
			               SHOWN(raw));
			return -1;
		case AE_IFIFO:
			unik_error_set(j->err, UNIK_E_INVALID,
			               "archive entry %s: fifos are not allowed", SHOWN(raw));
			return -1;
		case AE_IFSOCK:
			unik_error_set(j->err, UNIK_E_INVALID,
			               "archive entry %s: sockets are not allowed", SHOWN(raw));
			return -1;
		default:
			unik_error_set(j->err, UNIK_E_INVALID,
			               "archive entry %s: unknown file type %o", SHOWN(raw),
			               (unsigned)type);
			return -1;
		}
	}
	if (mode & (S_ISUID | S_ISGID)) {
		unik_error_set(j->err, UNIK_E_INVALID, "archive entry %s: setuid or setgid bit set",
		               SHOWN(raw));
		return -1;
	}
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
	    (uint64_t)archive_entry_size(e) > j->lim.max_bytes - j->st.bytes)
		return too_large(j, raw);
	if (!*name) /* "." itself: dest already exists */
		return archive_read_data_skip(j->a) < ARCHIVE_WARN ? -1 : 0;
	if (j->w) {
		full = unik_path_join(j->dest, name);
		archive_entry_set_pathname(e, full);
		if (hlfull)
			archive_entry_set_hardlink(e, hlfull);
		/* Keep permission bits, but the owner can always read, write and enter. */
		archive_entry_set_perm(e, (mode & 0777) | (type == AE_IFDIR ? 0700 : 0600));
		archive_entry_set_uid(e, getuid());
		archive_entry_set_gid(e, getgid());
		if (archive_write_header(j->w, e) < ARCHIVE_WARN) {
			unik_error_set(j->err, UNIK_E_INVALID, "archive entry %s: %s", SHOWN(raw),
			               archive_error_string(j->w));
			return -1;
		}
	}
	if (copy_data(j, raw, e) < 0)
		return -1;
	if (j->w && archive_write_finish_entry(j->w) < ARCHIVE_WARN) {
		unik_error_set(j->err, UNIK_E_IO, "unpack %s: %s", SHOWN(raw),
		               archive_error_string(j->w));
		return -1;
	}
	return 0;
}

/* After unpacking, every symbolic link that resolves must resolve inside dest: lexical checks
 * cannot see a chain of links ("a" -> ".", "b" -> "a/..").  */
static _Thread_local const char *walk_root;
static _Thread_local size_t walk_root_len;
static _Thread_local char walk_bad[PATH_MAX];

static int walk_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	char real[PATH_MAX];

	(void)sb;
	(void)ftw;
	if (flag != FTW_SL)
		return 0;
	if (!realpath(path, real))
		return 0; /* dangling: its target was checked lexically */
	if (strncmp(real, walk_root, walk_root_len) == 0 &&
	    (real[walk_root_len] == '/' || real[walk_root_len] == '\0'))
		return 0;
	snprintf(walk_bad, sizeof(walk_bad), "%s", path + walk_root_len + 1);
	return 1;
}

static int check_links(const char *dest, struct unik_error *err)
{
	char root[PATH_MAX];
	int r;

	if (!realpath(dest, root)) {
		unik_error_sys(err, errno, "resolve %s", dest);
		return -1;
	}
	walk_root = root;
	walk_root_len = strlen(root);
	walk_bad[0] = '\0';
	r = nftw(dest, walk_one, 16, FTW_PHYS);
	if (r == 1) {
		unik_error_set(err, UNIK_E_INVALID,
		               "archive entry %s: link leaves the source tree through other links",
		               SHOWN(walk_bad));
		return -1;
	}
	if (r < 0) {
		unik_error_sys(err, errno, "walk %s", dest);
		return -1;
	}
	return 0;
}

static int run(struct job *j)
{
	struct archive_entry *e;

	for (;;) {
		int r = archive_read_next_header(j->a, &e);

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			const char *why = archive_error_string(j->a);

			unik_error_set(
			    j->err, UNIK_E_INVALID,
			    "the source is not a readable tar archive (gzip or plain): %s",
			    why ? why : "unknown format");
			return -1;
		}
		if (one_entry(j, e) < 0)
			return -1;
	}
	if (j->st.files == 0) {
		unik_error_set(j->err, UNIK_E_INVALID, "the source archive is empty");
		return -1;
	}
	return 0;
}

static void formats(struct archive *a)
{
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
}

static void limits(struct job *j, const struct unik_untar_limits *lim)
{
	struct unik_untar_limits def = UNIK_UNTAR_LIMITS_DEFAULT;

	j->lim = lim ? *lim : def;
	if (!j->lim.max_bytes)
		j->lim.max_bytes = def.max_bytes;
	if (!j->lim.max_files)
		j->lim.max_files = def.max_files;
	if (!j->lim.max_ratio)
		j->lim.max_ratio = def.max_ratio;
}

static void empty_dir(const char *dest)
{
	DIR *d = opendir(dest);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *p = unik_path_join(dest, de->d_name);
		unik_rmtree(p, NULL);
	}
	closedir(d);
}

int unik_untar(const char *archive_path, const char *dest, const struct unik_untar_limits *lim,
               struct unik_untar_stats *st, struct unik_error *err)
{
	struct job j = {.err = err};
	char real[PATH_MAX];
	int rc = -1;

	/* Entries are written by absolute path below dest's real path, so the symlink guard
	 * (SECURE_SYMLINKS) only ever sees links that came out of the archive. */
	if (!realpath(dest, real)) {
		unik_error_sys(err, errno, "resolve %s", dest);
		return -1;
	}
	j.dest = real;

	limits(&j, lim);
	j.a = archive_read_new();
	j.w = archive_write_disk_new();
	if (!j.a || !j.w) {
		unik_error_set(err, UNIK_E_NOMEM, "libarchive: out of memory");
		goto out;
	}
	archive_write_disk_set_options(j.w, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	                                        ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                                        ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM);
	formats(j.a);
	if (archive_read_open_filename(j.a, archive_path, 64 * 1024) != ARCHIVE_OK) {
		const char *why = archive_error_string(j.a);

		unik_error_set(err, UNIK_E_INVALID,
		               "the source is not a readable tar archive (gzip or plain): %s",
		               why ? why : "unknown format");
		goto out;
	}
	if (run(&j) < 0 || check_links(dest, err) < 0)
		goto out;
	if (st)
		*st = j.st;
	rc = 0;
out:
	if (j.w)
		archive_write_free(j.w);
	if (j.a)
		archive_read_free(j.a);
	if (rc < 0)
		empty_dir(dest);
	return rc;
}

int unik_untar_check_mem(const void *buf, size_t len, const struct unik_untar_limits *lim,
                         struct unik_error *err)
{
	struct job j = {.err = err};
	int rc = -1;

	limits(&j, lim);
	j.a = archive_read_new();
	if (!j.a) {
		unik_error_set(err, UNIK_E_NOMEM, "libarchive: out of memory");
		return -1;
	}
	formats(j.a);
	if (archive_read_open_memory(j.a, buf, len) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INVALID, "the source is not a readable tar archive");
		goto out;
	}
	rc = run(&j);
out:
	archive_read_free(j.a);
	return rc;
}
