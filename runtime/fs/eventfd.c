/* eventfd: a 64-bit counter behind a descriptor.  The counter lives in f->off (an eventfd has no
 * offset) and EFD_SEMAPHORE in f->priv, so an eventfd costs no allocation besides its file. */
#include "fs/file.h"
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define EFD_SEMAPHORE 1
#define EFD_MAX       0xfffffffffffffffeULL

/* The threads blocked on any eventfd: few, so one queue each way, and they look again. */
static struct waitq efd_readers = WAITQ_INIT("read of an eventfd");
static struct waitq efd_writers = WAITQ_INIT("write to an eventfd");

static long efd_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	if (n < 8)
		return -EINVAL;
	while (!f->off) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		int r = thread_wait(&efd_readers, 0);
		if (r)
			return r;
	}
	uint64_t v = f->priv ? 1 : f->off;
	*(uint64_t *)buf = v; /* first: a bad pointer fails the call and leaves the counter */
	f->off -= v;
	waitq_wake(&efd_writers);
	return 8;
}

static long efd_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	(void)pos;
	uint64_t v = n < 8 ? ~0ULL : *(const uint64_t *)buf;
	if (v > EFD_MAX)
		return -EINVAL;
	while (v > EFD_MAX - f->off) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		int r = thread_wait(&efd_writers, 0);
		if (r)
			return r;
	}
	f->off += v;
	if (v)
		waitq_wake(&efd_readers);
	return 8;
}

static short efd_poll(struct file *f)
{
	return (f->off ? POLLIN : 0) | (f->off < EFD_MAX ? POLLOUT : 0);
}

static const struct file_ops efd_ops = {
    .read = efd_read, .write = efd_write, .poll = efd_poll, .stream = true, .wakes = true};

static long sys_eventfd2(long initval, long flags)
{
	if (flags & ~(long)(O_NONBLOCK | O_CLOEXEC | EFD_SEMAPHORE))
		return -EINVAL;
	struct inode *ino = inode_new(0600);
	struct file *f = ino ? file_new(ino, &efd_ops, O_RDWR | (flags & O_NONBLOCK)) : NULL;
	if (!f) {
		if (ino)
			fs_put(ino);
		return -ENOMEM;
	}
	f->off = (uint32_t)initval; /* an unsigned int, as Linux */
	f->priv = (void *)(flags & EFD_SEMAPHORE);
	int fd = fd_alloc(f, 0, flags & O_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

SYSCALL(284)
{
	return sys_eventfd2(a0, 0);
}

SYSCALL(290)
{
	return sys_eventfd2(a0, a1);
}
