/* The multiboot v1 header, linked only into the multiboot variant (unik-cc --unik-multiboot):
 * QEMU's -kernel prefers multiboot over PVH, so the default image must not carry it.  The
 * address fields (flag bit 16) let loaders load an ELF64 file as a flat image. */
	.section .unik.mb1hdr, "a"
	.balign 4
mb1_header:
	.long 0x1badb002
	.long 0x00010003
	.long 0x100000000 - 0x1badb002 - 0x00010003
	.long mb1_header
	.long __unik_image_start
	.long __unik_load_end
	.long __unik_bss_end
	.long _unik_entry32

	.section .note.GNU-stack, "", @progbits
