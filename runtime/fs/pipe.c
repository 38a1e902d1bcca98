/* Pipes: a 64 KiB ring buffer (Linux's default capacity) shared by a read end and a write end,
 * each a struct file whose release drops its side's count. */
#include "fs/file.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define PIPE_CAP 65536
#define PIPE_BUF 4096 /* writes up to this size are all or nothing */
#define SIGPIPE  13

struct pipe {
	char *buf; /* allocated by the first write: most pipes stay small or unused */
	uint32_t head, len;
	int readers, writers;
};

static bool is_reader(struct file *f)
{
	return (f->flags & O_ACCMODE) == O_RDONLY;
}

/* There are no threads yet: when the other end of an empty (or full) pipe is held by this same
 * program, a blocking call could never be woken.  Say so and stop rather than hang. */
static NORETURN void deadlock(const char *what)
{
	kprintf(UNIK_CONSOLE_PREFIX "deadlock: %s on a pipe that only this program can %s\n", what,
	        *what == 'r' ? "fill" : "drain");
	proc_exit(255);
}

static long pipe_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	struct pipe *p = f->priv;
	(void)pos;
	if (!is_reader(f))
		return -EBADF;
	if (!n)
		return 0;
	if (!p->len) {
		if (!p->writers)
			return 0; /* end of file */
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		deadlock("read");
	}
	uint32_t got = (uint32_t)MIN(n, (uint64_t)p->len);
	for (uint32_t k = 0; k < got; k++)
		((char *)buf)[k] = p->buf[(p->head + k) % PIPE_CAP];
	p->head = (p->head + got) % PIPE_CAP;
	p->len -= got;
	return got;
}

static long pipe_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	struct pipe *p = f->priv;
	(void)pos;
	if (is_reader(f))
		return -EBADF;
	if (!n)
		return 0; /* as Linux: even with no reader left, no EPIPE for an empty write */
	if (!p->readers) {
		signal_pend(SIGPIPE);
		return -EPIPE;
	}
	if (!p->buf && !(p->buf = kmalloc(PIPE_CAP)))
		return -ENOMEM;
	uint32_t room = PIPE_CAP - p->len;
	if (n > room) {
		if (!(f->flags & O_NONBLOCK))
			deadlock("write");
		if (!room || n <= PIPE_BUF)
			return -EAGAIN;
		n = room; /* a large non-blocking write is cut to what fits */
	}
	for (uint32_t k = 0; k < n; k++)
		p->buf[(p->head + p->len + k) % PIPE_CAP] = ((const char *)buf)[k];
	p->len += (uint32_t)n;
	return (long)n;
}

static short pipe_poll(struct file *f)
{
	struct pipe *p = f->priv;
	if (is_reader(f))
		return (p->len ? POLLIN : 0) | (p->writers ? 0 : POLLHUP);
	return (PIPE_CAP - p->len >= PIPE_BUF ? POLLOUT : 0) | (p->readers ? 0 : POLLERR);
}

/* FIONREAD: the bytes waiting in the pipe */
static long pipe_ioctl(struct file *f, long req, long arg)
{
	if (req != FIONREAD)
		return -ENOTTY;
	*(int *)arg = (int)((struct pipe *)f->priv)->len;
	return 0;
}

static void pipe_release(struct file *f)
{
	struct pipe *p = f->priv;
	if (is_reader(f))
		p->readers--;
	else
		p->writers--;
	if (!p->readers && !p->writers) {
		kfree(p->buf);
		kfree(p);
	}
}

static const struct file_ops pipe_ops = {.read = pipe_read,
                                         .write = pipe_write,
                                         .poll = pipe_poll,
                                         .ioctl = pipe_ioctl,
                                         .release = pipe_release,
                                         .stream = true};

static long sys_pipe2(int *fds, long flags)
{
	if (flags & ~(long)(O_NONBLOCK | O_CLOEXEC))
		return -EINVAL;
	struct pipe *p = kzalloc(sizeof(*p));
	struct inode *ino = p ? inode_new(S_IFIFO | 0600) : NULL;
	struct file *end[2] = {NULL, NULL};
	for (int k = 0; ino && k < 2; k++) {
		end[k] = file_new(ino, &pipe_ops, (k ? O_WRONLY : O_RDONLY) | (int)flags);
		if (!end[k])
			break;
		end[k]->priv = p;
		*(k ? &p->writers : &p->readers) = 1;
	}
	if (!end[0]) {
		fs_put(ino);
		kfree(p);
		return -ENOMEM;
	}
	/* from here on, closing the ends frees the pipe and its inode */
	int r = end[1] ? fd_alloc(end[0], 0, flags & O_CLOEXEC) : -ENOMEM;
	int w = r < 0 ? r : fd_alloc(end[1], 0, flags & O_CLOEXEC);
	if (w < 0) {
		if (r >= 0)
			fd_close(r);
		else
			file_put(end[0]);
		if (end[1])
			file_put(end[1]);
		return w;
	}
	fds[0] = r, fds[1] = w;
	return 0;
}

SYSCALL(22)
{
	return sys_pipe2(P(a0), 0);
}

SYSCALL(293)
{
	return sys_pipe2(P(a0), a1);
}
