/* Loading a static non-PIE x86-64 ELF into this process, as Linux's execve would for a static
 * executable: its PT_LOAD segments at their addresses, and a stack with argc, argv, envp and the
 * auxiliary vector musl's start-up reads. */
#ifndef UNIK_SPT_LOAD_H
#define UNIK_SPT_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct spt_elf {
	uint64_t entry;
	uint64_t phdr; /* where the program headers are once loaded (AT_PHDR) */
	unsigned phnum;
	const unsigned char *file;
	size_t size;
};

/* Checks the headers of the file in buf (len bytes): an ELF64 x86-64 ET_EXEC whose program
 * headers and PT_LOAD segments lie inside the file and below the user address limit, do not
 * overlap, and whose entry point is in an executable segment.  Fails with UNIK_E_INVALID
 * naming `name`. */
int spt_elf_check(const void *buf, size_t len, const char *name, struct spt_elf *out,
                  struct unik_error *err);

/* Maps the segments of a checked ELF at their addresses (MAP_FIXED_NOREPLACE), with their
 * permissions. */
int spt_elf_map(const struct spt_elf *e, struct unik_error *err);

/* Maps a stack of stack_size bytes and lays out argv, envp and the auxiliary vector on it;
 * returns the initial stack pointer, or 0 with err set. */
uintptr_t spt_stack_build(const struct spt_elf *e, size_t stack_size, char *const *argv,
                          char *const *envp, struct unik_error *err);

#endif
