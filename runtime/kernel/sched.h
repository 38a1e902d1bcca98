/* Threads on one vCPU: each has its own kernel stack, FPU state and TLS base; the scheduler runs
 * them round robin, preempting on the local APIC timer when more than one is runnable, and a
 * thread that must wait sleeps on a wait queue until it is woken or its deadline passes.
 *
 * The kernel is not preemptible: system calls run with interrupts off, so a switch happens only
 * where kernel code calls schedule() (through thread_wait, thread_yield or thread_exit) or where
 * the timer interrupts the application. */
#ifndef UNIK_RT_SCHED_H
#define UNIK_RT_SCHED_H

#include "kernel/kernel.h"

enum thread_state {
	THREAD_RUNNING,  /* current */
	THREAD_RUNNABLE, /* on the run queue */
	THREAD_BLOCKED,  /* on a wait queue, or sleeping until its deadline */
	THREAD_DEAD,     /* exited; its stack is freed by the next thread to run */
};

struct waitq;

struct thread {
	uint64_t ksp;        /* the kernel stack pointer while switched out (entry.S) */
	uint64_t kstack_top; /* where system calls and preemption start on this thread */
	void *kstack;        /* NULL for the first thread, which keeps the boot stack */
	int tid;
	enum thread_state state;
	struct thread *next;     /* run queue or wait queue link */
	struct thread *all_next; /* every thread that is not dead */

	/* The system-call entry's state (entry.S's globals), kept here while switched out. */
	uint64_t user_rsp, syscall_sp;
	int in_syscall;
	uint64_t fs_base;
	void *fpu; /* xsave or fxsave area, 64-byte aligned inside fpu_alloc */
	void *fpu_alloc;

	int *clear_child_tid; /* set_tid_address, CLONE_CHILD_CLEARTID */
	uint64_t robust_list;

	/* Waiting: the queue (or none), the monotonic deadline (0: none), and why it woke. */
	struct waitq *wq;
	uint64_t deadline;
	int wake;
	/* futex.c: the word waited on, and FUTEX_WAIT_BITSET's mask */
	const uint32_t *futex_addr;
	uint32_t futex_bitset;

	/* signal.c: this thread's mask and pending set, and its alternate stack */
	uint64_t sigmask, sigpending;
	uint64_t altstack_sp, altstack_size;
	int altstack_flags;
};

/* A wait queue: the threads blocked on one thing.  what names it in the deadlock report ("read
 * on a pipe"); external says something outside the threads (a device, the console) can wake it,
 * so that waiting on it is never a deadlock. */
struct waitq {
	struct thread *head;
	const char *what;
	bool external;
};
#define WAITQ_INIT(name)                                                                           \
	{                                                                                          \
		NULL, name, false                                                                  \
	}

extern struct thread *current;

/* Block the current thread on q (NULL: only the deadline) until waitq_wake() or the monotonic
 * deadline (0: none).  Returns 0 when woken, -ETIMEDOUT at the deadline, -EINTR when a signal
 * it does not block is pending.  Callers check their condition again after every return. */
int thread_wait(struct waitq *q, uint64_t deadline);
/* Wake every thread on q, and every thread in poll, select or epoll_wait (which wait on all
 * files at once and check again). */
void waitq_wake(struct waitq *q);
/* Wake one particular blocked thread with reason r (0, or -EINTR for a signal). */
void thread_wake(struct thread *t, int r);
/* Sleep until the monotonic deadline, letting other threads run: -EINTR on a signal. */
int thread_sleep_until(uint64_t deadline);
/* Halts the CPU without leaving the running thread until an interrupt comes or the deadline
 * passes, whichever is first; another thread's wait that ends meanwhile only makes it runnable.
 * For a driver waiting for its device inside a system call whose callers rely on no other
 * thread getting in (virtio-blk under ext2). */
void sched_halt_until(uint64_t deadline);
/* Let the other runnable threads run first. */
void thread_yield(void);
/* The thread with this id, or NULL. */
struct thread *thread_find(int tid);
int thread_count(void);

/* A new thread that starts by returning 0 from the clone system call being served (frame f) on
 * user stack sp; NULL when memory runs out.  It is runnable at once. */
struct thread *thread_clone(struct syscall_frame *f, uint64_t sp, uint64_t tls, bool set_tls);
/* End the current thread; the last one to end ends the program with status. */
NORETURN void thread_exit(int status);
void thread_set_fs_base(uint64_t v);

/* kernel/signal.c: send sig to thread t (tkill, tgkill). */
long signal_send(struct syscall_frame *f, struct thread *t, long sig);

/* The queue every poll, select and epoll_wait sleeps on. */
extern struct waitq poll_waitq;

/* Work that belongs to no thread (the network stack's timers, a driver that polls): fn runs in
 * kernel context, interrupts off, each time the scheduler goes idle or takes a timer interrupt,
 * and by the monotonic deadline it returned the last time (0: no deadline of its own).  One
 * poller; a second call replaces it. */
void sched_set_poller(uint64_t (*fn)(void));
/* Run the poller now (after a device interrupt, say), and re-arm the timer for its deadline. */
void sched_poll(void);

/* trap.c: the timer interrupt, with the interrupted context's frame. */
void sched_timer_irq(struct trap_frame *f);

#endif
