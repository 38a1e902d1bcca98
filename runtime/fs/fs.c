/* The in-memory root file system (tmpfs-like), seeded from newc cpio archives: the one embedded
 * at link time, then any given as initrd modules. */
#include "fs/fs.h"

struct inode *fs_root_ino, *fs_cwd;
bool fs_clock_ready;
static uint64_t next_ino = 1;

int64_t fs_now(void)
{
	/* Before the application starts, don't pay for clock calibration just to stamp /tmp. */
	return fs_clock_ready ? (int64_t)clock_realtime_ns() : 0;
}

struct inode *inode_new(uint32_t mode)
{
	struct inode *i = kzalloc(sizeof(*i));
	if (!i)
		return NULL;
	i->mode = mode;
	i->ino = next_ino++;
	i->atime = i->mtime = i->ctime = fs_now();
	return i;
}

static void inode_free_data(struct inode *i)
{
	if (!i->borrowed)
		kfree(i->data);
	i->data = NULL;
	i->cap = 0;
	i->borrowed = false;
}

/* Drops an inode once no name and no open file refers to it. */
void fs_put(struct inode *i)
{
	if (i && i->nlink == 0 && i->open_count == 0 && i != fs_root_ino) {
		inode_free_data(i);
		kfree(i);
	}
}

struct inode *fs_dir_find(struct inode *dir, const char *name)
{
	if (!k_strcmp(name, ".") || !name[0])
		return dir;
	if (!k_strcmp(name, ".."))
		return dir->parent;
	for (struct dentry *d = dir->children; d; d = d->next)
		if (!k_strcmp(d->name, name))
			return d->ino;
	return NULL;
}

static int dir_add(struct inode *dir, const char *name, struct inode *ino)
{
	size_t len = k_strlen(name);
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	struct dentry *d = kmalloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOSPC;
	k_memcpy(d->name, name, len + 1);
	d->ino = ino;
	/* Keep insertion order, so listings come out in the order files were made. */
	d->next = NULL;
	struct dentry **pp = &dir->children;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	ino->nlink++;
	if (S_ISDIR(ino->mode)) {
		ino->parent = dir;
		dir->nlink++;
	}
	dir->mtime = dir->ctime = fs_now();
	return 0;
}

static struct inode *dir_remove(struct inode *dir, const char *name)
{
	for (struct dentry **pp = &dir->children; *pp; pp = &(*pp)->next) {
		struct dentry *d = *pp;
		if (k_strcmp(d->name, name))
			continue;
		*pp = d->next;
		struct inode *i = d->ino;
		kfree(d);
		i->nlink--;
		if (S_ISDIR(i->mode)) {
			dir->nlink--;
			i->nlink--; /* its own "." */
		}
		dir->mtime = dir->ctime = fs_now();
		i->ctime = fs_now();
		return i;
	}
	return NULL;
}

/* Path walk.  `depth` bounds symlink expansion as Linux does (ELOOP after 40). */
static int walk(struct inode *base, const char *path, int flags, struct inode **out, int depth);

static int follow(struct inode *dir, struct inode *link, struct inode **out, int depth)
{
	if (depth >= 40)
		return -ELOOP;
	char *target = k_strndup(link->data ? link->data : "", link->size);
	int r = walk(target[0] == '/' ? fs_root_ino : dir, target, LOOKUP_FOLLOW, out, depth + 1);
	kfree(target);
	return r;
}

static int walk(struct inode *base, const char *path, int flags, struct inode **out, int depth)
{
	if (!path[0])
		return -ENOENT;
	if (k_strnlen(path, PATH_MAX) >= PATH_MAX)
		return -ENAMETOOLONG;
	struct inode *cur = path[0] == '/' ? fs_root_ino : base;
	const char *p = path;
	char name[NAME_MAX + 1];
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		if ((size_t)(e - p) > NAME_MAX)
			return -ENAMETOOLONG;
		k_memcpy(name, p, e - p);
		name[e - p] = 0;
		if (!S_ISDIR(cur->mode))
			return -ENOTDIR;
		struct inode *next = fs_dir_find(cur, name);
		if (!next)
			return -ENOENT;
		const char *rest = e;
		while (*rest == '/')
			rest++;
		bool last = !*rest;
		if (S_ISLNK(next->mode) && (!last || (flags & LOOKUP_FOLLOW) || *e == '/')) {
			int r = follow(cur, next, &next, depth);
			if (r < 0)
				return r;
		}
		if (last && *e == '/' && !S_ISDIR(next->mode))
			return -ENOTDIR;
		cur = next;
		p = e;
	}
	*out = cur;
	return 0;
}

int fs_lookup(struct inode *base, const char *path, int flags, struct inode **out)
{
	return walk(base, path, flags, out, 0);
}

/* Splits off the last component; `dir` is the directory that would hold it. */
int fs_lookup_parent(struct inode *base, const char *path, struct inode **dir, char *name,
                     bool *trailing_slash)
{
	size_t len = k_strnlen(path, PATH_MAX);
	if (!len)
		return -ENOENT;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (trailing_slash)
		*trailing_slash = path[len] == '/';
	size_t s = len;
	while (s > 0 && path[s - 1] != '/')
		s--;
	if (len - s > NAME_MAX)
		return -ENAMETOOLONG;
	k_memcpy(name, path + s, len - s);
	name[len - s] = 0;
	if (s == 0) {
		*dir = base;
	} else {
		char *prefix = k_strndup(path, s);
		int r = walk(base, prefix, LOOKUP_FOLLOW, dir, 0);
		kfree(prefix);
		if (r < 0)
			return r;
	}
	if (!S_ISDIR((*dir)->mode))
		return -ENOTDIR;
	if (!name[0]) /* the path was "/" */
		k_memcpy(name, ".", 2);
	return 0;
}

int fs_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out)
{
	if (fs_dir_find(dir, name))
		return -EEXIST;
	struct inode *i = inode_new(mode);
	if (!i)
		return -ENOSPC;
	if (S_ISDIR(mode))
		i->nlink = 1; /* "." */
	int r = dir_add(dir, name, i);
	if (r < 0) {
		kfree(i);
		return r;
	}
	if (out)
		*out = i;
	return 0;
}

int fs_link(struct inode *dir, const char *name, struct inode *target)
{
	if (fs_dir_find(dir, name))
		return -EEXIST;
	if (S_ISDIR(target->mode))
		return -EPERM;
	target->ctime = fs_now();
	return dir_add(dir, name, target);
}

int fs_unlink(struct inode *dir, const char *name, bool rmdir)
{
	if (!k_strcmp(name, ".") || !k_strcmp(name, ".."))
		return rmdir ? (!k_strcmp(name, ".") ? -EINVAL : -ENOTEMPTY) : -EISDIR;
	struct inode *i = fs_dir_find(dir, name);
	if (!i)
		return -ENOENT;
	if (rmdir) {
		if (!S_ISDIR(i->mode))
			return -ENOTDIR;
		if (i->children)
			return -ENOTEMPTY;
		if (i == fs_root_ino)
			return -EBUSY;
	} else if (S_ISDIR(i->mode)) {
		return -EISDIR;
	}
	dir_remove(dir, name);
	fs_put(i);
	return 0;
}

static bool is_ancestor(struct inode *a, struct inode *d)
{
	for (;;) {
		if (d == a)
			return true;
		if (d == fs_root_ino)
			return false;
		d = d->parent;
	}
}

int fs_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname)
{
	if (!k_strcmp(oname, ".") || !k_strcmp(oname, "..") || !k_strcmp(nname, ".") ||
	    !k_strcmp(nname, ".."))
		return -EBUSY;
	struct inode *src = fs_dir_find(odir, oname);
	if (!src)
		return -ENOENT;
	struct inode *dst = fs_dir_find(ndir, nname);
	if (dst == src)
		return 0;
	if (S_ISDIR(src->mode) && is_ancestor(src, ndir))
		return -EINVAL;
	if (dst) {
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->children)
			return -ENOTEMPTY;
	}
	/* Add the new name first so that running out of memory loses nothing. */
	if (dst) {
		dir_remove(ndir, nname);
		fs_put(dst);
	}
	int r = dir_add(ndir, nname, src);
	if (r < 0)
		return r;
	for (struct dentry **pp = &odir->children; *pp; pp = &(*pp)->next) {
		struct dentry *d = *pp;
		if (d->ino == src && !k_strcmp(d->name, oname) &&
		    !(odir == ndir && !k_strcmp(oname, nname))) {
			*pp = d->next;
			kfree(d);
			src->nlink--;
			if (S_ISDIR(src->mode))
				odir->nlink--;
			break;
		}
	}
	if (S_ISDIR(src->mode))
		src->parent = ndir;
	src->ctime = odir->mtime = fs_now();
	return 0;
}

static int make_private(struct inode *i, uint64_t need)
{
	if (!i->borrowed && need <= i->cap)
		return 0;
	uint64_t cap = MAX(i->cap * 2, need);
	if (cap < 64)
		cap = 64;
	char *d = kmalloc(cap);
	if (!d)
		return -ENOSPC;
	if (i->data)
		k_memcpy(d, i->data, i->size);
	if (!i->borrowed)
		kfree(i->data);
	i->data = d;
	i->cap = cap;
	i->borrowed = false;
	return 0;
}

int fs_truncate(struct inode *i, uint64_t size)
{
	if (S_ISDIR(i->mode))
		return -EISDIR;
	if (!S_ISREG(i->mode))
		return -EINVAL;
	if (size > i->size) {
		int r = make_private(i, size);
		if (r < 0)
			return r;
		k_memset(i->data + i->size, 0, size - i->size);
	} else if (size == 0) {
		inode_free_data(i);
	}
	i->size = size;
	i->mtime = i->ctime = fs_now();
	return 0;
}

long fs_read(struct inode *i, void *buf, uint64_t n, uint64_t off)
{
	if (off >= i->size)
		return 0;
	n = MIN(n, i->size - off);
	k_memcpy(buf, i->data + off, n);
	return (long)n;
}

long fs_write(struct inode *i, const void *buf, uint64_t n, uint64_t off)
{
	if (!n)
		return 0;
	if (off + n < off)
		return -EFBIG;
	int r = make_private(i, off + n);
	if (r < 0)
		return r;
	if (off > i->size)
		k_memset(i->data + i->size, 0, off - i->size);
	k_memcpy(i->data + off, buf, n);
	if (off + n > i->size)
		i->size = off + n;
	i->mtime = i->ctime = fs_now();
	return (long)n;
}

int fs_getcwd(char *buf, size_t size)
{
	char tmp[PATH_MAX];
	size_t pos = sizeof(tmp) - 1;
	tmp[pos] = 0;
	struct inode *i = fs_cwd;
	if (i != fs_root_ino && i->nlink == 0)
		return -ENOENT;
	while (i != fs_root_ino) {
		struct inode *p = i->parent;
		struct dentry *d = p->children;
		while (d && d->ino != i)
			d = d->next;
		if (!d)
			return -ENOENT;
		size_t l = k_strlen(d->name);
		if (l + 1 > pos)
			return -ENAMETOOLONG;
		pos -= l;
		k_memcpy(tmp + pos, d->name, l);
		tmp[--pos] = '/';
		i = p;
	}
	if (pos == sizeof(tmp) - 1)
		tmp[--pos] = '/';
	size_t len = sizeof(tmp) - pos;
	if (len > size)
		return -ERANGE;
	k_memcpy(buf, tmp + pos, len);
	return (int)len;
}

void fs_stat(struct inode *i, struct linux_stat *st)
{
	k_memset(st, 0, sizeof(*st));
	st->st_dev = 0x15; /* any stable number */
	st->st_ino = i->ino;
	st->st_nlink = i->nlink;
	st->st_mode = i->mode;
	st->st_rdev = i->dev ? 0x0501 : 0;
	st->st_size = S_ISDIR(i->mode) ? 4096 : (int64_t)i->size;
	st->st_blksize = 4096;
	st->st_blocks = (int64_t)(PAGE_UP(S_ISREG(i->mode) ? i->size : 0) / 512);
	st->st_atim = (struct linux_timespec){i->atime / 1000000000, i->atime % 1000000000};
	st->st_mtim = (struct linux_timespec){i->mtime / 1000000000, i->mtime % 1000000000};
	st->st_ctim = (struct linux_timespec){i->ctime / 1000000000, i->ctime % 1000000000};
}

/* --- character devices --- */

static long con_read(char *buf, size_t n, bool nonblock)
{
	long r = console_read(buf, n, !nonblock);
	return r || !n ? r : -EAGAIN;
}
static long con_write(const char *buf, size_t n)
{
	console_write(buf, n);
	return (long)n;
}
static long null_read(char *buf, size_t n, bool nonblock)
{
	(void)buf, (void)n, (void)nonblock;
	return 0;
}
static long null_write(const char *buf, size_t n)
{
	(void)buf;
	return (long)n;
}
static long zero_read(char *buf, size_t n, bool nonblock)
{
	(void)nonblock;
	k_memset(buf, 0, n);
	return (long)n;
}
static long random_read(char *buf, size_t n, bool nonblock)
{
	(void)nonblock;
	random_bytes(buf, n);
	return (long)n;
}
static long full_write(const char *buf, size_t n)
{
	(void)buf, (void)n;
	return -ENOSPC;
}
static bool always(void)
{
	return true;
}

const struct chardev dev_console = {con_read, con_write, console_readable, true};
static const struct chardev dev_null = {null_read, null_write, always, false};
static const struct chardev dev_zero = {zero_read, null_write, always, false};
static const struct chardev dev_full = {zero_read, full_write, always, false};
static const struct chardev dev_random = {random_read, null_write, always, false};

static struct inode *mkdir_p(const char *path, uint32_t mode)
{
	struct inode *cur = fs_root_ino;
	char name[NAME_MAX + 1];
	while (*path) {
		while (*path == '/')
			path++;
		const char *e = path;
		while (*e && *e != '/')
			e++;
		if (e == path)
			break;
		size_t l = MIN((size_t)(e - path), (size_t)NAME_MAX);
		k_memcpy(name, path, l);
		name[l] = 0;
		path = e;
		if (!k_strcmp(name, ".") || !k_strcmp(name, ".."))
			continue;
		struct inode *n = fs_dir_find(cur, name);
		if (n && !S_ISDIR(n->mode)) {
			fs_unlink(cur, name, false);
			n = NULL;
		}
		if (!n && fs_create(cur, name, S_IFDIR | mode, &n) < 0)
			return NULL;
		cur = n;
	}
	return cur;
}

static void add_dev(struct inode *dev, const char *name, const struct chardev *cd, uint32_t perm)
{
	struct inode *i;
	if (fs_create(dev, name, S_IFCHR | perm, &i) == 0)
		i->dev = cd;
}

void fs_init(void)
{
	fs_root_ino = inode_new(S_IFDIR | 0755);
	fs_root_ino->nlink = 2;
	fs_root_ino->parent = fs_root_ino;
	fs_cwd = fs_root_ino;
	struct inode *tmp = mkdir_p("/tmp", 0777);
	if (tmp)
		tmp->mode = S_IFDIR | 01777;
	struct inode *dev = mkdir_p("/dev", 0755);
	add_dev(dev, "console", &dev_console, 0600);
	add_dev(dev, "tty", &dev_console, 0666);
	add_dev(dev, "stdin", &dev_console, 0600);
	add_dev(dev, "stdout", &dev_console, 0600);
	add_dev(dev, "stderr", &dev_console, 0600);
	add_dev(dev, "null", &dev_null, 0666);
	add_dev(dev, "zero", &dev_zero, 0666);
	add_dev(dev, "full", &dev_full, 0666);
	add_dev(dev, "random", &dev_random, 0666);
	add_dev(dev, "urandom", &dev_random, 0666);
}
UNIK_INIT(INIT_FS, fs_init);

/* What getpwuid(0), getgrgid(0) and name lookups of localhost expect to find, as a Linux root
 * file system has them: added after the archives, only where the image has no file of that
 * name (its own, or even a symbolic link, wins unchanged). */
static const char *const etc_defaults[][2] = {
    {"passwd", "root:x:0:0:root:/root:/bin/sh\n"},
    {"group", "root:x:0:\n"},
    {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
};

void fs_add_etc_defaults(void)
{
	struct inode *etc, *i;
	if (fs_lookup(fs_root_ino, "/etc", LOOKUP_FOLLOW, &etc) < 0 &&
	    fs_create(fs_root_ino, "etc", S_IFDIR | 0755, &etc) < 0)
		return;
	if (!S_ISDIR(etc->mode))
		return;
	for (size_t k = 0; k < ARRAY_SIZE(etc_defaults); k++)
		if (fs_create(etc, etc_defaults[k][0], S_IFREG | 0644, &i) == 0) {
			i->data = (char *)etc_defaults[k][1];
			i->borrowed = true;
			i->size = k_strlen(etc_defaults[k][1]);
		}
	if (!fs_dir_find(fs_root_ino, "root"))
		fs_create(fs_root_ino, "root", S_IFDIR | 0700, NULL);
}
UNIK_INIT(INIT_ETC, fs_add_etc_defaults);

/* --- newc cpio --- */

static uint64_t hex8(const char *p, bool *ok)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			*ok = false;
	}
	return v;
}

int fs_load_cpio(const void *data, size_t len, bool borrow, const char *what)
{
	const char *base = data;
	size_t off = 0;
	int files = 0;
	while (off + 110 <= len) {
		const char *h = base + off;
		if (k_memcmp(h, "070701", 6) && k_memcmp(h, "070702", 6))
			panic("%s: not a newc cpio archive (bad header at offset %lu)", what, off);
		bool ok = true;
		uint32_t mode = (uint32_t)hex8(h + 14, &ok);
		int64_t mtime = (int64_t)hex8(h + 46, &ok);
		uint64_t fsize = hex8(h + 54, &ok);
		uint64_t nsize = hex8(h + 94, &ok);
		if (!ok || nsize == 0)
			panic("%s: corrupt cpio header at offset %lu", what, off);
		size_t name_off = off + 110;
		size_t data_off = (name_off + nsize + 3) & ~(size_t)3;
		size_t next = (data_off + fsize + 3) & ~(size_t)3;
		if (name_off + nsize > len || data_off + fsize > len || next < off)
			panic("%s: truncated cpio archive (entry at offset %lu)", what, off);
		const char *name = base + name_off;
		if (name[nsize - 1] != 0)
			panic("%s: corrupt cpio name at offset %lu", what, off);
		if (!k_strcmp(name, "TRAILER!!!"))
			return files;
		off = next;
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		while (name[0] == '/')
			name++;
		if (!name[0] || !k_strcmp(name, "."))
			continue;
		/* Split into directory and last name; create directories on the way. */
		char *path = k_strdup(name);
		char *slash = NULL;
		for (char *p = path; *p; p++)
			if (*p == '/')
				slash = p;
		struct inode *dir = fs_root_ino;
		const char *leaf = path;
		if (slash) {
			*slash = 0;
			dir = mkdir_p(path, 0755);
			leaf = slash + 1;
		}
		if (!dir || !leaf[0] || !k_strcmp(leaf, "..") || !k_strcmp(leaf, ".")) {
			kfree(path);
			continue;
		}
		struct inode *old = fs_dir_find(dir, leaf);
		struct inode *i = NULL;
		if (S_ISDIR(mode)) {
			if (old && S_ISDIR(old->mode)) {
				i = old;
			} else {
				if (old)
					fs_unlink(dir, leaf, false);
				fs_create(dir, leaf, mode, &i);
			}
		} else if (S_ISREG(mode) || S_ISLNK(mode)) {
			if (old)
				fs_unlink(dir, leaf, S_ISDIR(old->mode));
			if (fs_create(dir, leaf, mode, &i) == 0) {
				if (borrow && S_ISREG(mode)) {
					i->data = (char *)base + data_off;
					i->borrowed = true;
					i->size = fsize;
				} else if (fsize) {
					fs_write(i, base + data_off, fsize, 0);
				}
			}
			files++;
		}
		if (i) {
			i->mode = mode;
			i->atime = i->mtime = i->ctime = mtime * 1000000000LL;
		}
		kfree(path);
	}
	panic("%s: cpio archive has no trailer (truncated?)", what);
}
