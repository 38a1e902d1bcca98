/* The hvt target's entry, system-call entry and exception stubs (runtime/hvt/hvt.c says more).
 * unik-hvt enters _unik_hvt_start in 64-bit mode, ring 0, interrupts off, with rdi = the boot
 * information and rsp at the top of guest memory. */

#define UCODE 0x1b /* UNIK_HVT_GDT_UCODE, include/unik/hvt.h */
#define UDATA 0x23 /* UNIK_HVT_GDT_UDATA */

/* The note that marks an hvt kernel (UNIK_NOTE_HVT, include/unik/abi.h): name "unik", type 4,
 * descriptor UNIK_HVT_VERSION (1). */
	.section .note.unik, "a"
	.balign 4
	.long 5, 4, 4
	.asciz "unik"
	.balign 4
	.long 1
	.balign 4

	.section .text.hvt,"ax",@progbits
	.code64

	.globl _unik_hvt_start
_unik_hvt_start:
	and $-16, %rsp
	xor %ebp, %ebp
	call hvt_main
	ud2

/* hvt_enter(sp, entry): musl's _start in ring 3 with the initial stack (argc, argv, envp,
 * auxv) at sp, interrupts on (there are none: the VM has no interrupt controller). */
	.globl hvt_enter
hvt_enter:
	push $UDATA
	push %rdi
	push $0x202
	push $UCODE
	push %rsi
	xor %ebp, %ebp
	iretq

/* hvt_hypercall(port, arg): `outl %eax, %dx` needs ring 0.  Called from ring 3 (a system call
 * that PVM-style hypervisors deliver without a privilege change), it goes through the door: the
 * invalid opcode at hvt_door raises #UD, whose ring-0 handler does the out and resumes after
 * it.  rax, rdx clobbered. */
	.globl hvt_hypercall
hvt_hypercall:
	mov %cs, %eax
	test $3, %eax
	jnz hvt_door
	mov %edi, %edx
	mov %esi, %eax
	outl %eax, %dx
	ret
hvt_door:
	ud2
	ret

/* The `syscall` instruction (LSTAR): rcx holds the return address and r11 the flags.  On
 * hardware it lands here in ring 0, on PVM-style hypervisors in ring 3; either way on the
 * application's stack, whose red zone is stepped over first.  Linux's convention: rax the
 * number, rdi rsi rdx r10 r8 r9 the arguments, rax the result, only rcx and r11 clobbered.
 * hvt_syscall(a0, a1, a2, a3, a4, nr, a5).  Back to ring 3 by iretq from ring 0, by a jump
 * from ring 3. */
	.globl hvt_syscall_entry
hvt_syscall_entry:
	mov %rsp, hvt_user_rsp(%rip)
	sub $128, %rsp
	push %r11
	push %rcx
	push %rbp
	mov %rsp, %rbp
	push %rdi
	push %rsi
	push %rdx
	push %r8
	push %r9
	push %r10
	and $-16, %rsp
	sub $8, %rsp
	push %r9
	mov %r10, %rcx
	mov %rax, %r9
	call hvt_syscall
	lea -48(%rbp), %rsp
	mov %cs, %edx
	and $3, %edx
	mov %edx, hvt_ring(%rip)
	pop %r10
	pop %r9
	pop %r8
	pop %rdx
	pop %rsi
	pop %rdi
	pop %rbp
	pop %rcx
	pop %r11
	cmpl $0, hvt_ring(%rip)
	jne 1f
	or $0x200, %r11
	push $UDATA
	push hvt_user_rsp(%rip)
	push %r11
	push $UCODE
	push %rcx
	iretq
1:	push %r11
	popfq
	mov hvt_user_rsp(%rip), %rsp
	jmp *%rcx

/* CPU exceptions: each stub pushes an error code where the CPU pushes none, then its vector;
 * hvt_fault reports them to the monitor, which ends the VM. */
	.macro trap n, err
trap\n:
	.if \err == 0
	push $0
	.endif
	push $\n
	jmp hvt_trap_common
	.endm

	trap 0,0
	trap 1,0
	trap 2,0
	trap 3,0
	trap 4,0
	trap 5,0
	trap 7,0
	trap 8,1
	trap 9,0
	trap 10,1
	trap 11,1
	trap 12,1
	trap 13,1
	trap 14,1
	trap 15,0
	trap 16,0
	trap 17,1
	trap 18,0
	trap 19,0
	trap 20,0
	trap 21,1

/* #UD: the hypercall door (hvt_hypercall) resumes after its ud2; any other is a fault. */
trap6:
	cmpq $hvt_door, (%rsp)
	jne 1f
	mov %edi, %edx
	mov %esi, %eax
	outl %eax, %dx
	addq $2, (%rsp)
	iretq
1:	push $0
	push $6
	jmp hvt_trap_common

hvt_trap_common:
	mov %rsp, %rdi
	and $-16, %rsp
	call hvt_fault
	ud2

	.section .bss.hvt,"aw",@nobits
	.balign 8
hvt_user_rsp:
	.skip 8
hvt_ring:
	.skip 8

	.section .rodata.hvt,"a",@progbits
	.balign 8
	.globl hvt_traps
hvt_traps:
	.quad trap0, trap1, trap2, trap3, trap4, trap5, trap6, trap7, trap8, trap9, trap10
	.quad trap11, trap12, trap13, trap14, trap15, trap16, trap17, trap18, trap19, trap20
	.quad trap21

	.section .note.GNU-stack,"",@progbits
