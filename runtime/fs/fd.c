/* The descriptor table: the lowest free number is handed out; dups share one struct file. */
#include "fs/file.h"
#include "sys/sysdefs.h"

static struct {
	struct file *f;
	bool cloexec;
} fdt[MAX_FDS];

struct file *file_new(struct inode *ino, const struct file_ops *ops, int flags)
{
	struct file *f = kzalloc(sizeof(*f));
	if (!f)
		return NULL;
	f->refs = 1;
	f->ops = ops;
	f->ino = ino;
	f->flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
	ino->open_count++;
	return f;
}

void file_put(struct file *f)
{
	if (--f->refs)
		return;
	epoll_forget(f); /* as Linux: a watch lasts as long as its file, not its descriptor */
	if (f->ops->release)
		f->ops->release(f);
	f->ino->open_count--;
	fs_put(f->ino);
	kfree(f);
}

int fd_alloc(struct file *f, int min, bool cloexec)
{
	for (int fd = min; fd < MAX_FDS; fd++) {
		if (!fdt[fd].f) {
			fdt[fd].f = f;
			fdt[fd].cloexec = cloexec;
			return fd;
		}
	}
	return -EMFILE;
}

struct file *fd_get(long fd)
{
	return fd >= 0 && fd < MAX_FDS ? fdt[fd].f : NULL;
}

long fd_close(long fd)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	fdt[fd].f = NULL;
	file_put(f);
	return 0;
}

/* dup and F_DUPFD: the lowest free descriptor at or above min */
long fd_dup(long fd, int min, bool cloexec)
{
	struct file *f = fd_get(fd);
	if (!f)
		return -EBADF;
	f->refs++;
	int r = fd_alloc(f, min, cloexec);
	if (r < 0)
		f->refs--;
	return r;
}

/* dup2 and dup3: newfd is closed first if open; the caller rejects fd == newfd */
long fd_dup_to(long fd, long newfd, bool cloexec)
{
	struct file *f = fd_get(fd);
	if (!f || newfd < 0 || newfd >= MAX_FDS)
		return -EBADF;
	f->refs++;
	if (fdt[newfd].f)
		file_put(fdt[newfd].f);
	fdt[newfd].f = f;
	fdt[newfd].cloexec = cloexec;
	return newfd;
}

/* FD_CLOEXEC of an open descriptor: set < 0 reads it, else sets it to set */
int fd_cloexec(long fd, int set)
{
	if (set >= 0)
		fdt[fd].cloexec = set;
	return fdt[fd].cloexec;
}
