/* The floor for boot benchmarks: the least a kernel can do under QEMU's -kernel.  A 32-bit
 * multiboot v1 stub that prints "floor" on COM1 and exits through isa-debug-exit with 0. */

	.set MB_MAGIC, 0x1badb002
	/* Bit 16: the header carries its own load addresses, so QEMU needs no ELF parsing. */
	.set MB_FLAGS, 0x00010000
	.set COM1, 0x3f8
	.set DEBUG_EXIT, 0xf4

	.section .text
	.code32
	.globl _start

	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header		/* header_addr */
	.long mb_header		/* load_addr: the file is loaded from the header on */
	.long image_end		/* load_end_addr */
	.long image_end		/* bss_end_addr: no .bss */
	.long _start		/* entry_addr */

_start:
	cli
	mov $msg, %esi
1:	movzbl (%esi), %eax
	test %al, %al
	jz 3f
	mov $COM1 + 5, %dx	/* line status: wait for an empty transmit holding register */
2:	inb %dx, %al
	test $0x20, %al
	jz 2b
	movzbl (%esi), %eax
	mov $COM1, %dx
	outb %al, %dx
	inc %esi
	jmp 1b
3:	xor %eax, %eax
	mov $DEBUG_EXIT, %dx
	outl %eax, %dx
4:	hlt
	jmp 4b

	/* In .text, so that one contiguous range of the file holds everything QEMU must load. */
msg:	.asciz "floor\n"
image_end:
