/* Open files: the operations behind a descriptor, and the descriptor table (fs/fd.c). */
#ifndef UNIK_RT_FILE_H
#define UNIK_RT_FILE_H

#include "fs/fs.h"

#define MAX_FDS 1024

struct file;

/* What an open file can do.  NULL means "not supported", answered with Linux's errno by the
 * caller: read/write -EINVAL, ioctl -ENOTTY, mmap -ENODEV; poll NULL means always ready. */
struct file_ops {
	/* *pos is the offset to use and advance (f->off, or pread/pwrite's own offset) */
	long (*read)(struct file *f, void *buf, uint64_t n, uint64_t *pos);
	long (*write)(struct file *f, const void *buf, uint64_t n, uint64_t *pos);
	short (*poll)(struct file *f);
	long (*ioctl)(struct file *f, long req, long arg);
	/* the inode a mapping reads its pages from (*out; no reference taken), or -errno */
	long (*mmap)(struct file *f, long prot, bool shared, struct inode **out);
	void (*release)(struct file *f);
	bool stream; /* no offset: lseek, pread and pwrite fail with -ESPIPE */
	bool wakes;  /* every change of poll's answer wakes poll_waitq (kernel/sched.h) */
};

struct file {
	const struct file_ops *ops;
	void *priv;
	struct inode *ino;
	uint64_t off; /* byte offset, or entry index for directories */
	int flags;    /* O_ACCMODE, O_APPEND, O_NONBLOCK, ... as open(2) left them */
	int refs;     /* descriptors sharing this file (dup, dup2, dup3, F_DUPFD) */
};

struct file *file_new(struct inode *ino, const struct file_ops *ops, int flags);
void file_put(struct file *f);
int fd_alloc(struct file *f, int min, bool cloexec);
struct file *fd_get(long fd);
long fd_close(long fd);
long fd_dup(long fd, int min, bool cloexec);
long fd_dup_to(long fd, long newfd, bool cloexec);
int fd_cloexec(long fd, int set);

/* A file's poll answer; sets *unwoken when its changes do not wake poll_waitq. */
short file_poll(struct file *f, bool *unwoken);
/* Call scan until it returns non-zero (a count or an error), the timeout in ns passes (< 0:
 * none) or a signal comes; mask, if not NULL, is the signal mask meanwhile. */
long poll_wait(long (*scan)(void *arg, bool *unwoken), void *arg, int64_t timeout_ns,
               const uint64_t *mask);
/* epoll.c: forget every watch of f, which is being released */
void epoll_forget(struct file *f);

#endif
