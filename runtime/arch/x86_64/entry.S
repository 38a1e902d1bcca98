/* The ways into the kernel: the syscall instruction, the CPU's exception and interrupt vectors
 * (all on IST stacks, see cpu.c), and ring0() for privileged work from kernel code that runs in
 * ring 3. */
#include "arch/x86_64/boot.h"

	.text
	.code64

	/* iretq, from ring 0 directly, from ring 3 through the iret door (below): there, kernel
	 * code returning to the application (PVM) needs the frame's IF to take effect. */
	.macro IRETQ_ANY_RING
	push %rax
	mov %cs, %eax
	test $3, %al
	pop %rax
	jnz unik_iret_door
	iretq
	.endm

	/* From ring 0, continue in ring 3 on the same stack, interrupts off (rax is lost): kernel
	 * code that an interrupt or exception handler goes on to run (scheduling, signal
	 * delivery) runs in ring 3, as the rest of the kernel does, since PVM-style hypervisors
	 * cannot emulate all of it in ring 0 (xsave, for one). */
	.macro DROP_TO_RING3
	mov %rsp, %rax
	push $0x1b
	push %rax
	push $0x002
	push $0x23
	lea 9f(%rip), %rax
	push %rax
	iretq
9:
	.endm

	/* syscall: rax = number, rdi rsi rdx r10 r8 r9 = arguments, rcx = return address,
	 * r11 = saved rflags; FMASK has cleared IF.  The registers are saved as a struct
	 * syscall_frame (kernel.h), and the callee-saved ones under it, which is where signal.c
	 * reads them when it enters a handler (through unik_user_return instead of back here).
	 * Everything but rax, rcx and r11 is preserved, as on Linux.
	 *
	 * On hardware, syscall lands here in ring 0.  PVM-style nested hypervisors land here still
	 * in ring 3, where they would emulate every ring-0 instruction anyway: the handler then
	 * simply runs in ring 3, natively, and reaches ring 0 through ring0() only for the
	 * privileged steps (port I/O, halting, MSRs). */
	.globl unik_syscall_entry, unik_syscall_efault
unik_syscall_entry:
	/* PVM-style hypervisors ignore FMASK: the call comes in ring 3 with interrupts still on,
	 * and the cli door (below) turns them off.  Until then nothing of the kernel's is touched,
	 * so an interrupt here is one in the application, which may be preempted or take a signal
	 * and come back here.  r11 (the application's rflags) is lost to the test: the return
	 * gives the application 0x202, status flags clear. */
	mov %cs, %r11d
	test $3, %r11b
	jz 1f
	.globl unik_cli_door
unik_cli_door:
	ud2
1:	mov $0x202, %r11d
	mov %rsp, unik_user_rsp(%rip)
	mov unik_kstack_top(%rip), %rsp		/* the current thread's kernel stack (sched.c) */
	push %rcx
	push %r11
	push %r9
	push %r8
	push %r10
	push %rdx
	push %rsi
	push %rdi
	push %rax
	mov %rsp, %rdi
	/* Callee-saved registers too: a fault on a bad user pointer abandons the C frames that
	 * would have restored them (unik_syscall_efault). */
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %cs, %eax
	and $3, %eax
	mov %eax, syscall_ring(%rip)
	sub $8, %rsp
	mov %rsp, unik_syscall_sp(%rip)
	movl $1, in_syscall(%rip)
	call unik_syscall
syscall_return:
	movl $0, in_syscall(%rip)
	movl $0, in_kernel_ring3(%rip)
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	add $8, %rsp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %r10
	pop %r8
	pop %r9
	pop %r11
	pop %rcx
	/* Back to the application by an interrupt return rather than sysretq, which PVM-style
	 * hypervisors refuse.  Interrupts are on in the application (r11 = its rflags, as Linux
	 * leaves it, with IF set): the start-up code reaches ring 3 with them off, since ring 3
	 * cannot turn them on itself, and the scheduler's timer must be able to preempt threads.
	 * The call may have been served in ring 3 (PVM), or have been switched out in one ring and
	 * back in in the other (unik_preempt): IRETQ_ANY_RING works from either. */
	or $0x200, %r11
	push $0x1b
	push unik_user_rsp(%rip)
	push %r11
	push $0x23
	push %rcx
	IRETQ_ANY_RING

	/* A fault inside a system call on a bad user pointer resumes here (trap.c). */
unik_syscall_efault:
	mov $-EFAULT_NUM, %rax
	jmp syscall_return

	/* uint64_t unik_ring0_call(fn, a, b, c): from ring 3, run fn(a, b, c) in ring 0.  The
	 * invalid opcode at a known address is the door (vector 6, its own IST stack): PVM-style
	 * hypervisors deliver exceptions to the guest's IDT but neither software interrupts nor a
	 * privilege change for syscall. */
	.globl unik_ring0_call
unik_ring0_call:
unik_ring0_ud2:
	ud2
	ret

	/* The iret door: from ring 3, with rsp at an interrupt-return frame (rip, cs, rflags, rsp,
	 * ss), make that interrupt return from ring 0.  Only an iretq in ring 0 can set IF, so
	 * kernel code running in ring 3 (PVM) returns to the application this way, every register
	 * as it is here. */
	.globl unik_iret_door
unik_iret_door:
	ud2

	.globl unik_ud_entry
unik_ud_entry:
	cmpq $unik_iret_door, (%rsp)
	jne 2f
	mov 24(%rsp), %rsp
	iretq
	/* The cli door: continue after the ud2 with interrupts off (unik_syscall_entry). */
2:	cmpq $unik_cli_door, (%rsp)
	jne 2f
	andq $~0x200, 16(%rsp)
	addq $2, (%rsp)
	iretq
2:	cmpq $unik_ring0_ud2, (%rsp)
	jne 1f
	mov %rdi, %rax
	mov %rsi, %rdi
	mov %rdx, %rsi
	mov %rcx, %rdx
	sub $8, %rsp
	call *%rax
	add $8, %rsp
	addq $2, (%rsp)
	iretq
1:	push $0
	push $6
	jmp trap_common

	/* Enter the application in ring 3: rdi = entry point, rsi = initial stack pointer. */
	.globl unik_enter_user
unik_enter_user:
	movl $0, in_kernel_ring3(%rip)
	push $0x1b
	push %rsi
	push $0x202
	push $0x23
	push %rdi
	xor %ebp, %ebp
	xor %eax, %eax
	xor %ebx, %ebx
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
	xor %edi, %edi
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r11d, %r11d
	xor %r12d, %r12d
	xor %r13d, %r13d
	xor %r14d, %r14d
	xor %r15d, %r15d
	IRETQ_ANY_RING

	/* Exception and interrupt vectors: 16-byte stubs; each pushes a zero error code where the
	 * CPU does not, then its vector number. */
	.balign 16
	.globl unik_vectors
unik_vectors:
	.set i, 0
	.rept 256
	.balign 16
	.if (i == 8) || (i >= 10 && i <= 14) || (i == 17) || (i == 21) || (i == 29) || (i == 30)
	.else
	push $0
	.endif
	push $i
	jmp trap_common
	.set i, i + 1
	.endr

trap_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	cld
	call unik_trap
trap_return:
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	/* In ring 3 (PVM, kernel code returning to the application), through the iret door, so
	 * that the frame's IF takes effect. */
	IRETQ_ANY_RING

	/* void unik_user_return(struct trap_frame *kf): leave a system call through the interrupt
	 * return, every register taken from kf at the top of the kernel stack, since the return
	 * above gives back only some: how signal handlers are entered and left (signal.c). */
	.globl unik_user_return
unik_user_return:
	movl $0, in_syscall(%rip)
	movl $0, in_kernel_ring3(%rip)
	mov %rdi, %rsp
	jmp trap_return

	/* void unik_kstack_call(struct trap_frame *kf, void (*fn)(struct trap_frame *)): from an
	 * interrupt stack, continue on the thread's kernel stack, where kf (at its top) is a copy
	 * of the interrupt's frame: run fn(kf), then return to the application from kf.  A fault
	 * inside fn then does not reuse, and overwrite, the stack it came in on. */
	.globl unik_kstack_call
unik_kstack_call:
	mov %rdi, %rsp
	DROP_TO_RING3
	movl $1, in_kernel_ring3(%rip)
	call *%rsi
	movl $0, in_kernel_ring3(%rip)
	jmp trap_return

	/* void unik_switch(uint64_t *save_ksp, uint64_t ksp): save the callee-saved registers and
	 * the stack pointer of the running thread, and continue on another thread's kernel stack
	 * where its own unik_switch left off (or where thread_clone's frame says). */
	.globl unik_switch
unik_switch:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, (%rdi)
	mov %rsi, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

	/* A new thread's first instructions, on a copy of its parent's system-call frame: return
	 * 0 from the clone that made it. */
	.globl unik_thread_start
unik_thread_start:
	call sched_thread_started
	xor %eax, %eax
	jmp syscall_return

	/* void unik_preempt(struct trap_frame *kf): the timer interrupted the application; kf is
	 * the interrupt's frame, copied to the top of the thread's own kernel stack.  Continue
	 * there, let the scheduler run the others, and return from kf when this thread's turn
	 * comes again, entering a signal handler first if a signal came meanwhile. */
	.globl unik_preempt
unik_preempt:
	mov %rdi, %rsp
	DROP_TO_RING3
	movl $1, in_kernel_ring3(%rip)
	call sched_preempted
	mov %rsp, %rdi
	call signal_resume
	movl $0, in_kernel_ring3(%rip)
	jmp trap_return

	.section .data
	.balign 8
	.globl unik_kstack_top
unik_kstack_top:	.quad unik_boot_stack_top
	.globl unik_user_rsp, unik_syscall_sp, in_syscall, in_kernel_ring3
unik_user_rsp:	.quad 0
unik_syscall_sp:	.quad 0
in_syscall:	.long 0
	/* Kernel code in ring 3 outside a system call (start-up, unik_kstack_call, unik_preempt):
	 * its faults are the kernel's, not the application's (trap.c). */
in_kernel_ring3:	.long 0
	.globl syscall_ring
syscall_ring:	.long 0

	.section .note.GNU-stack, "", @progbits
