/* CPU exceptions and interrupts: stack growth, bad pointers handed to system calls, the timer,
 * signals for the application's own faults (kernel/signal.c), and the crash report for
 * everything else. */
#include "kernel/irq.h"
#include "kernel/sched.h"
#include "kernel/signal.h"

static const char *const names[32] = {
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection fault",
    "page fault",
    NULL,
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection",
};

static const char *const signames[32] = {
    [1] = "SIGHUP",   [2] = "SIGINT",   [3] = "SIGQUIT",  [4] = "SIGILL",   [5] = "SIGTRAP",
    [6] = "SIGABRT",  [7] = "SIGBUS",   [8] = "SIGFPE",   [9] = "SIGKILL",  [10] = "SIGUSR1",
    [11] = "SIGSEGV", [12] = "SIGUSR2", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
};

static bool in_text(uint64_t a)
{
	return a >= (uint64_t)__unik_text_start && a < (uint64_t)__unik_text_end;
}

static bool readable(uint64_t a)
{
	return user_range_ok((const void *)a, 8);
}

/* Return addresses: follow the frame-pointer chain while it looks sane, then scan the stack
 * for words that point into code (marked with '?', as Linux does). */
static void backtrace(uint64_t rsp, uint64_t rbp)
{
	char line[200];
	int n = k_snprintf(line, sizeof(line), UNIK_CRASH_LINE_PREFIX "return addresses:");
	int found = 0;
	for (int depth = 0;
	     depth < 16 && rbp && !(rbp & 7) && rbp >= rsp && readable(rbp) && readable(rbp + 8);
	     depth++) {
		uint64_t ret = ((uint64_t *)rbp)[1];
		if (!in_text(ret))
			break;
		n += k_snprintf(line + n, sizeof(line) - n, " %lx", ret);
		found++;
		rbp = ((uint64_t *)rbp)[0];
		if (n > 150)
			break;
	}
	for (uint64_t p = rsp & ~7UL; !found && p < rsp + 1024 && readable(p) && n < 150; p += 8) {
		uint64_t v = *(uint64_t *)p;
		if (in_text(v))
			n += k_snprintf(line + n, sizeof(line) - n, " ?%lx", v);
	}
	kprintf("%s\n", line);
}

NORETURN void crash_signal(int sig, uint64_t rip, uint64_t rsp, uint64_t rbp)
{
	const char *name = sig > 0 && sig < 32 && signames[sig] ? signames[sig] : "signal";
	kprintf(UNIK_CRASH_LINE_PREFIX "%s (signal %d) in %s\n", name, sig, proc_name);
	kprintf(UNIK_CRASH_LINE_PREFIX "rip %lx rsp %lx\n", rip, rsp);
	backtrace(rsp, rbp);
	proc_exit_crash();
}

extern NORETURN void unik_kstack_call(struct trap_frame *kf, void (*fn)(struct trap_frame *));

static uint64_t app_cr2;

/* The application's page fault, in ring 3 on the thread's kernel stack (entry.S): mapping the
 * page in is ordinary kernel code, which PVM-style hypervisors would emulate, one instruction
 * at a time, in ring 0. */
static void app_page_fault(struct trap_frame *kf)
{
	if (mem_handle_fault(app_cr2))
		return;
	/* Not the kernel's fault from here: the signal's frame is written as for any other. */
	in_kernel_ring3 = 0;
	signal_fault(kf, app_cr2);
	trap_crash(kf, app_cr2);
}

void unik_trap(struct trap_frame *f)
{
	if (f->vector >= IRQ_FIRST) {
		irq_dispatch(f); /* the timer's may switch threads, and then returns elsewhere */
		signal_interrupt_exit(f);
		return;
	}
	uint64_t cr2 = 0;
	if (f->vector == 14) {
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		if ((f->cs & 3) == 3 && !in_syscall && !in_kernel_ring3) {
			app_cr2 = cr2;
			struct trap_frame *kf = (void *)(current->kstack_top - sizeof(*kf));
			*kf = *f;
			unik_kstack_call(kf, app_page_fault);
		}
		if (mem_handle_fault(cr2))
			return;
		/* A bad pointer passed to a system call fails the call, as on Linux. */
		if (in_syscall) {
			/* The call may have been served in ring 3 and faulted in ring 0 inside
			 * ring0(): resume in the ring the call runs in, interrupts off. */
			f->rip = (uint64_t)unik_syscall_efault;
			f->rsp = unik_syscall_sp;
			f->cs = syscall_ring ? 0x23 : 0x08;
			f->ss = syscall_ring ? 0x1b : 0x10;
			f->rflags = 0x002;
			in_syscall = 0;
			return;
		}
	}
	/* The application's own fault (not a system call's, and not the kernel's): its handler,
	 * if it has one for the signal, runs instead of the report. */
	if ((f->cs & 3) == 3 && !in_syscall && !in_kernel_ring3)
		signal_fault(f, cr2);
	trap_crash(f, cr2);
}

NORETURN void trap_crash(struct trap_frame *f, uint64_t cr2)
{
	const char *what = names[f->vector] ? names[f->vector] : "exception";
	kprintf(UNIK_CRASH_LINE_PREFIX "%s (vector %lu) in %s\n", what, f->vector, proc_name);
	if (f->vector == 14 && cr2 < user_stack_top() && cr2 >= user_stack_top() - (9UL << 20))
		kprintf(UNIK_CRASH_LINE_PREFIX "stack overflow: the 8 MiB stack is used up\n");
	if (f->vector == 14)
		kprintf(UNIK_CRASH_LINE_PREFIX "%s address %lx (%s, %s)\n",
		        cr2 < PAGE_SIZE ? "NULL pointer dereference at" : "faulting", cr2,
		        f->error & 2    ? "write"
		        : f->error & 16 ? "instruction fetch"
		                        : "read",
		        f->error & 1 ? "protection violation" : "not mapped");
	kprintf(UNIK_CRASH_LINE_PREFIX "rip %lx rsp %lx rbp %lx error %lx cs %lx rflags %lx\n",
	        f->rip, f->rsp, f->rbp, f->error, f->cs, f->rflags);
	backtrace(f->rsp, f->rbp);
	proc_exit_crash();
}
