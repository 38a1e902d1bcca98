/* The includeos backend's event loop: after the init levels main.c runs it instead of starting
 * a process.  It calls service_start(), then the timers and network events it set up, on a
 * stack of its own, interrupts off, halting when nothing is due (include/unik/service.h). */
#include "fs/fs.h"
#include "kernel/sched.h"
#include "service/service.h"
#include "unik/service.h"

/* The loop's stack: the boot stack it starts on is also where the application's system calls
 * enter the kernel (sched.c's first thread), which a libc call from a callback may do. */
#define LOOP_STACK_PAGES 16

struct service_timer {
	struct service_timer *next;
	uint64_t due, period; /* monotonic ns; period 0: one-shot */
	service_timer_fn fn;
	void *arg;
	bool cancelled;
};

static struct service_timer *timers;
static struct waitq loop_wait = {NULL, "the service's events", true};
static bool kicked, exiting;
static int exit_status;
/* What musl's code finds through %fs: its thread pointer (a self pointer at offset 0), errno
 * and the stack protector's canary.  There is no musl start-up in a service (no main), so this
 * zeroed block stands in for its thread structure. */
static uint64_t tls_block[64] __attribute__((aligned(64)));

void svc_kick(void)
{
	kicked = true;
	waitq_wake(&loop_wait);
}

void service_write(const void *buf, size_t len)
{
	console_write(buf, len);
}

void service_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = k_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

uint64_t service_now_ms(void)
{
	return clock_monotonic_ns() / 1000000;
}

void service_exit(int status)
{
	exiting = true;
	exit_status = status;
	svc_kick();
}

static struct service_timer *timer_add(uint64_t first_ms, uint64_t period_ms, service_timer_fn fn,
                                       void *arg)
{
	struct service_timer *t = kzalloc(sizeof(*t));

	t->due = clock_monotonic_ns() + first_ms * 1000000;
	t->period = period_ms * 1000000;
	t->fn = fn;
	t->arg = arg;
	t->next = timers;
	timers = t;
	return t;
}

struct service_timer *service_timer_once(uint64_t ms, service_timer_fn fn, void *arg)
{
	return fn ? timer_add(ms, 0, fn, arg) : NULL;
}

struct service_timer *service_timer_every(uint64_t first_ms, uint64_t period_ms,
                                          service_timer_fn fn, void *arg)
{
	return fn ? timer_add(first_ms, period_ms ? period_ms : 1, fn, arg) : NULL;
}

/* Freed by the loop, so that a callback may cancel its own timer or one the loop is about to
 * visit. */
void service_timer_cancel(struct service_timer *t)
{
	if (t)
		t->cancelled = true;
}

/* Runs the due timers once each; returns the earliest deadline left (0: none). */
static uint64_t run_timers(void)
{
	uint64_t now = clock_monotonic_ns(), next = 0;

	for (struct service_timer *t = timers; t; t = t->next) {
		if (t->cancelled || t->due > now)
			continue;
		if (t->period) {
			/* A late loop does not call back for every period it missed. */
			t->due += t->period;
			if (t->due <= now)
				t->due = now + t->period;
		} else {
			t->cancelled = true;
		}
		t->fn(t, t->arg);
	}
	for (struct service_timer **p = &timers; *p;) {
		struct service_timer *t = *p;
		if (t->cancelled) {
			*p = t->next;
			kfree(t);
			continue;
		}
		if (!next || t->due < next)
			next = t->due;
		p = &t->next;
	}
	return next;
}

static NORETURN void loop(void)
{
	tls_block[0] = (uint64_t)tls_block;
	thread_set_fs_base((uint64_t)tls_block);
	fs_clock_ready = true;
	service_start();
	for (;;) {
		kicked = false;
		bool worked = svc_net_dispatch();
		uint64_t next = run_timers();

		if (exiting)
			proc_exit(exit_status);
		if (!next && !svc_net_busy())
			proc_exit(0); /* nothing is left that could call the service */
		/* lwIP's timers and what the stack sent itself; it may record events. */
		sched_poll();
		if (worked || kicked || (next && next <= clock_monotonic_ns()))
			continue;
		thread_wait(&loop_wait, next);
	}
}

/* Called by main.c (a weak reference: only unikrt-service.o defines it). */
NORETURN void unik_service_run(void)
{
	uint64_t stack = pages_alloc(LOOP_STACK_PAGES);

	if (!stack)
		panic("no memory for the service's stack");
	uint64_t top = stack + LOOP_STACK_PAGES * PAGE_SIZE;
	__asm__ volatile("mov %0, %%rsp\n\tcall *%1\n\tud2" ::"r"(top), "r"(loop) : "memory");
	__builtin_unreachable();
}
