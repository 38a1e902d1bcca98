/* The virtual file system: inodes, the operations a file system gives vfs.c, path lookup across
 * mount points, and the file systems the runtime has (tmpfs, devfs on tmpfs). */
#ifndef UNIK_RT_FS_H
#define UNIK_RT_FS_H

#include "kernel/kernel.h"

#define NAME_MAX 255
#define PATH_MAX 4096

struct chardev {
	long (*read)(char *buf, size_t n, bool nonblock);
	long (*write)(const char *buf, size_t n);
	bool (*readable)(void);
	bool tty;
};

struct inode;
struct super_block;

/* What a file system does, called by vfs.c once it has handled ".", "..", mount points and the
 * checks that do not depend on the file system.  Names given are never "." or "..". */
struct fs_ops {
	/* the inode named `name` in dir, or NULL (no reference taken) */
	struct inode *(*lookup)(struct inode *dir, const char *name);
	/* a new inode named `name` in dir, which has no such name yet; *out if out is not NULL */
	int (*create)(struct inode *dir, const char *name, uint32_t mode, struct inode **out);
	/* a second name for target (not a directory, same file system) */
	int (*link)(struct inode *dir, const char *name, struct inode *target);
	/* removes a name, then drops its inode with fs_put */
	int (*unlink)(struct inode *dir, const char *name, bool rmdir);
	/* odir and ndir are on this file system */
	int (*rename)(struct inode *odir, const char *oname, struct inode *ndir, const char *nname);
	long (*read)(struct inode *i, void *buf, uint64_t n, uint64_t off);
	long (*write)(struct inode *i, const void *buf, uint64_t n, uint64_t off);
	int (*truncate)(struct inode *i, uint64_t size);
	/* calls emit for dir's entries from the pos-th on (0: the first after "." and "..") until
	 * emit returns true or the entries run out */
	void (*readdir)(struct inode *dir, uint64_t pos,
	                bool (*emit)(void *arg, const char *name, struct inode *i), void *arg);
	/* frees what i holds besides the struct: no name and no open file refer to it any more */
	void (*evict)(struct inode *i);
	/* Optional, for file systems on a device (ext2 on virtio-blk, 9p on virtio-9p): writes
	 * back what i (fsync) or the whole file system (sync; also at umount and at exit) holds
	 * dirty, then flushes the device; 0 or a negative errno. */
	int (*fsync)(struct inode *i);
	int (*sync)(struct super_block *sb);
	/* Optional: statfs's figures for the file system (s is zeroed; f_flags is filled in by
	 * the caller), 0 or a negative errno; without it, tmpfs's (the guest's memory). */
	int (*statfs)(struct super_block *sb, struct linux_statfs *s);
	/* Optional: st_blocks of i, in 512-byte units; without it, its size rounded up to pages. */
	uint64_t (*blocks)(struct inode *i);
	/* Optional: i's mode (FS_ATTR_MODE) or times (FS_ATTR_TIMES) were just changed in i by
	 * chmod or utimensat; a file system that keeps them elsewhere (9p, on the host) passes
	 * them on.  0 or a negative errno (then the change is undone). */
	int (*setattr)(struct inode *i, unsigned what);
};

#define FS_ATTR_MODE  1u
#define FS_ATTR_TIMES 2u

/* One mounted file system. */
struct super_block {
	const struct fs_ops *ops;
	struct inode *root;
	struct inode *covered;    /* the directory it is mounted on (NULL for the root) */
	struct super_block *next; /* the mount table, newest first */
	bool readonly;            /* mounted read-only: vfs.c refuses changes with EROFS */
	void *priv;               /* the file system's own (ext2.c, 9p.c) */
};

struct tmpfs_dentry;

struct inode {
	uint32_t mode, nlink;
	uint64_t ino;
	uint64_t size;
	int64_t atime, mtime, ctime;
	int open_count;
	struct super_block *sb;      /* NULL for pipes, eventfds and other unnamed inodes */
	struct super_block *mounted; /* what is mounted on this directory, if anything */
	struct inode *parent;        /* a directory's, for ".."; a root's is itself */
	const struct chardev *dev;   /* a character device's operations (devfs.c) */
	void *priv;                  /* a device file system's own (ext2.c, 9p.c) */
	struct {                     /* tmpfs's own (tmpfs.c) */
		char *data;          /* file contents or symlink target */
		uint64_t cap;
		bool borrowed; /* data points into the boot image or initrd: copy before writing */
		struct tmpfs_dentry *children;
	} t;
};

#define LOOKUP_FOLLOW 1 /* follow a symlink in the last component */

extern struct inode *fs_root_ino, *fs_cwd;

/* vfs.c: the calls the rest of the runtime makes, whatever the file system. */
int fs_lookup(struct inode *base, const char *path, int flags, struct inode **out);
int fs_lookup_parent(struct inode *base, const char *path, struct inode **dir, char *name,
                     bool *trailing_slash);
struct inode *inode_new(uint32_t mode); /* unlinked: nlink 0, no file system */
struct inode *fs_dir_find(struct inode *dir, const char *name);
int fs_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out);
int fs_unlink(struct inode *dir, const char *name, bool rmdir);
int fs_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname);
int fs_link(struct inode *dir, const char *name, struct inode *target);
long fs_read(struct inode *ino, void *buf, uint64_t n, uint64_t off);
long fs_write(struct inode *ino, const void *buf, uint64_t n, uint64_t off);
int fs_truncate(struct inode *ino, uint64_t size);
void fs_readdir(struct inode *dir, uint64_t pos,
                bool (*emit)(void *arg, const char *name, struct inode *i), void *arg);
int fs_getcwd(char *buf, size_t size);
void fs_put(struct inode *ino);
void fs_stat(struct inode *ino, struct linux_stat *st);
/* Mounts sb on the directory dir: lookups that reach dir continue at sb->root. */
int fs_mount(struct inode *dir, struct super_block *sb);
/* The directory at an absolute path, made (with mode) where missing; NULL if that fails. */
struct inode *fs_mkdir_p(const char *path, uint32_t mode);
int64_t fs_now(void);
extern bool fs_clock_ready;
/* Writes back every mounted file system that has a sync operation (sync(2), and at exit with
 * final set: the file systems are left clean, as at an unmount); the first error or 0. */
int fs_sync_all(bool final);
/* Detaches what is mounted at dir (its root) after a final sync; -EINVAL if nothing is. */
int fs_umount(struct inode *root);
/* Set while a sync is the last before an unmount: ext2 then marks its disk clean. */
extern bool fs_sync_final;

/* tmpfs.c */
struct super_block *tmpfs_new(uint32_t root_mode);
/* Gives a new empty regular file i bytes that stay where they are until written to. */
void tmpfs_borrow(struct inode *i, const void *data, uint64_t size);

/* devfs.c: /dev and its character devices */
void devfs_init(void);

#endif
