/* tmpfs: the in-memory file system that holds the root, /dev and whatever the archives bring.
 * Directories are lists of names in the order they were made; file data is one buffer, which
 * may be borrowed from the boot image until first written. */
#include "fs/fs.h"

struct tmpfs_dentry {
	struct tmpfs_dentry *next;
	struct inode *ino;
	char name[];
};

static const struct fs_ops tmpfs_ops;

static void free_data(struct inode *i)
{
	if (!i->t.borrowed)
		kfree(i->t.data);
	i->t.data = NULL;
	i->t.cap = 0;
	i->t.borrowed = false;
}

static struct inode *tmpfs_lookup(struct inode *dir, const char *name)
{
	for (struct tmpfs_dentry *d = dir->t.children; d; d = d->next)
		if (!k_strcmp(d->name, name))
			return d->ino;
	return NULL;
}

static int dir_add(struct inode *dir, const char *name, struct inode *ino)
{
	size_t len = k_strlen(name);
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	struct tmpfs_dentry *d = kmalloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOSPC;
	k_memcpy(d->name, name, len + 1);
	d->ino = ino;
	/* Keep insertion order, so listings come out in the order files were made. */
	d->next = NULL;
	struct tmpfs_dentry **pp = &dir->t.children;
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
	for (struct tmpfs_dentry **pp = &dir->t.children; *pp; pp = &(*pp)->next) {
		struct tmpfs_dentry *d = *pp;
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

static int tmpfs_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out)
{
	struct inode *i = inode_new(mode);
	if (!i)
		return -ENOSPC;
	i->sb = dir->sb;
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

static int tmpfs_link(struct inode *dir, const char *name, struct inode *target)
{
	target->ctime = fs_now();
	return dir_add(dir, name, target);
}

static int tmpfs_unlink(struct inode *dir, const char *name, bool rmdir)
{
	struct inode *i = tmpfs_lookup(dir, name);
	if (!i)
		return -ENOENT;
	if (rmdir) {
		if (!S_ISDIR(i->mode))
			return -ENOTDIR;
		if (i->t.children)
			return -ENOTEMPTY;
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
		if (d == d->sb->root)
			return false;
		d = d->parent;
	}
}

static int tmpfs_rename(struct inode *odir, const char *oname, struct inode *ndir,
                        const char *nname)
{
	struct inode *src = tmpfs_lookup(odir, oname);
	if (!src)
		return -ENOENT;
	struct inode *dst = tmpfs_lookup(ndir, nname);
	if (dst == src)
		return 0;
	if (S_ISDIR(src->mode) && is_ancestor(src, ndir))
		return -EINVAL;
	if (dst) {
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->t.children)
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
	for (struct tmpfs_dentry **pp = &odir->t.children; *pp; pp = &(*pp)->next) {
		struct tmpfs_dentry *d = *pp;
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
	if (!i->t.borrowed && need <= i->t.cap)
		return 0;
	uint64_t cap = MAX(i->t.cap * 2, need);
	if (cap < 64)
		cap = 64;
	char *d = kmalloc(cap);
	if (!d)
		return -ENOSPC;
	if (i->t.data)
		k_memcpy(d, i->t.data, i->size);
	if (!i->t.borrowed)
		kfree(i->t.data);
	i->t.data = d;
	i->t.cap = cap;
	i->t.borrowed = false;
	return 0;
}

static int tmpfs_truncate(struct inode *i, uint64_t size)
{
	if (S_ISDIR(i->mode))
		return -EISDIR;
	if (!S_ISREG(i->mode))
		return -EINVAL;
	if (size > i->size) {
		int r = make_private(i, size);
		if (r < 0)
			return r;
		k_memset(i->t.data + i->size, 0, size - i->size);
	} else if (size == 0) {
		free_data(i);
	}
	i->size = size;
	i->mtime = i->ctime = fs_now();
	return 0;
}

static long tmpfs_read(struct inode *i, void *buf, uint64_t n, uint64_t off)
{
	if (off >= i->size)
		return 0;
	n = MIN(n, i->size - off);
	k_memcpy(buf, i->t.data + off, n);
	return (long)n;
}

static long tmpfs_write(struct inode *i, const void *buf, uint64_t n, uint64_t off)
{
	if (!n)
		return 0;
	if (off + n < off)
		return -EFBIG;
	int r = make_private(i, off + n);
	if (r < 0)
		return r;
	if (off > i->size)
		k_memset(i->t.data + i->size, 0, off - i->size);
	k_memcpy(i->t.data + off, buf, n);
	if (off + n > i->size)
		i->size = off + n;
	i->mtime = i->ctime = fs_now();
	return (long)n;
}

static void tmpfs_readdir(struct inode *dir, uint64_t pos,
                          bool (*emit)(void *arg, const char *name, struct inode *i), void *arg)
{
	for (struct tmpfs_dentry *d = dir->t.children; d; d = d->next)
		if (pos)
			pos--;
		else if (emit(arg, d->name, d->ino))
			return;
}

void tmpfs_borrow(struct inode *i, const void *data, uint64_t size)
{
	if (i->sb->ops != &tmpfs_ops) {
		fs_write(i, data, size, 0);
		return;
	}
	i->t.data = (char *)data;
	i->t.borrowed = true;
	i->size = size;
}

struct super_block *tmpfs_new(uint32_t root_mode)
{
	struct super_block *sb = kzalloc(sizeof(*sb));
	struct inode *root = inode_new(S_IFDIR | root_mode);
	if (!sb || !root)
		panic("tmpfs: out of memory");
	sb->ops = &tmpfs_ops;
	sb->root = root;
	root->sb = sb;
	root->nlink = 2;
	root->parent = root;
	return sb;
}

static const struct fs_ops tmpfs_ops = {
    .lookup = tmpfs_lookup,
    .create = tmpfs_create,
    .link = tmpfs_link,
    .unlink = tmpfs_unlink,
    .rename = tmpfs_rename,
    .read = tmpfs_read,
    .write = tmpfs_write,
    .truncate = tmpfs_truncate,
    .readdir = tmpfs_readdir,
    .evict = free_data,
};
