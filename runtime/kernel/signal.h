/* Signals (signal.c): where the rest of the kernel hands a signal over, and the ways back to the
 * application that may enter a handler on the way. */
#ifndef UNIK_RT_SIGNAL_H
#define UNIK_RT_SIGNAL_H

#include "kernel/kernel.h"

/* The end of every system call (sys/syscall.c) with a signal ready for the current thread: act
 * on it and return to the application through the interrupt return, with result r in rax. */
NORETURN void signal_syscall_exit(struct syscall_frame *f, long r);

/* trap.c: a CPU exception in the application (not inside a system call).  Enters the handler
 * the program installed for the matching signal and does not return; returns when there is
 * none (or it is blocked or ignored), and the caller then reports the crash. */
void signal_fault(struct trap_frame *f, uint64_t cr2);

/* trap.c and entry.S: the application is about to run again after an interrupt (f on the
 * interrupt stack) or after being preempted (kf at the top of its kernel stack): a signal another
 * thread sent it meanwhile is acted on first. */
void signal_interrupt_exit(struct trap_frame *f);
void signal_resume(struct trap_frame *kf);

/* entry.S: leave the kernel through the interrupt return with the registers in kf, which lies
 * at the top of the current thread's kernel stack. */
NORETURN void unik_user_return(struct trap_frame *kf);

/* trap.c: the crash report for an exception nobody handles; status 255. */
NORETURN void trap_crash(struct trap_frame *f, uint64_t cr2);

#endif
