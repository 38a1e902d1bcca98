/* The scheduler: threads, the run queue, wait queues, sleeping, preemption on the local APIC
 * timer, and the deadlock report when every thread waits for something nothing can bring. */
#include "kernel/sched.h"

/* How long a thread runs before the next runnable one gets the CPU. */
#define QUANTUM_NS (10 * 1000 * 1000)
/* New threads' kernel stacks; the first thread keeps the boot stack (KSTACK_SIZE). */
#define THREAD_KSTACK_PAGES 4

extern void unik_switch(uint64_t *save_ksp, uint64_t ksp);
extern char unik_thread_start[];
extern NORETURN void unik_preempt(struct trap_frame *kf);

static struct thread first = {
    .tid = 1, .state = THREAD_RUNNING, .kstack_top = (uint64_t)unik_boot_stack_top};
struct thread *current = &first;
static struct thread *all = &first;     /* every thread that has not exited */
static struct thread *runq, *runq_tail; /* runnable, in the order they will run */
static struct thread *zombie;           /* exited; freed once another thread runs */
static int nthreads = 1, next_tid = 2;
static uint64_t timer_at; /* what the local APIC timer is armed for, 0 when it is not */
static uint64_t (*poller)(void);
static uint64_t poller_at; /* the poller's deadline, 0: none */

struct waitq poll_waitq = WAITQ_INIT("poll");

static void runq_push(struct thread *t)
{
	t->state = THREAD_RUNNABLE;
	t->next = NULL;
	if (runq_tail)
		runq_tail->next = t;
	else
		runq = t;
	runq_tail = t;
}

static struct thread *runq_pop(void)
{
	struct thread *t = runq;
	if (t && !(runq = t->next))
		runq_tail = NULL;
	return t;
}

static void waitq_remove(struct waitq *q, struct thread *t)
{
	for (struct thread **p = &q->head; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			return;
		}
}

/* Earliest deadline of a blocked thread (0: none), and whether any waits on an external queue. */
static uint64_t earliest_deadline(bool *external)
{
	uint64_t d = poller_at;
	for (struct thread *t = all; t; t = t->all_next) {
		if (t->state != THREAD_BLOCKED)
			continue;
		if (t->deadline && (!d || t->deadline < d))
			d = t->deadline;
		if (external && t->wq && t->wq->external)
			*external = true;
	}
	return d;
}

/* Arm the timer for what comes first: the end of the running thread's quantum when another
 * thread waits to run, or the earliest sleeper's deadline.  A lone thread runs with no timer. */
static void timer_update(void)
{
	uint64_t want = earliest_deadline(NULL);
	if (runq) {
		uint64_t q = clock_monotonic_ns() + QUANTUM_NS;
		if (!want || q < want)
			want = q;
	}
	if (want != timer_at) {
		timer_at = want;
		clock_timer_at(want);
	}
}

void sched_set_poller(uint64_t (*fn)(void))
{
	poller = fn;
	sched_poll();
}

void sched_poll(void)
{
	if (poller) {
		poller_at = 0; /* what it wakes may set timers; its answer is the last word */
		poller_at = poller();
		timer_update();
	}
}

void thread_wake(struct thread *t, int r)
{
	if (t->state != THREAD_BLOCKED)
		return;
	if (t->wq)
		waitq_remove(t->wq, t);
	t->wq = NULL;
	t->wake = r;
	runq_push(t);
}

static void wake_expired(void)
{
	uint64_t now = clock_monotonic_ns();
	for (struct thread *t = all; t; t = t->all_next)
		if (t->state == THREAD_BLOCKED && t->deadline && t->deadline <= now)
			thread_wake(t, -ETIMEDOUT);
}

void waitq_wake(struct waitq *q)
{
	bool woke = false;
	for (struct waitq *w = q; w; w = w == &poll_waitq ? NULL : &poll_waitq)
		while (w->head) {
			thread_wake(w->head, 0);
			woke = true;
		}
	if (woke)
		timer_update();
}

static NORETURN void deadlock(void)
{
	const char *what = current->wq ? current->wq->what : "a wait";
	if (nthreads > 1)
		kprintf(UNIK_CONSOLE_PREFIX "deadlock: %s, and all %d threads wait with no timer "
		                            "that could wake one\n",
		        what, nthreads);
	else
		kprintf(UNIK_CONSOLE_PREFIX "deadlock: %s, and no other thread or timer can end "
		                            "the wait\n",
		        what);
	proc_exit(255);
}

/* Nothing is runnable: halt until the next deadline or a device's interrupt. */
static void idle(void)
{
	bool external = false;
	uint64_t d = earliest_deadline(&external);
	if (!d && !external)
		deadlock();
	if (d != timer_at) {
		timer_at = d;
		clock_timer_at(d);
	}
	clock_halt();
	timer_at = 0; /* it may have fired: timer_update() arms it again if needed */
	if (poller)
		poller_at = poller();
}

static void reap(void)
{
	struct thread *z = zombie;
	if (!z || z == current)
		return;
	zombie = NULL;
	if (z->kstack)
		pages_free((uint64_t)z->kstack, THREAD_KSTACK_PAGES);
	kfree(z->fpu_alloc);
	if (z != &first)
		kfree(z);
}

static void switch_to(struct thread *next)
{
	struct thread *prev = current;
	prev->user_rsp = unik_user_rsp;
	prev->syscall_sp = unik_syscall_sp;
	prev->in_syscall = in_syscall;
	if (prev->state != THREAD_DEAD)
		cpu_fpu_save(prev->fpu);
	current = next;
	unik_user_rsp = next->user_rsp;
	unik_syscall_sp = next->syscall_sp;
	in_syscall = next->in_syscall;
	unik_kstack_top = next->kstack_top;
	if (next->fs_base != prev->fs_base)
		cpu_set_fs_base(next->fs_base);
	cpu_fpu_restore(next->fpu);
	unik_switch(&prev->ksp, next->ksp);
	reap();
}

/* Run the next runnable thread; the current one has already been queued, blocked or ended. */
static void schedule(void)
{
	struct thread *next;
	for (;;) {
		wake_expired();
		if ((next = runq_pop()))
			break;
		idle();
	}
	next->state = THREAD_RUNNING;
	if (next != current)
		switch_to(next);
	timer_update();
}

int thread_wait(struct waitq *q, uint64_t deadline)
{
	if (current->sigpending & ~current->sigmask)
		return -EINTR;
	if (deadline && clock_monotonic_ns() >= deadline)
		return -ETIMEDOUT;
	current->state = THREAD_BLOCKED;
	current->wq = q;
	current->deadline = deadline;
	current->wake = 0;
	current->next = NULL;
	if (q) {
		struct thread **p = &q->head;
		while (*p)
			p = &(*p)->next;
		*p = current;
	}
	schedule();
	current->deadline = 0;
	return current->wake;
}

int thread_sleep_until(uint64_t deadline)
{
	for (;;) {
		int r = thread_wait(NULL, deadline);
		if (r == -ETIMEDOUT)
			return 0;
		if (r)
			return r;
	}
}

void thread_yield(void)
{
	if (!runq)
		return;
	runq_push(current);
	schedule();
}

struct thread *thread_find(int tid)
{
	for (struct thread *t = all; t; t = t->all_next)
		if (t->tid == tid)
			return t;
	return NULL;
}

int thread_count(void)
{
	return nthreads;
}

void thread_set_fs_base(uint64_t v)
{
	current->fs_base = v;
	cpu_set_fs_base(v);
}

/* The child's kernel stack: a copy of the parent's system-call frame (entry.S: what lies between
 * unik_syscall_sp and the stack's top), under it what unik_switch pops, returning into
 * unik_thread_start, which returns 0 from the copied frame. */
/* Zeroed: xsave writes only XSTATE_BV of the area's header, and xrstor refuses (#GP) a header
 * whose other bytes are not zero. */
static void *fpu_area(void **alloc)
{
	*alloc = kzalloc(cpu_fpu_size() + 64);
	return *alloc ? (void *)(((uint64_t)*alloc + 63) & ~63UL) : NULL;
}

struct thread *thread_clone(struct syscall_frame *f, uint64_t sp, uint64_t tls, bool set_tls)
{
	(void)f;
	if (!first.fpu && !(first.fpu = fpu_area(&first.fpu_alloc)))
		return NULL; /* the first thread's area: needed once it is switched out */
	struct thread *t = kzalloc(sizeof(*t));
	uint64_t stack = t ? pages_alloc(THREAD_KSTACK_PAGES) : 0;
	void *fpu_alloc = NULL, *fpu = stack ? fpu_area(&fpu_alloc) : NULL;
	if (!fpu) {
		if (stack)
			pages_free(stack, THREAD_KSTACK_PAGES);
		kfree(t);
		return NULL;
	}
	t->kstack = (void *)stack;
	t->kstack_top = stack + THREAD_KSTACK_PAGES * PAGE_SIZE;
	uint64_t frame = current->kstack_top - unik_syscall_sp;
	t->syscall_sp = t->kstack_top - frame;
	k_memcpy((void *)t->syscall_sp, (void *)unik_syscall_sp, frame);
	uint64_t *s = (uint64_t *)t->syscall_sp - 7;
	k_memset(s, 0, 6 * sizeof(*s));
	s[6] = (uint64_t)unik_thread_start;
	t->ksp = (uint64_t)s;
	t->user_rsp = sp ? sp : unik_user_rsp;
	t->in_syscall = 1;
	t->fs_base = set_tls ? tls : current->fs_base;
	t->fpu_alloc = fpu_alloc;
	t->fpu = fpu;
	cpu_fpu_save(t->fpu); /* the parent's registers, as the child starts with them */
	t->sigmask = current->sigmask;
	t->tid = next_tid++;
	t->all_next = all;
	all = t;
	nthreads++;
	runq_push(t);
	timer_update();
	return t;
}

/* entry.S: a new thread's first step, right after its first switch. */
void sched_thread_started(void)
{
	reap();
	timer_update();
}

NORETURN void thread_exit(int status)
{
	if (nthreads == 1)
		proc_exit(status);
	for (struct thread **p = &all; *p; p = &(*p)->all_next)
		if (*p == current) {
			*p = current->all_next;
			break;
		}
	nthreads--;
	current->state = THREAD_DEAD;
	zombie = current;
	schedule();
	__builtin_unreachable();
}

void sched_halt_until(uint64_t deadline)
{
	/* The timer's interrupt (sched_timer_irq) re-arms it for the scheduler's own needs. */
	if (!timer_at || deadline < timer_at) {
		timer_at = deadline;
		clock_timer_at(deadline);
	}
	clock_halt();
}

/* entry.S: on the preempted thread's own stack, with the interrupt's frame above. */
void sched_preempted(void)
{
	runq_push(current);
	schedule();
}

void sched_timer_irq(struct trap_frame *f)
{
	timer_at = 0;
	if (poller && poller_at && poller_at <= clock_monotonic_ns())
		poller_at = poller();
	wake_expired();
	/* Only the application is preempted: kernel code runs with interrupts off, in ring 0 or,
	 * where a hypervisor runs system calls in ring 3 (syscall_ring), in ring 3.  unik_preempt
	 * schedules in ring 3, so a thread switched out in a system call served in ring 0 may go
	 * on in ring 3: kernel code works in either, and entry.S returns from either. */
	if (runq && (f->cs & 3) == 3 && !in_syscall) {
		struct trap_frame *kf = (struct trap_frame *)(current->kstack_top - sizeof(*kf));
		*kf = *f;
		unik_preempt(kf);
	}
	timer_update();
}
