/* Signals as Linux delivers them: from the program's own faults (a NULL write, an integer division
 * by zero, ud2, int3, a write to a read-only mapping) with their siginfo and ucontext, recovered
 * from with siglongjmp or by moving REG_RIP; stack overflow caught on a sigaltstack; kill and raise
 * with SA_SIGINFO; masks; sigtimedwait; sigsuspend woken by another thread.  The output is the same
 * natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code, addr_is_rip, in_handler_blocked;
static volatile long got_trapno, got_err, got_cr2;
static void *volatile got_addr;

static void on(int sig, void (*h)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static int blocked(int sig)
{
	sigset_t s;
	sigprocmask(SIG_BLOCK, NULL, &s);
	return sigismember(&s, sig);
}

static void record(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	addr_is_rip = (uintptr_t)si->si_addr == (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	in_handler_blocked = blocked(sig);
	got_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	got_err = uc->uc_mcontext.gregs[REG_ERR];
	got_cr2 = uc->uc_mcontext.gregs[REG_CR2];
}

static void jump_out(int sig, siginfo_t *si, void *ctx)
{
	record(sig, si, ctx);
	siglongjmp(jb, 1);
}

static void null_write(void)
{
	int *volatile p = (int *)24;
	on(SIGSEGV, jump_out, 0);
	if (!sigsetjmp(jb, 1)) {
		*p = 1;
		puts("not reached");
	}
	printf("SIGSEGV: sig=%d maperr=%d addr=%lu blocked in handler=%d after=%d\n", got_sig,
	       got_code == SEGV_MAPERR, (unsigned long)(uintptr_t)got_addr, in_handler_blocked,
	       blocked(SIGSEGV));
	printf("SIGSEGV ucontext: trapno=%ld err=%ld cr2=%ld\n", got_trapno, got_err, got_cr2);
	/* The same again: siglongjmp restored the mask, so the second fault is delivered too. */
	got_sig = 0;
	p = (int *)32;
	if (!sigsetjmp(jb, 1))
		*p = 1;
	printf("SIGSEGV again: sig=%d addr=%lu\n", got_sig, (unsigned long)(uintptr_t)got_addr);
}

/* A write to a page mprotect made read-only: SEGV_ACCERR at the page, and the write works once
 * the page is writable again. */
static void read_only_write(void)
{
	volatile int *p =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p[0] = 1;
	mprotect((void *)p, 4096, PROT_READ);
	got_sig = 0;
	on(SIGSEGV, jump_out, 0);
	if (!sigsetjmp(jb, 1)) {
		p[1] = 2;
		puts("not reached");
	}
	int caught = got_sig, accerr = got_code == SEGV_ACCERR;
	int at = got_addr == (void *)&p[1];
	mprotect((void *)p, 4096, PROT_READ | PROT_WRITE);
	p[1] = 42;
	printf("read-only write: sig=%d accerr=%d addr ok=%d err=%ld, then writable: %d %d\n",
	       caught, accerr, at, got_err, p[0], p[1]);
	munmap((void *)p, 4096);
}

static void divide_by_zero(void)
{
	on(SIGFPE, jump_out, 0);
	volatile int a = 7, b = 0;
	if (!sigsetjmp(jb, 1))
		printf("not reached %d\n", a / b);
	printf("SIGFPE: sig=%d intdiv=%d addr_is_rip=%d\n", got_sig, got_code == FPE_INTDIV,
	       addr_is_rip);
}

/* SSE division by zero with the exception unmasked in MXCSR: the handler starts with the
 * default MXCSR, so after siglongjmp the exceptions are masked again. */
static void float_divide_by_zero(void)
{
	on(SIGFPE, jump_out, 0);
	volatile double a = 1.0, b = 0.0, c = 0;
	unsigned mxcsr = 0x1f80 & ~(1u << 9), now;
	if (!sigsetjmp(jb, 1)) {
		__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
		c = a / b;
		puts("not reached");
	}
	__asm__ volatile("stmxcsr %0" : "=m"(now));
	printf("SIGFPE (SSE): sig=%d fltdiv=%d addr_is_rip=%d masked after=%d c=%.1f\n", got_sig,
	       got_code == FPE_FLTDIV, addr_is_rip, (now & 0x1f80) == 0x1f80, c);
}

/* x87 division by zero with the exception unmasked in the control word: #MF at the next
 * waiting instruction. */
static void x87_divide_by_zero(void)
{
	on(SIGFPE, jump_out, 0);
	unsigned short cw = 0x037f & ~4, now;
	got_code = 0;
	if (!sigsetjmp(jb, 1)) {
		__asm__ volatile("fldcw %0\n\tfld1\n\tfldz\n\tfdivrp\n\tfwait\n\tfstp %%st(0)"
		                 :
		                 : "m"(cw)
		                 : "memory");
		puts("not reached");
	}
	__asm__ volatile("fnstcw %0" : "=m"(now));
	printf("SIGFPE (x87): sig=%d fltdiv=%d addr_is_rip=%d masked after=%d\n", got_sig,
	       got_code == FPE_FLTDIV, addr_is_rip, (now & 0x3f) == 0x3f);
}

/* Skip the 2-byte ud2 and set rax: the interrupted code carries on with every register
 * taken from the ucontext. */
static void skip_ud2(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	record(sig, si, ctx);
	uc->uc_mcontext.gregs[REG_RIP] += 2;
	uc->uc_mcontext.gregs[REG_RAX] = 42;
}

static void illegal_instruction(void)
{
	on(SIGILL, skip_ud2, 0);
	uint64_t rax, rcx, r11, r8;
	__asm__ volatile("mov $1, %%eax\n\tmov $7, %%ecx\n\tmov $9, %%r11d\n\tmov $5, %%r8d\n\t"
	                 "ud2\n\t"
	                 "mov %%rax, %0\n\tmov %%rcx, %1\n\tmov %%r11, %2\n\tmov %%r8, %3"
	                 : "=m"(rax), "=m"(rcx), "=m"(r11), "=m"(r8)
	                 :
	                 : "rax", "rcx", "r11", "r8", "memory", "cc");
	printf("SIGILL: sig=%d illopn=%d addr_is_rip=%d rax=%lu rcx=%lu r11=%lu r8=%lu\n", got_sig,
	       got_code == ILL_ILLOPN, addr_is_rip, (unsigned long)rax, (unsigned long)rcx,
	       (unsigned long)r11, (unsigned long)r8);
}

static void breakpoint(void)
{
	on(SIGTRAP, record, 0);
	got_sig = 0;
	__asm__ volatile("int3" ::: "memory");
	printf("SIGTRAP: sig=%d code=%d\n", got_sig, got_code);
}

#define ALTSTACK_SIZE (64 * 1024)
static char *altstack;
static volatile int handler_on_altstack, reported_onstack, change_while_on;

static void overflow_handler(int sig, siginfo_t *si, void *ctx)
{
	char here;
	stack_t now, ss = {.ss_sp = altstack, .ss_size = ALTSTACK_SIZE};
	record(sig, si, ctx);
	handler_on_altstack = &here >= altstack && &here < altstack + ALTSTACK_SIZE;
	sigaltstack(NULL, &now);
	reported_onstack = now.ss_flags == SS_ONSTACK;
	change_while_on = sigaltstack(&ss, NULL) == -1 && errno == EPERM;
	siglongjmp(jb, 1);
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static unsigned long forever(unsigned long n)
{
	volatile char pad[4096];
	pad[0] = (char)n;
	return forever(n + 1) + pad[0];
}

static void stack_overflow(void)
{
	/* Fresh pages: the frame itself faults them in. */
	altstack =
	    mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stack_t ss = {.ss_sp = altstack, .ss_size = 1000}, old;
	int r = sigaltstack(&ss, NULL);
	printf("sigaltstack too small: %d %s\n", r, errno == ENOMEM ? "ENOMEM" : strerror(errno));
	ss.ss_flags = 12345;
	ss.ss_size = ALTSTACK_SIZE;
	r = sigaltstack(&ss, NULL);
	printf("sigaltstack bad flags: %d %s\n", r, errno == EINVAL ? "EINVAL" : strerror(errno));
	sigaltstack(NULL, &old);
	printf("sigaltstack at first: disabled=%d\n", old.ss_flags == SS_DISABLE);
	ss.ss_flags = 0;
	printf("sigaltstack set: %d\n", sigaltstack(&ss, NULL));
	sigaltstack(NULL, &old);
	printf("sigaltstack now: flags=%d size_ok=%d sp_ok=%d\n", old.ss_flags,
	       old.ss_size == ALTSTACK_SIZE, old.ss_sp == altstack);

	/* Linux's stack limit is the process's; the guest's stack is 8 MiB too. */
	struct rlimit rl = {8 << 20, 8 << 20};
	setrlimit(RLIMIT_STACK, &rl);
	on(SIGSEGV, jump_out, 0);
	on(SIGSEGV, overflow_handler, SA_ONSTACK);
	if (!sigsetjmp(jb, 1))
		printf("not reached %lu\n", forever(0));
	printf("stack overflow: sig=%d on altstack=%d reported onstack=%d EPERM while on=%d\n",
	       got_sig, handler_on_altstack, reported_onstack, change_while_on);
	sigaltstack(NULL, &old);
	printf("after: flags=%d\n", old.ss_flags);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	sigaltstack(NULL, &old);
	printf("disabled: %d\n", old.ss_flags == SS_DISABLE);
}

static volatile int got_pid_ok;

static void info_handler(int sig, siginfo_t *si, void *ctx)
{
	record(sig, si, ctx);
	got_pid_ok = si->si_pid == getpid();
}

static void sending(void)
{
	on(SIGUSR1, info_handler, 0);
	kill(getpid(), SIGUSR1);
	printf("kill: sig=%d si_user=%d pid_ok=%d blocked in handler=%d after=%d\n", got_sig,
	       got_code == SI_USER, got_pid_ok, in_handler_blocked, blocked(SIGUSR1));
	got_sig = 0;
	raise(SIGUSR1);
	printf("raise: sig=%d si_tkill=%d\n", got_sig, got_code == SI_TKILL);

	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	got_sig = 0;
	raise(SIGUSR1);
	sigpending(&pending);
	printf("blocked: delivered=%d pending=%d\n", got_sig, sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	sigpending(&pending);
	printf("unblocked: delivered=%d pending=%d\n", got_sig, sigismember(&pending, SIGUSR1));

	/* Ignoring a pending signal discards it. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	signal(SIGUSR1, SIG_IGN);
	sigpending(&pending);
	printf("ignored while pending: pending=%d\n", sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void waiting(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct timespec t0, timeout = {0, 30 * 1000 * 1000};
	siginfo_t si;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	int r = sigtimedwait(&set, &si, &timeout);
	printf("sigtimedwait, nothing sent: %d %s waited=%d\n", r,
	       errno == EAGAIN ? "EAGAIN" : strerror(errno), ms_since(&t0) >= 30);
	raise(SIGUSR2);
	memset(&si, 0, sizeof(si));
	r = sigtimedwait(&set, &si, &timeout);
	printf("sigtimedwait, pending: %d signo=%d si_tkill=%d\n", r, si.si_signo,
	       si.si_code == SI_TKILL);
	struct timespec zero = {0, 0};
	errno = 0;
	r = sigtimedwait(&set, &si, &zero);
	printf("sigtimedwait, polling: %d %s\n", r, errno == EAGAIN ? "EAGAIN" : strerror(errno));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static pthread_t main_thread;

static void *sender(void *arg)
{
	(void)arg;
	struct timespec d = {0, 20 * 1000 * 1000};
	nanosleep(&d, NULL);
	pthread_kill(main_thread, SIGUSR1);
	nanosleep(&d, NULL);
	pthread_kill(main_thread, SIGUSR2);
	return NULL;
}

static void from_a_thread(void)
{
	sigset_t set, empty;
	sigemptyset(&set);
	sigemptyset(&empty);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	on(SIGUSR1, info_handler, 0);
	main_thread = pthread_self();
	pthread_t t;
	pthread_create(&t, NULL, sender, NULL);
	got_sig = 0;
	int r = sigsuspend(&empty);
	printf("sigsuspend: %d %s sig=%d still blocked=%d\n", r,
	       errno == EINTR ? "EINTR" : strerror(errno), got_sig, blocked(SIGUSR1));
	sigdelset(&set, SIGUSR1);
	r = sigwaitinfo(&set, NULL);
	printf("sigwaitinfo: %d\n", r);
	pthread_join(t, NULL);
}

/* A thread that never makes a system call gets a signal too, when it next runs: its handler
 * clobbers xmm7, which the interrupted loop still finds as it was. */
static volatile int spin_flag, spinning;
static const double seven = 7.0;

static void spin_handler(int sig)
{
	(void)sig;
	__asm__ volatile("xorpd %%xmm7, %%xmm7" ::: "xmm7");
	spin_flag = 1;
}

static void *spinner(void *arg)
{
	double v;
	(void)arg;
	spinning = 1;
	__asm__ volatile("movsd %1, %%xmm7\n"
	                 "1:\tcmpl $0, %2\n\tje 1b\n\t"
	                 "movsd %%xmm7, %0"
	                 : "=m"(v)
	                 : "m"(seven), "m"(spin_flag)
	                 : "xmm7", "memory", "cc");
	printf("spinning thread: handled=%d xmm7=%.1f\n", spin_flag, v);
	return NULL;
}

static void to_a_spinning_thread(void)
{
	signal(SIGUSR1, spin_handler);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	pthread_t t;
	pthread_create(&t, NULL, spinner, NULL);
	while (!spinning)
		sched_yield();
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
}

/* Faults the program does not handle end it with the crash report, as Linux kills it: no
 * handler, SIG_IGN, the signal blocked, or no stack left for the handler's frame. */
static int unhandled(const char *how)
{
	printf("before the crash\n");
	int *volatile p = NULL;
	if (!strcmp(how, "ignored")) {
		signal(SIGSEGV, SIG_IGN);
	} else if (!strcmp(how, "blocked")) {
		sigset_t set;
		on(SIGSEGV, jump_out, 0);
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		sigprocmask(SIG_BLOCK, &set, NULL);
	} else if (!strcmp(how, "nostack")) {
		on(SIGSEGV, jump_out, 0);
		struct rlimit rl = {8 << 20, 8 << 20};
		setrlimit(RLIMIT_STACK, &rl);
		if (!sigsetjmp(jb, 1))
			printf("not reached %lu\n", forever(0));
	}
	printf("read %d\n", *p);
	printf("still alive\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "sse")) {
		float_divide_by_zero();
		return 0;
	}
	if (argc > 1)
		return unhandled(argv[1]);
	null_write();
	read_only_write();
	divide_by_zero();
	x87_divide_by_zero();
	illegal_instruction();
	breakpoint();
	stack_overflow();
	sending();
	waiting();
	from_a_thread();
	to_a_spinning_thread();
	puts("done");
	return 0;
}
