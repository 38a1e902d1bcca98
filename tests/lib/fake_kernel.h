/* A small unik kernel ELF made in memory, for unit tests of the code that checks one
 * (lib/guest_elf.c) and of the code that asks it (core/vm.c gives devices only to guest ABI v2
 * and later).  It never boots: a PT_LOAD segment of zeros, the notes, optionally a multiboot2
 * header. */
#ifndef UNIK_TESTS_FAKE_KERNEL_H
#define UNIK_TESTS_FAKE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the fake kernel deviates from a sound one; all zero is a sound kernel of the host's ABI. */
struct fake_kernel_shape {
	uint32_t abi;     /* the unik note's version; 0: UNIK_ABI_VERSION; UINT32_MAX: no note */
	bool no_pvh;      /* leave the PVH note out */
	uint8_t class;    /* EI_CLASS; 0: ELFCLASS64 */
	uint16_t machine; /* e_machine; 0: EM_X86_64 */
	uint64_t paddr;   /* where the PT_LOAD segment loads; 0: UNIK_LOAD_ADDR */
	bool mb2;         /* a multiboot2 header at the start of the segment */
};

/* Where the segment starts in the file, and its size. */
#define FAKE_KERNEL_SEG_OFF  0x200
#define FAKE_KERNEL_SEG_SIZE 0x100
#define FAKE_KERNEL_SIZE     (FAKE_KERNEL_SEG_OFF + FAKE_KERNEL_SEG_SIZE)

/* Writes the kernel into buf (at least FAKE_KERNEL_SIZE bytes); returns its length. */
size_t fake_kernel_make(uint8_t *buf, const struct fake_kernel_shape *s);
/* Writes it to path; 0, or -1 with errno. */
int fake_kernel_write(const char *path, const struct fake_kernel_shape *s);

#endif
