/* Signals: the actions, each thread's mask, pending set and alternate stack, the calls that wait
 * for a signal, and delivery as Linux does it, for a signal the program sent and for a CPU
 * exception it caused alike: a struct rt_sigframe (the return address, a ucontext and the
 * siginfo) and the FPU state on the application's stack or its sigaltstack.  The handler returns
 * into sa_restorer (musl's __restore_rt), whose rt_sigreturn takes back every register from the
 * ucontext, so a handler may change them; both ways go through the interrupt return, which,
 * unlike the system-call return, restores every register. */
#include "kernel/sched.h"
#include "kernel/signal.h"
#include "sys/syscall.h"

#define SIGILL        4
#define SIGTRAP       5
#define SIGBUS        7
#define SIGFPE        8
#define SIGSTOP       19
#define SA_SIGINFO    4
#define SA_ONSTACK    0x08000000UL
#define SA_NODEFER    0x40000000UL
#define SA_RESETHAND  0x80000000UL
#define SS_ONSTACK    1
#define SS_DISABLE    2
#define SS_AUTODISARM INT32_MIN
#define MINSIGSTKSZ   2048
#define SI_USER       0
#define SI_KERNEL     0x80
#define SI_TKILL      (-6)
#define BIT(sig)      (1UL << ((sig)-1))
#define UNBLOCKABLE   (BIT(SIGKILL) | BIT(SIGSTOP))
/* What the application may set of rflags: the arithmetic flags, DF and AC. */
#define USER_FLAGS 0x40cd5UL

struct linux_siginfo {
	int32_t signo, errno_, code, pad;
	union {
		struct {
			int32_t pid, uid;
		} kill;
		uint64_t addr; /* faults: the address, or the instruction */
	};
	char rest[104];
};

/* Linux's struct ucontext on x86-64: a stack_t, then the sigcontext, whose first 23 words are the
 * registers in the order of <sys/ucontext.h>'s gregs (REG_R8 .. REG_CR2), then the kernel's
 * 8-byte signal mask. */
struct linux_ucontext {
	uint64_t flags, link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	uint64_t gregs[23];
	uint64_t fpregs; /* the fxsave or xsave area */
	uint64_t reserved[8];
	uint64_t sigmask;
};
enum { REG_EFL = 17, REG_CSGSFS, REG_ERR, REG_TRAPNO, REG_OLDMASK, REG_CR2 };

struct rt_sigframe {
	uint64_t pretcode; /* the handler's return address: sa_restorer */
	struct linux_ucontext uc;
	struct linux_siginfo info;
};

/* Where gregs[REG_R8 .. REG_RIP] live in a struct trap_frame, in words. */
#define TF(r) (offsetof(struct trap_frame, r) / 8)
static const uint8_t greg_slot[REG_EFL] = {
    TF(r8),  TF(r9),  TF(r10), TF(r11), TF(r12), TF(r13), TF(r14), TF(r15), TF(rdi),
    TF(rsi), TF(rbp), TF(rbx), TF(rdx), TF(rax), TF(rcx), TF(rsp), TF(rip),
};

static struct linux_sigaction actions[65];
/* Pending signals that kill() or the kernel sent (SI_USER) rather than tkill (SI_TKILL). */
static uint64_t sent_by_kill;
/* rt_sigsuspend's caller's mask, for the frame of the signal that ends the wait. */
static uint64_t suspend_saved;
static bool suspend_active;
/* The exception being delivered, while signal_fault continues on the kernel stack. */
static struct linux_siginfo fault_info;
static uint64_t fault_cr2;

extern NORETURN void unik_kstack_call(struct trap_frame *kf, void (*fn)(struct trap_frame *));

/* --- the alternate stack --- */

static bool on_altstack(uint64_t sp)
{
	return sp > current->altstack_sp && sp - current->altstack_sp <= current->altstack_size;
}

static int altstack_state(uint64_t sp)
{
	if (!current->altstack_size)
		return SS_DISABLE;
	return on_altstack(sp) ? SS_ONSTACK : 0;
}

struct linux_stack {
	uint64_t sp;
	int32_t flags, pad;
	uint64_t size;
};

static long sys_sigaltstack(const struct linux_stack *ss, struct linux_stack *old)
{
	struct linux_stack was = {current->altstack_sp,
	                          altstack_state(unik_user_rsp) | current->altstack_flags, 0,
	                          current->altstack_size};
	if (ss) {
		struct linux_stack s = *ss;
		int mode = s.flags & ~SS_AUTODISARM;
		if (on_altstack(unik_user_rsp))
			return -EPERM;
		if (mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE)
			return -EINVAL;
		if (mode == SS_DISABLE) {
			s = (struct linux_stack){0};
		} else if (s.size < MINSIGSTKSZ) {
			return -ENOMEM;
		}
		current->altstack_sp = s.sp;
		current->altstack_size = s.size;
		current->altstack_flags = s.flags & SS_AUTODISARM;
	}
	if (old)
		*old = was;
	return 0;
}

/* --- delivery --- */

/* The FPU state a handler returns with, from its frame: only what the CPU accepts (MXCSR's
 * defined bits, an xsave header naming enabled features) is loaded, so that a frame the program
 * scribbled on cannot fault the kernel.  No area (NULL) means the initial state, as on Linux. */
static bool fpu_load(uint64_t fp)
{
	size_t n = cpu_fpu_size();
	uint8_t *a = (uint8_t *)fp;
	if (!fp) {
		uint32_t mxcsr = 0x1f80;
		__asm__ volatile("fninit; ldmxcsr %0" : : "m"(mxcsr));
		return true;
	}
	if ((fp & (n > 512 ? 63 : 15)) || !user_range_ok(a, n))
		return false;
	*(uint32_t *)(a + 24) &= 0xffbf;
	if (n > 512) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		*(uint64_t *)(a + 512) &= (uint64_t)hi << 32 | lo;
		k_memset(a + 520, 0, 56);
	}
	cpu_fpu_restore(a);
	return true;
}

/* Make the interrupted context tf enter sig's handler: the frame goes on its stack (or the
 * alternate one), saving tf, the FPU and oldmask.  False when there is no room for it. */
static bool setup_frame(struct trap_frame *tf, int sig, const struct linux_siginfo *info,
                        uint64_t oldmask)
{
	struct linux_sigaction *a = &actions[sig];
	uint64_t sp = tf->rsp - 128; /* the red zone */
	if ((a->flags & SA_ONSTACK) && altstack_state(sp) == 0)
		sp = current->altstack_sp + current->altstack_size;
	uint64_t fp = (sp - cpu_fpu_size()) & ~63UL;
	uint64_t frame = ((fp - sizeof(struct rt_sigframe)) & ~15UL) - 8; /* as if called */
	if (sp >= (1UL << 47) || frame > sp || !user_range_ok((void *)frame, sp - frame))
		return false;
	struct rt_sigframe *fr = (void *)frame;
	/* Zeroed first: xsave leaves the rest of its header as it finds it, and xrstor refuses a
	 * header that is not zero. */
	k_memset(fr, 0, sp - frame);
	cpu_fpu_save((void *)fp);
	/* The handler starts with a clean FPU, as on Linux: an unmasked exception still flagged
	 * would strike again inside it. */
	fpu_load(0);

	struct linux_ucontext *uc = &fr->uc;
	fr->pretcode = a->restorer;
	uc->flags = 6; /* UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS */
	uc->ss_sp = current->altstack_sp;
	uc->ss_flags = altstack_state(tf->rsp) | current->altstack_flags;
	uc->ss_size = current->altstack_size;
	for (int i = 0; i < REG_EFL; i++)
		uc->gregs[i] = ((uint64_t *)tf)[greg_slot[i]];
	uc->gregs[REG_EFL] = tf->rflags;
	uc->gregs[REG_CSGSFS] = tf->cs | tf->ss << 48;
	uc->gregs[REG_ERR] = tf->error;
	uc->gregs[REG_TRAPNO] = tf->vector;
	uc->gregs[REG_OLDMASK] = oldmask;
	uc->gregs[REG_CR2] = tf->vector == 14 ? info->addr : 0;
	uc->fpregs = fp;
	uc->sigmask = oldmask;
	fr->info = *info;

	tf->rip = a->handler;
	tf->rsp = frame;
	tf->rdi = (uint64_t)sig;
	tf->rsi = (uint64_t)&fr->info;
	tf->rdx = (uint64_t)uc;
	tf->rax = 0;
	tf->rflags &= ~0x10500UL; /* DF, TF and RF, as Linux clears them */
	tf->cs = 0x23;
	tf->ss = 0x1b;
	if (current->altstack_flags & SS_AUTODISARM)
		current->altstack_sp = current->altstack_size = 0, current->altstack_flags = 0;
	current->sigmask |= a->mask | ((a->flags & SA_NODEFER) ? 0 : BIT(sig));
	current->sigmask &= ~UNBLOCKABLE;
	if (a->flags & SA_RESETHAND)
		a->handler = SIG_DFL;
	return true;
}

static bool default_ignored(int sig)
{
	return sig == 17 || sig == 18 || sig == 23 || sig == 28 || (sig >= 19 && sig <= 22);
}

static bool default_core(int sig)
{
	return sig == 3 || sig == 4 || sig == 5 || sig == 6 || sig == 7 || sig == 8 || sig == 11 ||
	       sig == 31;
}

/* The action for a signal that is not blocked: ignore it, enter the handler (true), or the
 * default action, which may end the program. */
static bool act(struct trap_frame *tf, int sig, const struct linux_siginfo *info, uint64_t oldmask)
{
	uint64_t h = actions[sig].handler;
	if (sig != SIGKILL && h == SIG_IGN)
		return false;
	if (sig != SIGKILL && h != SIG_DFL) {
		/* No room for the frame: Linux forces a SIGSEGV, which kills. */
		if (!setup_frame(tf, sig, info, oldmask))
			crash_signal(SIGSEGV, tf->rip, tf->rsp, tf->rbp);
		return true;
	}
	if (default_ignored(sig))
		return false;
	if (default_core(sig))
		crash_signal(sig, tf->rip, tf->rsp, tf->rbp);
	kprintf(UNIK_CONSOLE_PREFIX "killed by signal %d\n", sig);
	proc_exit(128 + sig);
}

/* Take the lowest pending signal of set off the current thread, with its siginfo; 0: none. */
static int take(uint64_t set, struct linux_siginfo *info)
{
	uint64_t ready = current->sigpending & set;
	if (!ready)
		return 0;
	int sig = __builtin_ctzll(ready) + 1;
	current->sigpending &= ~BIT(sig);
	k_memset(info, 0, sizeof(*info));
	info->signo = sig;
	info->code = (sent_by_kill & BIT(sig)) ? SI_USER : SI_TKILL;
	info->kill.pid = 1;
	return sig;
}

/* Before the application runs again from tf: act on one signal that became deliverable (the
 * next waits for the next way out of the kernel, the handler's rt_sigreturn at the latest). */
static void deliver_ready(struct trap_frame *tf)
{
	struct linux_siginfo info;
	uint64_t old = suspend_active ? suspend_saved : current->sigmask;
	int sig = take(~current->sigmask, &info);
	bool entered = sig && act(tf, sig, &info, old);
	if (suspend_active && !entered)
		current->sigmask = suspend_saved;
	suspend_active = false;
}

/* Leave the kernel with the registers in tf.  tf may lie in the very bytes at the top of the
 * kernel stack where the interrupt return wants them (entry.S), hence the move. */
static NORETURN void user_return(struct trap_frame *tf)
{
	struct trap_frame *kf = (void *)(current->kstack_top - sizeof(*kf));
	k_memmove(kf, tf, sizeof(*kf));
	unik_user_return(kf);
}

NORETURN void signal_syscall_exit(struct syscall_frame *f, long r)
{
	/* The callee-saved registers entry.S pushed right under the frame: still the
	 * application's, since C code restores them before it returns. */
	const uint64_t *saved = (const uint64_t *)f;
	struct trap_frame tf = {
	    .r15 = saved[-6],
	    .r14 = saved[-5],
	    .r13 = saved[-4],
	    .r12 = saved[-3],
	    .rbp = saved[-2],
	    .rbx = saved[-1],
	    .r11 = f->r11,
	    .r10 = f->r10,
	    .r9 = f->r9,
	    .r8 = f->r8,
	    .rdi = f->rdi,
	    .rsi = f->rsi,
	    .rdx = f->rdx,
	    .rcx = f->rcx,
	    .rax = (uint64_t)r,
	    .rip = f->rcx,
	    .cs = 0x23,
	    .rflags = (f->r11 & USER_FLAGS) | 0x202,
	    .rsp = unik_user_rsp,
	    .ss = 0x1b,
	};
	deliver_ready(&tf);
	user_return(&tf);
}

static NORETURN void sys_rt_sigreturn(struct syscall_frame *f)
{
	struct rt_sigframe *fr = (void *)(unik_user_rsp - 8);
	if (!user_range_ok(fr, sizeof(*fr)))
		crash_signal(SIGSEGV, f->rcx, unik_user_rsp, 0);
	struct trap_frame tf = {.cs = 0x23, .ss = 0x1b};
	for (int i = 0; i < REG_EFL; i++)
		((uint64_t *)&tf)[greg_slot[i]] = fr->uc.gregs[i];
	tf.rflags = (fr->uc.gregs[REG_EFL] & USER_FLAGS) | 0x202;
	if (tf.rip >= (1UL << 47) || tf.rsp >= (1UL << 47) || !fpu_load(fr->uc.fpregs))
		crash_signal(SIGSEGV, tf.rip, tf.rsp, tf.rbp);
	current->sigmask = fr->uc.sigmask & ~UNBLOCKABLE;
	deliver_ready(&tf);
	user_return(&tf);
}

/* Linux's signal and siginfo for each exception the application can cause. */
static const uint8_t fault_signals[20] = {
    [0] = SIGFPE,   [1] = SIGTRAP,  [3] = SIGTRAP, [4] = SIGSEGV, [5] = SIGSEGV,
    [6] = SIGILL,   [10] = SIGSEGV, [11] = SIGBUS, [12] = SIGBUS, [13] = SIGSEGV,
    [14] = SIGSEGV, [16] = SIGFPE,  [17] = SIGBUS, [19] = SIGFPE,
};

/* FPE_FLTINV, FPE_FLTDIV, FPE_FLTOVF, FPE_FLTUND or FPE_FLTRES from the exception flags that
 * are not masked, in Linux's order. */
static int fpe_code(uint64_t vector)
{
	uint32_t err;
	if (vector == 16) {
		uint16_t sw, cw;
		__asm__ volatile("fnstsw %0; fnstcw %1" : "=m"(sw), "=m"(cw));
		err = sw & ~cw;
	} else {
		uint32_t m;
		__asm__ volatile("stmxcsr %0" : "=m"(m));
		err = m & ~(m >> 7);
	}
	return err & 1 ? 7 : err & 4 ? 3 : err & 8 ? 4 : err & 0x12 ? 5 : err & 0x20 ? 6 : 0;
}

/* On the kernel stack: with the stack switched, a fault while writing the frame (a page of the
 * stack still to be mapped) is an ordinary nested exception. */
static void fault_deliver(struct trap_frame *kf)
{
	/* fnstsw and stmxcsr here rather than in the handler: PVM-style hypervisors cannot
	 * emulate them in ring 0. */
	if (kf->vector == 16 || kf->vector == 19)
		fault_info.code = fpe_code(kf->vector);
	if (!setup_frame(kf, fault_info.signo, &fault_info, current->sigmask))
		trap_crash(kf, fault_cr2);
}

void signal_fault(struct trap_frame *f, uint64_t cr2)
{
	int sig = f->vector < ARRAY_SIZE(fault_signals) ? fault_signals[f->vector] : 0;
	uint64_t h = sig ? actions[sig].handler : SIG_DFL;
	/* Blocked or ignored, an exception still kills, as on Linux. */
	if (h == SIG_DFL || h == SIG_IGN || (current->sigmask & BIT(sig)))
		return;
	struct linux_siginfo *si = &fault_info;
	k_memset(si, 0, sizeof(*si));
	si->signo = sig;
	si->code = SI_KERNEL;
	switch (f->vector) {
	case 0:
		si->code = 1, si->addr = f->rip; /* FPE_INTDIV */
		break;
	case 6:
		si->code = 2, si->addr = f->rip; /* ILL_ILLOPN */
		break;
	case 14:
		si->code = (f->error & 1) ? 2 : 1, si->addr = cr2; /* SEGV_ACCERR, SEGV_MAPERR */
		break;
	case 16:
	case 19:
		si->addr = f->rip; /* the code from the FPU's status: fault_deliver, in ring 3 */
		break;
	case 17:
		si->code = 1; /* BUS_ADRALN */
		break;
	}
	fault_cr2 = cr2;
	struct trap_frame *kf = (void *)(current->kstack_top - sizeof(*kf));
	*kf = *f;
	unik_kstack_call(kf, fault_deliver);
}

void signal_resume(struct trap_frame *kf)
{
	deliver_ready(kf);
}

void signal_interrupt_exit(struct trap_frame *f)
{
	if ((f->cs & 3) != 3 || in_syscall || !(current->sigpending & ~current->sigmask))
		return;
	struct trap_frame *kf = (void *)(current->kstack_top - sizeof(*kf));
	*kf = *f;
	unik_kstack_call(kf, signal_resume);
}

/* --- sending --- */

static void pend(struct thread *t, int sig, bool by_kill)
{
	t->sigpending |= BIT(sig);
	sent_by_kill = by_kill ? sent_by_kill | BIT(sig) : sent_by_kill & ~BIT(sig);
	/* A thread blocked in the kernel wakes up to take it; a running one takes it as it next
	 * leaves the kernel. */
	if (t != current && !(t->sigmask & BIT(sig)))
		thread_wake(t, -EINTR);
}

void signal_pend(int sig)
{
	pend(current, sig, true);
}

long signal_send(struct syscall_frame *f, struct thread *t, long sig)
{
	(void)f;
	if (sig < 0 || sig > 64)
		return -EINVAL;
	if (sig)
		pend(t, (int)sig, false);
	return 0;
}

/* --- the calls --- */

static long sys_rt_sigaction(long sig, const struct linux_sigaction *act,
                             struct linux_sigaction *old, uint64_t size)
{
	if (size != 8 || sig < 1 || sig > 64)
		return -EINVAL;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	struct linux_sigaction was = actions[sig];
	if (act) {
		actions[sig] = *act;
		/* Ignoring a signal discards it where it is pending, as on Linux. */
		if (act->handler == SIG_IGN ||
		    (act->handler == SIG_DFL && default_ignored((int)sig)))
			current->sigpending &= ~BIT(sig);
	}
	if (old)
		*old = was;
	return 0;
}

static long sys_rt_sigprocmask(long how, const uint64_t *set, uint64_t *old, uint64_t size)
{
	if (size != 8)
		return -EINVAL;
	uint64_t was = current->sigmask;
	if (set) {
		if (how == 0)
			current->sigmask |= *set;
		else if (how == 1)
			current->sigmask &= ~*set;
		else if (how == 2)
			current->sigmask = *set;
		else
			return -EINVAL;
		current->sigmask &= ~UNBLOCKABLE;
	}
	if (old)
		*old = was;
	return 0;
}

static long sys_rt_sigtimedwait(const uint64_t *set, struct linux_siginfo *info,
                                const struct linux_timespec *ts, uint64_t size)
{
	if (size != 8)
		return -EINVAL;
	uint64_t want = *set & ~UNBLOCKABLE, mask = current->sigmask, deadline = 0;
	if (ts) {
		if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
			return -EINVAL;
		uint64_t s = MIN((uint64_t)ts->tv_sec, 1000000000000ULL);
		deadline = clock_monotonic_ns() + s * 1000000000 + (uint64_t)ts->tv_nsec;
	}
	for (;;) {
		struct linux_siginfo si;
		int sig = take(want, &si);
		if (sig) {
			if (info)
				*info = si;
			return sig;
		}
		/* The signals waited for wake the thread even while blocked, as Linux's
		 * temporary unblocking for the wait does. */
		current->sigmask = mask & ~want;
		int r = thread_wait(NULL, deadline);
		current->sigmask = mask;
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r == -EINTR && !(current->sigpending & want))
			return -EINTR;
	}
}

/* Wait with mask (rt_sigsuspend) or the thread's own (pause) until a signal it does not block
 * is pending; that signal's frame saves the mask the caller had. */
static long suspend(uint64_t mask)
{
	uint64_t was = current->sigmask;
	current->sigmask = mask & ~UNBLOCKABLE;
	while (!(current->sigpending & ~current->sigmask))
		thread_wait(NULL, 0);
	suspend_saved = was;
	suspend_active = true;
	return -EINTR;
}

SYSCALL(13)
{
	return sys_rt_sigaction(a0, P(a1), P(a2), a3);
}

SYSCALL(14)
{
	return sys_rt_sigprocmask(a0, P(a1), P(a2), a3);
}

SYSCALL(15)
{
	sys_rt_sigreturn(f);
}

SYSCALL(34)
{
	return suspend(current->sigmask); /* pause */
}

SYSCALL(62)
{
	if (a0 != 1 && a0 != 0 && a0 != -1)
		return -ESRCH; /* kill: this process is the only one */
	if (a1 < 0 || a1 > 64)
		return -EINVAL;
	if (a1)
		pend(current, (int)a1, true);
	return 0;
}

SYSCALL(127)
{
	if ((uint64_t)a1 > 8)
		return -EINVAL;
	*(uint64_t *)a0 = current->sigpending & current->sigmask; /* rt_sigpending */
	return 0;
}

SYSCALL(128)
{
	return sys_rt_sigtimedwait(P(a0), P(a1), P(a2), a3);
}

SYSCALL(130)
{
	return a1 == 8 ? suspend(*(uint64_t *)a0) : -EINVAL; /* rt_sigsuspend */
}

SYSCALL(131)
{
	return sys_sigaltstack(P(a0), P(a1));
}
