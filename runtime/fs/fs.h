/* The in-memory root file system: inodes, directories and path lookup. */
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

struct dentry;

struct inode {
	uint32_t mode, nlink;
	uint64_t ino;
	uint64_t size;
	int64_t atime, mtime, ctime;
	int open_count;
	char *data; /* file contents or symlink target */
	uint64_t cap;
	bool borrowed; /* data points into the boot image or initrd: copy before writing */
	struct dentry *children;
	struct inode *parent;
	const struct chardev *dev;
};

struct dentry {
	struct dentry *next;
	struct inode *ino;
	char name[];
};

#define LOOKUP_FOLLOW 1 /* follow a symlink in the last component */

extern struct inode *fs_root_ino, *fs_cwd;

int fs_lookup(struct inode *base, const char *path, int flags, struct inode **out);
int fs_lookup_parent(struct inode *base, const char *path, struct inode **dir, char *name,
                     bool *trailing_slash);
struct inode *inode_new(uint32_t mode); /* unlinked: nlink 0 */
struct inode *fs_dir_find(struct inode *dir, const char *name);
int fs_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out);
int fs_unlink(struct inode *dir, const char *name, bool rmdir);
int fs_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname);
int fs_link(struct inode *dir, const char *name, struct inode *target);
long fs_read(struct inode *ino, void *buf, uint64_t n, uint64_t off);
long fs_write(struct inode *ino, const void *buf, uint64_t n, uint64_t off);
int fs_truncate(struct inode *ino, uint64_t size);
int fs_getcwd(char *buf, size_t size);
void fs_put(struct inode *ino);
void fs_stat(struct inode *ino, struct linux_stat *st);
int64_t fs_now(void);
extern bool fs_clock_ready;

#endif
