/* File descriptors and the file-system system calls, with Linux's semantics and errors. */
#include "fs/file.h"
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define W_OK 2
#define X_OK 1

static uint32_t umask_bits = 022;
static const struct file_ops reg_ops, dir_ops, chr_ops;

static const struct file_ops *ops_for(struct inode *i)
{
	return i->dev ? &chr_ops : S_ISDIR(i->mode) ? &dir_ops : &reg_ops;
}

void files_init(void)
{
	struct inode *con;
	if (fs_lookup(fs_root_ino, "/dev/console", 0, &con) < 0)
		panic("no /dev/console");
	for (int fd = 0; fd < 3; fd++)
		fd_alloc(file_new(con, &chr_ops, fd ? O_WRONLY : O_RDONLY), fd, false);
}
UNIK_INIT(INIT_FILES, files_init);

/* The directory a *at() call's relative path starts from. */
static int at_base(long dirfd, const char *path, struct inode **base)
{
	if (!path)
		return -EFAULT;
	if (path[0] == '/' || dirfd == AT_FDCWD) {
		*base = fs_cwd;
		return 0;
	}
	struct file *f = fd_get(dirfd);
	if (!f)
		return -EBADF;
	if (!S_ISDIR(f->ino->mode))
		return -ENOTDIR;
	*base = f->ino;
	return 0;
}

static int lookup_at(long dirfd, const char *path, int flags, struct inode **out)
{
	struct inode *base;
	int r = at_base(dirfd, path, &base);
	return r < 0 ? r : fs_lookup(base, path, flags, out);
}

static int parent_at(long dirfd, const char *path, struct inode **dir, char *name, bool *slash)
{
	struct inode *base;
	int r = at_base(dirfd, path, &base);
	return r < 0 ? r : fs_lookup_parent(base, path, dir, name, slash);
}

long sys_openat(long dirfd, const char *path, long flags, long mode)
{
	struct inode *dir, *ino;
	char name[NAME_MAX + 1];
	bool slash;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EOPNOTSUPP;
	int r = parent_at(dirfd, path, &dir, name, &slash);
	if (r < 0)
		return r;
	ino = fs_dir_find(dir, name);
	if (ino && S_ISLNK(ino->mode)) {
		if (flags & O_NOFOLLOW)
			return (flags & O_PATH) ? 0 : -ELOOP;
		if ((flags & O_CREAT) && (flags & O_EXCL))
			return -EEXIST;
		r = fs_lookup(dir, name, LOOKUP_FOLLOW, &ino);
		if (r < 0)
			return r; /* a dangling link is not created through */
	}
	if (ino) {
		if ((flags & O_CREAT) && (flags & O_EXCL))
			return -EEXIST;
		if (S_ISDIR(ino->mode) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT)))
			return -EISDIR;
		if ((flags & O_DIRECTORY) && !S_ISDIR(ino->mode))
			return -ENOTDIR;
		if (slash && !S_ISDIR(ino->mode))
			return -ENOTDIR;
		if ((flags & O_ACCMODE) != O_RDONLY && S_ISREG(ino->mode) && ino->sb &&
		    ino->sb->readonly)
			return -EROFS;
		if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && S_ISREG(ino->mode)) {
			r = fs_truncate(ino, 0);
			if (r < 0)
				return r;
		}
	} else {
		if (!(flags & O_CREAT))
			return -ENOENT;
		if (slash || (flags & O_DIRECTORY))
			return -EISDIR;
		r = fs_create(dir, name, S_IFREG | ((uint32_t)mode & 07777 & ~umask_bits), &ino);
		if (r < 0)
			return r;
	}
	struct file *f = file_new(ino, ops_for(ino), (int)flags);
	if (!f)
		return -ENOMEM;
	int fd = fd_alloc(f, 0, flags & O_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

long sys_open(const char *path, long flags, long mode)
{
	return sys_openat(AT_FDCWD, path, flags, mode);
}

long sys_creat(const char *path, long mode)
{
	return sys_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

long sys_close(long fd)
{
	return fd_close(fd);
}

/* --- tmpfs regular files, directories and character devices as file_ops --- */

static long reg_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	long r = fs_read(f->ino, buf, n, *pos);
	if (r > 0)
		*pos += (uint64_t)r;
	return r;
}

static long reg_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	long r = fs_write(f->ino, buf, n, *pos);
	if (r > 0)
		*pos += (uint64_t)r;
	return r;
}

/* FIONREAD: the bytes left before end of file (0 for a directory) */
static long reg_ioctl(struct file *f, long req, long arg)
{
	if (req != FIONREAD)
		return -ENOTTY;
	struct inode *i = f->ino;
	*(int *)arg =
	    S_ISREG(i->mode) && f->off < i->size ? (int)MIN(i->size - f->off, 0x7fffffffUL) : 0;
	return 0;
}

/* For mmap: the inode whose bytes the mapping's pages are read from (sys/mm.c), with Linux's
 * access rules.  1: a shared mapping may be made writable; 0: it may not. */
static long reg_mmap(struct file *f, long prot, bool shared, struct inode **out)
{
	int acc = f->flags & O_ACCMODE;
	bool writable = acc == O_RDWR && !(f->flags & O_APPEND);
	if (acc == O_WRONLY || (shared && (prot & PROT_WRITE) && !writable))
		return -EACCES;
	*out = f->ino;
	return writable;
}

static long dir_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	(void)f, (void)buf, (void)n, (void)pos;
	return -EISDIR;
}

static long dir_mmap(struct file *f, long prot, bool shared, struct inode **out)
{
	(void)f, (void)prot, (void)shared, (void)out;
	return -EACCES;
}

static long chr_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return f->ino->dev->read(buf, n, f->flags & O_NONBLOCK);
}

static long chr_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	return f->ino->dev->write(buf, n);
}

static short chr_poll(struct file *f)
{
	return f->ino->dev->readable() ? POLLIN | POLLOUT : POLLOUT;
}

static long chr_ioctl(struct file *f, long req, long arg)
{
	if (req == FIONREAD) {
		*(int *)arg = f->ino->dev->readable();
		return 0;
	}
	if (!f->ino->dev->tty)
		return -ENOTTY;
	switch (req) {
	case TIOCGWINSZ:
		*(struct linux_winsize *)arg = (struct linux_winsize){24, 80, 0, 0};
		return 0;
	case TIOCSWINSZ:
	case TCSETS:
	case TCSETSW:
	case TCSETSF:
		return 0;
	case TCGETS: {
		struct linux_termios *t = (void *)arg;
		k_memset(t, 0, sizeof(*t));
		t->c_iflag = 0x500;  /* ICRNL | IXON */
		t->c_oflag = 0x5;    /* OPOST | ONLCR */
		t->c_cflag = 0xbf;   /* B38400 | CS8 | CREAD */
		t->c_lflag = 0x8a3b; /* ISIG ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN */
		t->c_cc[0] = 3, t->c_cc[1] = 28, t->c_cc[2] = 127, t->c_cc[3] = 21, t->c_cc[4] = 4;
		t->c_cc[6] = 1;
		return 0;
	}
	case TIOCGPGRP:
		*(int *)arg = 1;
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_ops reg_ops = {
    .read = reg_read, .write = reg_write, .ioctl = reg_ioctl, .mmap = reg_mmap};
static const struct file_ops dir_ops = {.read = dir_read, .ioctl = reg_ioctl, .mmap = dir_mmap};
static const struct file_ops chr_ops = {
    .read = chr_read, .write = chr_write, .poll = chr_poll, .ioctl = chr_ioctl, .stream = true};

/* --- reading and writing through the file's operations --- */

static long do_read(struct file *f, void *buf, uint64_t n, uint64_t off, bool use_off)
{
	if (!f->ops->read)
		return -EINVAL;
	return f->ops->read(f, buf, n, use_off ? &off : &f->off);
}

static long do_write(struct file *f, const void *buf, uint64_t n, uint64_t off, bool use_off)
{
	if (!f->ops->write)
		return -EINVAL;
	if (!use_off && (f->flags & O_APPEND))
		f->off = f->ino->size;
	return f->ops->write(f, buf, n, use_off ? &off : &f->off);
}

long sys_read(long fd, void *buf, uint64_t n)
{
	struct file *f = fd_get(fd);
	return f ? do_read(f, buf, n, 0, false) : -EBADF;
}

long sys_write(long fd, const void *buf, uint64_t n)
{
	struct file *f = fd_get(fd);
	return f ? do_write(f, buf, n, 0, false) : -EBADF;
}

static long check_pos(struct file *f, int64_t off)
{
	if (off < 0)
		return -EINVAL;
	if (f->ops->stream)
		return -ESPIPE;
	return 0;
}

long sys_pread64(long fd, void *buf, uint64_t n, int64_t off)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	long r = check_pos(f, off);
	return r < 0 ? r : do_read(f, buf, n, (uint64_t)off, true);
}

long sys_pwrite64(long fd, const void *buf, uint64_t n, int64_t off)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	long r = check_pos(f, off);
	return r < 0 ? r : do_write(f, buf, n, (uint64_t)off, true);
}

static long do_iov(long fd, const struct linux_iovec *iov, long cnt, int64_t off, bool use_off,
                   bool wr)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	if (use_off) {
		long r = check_pos(f, off);
		if (r < 0)
			return r;
	}
	long total = 0;
	for (long k = 0; k < cnt; k++) {
		if (!iov[k].iov_len)
			continue;
		long r = wr ? do_write(f, iov[k].iov_base, iov[k].iov_len, (uint64_t)off + total,
		                       use_off)
		            : do_read(f, iov[k].iov_base, iov[k].iov_len, (uint64_t)off + total,
		                      use_off);
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((uint64_t)r < iov[k].iov_len)
			break;
	}
	return total;
}

long sys_readv(long fd, const struct linux_iovec *iov, long cnt)
{
	return do_iov(fd, iov, cnt, 0, false, false);
}

long sys_writev(long fd, const struct linux_iovec *iov, long cnt)
{
	return do_iov(fd, iov, cnt, 0, false, true);
}

long sys_preadv(long fd, const struct linux_iovec *iov, long cnt, int64_t off)
{
	return do_iov(fd, iov, cnt, off, true, false);
}

long sys_pwritev(long fd, const struct linux_iovec *iov, long cnt, int64_t off)
{
	return do_iov(fd, iov, cnt, off, true, true);
}

long sys_lseek(long fd, int64_t off, long whence)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	if (f->ops->stream)
		return -ESPIPE;
	int64_t size = (int64_t)f->ino->size, base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)f->off;
		break;
	case SEEK_END:
		base = size;
		break;
	case SEEK_DATA:
		if (off >= size)
			return -6; /* ENXIO */
		base = 0;
		break;
	case SEEK_HOLE:
		if (off >= size)
			return -6;
		base = 0;
		off = size;
		break;
	default:
		return -EINVAL;
	}
	if (base + off < 0)
		return -EINVAL;
	f->off = (uint64_t)(base + off);
	return (long)f->off;
}

long sys_fstat(long fd, struct linux_stat *st)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	fs_stat(f->ino, st);
	return 0;
}

long sys_newfstatat(long dirfd, const char *path, struct linux_stat *st, long flags)
{
	struct inode *i;
	if (path && !path[0] && (flags & AT_EMPTY_PATH)) {
		if (dirfd == AT_FDCWD) {
			fs_stat(fs_cwd, st);
			return 0;
		}
		return sys_fstat(dirfd, st);
	}
	int r = lookup_at(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : LOOKUP_FOLLOW, &i);
	if (r < 0)
		return r;
	fs_stat(i, st);
	return 0;
}

long sys_stat(const char *path, struct linux_stat *st)
{
	return sys_newfstatat(AT_FDCWD, path, st, 0);
}

long sys_lstat(const char *path, struct linux_stat *st)
{
	return sys_newfstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

static uint8_t dtype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return DT_DIR;
	case S_IFREG:
		return DT_REG;
	case S_IFLNK:
		return DT_LNK;
	case S_IFCHR:
		return DT_CHR;
	default:
		return DT_UNKNOWN;
	}
}

struct dents {
	char *buf;
	uint64_t count, used;
	struct file *f;
	bool full;
};

/* Adds one entry at the directory's offset; true (stop) when the buffer has no room for it. */
static bool emit_dent(void *arg, const char *name, struct inode *i)
{
	struct dents *d = arg;
	size_t len = k_strlen(name);
	size_t reclen = (sizeof(struct linux_dirent64) + len + 1 + 7) & ~7UL;
	if (d->used + reclen > d->count)
		return d->full = true;
	struct linux_dirent64 *e = (void *)(d->buf + d->used);
	e->d_ino = i->ino;
	e->d_off = (int64_t)++d->f->off;
	e->d_reclen = (uint16_t)reclen;
	e->d_type = dtype(i->mode);
	k_memcpy(e->d_name, name, len + 1);
	d->used += reclen;
	return false;
}

long sys_getdents64(long fd, void *buf, uint64_t count)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	struct inode *dir = f->ino;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	struct dents d = {buf, count, 0, f, false};
	/* "." and ".." are the first two entries of every directory, whatever its file system. */
	if (f->off == 0)
		emit_dent(&d, ".", dir);
	if (f->off == 1 && !d.full)
		emit_dent(&d, "..", fs_dir_find(dir, ".."));
	if (f->off >= 2 && !d.full)
		fs_readdir(dir, f->off - 2, emit_dent, &d);
	return d.full && !d.used ? -EINVAL : (long)d.used;
}

long sys_mkdirat(long dirfd, const char *path, long mode)
{
	struct inode *dir;
	char name[NAME_MAX + 1];
	int r = parent_at(dirfd, path, &dir, name, NULL);
	if (r < 0)
		return r;
	if (fs_dir_find(dir, name))
		return -EEXIST;
	return fs_create(dir, name, S_IFDIR | ((uint32_t)mode & 07777 & ~umask_bits), NULL);
}

long sys_mkdir(const char *path, long mode)
{
	return sys_mkdirat(AT_FDCWD, path, mode);
}

long sys_unlinkat(long dirfd, const char *path, long flags)
{
	struct inode *dir;
	char name[NAME_MAX + 1];
	bool slash;
	int r = parent_at(dirfd, path, &dir, name, &slash);
	if (r < 0)
		return r;
	if (!(flags & AT_REMOVEDIR) && slash) {
		struct inode *i = fs_dir_find(dir, name);
		return !i ? -ENOENT : S_ISDIR(i->mode) ? -EISDIR : -ENOTDIR;
	}
	return fs_unlink(dir, name, flags & AT_REMOVEDIR);
}

long sys_unlink(const char *path)
{
	return sys_unlinkat(AT_FDCWD, path, 0);
}

long sys_rmdir(const char *path)
{
	return sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

long sys_renameat2(long odirfd, const char *opath, long ndirfd, const char *npath, long flags)
{
	struct inode *od, *nd;
	char on[NAME_MAX + 1], nn[NAME_MAX + 1];
	int r = parent_at(odirfd, opath, &od, on, NULL);
	if (r < 0)
		return r;
	r = parent_at(ndirfd, npath, &nd, nn, NULL);
	if (r < 0)
		return r;
	if ((flags & 1) && fs_dir_find(nd, nn)) /* RENAME_NOREPLACE */
		return fs_dir_find(od, on) ? -EEXIST : -ENOENT;
	if (flags & ~1L)
		return -EINVAL;
	return fs_rename(od, on, nd, nn);
}

long sys_renameat(long odirfd, const char *opath, long ndirfd, const char *npath)
{
	return sys_renameat2(odirfd, opath, ndirfd, npath, 0);
}

long sys_rename(const char *opath, const char *npath)
{
	return sys_renameat2(AT_FDCWD, opath, AT_FDCWD, npath, 0);
}

long sys_faccessat(long dirfd, const char *path, long amode)
{
	struct inode *i;
	if (amode & ~7L)
		return -EINVAL;
	int r = lookup_at(dirfd, path, LOOKUP_FOLLOW, &i);
	if (r < 0)
		return r;
	/* As root: reading and writing are allowed; executing needs some execute bit. */
	if ((amode & X_OK) && !S_ISDIR(i->mode) && !(i->mode & 0111))
		return -EACCES;
	return 0;
}

long sys_access(const char *path, long amode)
{
	return sys_faccessat(AT_FDCWD, path, amode);
}

long sys_ftruncate(long fd, int64_t len)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	if (len < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_RDONLY || !S_ISREG(f->ino->mode))
		return S_ISDIR(f->ino->mode) ? -EISDIR : -EINVAL;
	return fs_truncate(f->ino, (uint64_t)len);
}

long sys_truncate(const char *path, int64_t len)
{
	struct inode *i;
	int r = fs_lookup(fs_cwd, path, LOOKUP_FOLLOW, &i);
	if (r < 0)
		return r;
	if (len < 0)
		return -EINVAL;
	return fs_truncate(i, (uint64_t)len);
}

long sys_fsync(long fd)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	struct inode *i = f->ino;
	return i && i->sb && i->sb->ops->fsync ? i->sb->ops->fsync(i) : 0;
}

long sys_syncfs(long fd)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	struct super_block *sb = f->ino ? f->ino->sb : NULL;
	return sb && sb->ops->sync ? sb->ops->sync(sb) : 0;
}

long sys_umount2(const char *path, long flags)
{
	struct inode *i;
	(void)flags;
	int r = fs_lookup(fs_cwd, path, LOOKUP_FOLLOW, &i);
	return r < 0 ? r : fs_umount(i);
}

long sys_getcwd(char *buf, uint64_t size)
{
	return fs_getcwd(buf, size);
}

long sys_chdir(const char *path)
{
	struct inode *i;
	int r = fs_lookup(fs_cwd, path, LOOKUP_FOLLOW, &i);
	if (r < 0)
		return r;
	if (!S_ISDIR(i->mode))
		return -ENOTDIR;
	fs_cwd = i;
	return 0;
}

long sys_fchdir(long fd)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	if (!S_ISDIR(f->ino->mode))
		return -ENOTDIR;
	fs_cwd = f->ino;
	return 0;
}

long sys_dup(long fd)
{
	return fd_dup(fd, 0, false);
}

long sys_dup3(long fd, long newfd, long flags)
{
	/* Linux's order: the flags and fd == newfd before either descriptor is looked at */
	if (fd == newfd || (flags & ~O_CLOEXEC))
		return -EINVAL;
	return fd_dup_to(fd, newfd, flags & O_CLOEXEC);
}

long sys_dup2(long fd, long newfd)
{
	if (fd == newfd)
		return fd_get(fd) ? newfd : -EBADF;
	return sys_dup3(fd, newfd, 0);
}

long sys_fcntl(long fd, long cmd, long arg)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0 || arg >= MAX_FDS)
			return -EINVAL;
		return fd_dup(fd, (int)arg, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
		return fd_cloexec(fd, -1) ? FD_CLOEXEC : 0;
	case F_SETFD:
		fd_cloexec(fd, arg & FD_CLOEXEC);
		return 0;
	case F_GETFL:
		return f->flags;
	case F_SETFL:
		f->flags =
		    (f->flags & ~(O_APPEND | O_NONBLOCK)) | ((int)arg & (O_APPEND | O_NONBLOCK));
		return 0;
	case F_GETLK: {
		short *type = (short *)arg; /* struct flock starts with l_type */
		if (type)
			*type = 2; /* F_UNLCK: one process holds no conflicting locks */
		return 0;
	}
	case F_SETLK:
	case F_SETLKW:
		return 0;
	default:
		return -EINVAL;
	}
}

long sys_readlinkat(long dirfd, const char *path, char *buf, long size)
{
	struct inode *i;
	if (size <= 0)
		return -EINVAL;
	int r = lookup_at(dirfd, path, 0, &i);
	if (r < 0)
		return r;
	if (!S_ISLNK(i->mode))
		return -EINVAL;
	return fs_read(i, buf, (uint64_t)size, 0);
}

long sys_readlink(const char *path, char *buf, long size)
{
	return sys_readlinkat(AT_FDCWD, path, buf, size);
}

long sys_symlinkat(const char *target, long dirfd, const char *path)
{
	struct inode *dir, *i;
	char name[NAME_MAX + 1];
	if (!target || !target[0])
		return -ENOENT;
	int r = parent_at(dirfd, path, &dir, name, NULL);
	if (r < 0)
		return r;
	r = fs_create(dir, name, S_IFLNK | 0777, &i);
	if (r < 0)
		return r;
	long w = fs_write(i, target, k_strlen(target), 0);
	return w < 0 ? w : 0;
}

long sys_symlink(const char *target, const char *path)
{
	return sys_symlinkat(target, AT_FDCWD, path);
}

long sys_linkat(long odirfd, const char *opath, long ndirfd, const char *npath, long flags)
{
	struct inode *src, *dir;
	char name[NAME_MAX + 1];
	int r = lookup_at(odirfd, opath, (flags & AT_SYMLINK_FOLLOW) ? LOOKUP_FOLLOW : 0, &src);
	if (r < 0)
		return r;
	r = parent_at(ndirfd, npath, &dir, name, NULL);
	return r < 0 ? r : fs_link(dir, name, src);
}

long sys_link(const char *opath, const char *npath)
{
	return sys_linkat(AT_FDCWD, opath, AT_FDCWD, npath, 0);
}

/* chmod's change, passed to the file system when it keeps modes elsewhere (setattr). */
static long set_mode(struct inode *i, long mode)
{
	if (i->sb && i->sb->readonly)
		return -EROFS;
	uint32_t old = i->mode;
	int64_t old_ctime = i->ctime;
	i->mode = (i->mode & S_IFMT) | ((uint32_t)mode & 07777);
	i->ctime = fs_now();
	int r = i->sb && i->sb->ops->setattr ? i->sb->ops->setattr(i, FS_ATTR_MODE) : 0;
	if (r < 0) {
		i->mode = old;
		i->ctime = old_ctime;
	}
	return r;
}

long sys_fchmodat(long dirfd, const char *path, long mode)
{
	struct inode *i;
	int r = lookup_at(dirfd, path, LOOKUP_FOLLOW, &i);
	return r < 0 ? r : set_mode(i, mode);
}

long sys_chmod(const char *path, long mode)
{
	return sys_fchmodat(AT_FDCWD, path, mode);
}

long sys_fchmod(long fd, long mode)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	return set_mode(f->ino, mode);
}

/* Ownership: everything belongs to root, the only user; changing it is accepted and moot. */
long sys_fchownat(long dirfd, const char *path, long uid, long gid, long flags)
{
	struct inode *i;
	(void)uid, (void)gid;
	if (path && !path[0] && (flags & AT_EMPTY_PATH))
		return fd_get(dirfd) ? 0 : -EBADF;
	return lookup_at(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : LOOKUP_FOLLOW, &i);
}

long sys_utimensat(long dirfd, const char *path, const struct linux_timespec *ts, long flags)
{
	struct inode *i;
	if (!path) {
		struct file *f = fd_get(dirfd);
		if (!f)
			return -EBADF;
		i = f->ino;
	} else {
		int r =
		    lookup_at(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : LOOKUP_FOLLOW, &i);
		if (r < 0)
			return r;
	}
	if (i->sb && i->sb->readonly)
		return -EROFS;
	int64_t now = fs_now(), old[3] = {i->atime, i->mtime, i->ctime};
	for (int k = 0; k < 2; k++) {
		int64_t *field = k ? &i->mtime : &i->atime;
		if (!ts || ts[k].tv_nsec == 0x3fffffff) /* UTIME_NOW */
			*field = now;
		else if (ts[k].tv_nsec != 0x3ffffffe) /* UTIME_OMIT */
			*field = ts[k].tv_sec * 1000000000LL + ts[k].tv_nsec;
	}
	i->ctime = now;
	int r = i->sb && i->sb->ops->setattr ? i->sb->ops->setattr(i, FS_ATTR_TIMES) : 0;
	if (r < 0) {
		i->atime = old[0];
		i->mtime = old[1];
		i->ctime = old[2];
	}
	return r;
}

long sys_umask(long mask)
{
	uint32_t old = umask_bits;
	umask_bits = (uint32_t)mask & 0777;
	return old;
}

long sys_ioctl(long fd, long req, long arg)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	if (req == FIONBIO) {
		if (*(int *)arg)
			f->flags |= O_NONBLOCK;
		else
			f->flags &= ~O_NONBLOCK;
		return 0;
	}
	return f->ops->ioctl ? f->ops->ioctl(f, req, arg) : -ENOTTY;
}

short file_poll(struct file *f, bool *unwoken)
{
	*unwoken |= f->ops->poll && !f->ops->wakes;
	return f->ops->poll ? f->ops->poll(f) : POLLIN | POLLOUT;
}

/* Waiting for readiness (poll, select, epoll_wait): a file's readiness comes from its poll
 * operation (none: always ready).  The wait is on poll_waitq, which every wake of a file's queue
 * also wakes; when scan saw a file whose state changes without a wake (the console, a timerfd),
 * it looks again every millisecond.  mask, if given, is the signal mask during the wait. */
long poll_wait(long (*scan)(void *arg, bool *unwoken), void *arg, int64_t timeout_ns,
               const uint64_t *mask)
{
	uint64_t deadline = timeout_ns > 0 ? clock_monotonic_ns() + (uint64_t)timeout_ns : 0;
	uint64_t old = current->sigmask;
	if (mask)
		current->sigmask = *mask & ~(1UL << (SIGKILL - 1) | 1UL << (19 - 1));
	long r;
	for (;;) {
		bool unwoken = false;
		r = scan(arg, &unwoken);
		if (r || timeout_ns == 0)
			break;
		uint64_t wait = deadline;
		if (unwoken) {
			uint64_t slice = clock_monotonic_ns() + 1000000;
			wait = wait && wait < slice ? wait : slice;
		}
		r = thread_wait(&poll_waitq, wait);
		if (r == -EINTR || (r == -ETIMEDOUT && wait == deadline)) {
			r = r == -EINTR ? r : 0;
			break;
		}
	}
	current->sigmask = old;
	return r;
}

struct poll_args {
	struct linux_pollfd *fds;
	uint64_t n;
};

static long poll_scan(void *arg, bool *unwoken)
{
	struct poll_args *a = arg;
	long ready = 0;
	for (uint64_t k = 0; k < a->n; k++) {
		struct linux_pollfd *p = &a->fds[k];
		struct file *f = fd_get(p->fd);
		p->revents = p->fd < 0 ? 0 : !f ? POLLNVAL : file_poll(f, unwoken);
		p->revents &= p->events | POLLERR | POLLHUP | POLLNVAL;
		ready += p->revents != 0;
	}
	return ready;
}

static long do_poll(struct linux_pollfd *fds, uint64_t n, int64_t timeout_ns, const uint64_t *mask)
{
	struct poll_args a = {fds, n};
	return n > MAX_FDS ? -EINVAL : poll_wait(poll_scan, &a, timeout_ns, mask);
}

long sys_poll(struct linux_pollfd *fds, uint64_t n, long timeout_ms)
{
	return do_poll(fds, n, timeout_ms < 0 ? -1 : timeout_ms * 1000000, NULL);
}

long sys_ppoll(struct linux_pollfd *fds, uint64_t n, const struct linux_timespec *ts,
               const uint64_t *mask, uint64_t size)
{
	if (mask && size != 8)
		return -EINVAL;
	return do_poll(fds, n, ts ? ts->tv_sec * 1000000000LL + ts->tv_nsec : -1, mask);
}

/* select and pselect6: the three sets are read first, each descriptor polled once per scan,
 * and the sets rewritten only at the end, with the bits Linux's POLLIN_SET, POLLOUT_SET and
 * POLLEX_SET give. */
struct select_args {
	int n;
	uint64_t *sets[3];
	uint64_t in[3][MAX_FDS / 64];
};

static long select_scan(void *arg, bool *unwoken)
{
	struct select_args *a = arg;
	static const short want[3] = {POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI};
	uint64_t out[3][MAX_FDS / 64] = {{0}};
	long ready = 0;
	for (int fd = 0; fd < a->n; fd++) {
		uint64_t bit = 1UL << (fd % 64);
		if (!((a->in[0][fd / 64] | a->in[1][fd / 64] | a->in[2][fd / 64]) & bit))
			continue;
		struct file *f = fd_get(fd);
		if (!f)
			return -EBADF;
		short ev = file_poll(f, unwoken);
		for (int k = 0; k < 3; k++) {
			if ((a->in[k][fd / 64] & bit) && (ev & want[k])) {
				out[k][fd / 64] |= bit;
				ready++;
			}
		}
	}
	for (int k = 0; ready && k < 3; k++)
		if (a->sets[k])
			k_memcpy(a->sets[k], out[k], (size_t)(a->n + 63) / 64 * 8);
	return ready;
}

/* select (unit 1000: a timeval) and pselect6 (unit 1: a timespec, and sig pointing at {const
 * sigset_t *mask; size_t size}): the time left is written back, as Linux does. */
static long do_select(long n, uint64_t **sets, struct linux_timespec *ts, long unit,
                      const uint64_t *sig)
{
	int64_t t = -1;
	uint64_t start = clock_monotonic_ns();
	if (n < 0)
		return -EINVAL;
	if (ts) {
		if (ts->tv_sec < 0 || (uint64_t)ts->tv_nsec >= 1000000000 / (uint64_t)unit)
			return -EINVAL;
		t = ts->tv_sec * 1000000000LL + ts->tv_nsec * unit;
	}
	const uint64_t *mask = sig ? (const uint64_t *)sig[0] : NULL;
	if (mask && sig[1] != 8)
		return -EINVAL;
	struct select_args *a = kzalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->n = (int)MIN(n, MAX_FDS);
	size_t bytes = (size_t)(a->n + 63) / 64 * 8;
	for (int k = 0; k < 3; k++) {
		a->sets[k] = sets[k];
		if (sets[k])
			k_memcpy(a->in[k], sets[k], bytes);
	}
	long r = poll_wait(select_scan, a, t, mask);
	for (int k = 0; !r && k < 3; k++)
		if (sets[k])
			k_memset(sets[k], 0, bytes);
	kfree(a);
	if (ts) {
		t -= (int64_t)(clock_monotonic_ns() - start);
		t = t > 0 ? t : 0;
		ts->tv_sec = t / 1000000000, ts->tv_nsec = t % 1000000000 / unit;
	}
	return r;
}

/* statfs of the file system holding i (a pipe or other unnamed inode: tmpfs's figures). */
static long statfs_of(struct inode *i, struct linux_statfs *s)
{
	struct super_block *sb = i ? i->sb : NULL;
	k_memset(s, 0, sizeof(*s));
	if (sb && sb->ops->statfs) {
		int r = sb->ops->statfs(sb, s);
		if (!r && sb->readonly)
			s->f_flags |= 1; /* ST_RDONLY */
		return r;
	}
	s->f_type = 0x01021994; /* TMPFS_MAGIC */
	s->f_bsize = s->f_frsize = 4096;
	s->f_blocks = mem_total_bytes() / 4096;
	s->f_bfree = s->f_bavail = mem_free_bytes() / 4096;
	s->f_files = s->f_ffree = 1 << 20;
	s->f_namelen = NAME_MAX;
	return 0;
}

long sys_fstatfs(long fd, struct linux_statfs *s)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	return statfs_of(f->ino, s);
}

long sys_statfs(const char *path, struct linux_statfs *s)
{
	struct inode *i;
	int r = fs_lookup(fs_cwd, path, LOOKUP_FOLLOW, &i);
	return r < 0 ? r : statfs_of(i, s);
}

/* For mmap of a file: the inode behind fd, through its mmap operation (see reg_mmap). */
long file_mmap_inode(int fd, long prot, bool shared, struct inode **out)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	return f->ops->mmap ? f->ops->mmap(f, prot, shared, out) : -19 /* ENODEV */;
}

/* --- the system calls of this file, for the table in sys/syscall.c --- */

SYSCALL(0)
{
	return sys_read(a0, P(a1), a2);
}

SYSCALL(1)
{
	return sys_write(a0, P(a1), a2);
}

SYSCALL(2)
{
	return sys_open(P(a0), a1, a2);
}

SYSCALL(3)
{
	return sys_close(a0);
}

SYSCALL(4)
{
	return sys_stat(P(a0), P(a1));
}

SYSCALL(5)
{
	return sys_fstat(a0, P(a1));
}

SYSCALL(6)
{
	return sys_lstat(P(a0), P(a1));
}

SYSCALL(7)
{
	return sys_poll(P(a0), a1, a2);
}

SYSCALL(8)
{
	return sys_lseek(a0, a1, a2);
}

SYSCALL(16)
{
	return sys_ioctl(a0, a1, a2);
}

SYSCALL(17)
{
	return sys_pread64(a0, P(a1), a2, a3);
}

SYSCALL(18)
{
	return sys_pwrite64(a0, P(a1), a2, a3);
}

SYSCALL(19)
{
	return sys_readv(a0, P(a1), a2);
}

SYSCALL(20)
{
	return sys_writev(a0, P(a1), a2);
}

SYSCALL(21)
{
	return sys_access(P(a0), a1);
}

SYSCALL(32)
{
	return sys_dup(a0);
}

SYSCALL(33)
{
	return sys_dup2(a0, a1);
}

SYSCALL(72)
{
	return sys_fcntl(a0, a1, a2);
}

SYSCALL(74)
{
	return sys_fsync(a0);
}
SYSCALL_ALIAS(75, 74);

SYSCALL(162)
{
	fs_sync_all(false);
	return 0;
}

SYSCALL(166)
{
	return sys_umount2(P(a0), a1);
}

SYSCALL(306)
{
	return sys_syncfs(a0);
}

SYSCALL(76)
{
	return sys_truncate(P(a0), a1);
}

SYSCALL(77)
{
	return sys_ftruncate(a0, a1);
}

SYSCALL(79)
{
	return sys_getcwd(P(a0), a1);
}

SYSCALL(80)
{
	return sys_chdir(P(a0));
}

SYSCALL(81)
{
	return sys_fchdir(a0);
}

SYSCALL(82)
{
	return sys_rename(P(a0), P(a1));
}

SYSCALL(83)
{
	return sys_mkdir(P(a0), a1);
}

SYSCALL(84)
{
	return sys_rmdir(P(a0));
}

SYSCALL(85)
{
	return sys_creat(P(a0), a1);
}

SYSCALL(86)
{
	return sys_link(P(a0), P(a1));
}

SYSCALL(87)
{
	return sys_unlink(P(a0));
}

SYSCALL(88)
{
	return sys_symlink(P(a0), P(a1));
}

SYSCALL(89)
{
	return sys_readlink(P(a0), P(a1), a2);
}

SYSCALL(90)
{
	return sys_chmod(P(a0), a1);
}

SYSCALL(91)
{
	return sys_fchmod(a0, a1);
}

SYSCALL(92) /* chown */
{
	return sys_fchownat(AT_FDCWD, P(a0), a1, a2, 0);
}

SYSCALL(94) /* lchown */
{
	return sys_fchownat(AT_FDCWD, P(a0), a1, a2, AT_SYMLINK_NOFOLLOW);
}

SYSCALL(93)
{
	return sys_fchownat(a0, "", a1, a2, AT_EMPTY_PATH);
}

SYSCALL(95)
{
	return sys_umask(a0);
}

SYSCALL(137)
{
	return sys_statfs(P(a0), P(a1));
}

SYSCALL(138)
{
	return sys_fstatfs(a0, P(a1));
}

SYSCALL(217)
{
	return sys_getdents64(a0, P(a1), a2);
}

SYSCALL(257)
{
	return sys_openat(a0, P(a1), a2, a3);
}

SYSCALL(258)
{
	return sys_mkdirat(a0, P(a1), a2);
}

SYSCALL(260)
{
	return sys_fchownat(a0, P(a1), a2, a3, a4);
}

SYSCALL(262)
{
	return sys_newfstatat(a0, P(a1), P(a2), a3);
}

SYSCALL(263)
{
	return sys_unlinkat(a0, P(a1), a2);
}

SYSCALL(264)
{
	return sys_renameat(a0, P(a1), a2, P(a3));
}

SYSCALL(265)
{
	return sys_linkat(a0, P(a1), a2, P(a3), a4);
}

SYSCALL(266)
{
	return sys_symlinkat(P(a0), a1, P(a2));
}

SYSCALL(267)
{
	return sys_readlinkat(a0, P(a1), P(a2), a3);
}

SYSCALL(268)
{
	return sys_fchmodat(a0, P(a1), a2);
}

SYSCALL(269)
{
	return sys_faccessat(a0, P(a1), a2);
}
SYSCALL_ALIAS(439, 269);

SYSCALL(23)
{
	uint64_t *sets[3] = {P(a1), P(a2), P(a3)};
	return do_select(a0, sets, P(a4), 1000, NULL);
}

SYSCALL(270)
{
	uint64_t *sets[3] = {P(a1), P(a2), P(a3)};
	return do_select(a0, sets, P(a4), 1, P(a5));
}

SYSCALL(271)
{
	return sys_ppoll(P(a0), a1, P(a2), P(a3), a4);
}

SYSCALL(280)
{
	return sys_utimensat(a0, P(a1), P(a2), a3);
}

SYSCALL(292)
{
	return sys_dup3(a0, a1, a2);
}

SYSCALL(295)
{
	return sys_preadv(a0, P(a1), a2, a3);
}

SYSCALL(296)
{
	return sys_pwritev(a0, P(a1), a2, a3);
}

SYSCALL(316)
{
	return sys_renameat2(a0, P(a1), a2, P(a3), a4);
}
