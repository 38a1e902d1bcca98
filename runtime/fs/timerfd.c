/* timerfd: a timer read as a count of expirations.  Nothing runs when it expires: the count is
 * worked out from the clock whenever the timer is read or polled, so a timer costs no interrupt
 * and pollers (it has no .wakes) look at it again every millisecond. */
#include "fs/file.h"
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define TFD_TIMER_ABSTIME 1
#define TFD_SETTIME_FLAGS 3 /* with TFD_TIMER_CANCEL_ON_SET, accepted: the clock is never set */

struct linux_itimerspec {
	struct linux_timespec interval, value;
};

struct timer {
	uint64_t next;     /* the clock's time of the next expiry; 0: disarmed */
	uint64_t interval; /* 0: expires once */
	bool realtime;     /* CLOCK_REALTIME, else CLOCK_MONOTONIC (and CLOCK_BOOTTIME) */
};

/* Readers wait for their timer's expiry, and for timerfd_settime to change it. */
static struct waitq tfd_readers = WAITQ_INIT("read of a disarmed timerfd");
static const struct file_ops tfd_ops;

static uint64_t tfd_now(struct timer *t)
{
	return t->realtime ? clock_realtime_ns() : clock_monotonic_ns();
}

/* The expirations so far; take moves the timer past them, as a read does. */
static uint64_t tfd_ticks(struct timer *t, bool take)
{
	uint64_t now = tfd_now(t);
	if (!t->next || now < t->next)
		return 0;
	uint64_t n = 1 + (t->interval ? (now - t->next) / t->interval : 0);
	if (take)
		t->next = t->interval ? t->next + n * t->interval : 0;
	return n;
}

static long tfd_read(struct file *f, void *buf, uint64_t n, uint64_t *pos)
{
	struct timer *t = f->priv;
	uint64_t c;
	(void)pos;
	if (n < 8)
		return -EINVAL;
	while (!(c = tfd_ticks(t, true))) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		uint64_t deadline = t->next ? clock_monotonic_ns() + (t->next - tfd_now(t)) : 0;
		if (thread_wait(&tfd_readers, deadline) == -EINTR)
			return -EINTR;
	}
	*(uint64_t *)buf = c;
	return 8;
}

static short tfd_poll(struct file *f)
{
	return tfd_ticks(f->priv, false) ? POLLIN : 0;
}

static void tfd_release(struct file *f)
{
	kfree(f->priv);
}

static const struct file_ops tfd_ops = {
    .read = tfd_read, .poll = tfd_poll, .release = tfd_release, .stream = true};

static long sys_timerfd_create(long clock, long flags)
{
	if ((clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME) ||
	    (flags & ~(long)(O_NONBLOCK | O_CLOEXEC)))
		return -EINVAL;
	struct timer *t = kzalloc(sizeof(*t));
	struct inode *ino = t ? inode_new(0600) : NULL;
	struct file *f = ino ? file_new(ino, &tfd_ops, O_RDWR | (flags & O_NONBLOCK)) : NULL;
	if (!f) {
		if (ino)
			fs_put(ino);
		kfree(t);
		return -ENOMEM;
	}
	t->realtime = clock == CLOCK_REALTIME;
	f->priv = t;
	int fd = fd_alloc(f, 0, flags & O_CLOEXEC);
	if (fd < 0)
		file_put(f);
	return fd;
}

static struct timer *tfd_get(long fd, long *err)
{
	struct file *f = fd_get(fd);
	*err = !f ? -EBADF : f->ops != &tfd_ops ? -EINVAL : 0;
	return *err ? NULL : f->priv;
}

static void put_ns(struct linux_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (int64_t)(ns / 1000000000), ts->tv_nsec = (int64_t)(ns % 1000000000);
}

static uint64_t get_ns(const struct linux_timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000 + (uint64_t)ts->tv_nsec;
}

/* The time to the next expiry (0 once a one-shot timer expired) and the interval. */
static long tfd_gettime(long fd, struct linux_itimerspec *cur)
{
	long err;
	struct timer *t = tfd_get(fd, &err);
	if (!t)
		return err;
	uint64_t now = tfd_now(t), left = 0;
	if (t->next > now)
		left = t->next - now;
	else if (t->next && t->interval)
		left = t->interval - (now - t->next) % t->interval;
	put_ns(&cur->value, left);
	put_ns(&cur->interval, t->interval);
	return 0;
}

static long tfd_settime(long fd, long flags, const struct linux_itimerspec *nv,
                        struct linux_itimerspec *old)
{
	long err;
	if ((flags & ~(long)TFD_SETTIME_FLAGS) || nv->value.tv_sec < 0 ||
	    (uint64_t)nv->value.tv_nsec >= 1000000000 || nv->interval.tv_sec < 0 ||
	    (uint64_t)nv->interval.tv_nsec >= 1000000000)
		return -EINVAL;
	struct timer *t = tfd_get(fd, &err);
	if (!t)
		return err;
	if (old)
		tfd_gettime(fd, old);
	uint64_t v = get_ns(&nv->value);
	t->interval = get_ns(&nv->interval);
	t->next = !v ? 0 : (flags & TFD_TIMER_ABSTIME) ? v : tfd_now(t) + v;
	waitq_wake(&tfd_readers);
	return 0;
}

SYSCALL(283)
{
	return sys_timerfd_create(a0, a1);
}

SYSCALL(286)
{
	return tfd_settime(a0, a1, P(a2), P(a3));
}

SYSCALL(287)
{
	return tfd_gettime(a0, P(a1));
}
