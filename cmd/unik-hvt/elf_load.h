/* unik-hvt's loader of a kernel ELF into guest memory: every header and segment is checked
 * against the file's and the memory's bounds before a byte is copied. */
#ifndef UNIK_HVT_ELF_LOAD_H
#define UNIK_HVT_ELF_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct hvt_elf_image {
	uint64_t entry;      /* e_entry, inside an executable loaded segment */
	uint64_t load_start; /* the lowest loaded address */
	uint64_t load_end;   /* the end of the highest segment in memory (.bss included) */
};

/* Loads the PT_LOAD segments of the x86-64 ELF64 executable in file[0..len) into
 * mem[0..mem_size), each at its physical address (p_paddr), zeroing what lies past its file
 * size.  Fails with UNIK_E_INVALID, naming `name`, when the file is not one or when a header or
 * a segment lies outside the file, a segment outside [min_addr, mem_size), or the entry outside
 * every executable segment; mem is then left untouched. */
int hvt_elf_load(const void *file, size_t len, const char *name, uint8_t *mem, uint64_t mem_size,
                 uint64_t min_addr, struct hvt_elf_image *out, struct unik_error *err);

#endif
