/* Boot entries (PVH, multiboot v1 and v2) and the switch to long mode.  Every loader enters in
 * 32-bit protected mode with paging off; we map the first GiB, enable long mode and call kmain. */
#include <unik/abi.h>
#include "boot.h"

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
	/* .bss is not cleared here: ELF loaders (PVH, multiboot2) zero-fill past the file size and
	 * multiboot v1 loaders zero up to bss_end_addr, as their specifications require.  Clearing
	 * it again costs tens of milliseconds where ring 0 is emulated. */
	mov %eax, boot_magic
	mov %ebx, boot_info
	mov $unik_boot_stack_top, %esp

	/* pml4[0] -> pdpt, pdpt[0] -> pd, pd[0] -> boot_pt (4 KiB pages, prebuilt, page 0 left
	 * unmapped so a NULL dereference faults).  pd[1..] map 2 MiB pages up to the kernel's end
	 * plus 64 MiB for what the loader placed after it; mem.c maps the rest of RAM.  All
	 * user-accessible: the application runs in ring 3 over the same identity map.  Loops are
	 * kept short because some nested hypervisors emulate every ring-0 instruction. */
	mov $boot_pdpt + 7, %eax
	mov %eax, boot_pml4
	mov $boot_pd + 7, %eax
	mov %eax, boot_pdpt
	mov $boot_pt + 7, %eax
	mov %eax, boot_pd
	mov $__unik_image_end + (64 << 20) + 0x1fffff, %edx
	shr $21, %edx
	cmp $512, %edx
	jbe 1f
	mov $512, %edx
1:	mov $1, %ecx
	mov $(1 << 21) | 0x87, %eax
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

	/* The first 2 MiB in 4 KiB pages, prebuilt: filling it at boot would cost more time than
	 * its 4 KiB of file.  A section of its own, placed after .data (unik.ld), so that its
	 * alignment pads the file only once. */
	.section .unik.pt, "aw"
	.balign 4096
	.globl boot_pt
boot_pt:
	.quad 0
	.set pg, 1
	.rept 511
	.quad (pg << 12) | 7
	.set pg, pg + 1
	.endr

	.section .bss
	.balign 4096
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
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
