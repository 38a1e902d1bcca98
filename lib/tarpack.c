/* Packing a source directory as a gzip tar with libarchive, honouring .unikignore: what `unik
 * build` uploads.  The ignore rules are gitignore's, minus nested ignore files. */
#include "lib/tarpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

/* libarchive is loaded when a tree is first packed, not when `unik` starts: it drags in
 * libxml2, ICU and libstdc++, 1.5 ms on every command, and only `unik build` packs. */
static struct {
	__typeof__(archive_entry_clear) *archive_entry_clear_;
	__typeof__(archive_entry_free) *archive_entry_free_;
	__typeof__(archive_entry_new) *archive_entry_new_;
	__typeof__(archive_entry_set_filetype) *archive_entry_set_filetype_;
	__typeof__(archive_entry_set_gid) *archive_entry_set_gid_;
	__typeof__(archive_entry_set_mtime) *archive_entry_set_mtime_;
	__typeof__(archive_entry_set_pathname) *archive_entry_set_pathname_;
	__typeof__(archive_entry_set_perm) *archive_entry_set_perm_;
	__typeof__(archive_entry_set_size) *archive_entry_set_size_;
	__typeof__(archive_entry_set_symlink) *archive_entry_set_symlink_;
	__typeof__(archive_entry_set_uid) *archive_entry_set_uid_;
	__typeof__(archive_error_string) *archive_error_string_;
	__typeof__(archive_write_add_filter_gzip) *archive_write_add_filter_gzip_;
	__typeof__(archive_write_close) *archive_write_close_;
	__typeof__(archive_write_data) *archive_write_data_;
	__typeof__(archive_write_free) *archive_write_free_;
	__typeof__(archive_write_header) *archive_write_header_;
	__typeof__(archive_write_new) *archive_write_new_;
	__typeof__(archive_write_open) *archive_write_open_;
	__typeof__(archive_write_set_bytes_in_last_block) *archive_write_set_bytes_in_last_block_;
	__typeof__(archive_write_set_format_pax_restricted)
	    *archive_write_set_format_pax_restricted_;
	__typeof__(archive_write_set_options) *archive_write_set_options_;
} la;

static int la_load(struct unik_error *err)
{
	static void *handle;
	if (handle)
		return 0;
	void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libarchive.so", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "cannot load libarchive: %s (install libarchive13)", dlerror());
		return -1;
	}
#define LA_SYM(name) ((*(void **)&la.name##_ = dlsym(h, #name)) != NULL)
	if (!(LA_SYM(archive_entry_clear) && LA_SYM(archive_entry_free) &&
	      LA_SYM(archive_entry_new) && LA_SYM(archive_entry_set_filetype) &&
	      LA_SYM(archive_entry_set_gid) && LA_SYM(archive_entry_set_mtime) &&
	      LA_SYM(archive_entry_set_pathname) && LA_SYM(archive_entry_set_perm) &&
	      LA_SYM(archive_entry_set_size) && LA_SYM(archive_entry_set_symlink) &&
	      LA_SYM(archive_entry_set_uid) && LA_SYM(archive_error_string) &&
	      LA_SYM(archive_write_add_filter_gzip) && LA_SYM(archive_write_close) &&
	      LA_SYM(archive_write_data) && LA_SYM(archive_write_free) &&
	      LA_SYM(archive_write_header) && LA_SYM(archive_write_new) &&
	      LA_SYM(archive_write_open) && LA_SYM(archive_write_set_bytes_in_last_block) &&
	      LA_SYM(archive_write_set_format_pax_restricted) &&
	      LA_SYM(archive_write_set_options) && true)) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "libarchive lacks a function unik needs: %s", dlerror());
		dlclose(h);
		return -1;
	}
#undef LA_SYM
	handle = h;
	return 0;
}

#define archive_entry_clear                     (*la.archive_entry_clear_)
#define archive_entry_free                      (*la.archive_entry_free_)
#define archive_entry_new                       (*la.archive_entry_new_)
#define archive_entry_set_filetype              (*la.archive_entry_set_filetype_)
#define archive_entry_set_gid                   (*la.archive_entry_set_gid_)
#define archive_entry_set_mtime                 (*la.archive_entry_set_mtime_)
#define archive_entry_set_pathname              (*la.archive_entry_set_pathname_)
#define archive_entry_set_perm                  (*la.archive_entry_set_perm_)
#define archive_entry_set_size                  (*la.archive_entry_set_size_)
#define archive_entry_set_symlink               (*la.archive_entry_set_symlink_)
#define archive_entry_set_uid                   (*la.archive_entry_set_uid_)
#define archive_error_string                    (*la.archive_error_string_)
#define archive_write_add_filter_gzip           (*la.archive_write_add_filter_gzip_)
#define archive_write_close                     (*la.archive_write_close_)
#define archive_write_data                      (*la.archive_write_data_)
#define archive_write_free                      (*la.archive_write_free_)
#define archive_write_header                    (*la.archive_write_header_)
#define archive_write_new                       (*la.archive_write_new_)
#define archive_write_open                      (*la.archive_write_open_)
#define archive_write_set_bytes_in_last_block   (*la.archive_write_set_bytes_in_last_block_)
#define archive_write_set_format_pax_restricted (*la.archive_write_set_format_pax_restricted_)
#define archive_write_set_options               (*la.archive_write_set_options_)

struct ignore_rule {
	char **parts; /* the pattern split at '/', "**" kept as a part */
	size_t nparts;
	bool negate;   /* !pattern */
	bool dir_only; /* pattern/ */
	bool anchored; /* had a '/' before its end: matches from the top only */
};

struct unik_ignore {
	struct ignore_rule *rules;
	size_t n;
};

static void rule_free(struct ignore_rule *r)
{
	for (size_t i = 0; i < r->nparts; i++)
		free(r->parts[i]);
	free(r->parts);
}

/* One line into a rule; false when the line holds no pattern. */
static bool parse_line(const char *line, size_t len, struct ignore_rule *r)
{
	_cleanup_free_ char *pat = NULL;
	size_t end = len, start = 0;
	char *save = NULL, *tok;

	memset(r, 0, sizeof(*r));
	if (end > 0 && line[end - 1] == '\r')
		end--;
	/* Trailing blanks go unless the last one is escaped. */
	while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
		if (end >= 2 && line[end - 2] == '\\')
			break;
		end--;
	}
	if (end == 0 || line[0] == '#')
		return false;
	if (line[0] == '!') {
		r->negate = true;
		start = 1;
	} else if (line[0] == '\\' && end > 1 && (line[1] == '#' || line[1] == '!')) {
		start = 1;
	}
	pat = xstrndup(line + start, end - start);
	len = strlen(pat);
	if (len > 0 && pat[len - 1] == '/') {
		r->dir_only = true;
		pat[--len] = '\0';
	}
	if (len == 0)
		return false;
	r->anchored = strchr(pat, '/') != NULL;
	for (tok = strtok_r(pat, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		r->parts = xrealloc(r->parts, (r->nparts + 1) * sizeof(*r->parts));
		r->parts[r->nparts++] = xstrdup(tok);
	}
	if (r->nparts == 0) {
		rule_free(r);
		return false;
	}
	return true;
}

struct unik_ignore *unik_ignore_parse(const char *text, size_t len)
{
	struct unik_ignore *ig = xcalloc(1, sizeof(*ig));
	size_t pos = 0;

	while (text && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
		struct ignore_rule r;

		if (parse_line(text + pos, line_len, &r)) {
			ig->rules = xrealloc(ig->rules, (ig->n + 1) * sizeof(*ig->rules));
			ig->rules[ig->n++] = r;
		}
		pos += line_len + 1;
	}
	return ig;
}

struct unik_ignore *unik_ignore_load(const char *dir, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(dir, ".unikignore");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct unik_error e;

	if (unik_read_file(path, &text, &len, &e) < 0) {
		if (e.code == UNIK_E_NOTFOUND)
			return unik_ignore_parse(NULL, 0);
		if (err)
			*err = e;
		return NULL;
	}
	return unik_ignore_parse(text, len);
}

void unik_ignore_free(struct unik_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		rule_free(&ig->rules[i]);
	free(ig->rules);
	free(ig);
}

/* Matches pattern parts against path components, "**" standing for any number of them. */
static bool match_parts(char *const *pp, size_t np, char *const *cp, size_t nc)
{
	while (np > 0) {
		if (strcmp(pp[0], "**") == 0) {
			for (size_t skip = 0; skip <= nc; skip++)
				if (match_parts(pp + 1, np - 1, cp + skip, nc - skip))
					return true;
			return false;
		}
		if (nc == 0 || fnmatch(pp[0], cp[0], 0) != 0)
			return false;
		pp++, np--, cp++, nc--;
	}
	return nc == 0;
}

static bool rule_matches(const struct ignore_rule *r, char *const *comps, size_t ncomps,
                         bool is_dir)
{
	if (r->dir_only && !is_dir)
		return false;
	if (!r->anchored)
		/* Unanchored patterns have one part and match the last component. */
		return ncomps > 0 && fnmatch(r->parts[0], comps[ncomps - 1], 0) == 0;
	return match_parts(r->parts, r->nparts, comps, ncomps);
}

bool unik_ignore_match(const struct unik_ignore *ig, const char *path, bool is_dir)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_free_ char **comps = NULL;
	size_t ncomps = 0;
	char *save = NULL, *tok;
	bool ignored = false;

	if (!ig || ig->n == 0)
		return false;
	copy = xstrdup(path);
	comps = xcalloc(strlen(path) / 2 + 2, sizeof(*comps));
	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		comps[ncomps++] = tok;
	for (size_t i = 0; i < ig->n; i++)
		if (rule_matches(&ig->rules[i], comps, ncomps, is_dir))
			ignored = !ig->rules[i].negate;
	return ignored;
}

/* ------------------------------------------------------------------------------------------- */

struct membuf {
	char *data;
	size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct membuf *m = ctx;

	(void)a;
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;

		while (cap < m->len + n)
			cap *= 2;
		m->data = xrealloc(m->data, cap);
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, n);
	m->len += n;
	return (la_ssize_t)n;
}

struct packer {
	struct archive *a;
	struct archive_entry *entry;
	const struct unik_ignore *ig;
	const struct unik_tarpack_opts *opts;
	size_t count;
	char buf[65536];
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int archive_fail(struct packer *p, const char *rel, struct unik_error *err)
{
	unik_error_set(err, UNIK_E_IO, "pack `%s`: %s", rel, archive_error_string(p->a));
	return -1;
}

static int add_file_data(struct packer *p, int dirfd, const char *name, const char *rel,
                         struct unik_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", rel);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, p->buf, sizeof(p->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unik_error_sys(err, errno, "read `%s`", rel);
			return -1;
		}
		if (n == 0)
			return 0;
		if (archive_write_data(p->a, p->buf, (size_t)n) < 0)
			return archive_fail(p, rel, err);
	}
}

static int pack_dir(struct packer *p, int dirfd, const char *prefix, struct unik_error *err);

static int pack_entry(struct packer *p, int dirfd, const char *name, const char *prefix,
                      struct unik_error *err)
{
	_cleanup_free_ char *rel = *prefix ? xasprintf("%s/%s", prefix, name) : xstrdup(name);
	struct stat st;
	const char *skip = NULL;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		unik_error_sys(err, errno, "stat `%s`", rel);
		return -1;
	}
	if (S_ISDIR(st.st_mode) && strcmp(name, ".git") == 0)
		return 0;
	if (unik_ignore_match(p->ig, rel, S_ISDIR(st.st_mode)))
		return 0;
	if (S_ISFIFO(st.st_mode))
		skip = "skipping fifo";
	else if (S_ISSOCK(st.st_mode))
		skip = "skipping socket";
	else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		skip = "skipping device node";
	if (skip) {
		if (p->opts && p->opts->warn)
			p->opts->warn(p->opts->warn_ctx, rel, skip);
		return 0;
	}

	archive_entry_clear(p->entry);
	archive_entry_set_pathname(p->entry, rel);
	archive_entry_set_perm(p->entry, st.st_mode & 0777);
	archive_entry_set_uid(p->entry, 0);
	archive_entry_set_gid(p->entry, 0);
	archive_entry_set_mtime(p->entry, st.st_mtim.tv_sec, 0);
	if (S_ISDIR(st.st_mode)) {
		archive_entry_set_filetype(p->entry, AE_IFDIR);
		archive_entry_set_size(p->entry, 0);
	} else if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

		if (n < 0) {
			unik_error_sys(err, errno, "readlink `%s`", rel);
			return -1;
		}
		target[n] = '\0';
		archive_entry_set_filetype(p->entry, AE_IFLNK);
		archive_entry_set_symlink(p->entry, target);
		archive_entry_set_size(p->entry, 0);
	} else {
		archive_entry_set_filetype(p->entry, AE_IFREG);
		archive_entry_set_size(p->entry, st.st_size);
	}
	if (archive_write_header(p->a, p->entry) != ARCHIVE_OK)
		return archive_fail(p, rel, err);
	p->count++;
	if (S_ISREG(st.st_mode) && add_file_data(p, dirfd, name, rel, err) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int sub =
		    openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub < 0) {
			unik_error_sys(err, errno, "open directory `%s`", rel);
			return -1;
		}
		return pack_dir(p, sub, rel, err);
	}
	return 0;
}

static int pack_dir(struct packer *p, int dirfd, const char *prefix, struct unik_error *err)
{
	_cleanup_strv_ struct strv names = {0};
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;

	if (fd < 0 || !(d = fdopendir(fd))) {
		unik_error_sys(err, errno, "read directory `%s`", *prefix ? prefix : ".");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	}
	if (errno) {
		unik_error_sys(err, errno, "read directory `%s`", *prefix ? prefix : ".");
		closedir(d);
		return -1;
	}
	closedir(d);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), cmp_names);
	for (size_t i = 0; i < names.n; i++)
		if (pack_entry(p, dirfd, names.v[i], prefix, err) < 0)
			return -1;
	return 0;
}

int unik_tarpack(const char *dir, const struct unik_tarpack_opts *opts, char **out, size_t *len,
                 size_t *count, struct unik_error *err)
{
	struct membuf m = {0};
	struct packer *p = NULL;
	struct unik_ignore *ig = NULL;
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = -1;

	if (dirfd < 0) {
		unik_error_sys(err, errno, "open directory `%s`", dir);
		return -1;
	}
	if (opts && opts->no_ignore_file)
		ig = unik_ignore_parse(NULL, 0);
	else if (!(ig = unik_ignore_load(dir, err))) {
		unik_error_prefix(err, "read `%s/.unikignore`", dir);
		return -1;
	}
	if (la_load(err) < 0) {
		unik_ignore_free(ig);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->ig = ig;
	p->opts = opts;
	p->a = archive_write_new();
	p->entry = archive_entry_new();
	if (!p->a || !p->entry)
		abort();
	if (archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(p->a) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INTERNAL, "set up the gzip tar writer: %s",
		               archive_error_string(p->a));
		goto out;
	}
	/* No wall-clock time in the gzip header: the same tree packs to the same bytes. */
	archive_write_set_options(p->a, "gzip:!timestamp");
	archive_write_set_bytes_in_last_block(p->a, 1);
	if (archive_write_open(p->a, &m, NULL, mem_write, NULL) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_IO, "start the archive: %s", archive_error_string(p->a));
		goto out;
	}
	if (pack_dir(p, dirfd, "", err) < 0) {
		unik_error_prefix(err, "pack `%s`", dir);
		goto out;
	}
	if (archive_write_close(p->a) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_IO, "pack `%s`: %s", dir, archive_error_string(p->a));
		goto out;
	}
	if (count)
		*count = p->count;
	*out = m.data;
	*len = m.len;
	m.data = NULL;
	r = 0;
out:
	archive_entry_free(p->entry);
	archive_write_free(p->a);
	free(p);
	unik_ignore_free(ig);
	free(m.data);
	return r;
}
