/* The host's side of include/unik/hvt.h, the ABI between unik-hvt and its guests: the header
 * itself, the device kinds of a kernel's declaration (lib/guest_elf.h, UNIK_DEV_NET and
 * UNIK_DEV_BLK of include/unik/devices.h) in the boot information's terms, and the loader of a
 * kernel into guest memory. */
#ifndef UNIK_LIB_HVT_H
#define UNIK_LIB_HVT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#include "unik/devices.h"
#include "unik/hvt.h"

/* UNIK_HVT_DEV_NET or UNIK_HVT_DEV_BLK for a declared device's kind; 0 for any other. */
static inline uint32_t unik_hvt_dev_kind(unsigned dev_kind)
{
	return dev_kind == UNIK_DEV_NET   ? UNIK_HVT_DEV_NET
	       : dev_kind == UNIK_DEV_BLK ? UNIK_HVT_DEV_BLK
	                                  : 0;
}

struct unik_hvt_image {
	uint64_t entry;      /* e_entry, inside an executable loaded segment */
	uint64_t load_start; /* the lowest loaded address */
	uint64_t load_end;   /* the end of the highest segment in memory (.bss included) */
};

/* unik-hvt's loader of a kernel ELF into guest memory (lib/hvt_elf.c): every header and segment
 * is checked against the file's and the memory's bounds before a byte is copied.
 *
 * Loads the PT_LOAD segments of the x86-64 ELF64 executable in file[0..len) into
 * mem[0..mem_size), each at its physical address (p_paddr), zeroing what lies past its file
 * size.  Fails with UNIK_E_INVALID, naming `name`, when the file is not one or when a header or
 * a segment lies outside the file, a segment outside [min_addr, mem_size), or the entry outside
 * every executable segment; mem is then left untouched. */
int unik_hvt_elf_load(const void *file, size_t len, const char *name, uint8_t *mem,
                      uint64_t mem_size, uint64_t min_addr, struct unik_hvt_image *out,
                      struct unik_error *err);

#endif
