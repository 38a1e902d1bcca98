/* epoll: each instance keeps an array of watches, scanned on every wait.  Files say only that
 * something changed (by waking poll_waitq), not what, so there is no ready list; edge-triggered
 * watches remember the ready bits they last saw and fire when a new one appears. */
#include "fs/file.h"
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define EPOLLRDHUP     0x2000
#define EPOLLEXCLUSIVE (1U << 28)
#define EPOLLONESHOT   (1U << 30)
#define EPOLLET        (1U << 31)
#define EP_PRIVATE     (EPOLLEXCLUSIVE | (1U << 29) | EPOLLONESHOT | EPOLLET)
#define EP_MAX_NESTS   4

struct epoll_event {
	uint32_t events;
	uint64_t data;
} __attribute__((packed));

struct watch {
	struct file *f; /* not referenced: epoll_forget drops the watch when f is released */
	int fd;
	uint32_t events; /* as given, with EPOLLERR | EPOLLHUP; none but EP_PRIVATE once a
	                    EPOLLONESHOT watch has fired */
	uint32_t seen;   /* EPOLLET: the ready bits at the last look */
	uint64_t data;
};

struct epoll {
	struct epoll *next; /* every instance, for epoll_forget */
	struct watch *w;
	int n, start; /* start: where the next scan begins, so that no ready watch starves */
};

static struct epoll *instances;
static const struct file_ops epoll_ops;

/* Ready watches from ep->start on, at most max; out NULL only counts (poll on the epoll fd)
 * and changes nothing. */
static int ep_scan(struct epoll *ep, struct epoll_event *out, int max, bool *unwoken)
{
	int got = 0, n = ep->n, start = ep->start;
	for (int j = 0; j < n && got < max; j++) {
		int i = (start + j) % n;
		struct watch *w = &ep->w[i];
		uint32_t want = w->events & ~EP_PRIVATE;
		if (!want)
			continue;
		uint32_t ready = (uint16_t)file_poll(w->f, unwoken) & want;
		uint32_t fire = (w->events & EPOLLET) ? ready & ~w->seen : ready;
		if (out) {
			w->seen = ready;
			if (fire) {
				out[got] = (struct epoll_event){ready, w->data};
				if (w->events & EPOLLONESHOT)
					w->events &= EP_PRIVATE;
				ep->start = (i + 1) % n;
			}
		}
		got += fire != 0;
	}
	return got;
}

static short ep_poll(struct file *f)
{
	bool unwoken = false;
	return ep_scan(f->priv, NULL, 1, &unwoken) ? POLLIN : 0;
}

static void ep_release(struct file *f)
{
	struct epoll *ep = f->priv, **p = &instances;
	while (*p != ep)
		p = &(*p)->next;
	*p = ep->next;
	kfree(ep->w);
	kfree(ep);
}

/* The instance's poll answer changes when a watched file's does, which may not wake anyone:
 * no .wakes, so pollers of an epoll fd look again every millisecond. */
static const struct file_ops epoll_ops = {.poll = ep_poll, .release = ep_release, .stream = true};

void epoll_forget(struct file *f)
{
	for (struct epoll *ep = instances; ep; ep = ep->next) {
		int k = 0;
		for (int i = 0; i < ep->n; i++)
			if (ep->w[i].f != f)
				ep->w[k++] = ep->w[i];
		ep->n = k;
		ep->start = 0;
	}
}

static long sys_epoll_create1(long flags)
{
	if (flags & ~(long)O_CLOEXEC)
		return -EINVAL;
	struct epoll *ep = kzalloc(sizeof(*ep));
	struct inode *ino = ep ? inode_new(0600) : NULL;
	struct file *f = ino ? file_new(ino, &epoll_ops, O_RDWR) : NULL;
	if (!f) {
		if (ino)
			fs_put(ino);
		kfree(ep);
		return -ENOMEM;
	}
	f->priv = ep;
	ep->next = instances;
	instances = ep;
	int fd = fd_alloc(f, 0, flags & O_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

/* Whether adding from to an instance that to reaches makes a loop, or nests too deep. */
static bool ep_loops(struct epoll *from, struct epoll *to, int depth)
{
	if (from == to || depth >= EP_MAX_NESTS)
		return true;
	for (int i = 0; i < from->n; i++)
		if (from->w[i].f->ops == &epoll_ops && ep_loops(from->w[i].f->priv, to, depth + 1))
			return true;
	return false;
}

/* The checks in Linux's order: the event, both descriptors, pollable, an epoll fd other than
 * the target, then loops, then whether the watch exists. */
static long sys_epoll_ctl(long epfd, long op, long fd, const struct epoll_event *ev)
{
	if (op != 2 && !ev) /* EPOLL_CTL_DEL needs no event */
		return -EFAULT;
	struct file *ef = fd_get(epfd), *tf = fd_get(fd);
	if (!ef || !tf)
		return -EBADF;
	if (!tf->ops->poll)
		return -EPERM; /* regular files and directories, as Linux */
	if (ef == tf || ef->ops != &epoll_ops)
		return -EINVAL;
	uint32_t events = ev ? ev->events | POLLERR | POLLHUP : 0;
	if ((events & EPOLLEXCLUSIVE) && op != 1)
		return -EINVAL;
	struct epoll *ep = ef->priv;
	if (op == 1 && tf->ops == &epoll_ops && ep_loops(tf->priv, ep, 0))
		return -ELOOP;
	struct watch *w = NULL;
	for (int i = 0; i < ep->n; i++)
		if (ep->w[i].f == tf && ep->w[i].fd == fd)
			w = &ep->w[i];
	switch (op) {
	case 1: /* EPOLL_CTL_ADD */
		if (w)
			return -EEXIST;
		w = krealloc(ep->w, (size_t)(ep->n + 1) * sizeof(*w));
		if (!w)
			return -ENOMEM;
		ep->w = w;
		w = &ep->w[ep->n++];
		*w = (struct watch){.f = tf, .fd = (int)fd};
		break;
	case 2: /* EPOLL_CTL_DEL */
		if (!w)
			return -ENOENT;
		*w = ep->w[--ep->n];
		return 0;
	case 3: /* EPOLL_CTL_MOD */
		if (!w)
			return -ENOENT;
		break;
	default:
		return -EINVAL;
	}
	/* A new or changed watch reports what is ready now, even when edge-triggered. */
	w->events = events, w->data = ev->data, w->seen = 0;
	return 0;
}

struct ep_wait {
	struct epoll *ep;
	struct epoll_event *out;
	int max;
};

static long ep_wait_scan(void *arg, bool *unwoken)
{
	struct ep_wait *a = arg;
	return ep_scan(a->ep, a->out, a->max, unwoken);
}

static long do_epoll_wait(long epfd, struct epoll_event *out, long max, int64_t timeout_ns,
                          const uint64_t *mask, uint64_t size)
{
	if (max <= 0 || max > 0x7fffffffL / (long)sizeof(*out))
		return -EINVAL;
	struct file *f = fd_get(epfd);
	if (!f)
		return -EBADF;
	if (f->ops != &epoll_ops || (mask && size != 8))
		return -EINVAL;
	struct ep_wait a = {f->priv, out, (int)max};
	f->refs++; /* another thread may close epfd meanwhile */
	long r = poll_wait(ep_wait_scan, &a, timeout_ns, mask);
	file_put(f);
	return r;
}

static int64_t ms_ns(long ms)
{
	return (int)ms < 0 ? -1 : (int64_t)(int)ms * 1000000;
}

SYSCALL(213) /* epoll_create */
{
	return (int)a0 <= 0 ? -EINVAL : sys_epoll_create1(0);
}

SYSCALL(291)
{
	return sys_epoll_create1(a0);
}

SYSCALL(233)
{
	return sys_epoll_ctl(a0, a1, a2, P(a3));
}

SYSCALL(232)
{
	return do_epoll_wait(a0, P(a1), a2, ms_ns(a3), NULL, 0);
}

SYSCALL(281)
{
	return do_epoll_wait(a0, P(a1), a2, ms_ns(a3), P(a4), a5);
}

SYSCALL(441) /* epoll_pwait2: the timeout is a timespec */
{
	const struct linux_timespec *ts = P(a3);
	if (ts && (ts->tv_sec < 0 || (uint64_t)ts->tv_nsec >= 1000000000))
		return -EINVAL;
	return do_epoll_wait(a0, P(a1), a2, ts ? ts->tv_sec * 1000000000LL + ts->tv_nsec : -1,
	                     P(a4), a5);
}
