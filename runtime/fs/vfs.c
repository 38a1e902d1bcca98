/* The virtual file system: path lookup, which crosses mount points, and the calls that reach a
 * file system through the operations of its super block (fs.h).  The root is a tmpfs. */
#include "fs/fs.h"

struct inode *fs_root_ino, *fs_cwd;
struct super_block *fs_mounts;
bool fs_clock_ready, fs_sync_final;
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

/* Drops an inode once no name and no open file refers to it. */
void fs_put(struct inode *i)
{
	if (i && i->nlink == 0 && i->open_count == 0 && i != fs_root_ino) {
		if (i->sb)
			i->sb->ops->evict(i);
		kfree(i);
	}
}

int fs_mount(struct inode *dir, struct super_block *sb)
{
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (dir->mounted)
		return -EBUSY;
	sb->covered = dir;
	dir->mounted = sb;
	sb->next = fs_mounts;
	fs_mounts = sb;
	return 0;
}

int fs_sync_all(bool final)
{
	int r = 0;
	fs_sync_final = final;
	for (struct super_block *sb = fs_mounts; sb; sb = sb->next)
		if (sb->ops->sync) {
			int e = sb->ops->sync(sb);
			r = r ? r : e;
		}
	fs_sync_final = false;
	return r;
}

int fs_umount(struct inode *root)
{
	struct super_block *sb = root->sb;
	if (!sb || root != sb->root || !sb->covered)
		return -EINVAL;
	fs_sync_final = true;
	int r = sb->ops->sync ? sb->ops->sync(sb) : 0;
	fs_sync_final = false;
	if (r < 0)
		return r;
	sb->covered->mounted = NULL;
	for (struct super_block **pp = &fs_mounts; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	/* The super block and its inodes stay allocated: open files may still point at them,
	 * and the file system now writes nothing more (it was left clean). */
	sb->readonly = true;
	return 0;
}

/* The inode a name in dir leads to: on a mount point, the root of what is mounted there; ".." of
 * a mounted root is ".." of the directory it covers. */
struct inode *fs_dir_find(struct inode *dir, const char *name)
{
	if (!k_strcmp(name, ".") || !name[0])
		return dir;
	if (!k_strcmp(name, "..")) {
		while (dir->sb->covered && dir == dir->sb->root)
			dir = dir->sb->covered;
		return dir->parent;
	}
	struct inode *i = dir->sb->ops->lookup(dir, name);
	while (i && i->mounted)
		i = i->mounted->root;
	return i;
}

/* Path walk.  `depth` bounds symlink expansion as Linux does (ELOOP after 40). */
static int walk(struct inode *base, const char *path, int flags, struct inode **out, int depth);

static int follow(struct inode *dir, struct inode *link, struct inode **out, int depth)
{
	if (depth >= 40)
		return -ELOOP;
	char *target = kmalloc(link->size + 1);
	if (!target)
		return -ENOMEM;
	long n = fs_read(link, target, link->size, 0);
	target[n > 0 ? n : 0] = 0;
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

static bool is_dots(const char *name)
{
	return !k_strcmp(name, ".") || !k_strcmp(name, "..");
}

/* Whether changes to i's file system are refused (mounted read-only). */
static bool ro(struct inode *i)
{
	return i->sb && i->sb->readonly;
}

int fs_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out)
{
	if (fs_dir_find(dir, name))
		return -EEXIST;
	if (ro(dir))
		return -EROFS;
	return dir->sb->ops->create(dir, name, mode, out);
}

int fs_link(struct inode *dir, const char *name, struct inode *target)
{
	if (fs_dir_find(dir, name))
		return -EEXIST;
	if (dir->sb != target->sb)
		return -EXDEV;
	if (S_ISDIR(target->mode))
		return -EPERM;
	if (ro(dir))
		return -EROFS;
	return dir->sb->ops->link(dir, name, target);
}

int fs_unlink(struct inode *dir, const char *name, bool rmdir)
{
	if (is_dots(name))
		return rmdir ? (!k_strcmp(name, ".") ? -EINVAL : -ENOTEMPTY) : -EISDIR;
	struct inode *i = dir->sb->ops->lookup(dir, name);
	if (i && i->mounted)
		return rmdir ? -EBUSY : -EISDIR;
	if (ro(dir))
		return -EROFS;
	return dir->sb->ops->unlink(dir, name, rmdir);
}

int fs_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname)
{
	if (is_dots(oname) || is_dots(nname))
		return -EBUSY;
	if (odir->sb != ndir->sb)
		return -EXDEV;
	if (ro(odir))
		return -EROFS;
	return odir->sb->ops->rename(odir, oname, ndir, nname);
}

long fs_read(struct inode *i, void *buf, uint64_t n, uint64_t off)
{
	return i->sb->ops->read(i, buf, n, off);
}

long fs_write(struct inode *i, const void *buf, uint64_t n, uint64_t off)
{
	if (ro(i))
		return -EROFS;
	return i->sb->ops->write(i, buf, n, off);
}

int fs_truncate(struct inode *i, uint64_t size)
{
	if (ro(i))
		return -EROFS;
	return i->sb->ops->truncate(i, size);
}

void fs_readdir(struct inode *dir, uint64_t pos,
                bool (*emit)(void *arg, const char *name, struct inode *i), void *arg)
{
	dir->sb->ops->readdir(dir, pos, emit, arg);
}

struct name_of {
	struct inode *want;
	const char *name;
};

static bool match_ino(void *arg, const char *name, struct inode *i)
{
	struct name_of *n = arg;
	if (i != n->want)
		return false;
	n->name = name;
	return true;
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
		if (i == i->sb->root && i->sb->covered) {
			i = i->sb->covered; /* a mount point is named in the directory above it */
			continue;
		}
		struct name_of n = {i, NULL};
		fs_readdir(i->parent, 0, match_ino, &n);
		if (!n.name)
			return -ENOENT;
		size_t l = k_strlen(n.name);
		if (l + 1 > pos)
			return -ENAMETOOLONG;
		pos -= l;
		k_memcpy(tmp + pos, n.name, l);
		tmp[--pos] = '/';
		i = i->parent;
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
	st->st_dev = 0x15; /* any stable number: inode numbers are unique across file systems */
	st->st_ino = i->ino;
	st->st_nlink = i->nlink;
	st->st_mode = i->mode;
	st->st_rdev = i->dev ? 0x0501 : 0;
	st->st_size = S_ISDIR(i->mode) ? 4096 : (int64_t)i->size;
	st->st_blksize = 4096;
	if (i->sb && i->sb->ops->blocks)
		st->st_blocks = (int64_t)i->sb->ops->blocks(i);
	else
		st->st_blocks = (int64_t)(PAGE_UP(S_ISREG(i->mode) ? i->size : 0) / 512);
	st->st_atim = (struct linux_timespec){i->atime / 1000000000, i->atime % 1000000000};
	st->st_mtim = (struct linux_timespec){i->mtime / 1000000000, i->mtime % 1000000000};
	st->st_ctim = (struct linux_timespec){i->ctime / 1000000000, i->ctime % 1000000000};
}

struct inode *fs_mkdir_p(const char *path, uint32_t mode)
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
		if (is_dots(name))
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

/* The mounts every image starts with: a tmpfs root with /tmp, and devfs on /dev. */
void fs_init(void)
{
	fs_mounts = tmpfs_new(0755);
	fs_root_ino = fs_cwd = fs_mounts->root;
	struct inode *tmp = fs_mkdir_p("/tmp", 0777);
	if (tmp)
		tmp->mode = S_IFDIR | 01777;
	devfs_init();
}
UNIK_INIT(INIT_FS, fs_init);
