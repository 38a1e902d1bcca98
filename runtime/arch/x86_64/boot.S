/* Boot entries (PVH, multiboot v1 and v2) and the switch to long mode.  Every loader enters in
 * 32-bit protected mode with paging off; we map the first GiB, enable long mode and call kmain. */
#include <unik/abi.h>
#include "arch/x86_64/boot.h"

	.section .note.unik, "a"
	.balign 4
	/* Xen PVH entry point: QEMU, Xen, Firecracker and Cloud Hypervisor read this. */
	.long 4, 8, UNIK_XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.quad _unik_pvh_entry
	/* The unik ABI note: hosts recognise a unik kernel and its ABI version by it. */
	.long 5, 4, UNIK_NOTE_ABI
	.asciz "unik"
	.balign 4
	.long UNIK_ABI_VERSION

	/* Multiboot2 header (GRUB loads ELF64 kernels through it). */
	.section .unik.mb2hdr, "a"
	.balign 8
mb2_header:
	.long 0xe85250d6
	.long 0
	.long mb2_header_end - mb2_header
	.long 0x100000000 - 0xe85250d6 - (mb2_header_end - mb2_header)
	.short 0, 0
	.long 8
mb2_header_end:

	.section .unik.boot, "ax"
	.code32
	.globl _unik_pvh_entry, _unik_entry32
_unik_pvh_entry:
	mov $BOOT_MAGIC_PVH, %eax
_unik_entry32:
	cli
	cld
	/* RAM must reach past the kernel's end (.bss, the boot stack) before anything is written
	 * there: with too little, say how much there is and how much is needed, and end with
	 * status 255 rather than fault or hang.  Registers only: there is no stack yet. */
	mov %eax, %esi
	xor %edx, %edx			/* the end of the RAM range holding the kernel */
	cmp $BOOT_MAGIC_PVH, %eax
	jne 3f
	cmpl $1, 4(%ebx)		/* hvm_start_info version >= 1: memmap_paddr */
	jb 9f
	mov 48(%ebx), %ecx
	mov 40(%ebx), %edi
1:	test %ecx, %ecx
	jz 8f
	cmpl $1, 16(%edi)		/* E820 RAM */
	jne 2f
	cmpl $0, 4(%edi)
	jne 2f
	cmpl $UNIK_LOAD_ADDR, (%edi)
	ja 2f
	mov (%edi), %eax
	add 8(%edi), %eax
	jc 9f				/* reaches past 4 GiB: plenty */
	cmpl $0, 12(%edi)
	jne 9f
	cmp %edx, %eax
	jbe 2f
	mov %eax, %edx
2:	add $24, %edi
	dec %ecx
	jmp 1b
3:	cmp $BOOT_MAGIC_MB1, %eax
	jne 9f
	testb $1, (%ebx)		/* mem_upper valid */
	jz 9f
	mov 8(%ebx), %edx		/* KiB above 1 MiB */
	cmp $0x3fc00, %edx
	jae 9f
	shl $10, %edx
	add $UNIK_LOAD_ADDR, %edx
8:	cmp $__unik_image_end + UNIK_MIN_FREE_KB * 1024, %edx
	jb boot_too_little_memory
9:	mov %esi, %eax
	/* .bss is not cleared here: ELF loaders (PVH, multiboot2) zero-fill past the file size and
	 * multiboot v1 loaders zero up to bss_end_addr, as their specifications require.  Clearing
	 * it again costs tens of milliseconds where ring 0 is emulated. */
	mov %eax, boot_magic
	mov %ebx, boot_info
	mov $unik_boot_stack_top, %esp

	/* pml4[0] -> pdpt, pdpt[0] -> pd, whose 2 MiB pages map up to the kernel's end plus 64 MiB
	 * for what the loader placed after it; page.c maps the rest of RAM.  Page 0 stays mapped
	 * while the loader's tables are read; then boot_parse() maps the first 2 MiB in 4 KiB
	 * pages without it, so that a NULL dereference faults.  All user-accessible: the
	 * application runs in ring 3 over the same identity map.  Loops are kept short because
	 * some nested hypervisors emulate every ring-0 instruction. */
	mov $boot_pdpt + 7, %eax
	mov %eax, boot_pml4
	mov $boot_pd + 7, %eax
	mov %eax, boot_pdpt
	mov $__unik_image_end + (64 << 20) + 0x1fffff, %edx
	shr $21, %edx
	cmp $512, %edx
	jbe 1f
	mov $512, %edx
1:	xor %ecx, %ecx
	mov $0x87, %eax
2:	mov %eax, boot_pd(,%ecx,8)
	add $(1 << 21), %eax
	inc %ecx
	cmp %edx, %ecx
	jb 2b

	lgdt boot_gdt_ptr
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx		/* EFER */
	rdmsr
	or $0x101, %eax			/* LME | SCE */
	wrmsr
	mov %cr0, %eax
	and $0x9fffffff, %eax		/* caches on */
	or $0x80010001, %eax		/* PG | WP | PE */
	mov %eax, %cr0
	ljmp $0x08, $long_mode

/* edx = the end of RAM: "unik: out of memory: ..." and "unik: exit status 255" on COM1, then
 * isa-debug-exit, ACPI soft-off and a triple fault, as proc_exit does.  No stack: subroutines
 * return through ebp, and every register is free here. */
.macro BOOT_PUTC	/* the byte in bl; clobbers eax, edx */
91:	mov $0x3fd, %dx
	inb %dx, %al
	test $0x20, %al
	jz 91b
	mov %bl, %al
	mov $0x3f8, %dx
	outb %al, %dx
.endm
boot_too_little_memory:
	mov %edx, %esi
	shr $10, %esi
	mov $boot_msg_got, %edi
	mov $1f, %ebp
	jmp boot_puts
1:	mov $1f, %ebp
	jmp boot_putdec
1:	mov $boot_msg_need, %edi
	mov $1f, %ebp
	jmp boot_puts
1:	mov $__unik_image_end + UNIK_MIN_FREE_KB * 1024, %esi
	shr $10, %esi
	mov $1f, %ebp
	jmp boot_putdec
1:	mov $boot_msg_end, %edi
	mov $1f, %ebp
	jmp boot_puts
1:	mov $UNIK_EXIT_CRASH, %al
	outb %al, $UNIK_DEBUG_EXIT_PORT
	mov $0x2000, %ax
	mov $0x604, %dx
	outw %ax, %dx
	lidt boot_null_idt
	int3

/* The NUL-terminated string at edi to COM1. */
boot_puts:
	movzbl (%edi), %ebx
	test %ebx, %ebx
	jz 2f
	BOOT_PUTC
	inc %edi
	jmp boot_puts
2:	jmp *%ebp

/* esi in decimal to COM1. */
boot_putdec:
	mov $boot_pow10, %edi
	xor %ecx, %ecx			/* nonzero once a digit was */
1:	mov %esi, %eax
	xor %edx, %edx
	divl (%edi)
	mov %edx, %esi
	or %eax, %ecx
	cmpl $1, (%edi)
	je 2f				/* the last digit is always written */
	test %ecx, %ecx
	jz 3f
2:	lea '0'(%eax), %ebx
	BOOT_PUTC
3:	cmpl $1, (%edi)
	je 4f
	add $4, %edi
	jmp 1b
4:	jmp *%ebp

	.balign 4
boot_pow10:
	.long 1000000000, 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1
boot_null_idt:
	.word 0
	.long 0
boot_msg_got:
	.asciz "unik: out of memory: the guest has "
boot_msg_need:
	.asciz " KiB of RAM, the kernel needs at least "
boot_msg_end:
	.ascii " KiB (give it more memory)\n"
	.asciz "unik: exit status 255\n"

	.code64
long_mode:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	lea unik_boot_stack_top(%rip), %rsp
	xor %ebp, %ebp
	mov boot_magic(%rip), %edi
	mov boot_info(%rip), %esi
	call kmain
3:	cli
	hlt
	jmp 3b

	.section .rodata
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00209a0000000000	/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .bss
	.balign 4096
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
	.globl boot_pt
boot_pt:	.skip 4096
	/* The boot stack becomes the kernel stack system calls run on. */
	.globl unik_boot_stack_top
	.balign 16
	.skip KSTACK_SIZE
unik_boot_stack_top:
	.balign 4
boot_magic:	.skip 4
boot_info:	.skip 4
	.globl boot_pml4, boot_pd

	.section .note.GNU-stack, "", @progbits
