/* Pipes: a 64 KiB ring buffer (Linux's default capacity) shared by a read end and a write end,
 * each a struct file whose release drops its side's count. */
#include "fs/file.h"
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define PIPE_CAP 65536
#define PIPE_BUF 4096 /* writes up to this size are all or nothing */
#define SIGPIPE  13

struct pipe {
	char *buf; /* allocated by the first write: most pipes stay small or unused */
	uint32_t head, len;
	int readers, writers;
	struct waitq rq, wq; /* threads waiting for bytes, and for room */
};

static bool is_reader(struct file *f)
{
	return (f->flags & O_ACCMODE) == O_RDONLY;
}

/* Copy n bytes out of (to false) or into the ring at offset at, in at most two pieces. */
static void ring_copy(struct pipe *p, uint32_t at, void *buf, uint32_t n, bool to)
{
	at %= PIPE_CAP;
	uint32_t first = MIN(n, PIPE_CAP - at);
	if (to) {
		k_memcpy(p->buf + at, buf, first);
		k_memcpy(p->buf, (char *)buf + first, n - first);
	} else {
		k_memcpy(buf, p->buf + at, first);
		k_memcpy((char *)buf + first, p->buf, n - first);
	}
}

static long pipe_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	struct pipe *p = f->priv;
	(void)pos;
	if (!is_reader(f))
		return -EBADF;
	if (!n)
		return 0;
	while (!p->len) {
		if (!p->writers)
			return 0; /* end of file */
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		int r = thread_wait(&p->rq, 0);
		if (r)
			return r;
	}
	uint32_t got = (uint32_t)MIN(n, (uint64_t)p->len);
	ring_copy(p, p->head, buf, got, false);
	p->head = (p->head + got) % PIPE_CAP;
	p->len -= got;
	waitq_wake(&p->wq);
	return got;
}

/* As Linux: a blocking write returns when all of it is in; a write of up to PIPE_BUF bytes goes
 * in at once or not at all; a non-blocking one takes what fits (nothing: -EAGAIN). */
static long pipe_write(struct file *f, const void *buf, uint64_t n, uint64_t *pos)
{
	struct pipe *p = f->priv;
	(void)pos;
	if (is_reader(f))
		return -EBADF;
	if (!n)
		return 0; /* as Linux: even with no reader left, no EPIPE for an empty write */
	if (!p->buf && !(p->buf = kmalloc(PIPE_CAP)))
		return -ENOMEM;
	uint64_t done = 0;
	while (done < n) {
		if (!p->readers) {
			signal_pend(SIGPIPE);
			return done ? (long)done : -EPIPE;
		}
		uint64_t room = PIPE_CAP - p->len, left = n - done;
		if (!room || (n <= PIPE_BUF && room < n)) {
			if (f->flags & O_NONBLOCK)
				return done ? (long)done : -EAGAIN;
			int r = thread_wait(&p->wq, 0);
			if (r)
				return done ? (long)done : r;
			continue;
		}
		uint32_t put = (uint32_t)MIN(room, left);
		ring_copy(p, p->head + p->len, (char *)buf + done, put, true);
		p->len += put;
		done += put;
		waitq_wake(&p->rq);
	}
	return (long)done;
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
	/* The other end sees end of file, or EPIPE. */
	waitq_wake(is_reader(f) ? &p->wq : &p->rq);
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
                                         .stream = true,
                                         .wakes = true};

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
		p->rq.what = "read on an empty pipe";
		p->wq.what = "write to a full pipe";
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
