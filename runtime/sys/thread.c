/* The system calls about threads: clone (threads only), exit of one thread, thread ids, robust
 * lists, sched_yield, tkill/tgkill, and futex. */
#include "kernel/sched.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define CLONE_VM             0x00000100
#define CLONE_SIGHAND        0x00000800
#define CLONE_VFORK          0x00004000
#define CLONE_SETTLS         0x00080000
#define CLONE_PARENT_SETTID  0x00100000
#define CLONE_CHILD_CLEARTID 0x00200000
#define CLONE_CHILD_SETTID   0x01000000

#define FUTEX_REQUEUE        3
#define FUTEX_CMP_REQUEUE    4
#define FUTEX_WAIT_BITSET    9
#define FUTEX_WAKE_BITSET    10
#define FUTEX_CLOCK_REALTIME 256

/* --- futex: every waiter is on one queue, with the word it waits on --- */

static struct waitq futex_q = WAITQ_INIT("futex wait");

/* Wake up to n waiters on uaddr whose bitset meets bitset; then move up to requeue more of
 * them to uaddr2.  Returns how many were woken and moved. */
static long futex_wake(const uint32_t *uaddr, long n, uint32_t bitset, long requeue,
                       const uint32_t *uaddr2)
{
	long done = 0;
	struct thread *t = futex_q.head;
	while (t && (n > 0 || requeue > 0)) {
		struct thread *next = t->next;
		if (t->futex_addr == uaddr && (t->futex_bitset & bitset)) {
			if (n > 0) {
				thread_wake(t, 0);
				n--;
			} else {
				t->futex_addr = uaddr2;
				requeue--;
			}
			done++;
		}
		t = next;
	}
	return done;
}

static long futex_wait(const uint32_t *uaddr, uint32_t val, uint64_t deadline, uint32_t bitset)
{
	if (!bitset)
		return -EINVAL;
	if (*uaddr != val)
		return -EAGAIN;
	current->futex_addr = uaddr;
	current->futex_bitset = bitset;
	int r = thread_wait(&futex_q, deadline);
	current->futex_addr = NULL;
	return r;
}

/* FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's absolute, on CLOCK_MONOTONIC or, with
 * FUTEX_CLOCK_REALTIME, on CLOCK_REALTIME.  Both become a monotonic deadline. */
static long futex_deadline(const struct linux_timespec *ts, bool absolute, bool realtime,
                           uint64_t *deadline)
{
	*deadline = 0;
	if (!ts)
		return 0;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return -EINVAL;
	uint64_t ns = (uint64_t)ts->tv_sec > 1000000000000ULL
	                  ? UINT64_MAX / 4
	                  : (uint64_t)ts->tv_sec * 1000000000 + (uint64_t)ts->tv_nsec;
	uint64_t now = clock_monotonic_ns();
	if (!absolute)
		*deadline = now + ns;
	else if (realtime) {
		uint64_t wall = clock_realtime_ns();
		*deadline = ns > wall ? now + (ns - wall) : now;
	} else
		*deadline = ns;
	if (!*deadline)
		*deadline = 1; /* the epoch itself: already past */
	return 0;
}

static long sys_futex(uint32_t *uaddr, long op, long val, const struct linux_timespec *timeout,
                      uint32_t *uaddr2, long val3)
{
	bool realtime = op & FUTEX_CLOCK_REALTIME;
	uint64_t deadline;
	long r;
	switch (op & ~(long)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) {
	case FUTEX_WAIT:
		val3 = -1;
		/* fall through */
	case FUTEX_WAIT_BITSET:
		r = futex_deadline(timeout, (op & 127) == FUTEX_WAIT_BITSET, realtime, &deadline);
		return r < 0 ? r : futex_wait(uaddr, (uint32_t)val, deadline, (uint32_t)val3);
	case FUTEX_WAKE:
		val3 = -1;
		/* fall through */
	case FUTEX_WAKE_BITSET:
		if (!(uint32_t)val3)
			return -EINVAL;
		return futex_wake(uaddr, val, (uint32_t)val3, 0, NULL);
	case FUTEX_CMP_REQUEUE:
		if (*uaddr != (uint32_t)val3)
			return -EAGAIN;
		/* fall through */
	case FUTEX_REQUEUE:
		/* the requeue count travels in the timeout argument */
		if (val < 0 || (long)timeout < 0)
			return -EINVAL;
		return futex_wake(uaddr, val, ~0u, (long)timeout, uaddr2);
	default:
		return -ENOSYS;
	}
}

/* --- clone, exit --- */

static long sys_clone(struct syscall_frame *f, long flags, uint64_t sp, int *ptid, int *ctid,
                      uint64_t tls)
{
	/* A new process never exists here, so posix_spawn's clone (CLONE_VM|CLONE_VFORK) fails
	 * the way fork does (sys/syscall.c). */
	if (!(flags & CLONE_THREAD) || (flags & CLONE_VFORK))
		return -ENOSYS;
	if ((flags & (CLONE_VM | CLONE_SIGHAND)) != (CLONE_VM | CLONE_SIGHAND))
		return -EINVAL;
	struct thread *t = thread_clone(f, sp, tls, flags & CLONE_SETTLS);
	if (!t)
		return -EAGAIN;
	if (flags & CLONE_PARENT_SETTID)
		*ptid = t->tid;
	if (flags & CLONE_CHILD_SETTID)
		*ctid = t->tid; /* one address space: the child's word is the parent's */
	if (flags & CLONE_CHILD_CLEARTID)
		t->clear_child_tid = ctid;
	return t->tid;
}

/* A thread's end: clear the word set_tid_address named and wake its joiner (musl's and glibc's
 * pthread_join wait on it), then let the others run; the last thread's end is the program's. */
static NORETURN void exit_thread(int status)
{
	int *ctid = current->clear_child_tid;
	if (ctid && user_range_ok(ctid, sizeof(*ctid))) {
		*ctid = 0;
		futex_wake((uint32_t *)ctid, 1, ~0u, 0, NULL);
	}
	thread_exit(status);
}

SYSCALL(24)
{
	thread_yield();
	return 0;
}

SYSCALL(56)
{
	return sys_clone(f, a0, a1, P(a2), P(a3), a4);
}

SYSCALL(60)
{
	exit_thread((int)a0);
}

SYSCALL(186)
{
	return current->tid; /* gettid */
}

/* tkill */
SYSCALL(200)
{
	struct thread *t = thread_find((int)a0);
	return t ? signal_send(f, t, a1) : -ESRCH;
}

SYSCALL(202)
{
	return sys_futex(P(a0), a1, a2, P(a3), P(a4), a5);
}

/* set_tid_address */
SYSCALL(218)
{
	current->clear_child_tid = P(a0);
	return current->tid;
}

SYSCALL(231)
{
	proc_exit((int)a0); /* exit_group */
}

/* tgkill: the process is 1 */
SYSCALL(234)
{
	struct thread *t = a0 == 1 ? thread_find((int)a1) : NULL;
	return t ? signal_send(f, t, a2) : -ESRCH;
}

/* set_robust_list: kept for get_robust_list; one process, so no other process inherits the
 * locks of a thread that dies holding them */
SYSCALL(273)
{
	if (a1 != 24)
		return -EINVAL;
	current->robust_list = (uint64_t)a0;
	return 0;
}
