/* unik-hvt's ELF loader (lib/hvt.h): checks everything first, then copies. */
#include "lib/hvt.h"

#include <elf.h>
#include <string.h>

#define MAX_PHDRS 64

/* a + b <= limit, without overflow. */
static int fits(uint64_t a, uint64_t b, uint64_t limit)
{
	return a <= limit && b <= limit - a;
}

int unik_hvt_elf_load(const void *file, size_t len, const char *name, uint8_t *mem,
                      uint64_t mem_size, uint64_t min_addr, struct unik_hvt_image *out,
                      struct unik_error *err)
{
	const uint8_t *f = file;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHDRS];
	struct unik_hvt_image img = {0, UINT64_MAX, 0};
	int entry_ok = 0, nload = 0;

	if (len < sizeof(eh)) {
		unik_error_set(err, UNIK_E_INVALID, "`%s`: not an ELF file (%zu bytes)", name, len);
		return -1;
	}
	memcpy(&eh, f, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		unik_error_set(err, UNIK_E_INVALID, "`%s`: not an ELF file", name);
		return -1;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
		unik_error_set(err, UNIK_E_INVALID,
		               "`%s`: not an x86-64 ELF64 executable (build it with unik-cc "
		               "--unik-target hvt)",
		               name);
		return -1;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS) {
		unik_error_set(err, UNIK_E_INVALID,
		               "`%s`: bad program headers (%u of %u bytes; 1 to %d of %zu wanted)",
		               name, eh.e_phnum, eh.e_phentsize, MAX_PHDRS, sizeof(Elf64_Phdr));
		return -1;
	}
	if (!fits(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "`%s`: truncated: the program headers lie outside the file", name);
		return -1;
	}
	memcpy(ph, f + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz) {
			unik_error_set(err, UNIK_E_INVALID,
			               "`%s`: segment %u has more bytes in the file (%llu) than in "
			               "memory (%llu)",
			               name, i, (unsigned long long)p->p_filesz,
			               (unsigned long long)p->p_memsz);
			return -1;
		}
		if (!fits(p->p_offset, p->p_filesz, len)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "`%s`: truncated: segment %u lies outside the file", name,
			               i);
			return -1;
		}
		if (p->p_paddr < min_addr || !fits(p->p_paddr, p->p_memsz, mem_size)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "`%s`: segment %u (0x%llx, %llu bytes) lies outside guest "
			               "memory 0x%llx..0x%llx (give more with --mem)",
			               name, i, (unsigned long long)p->p_paddr,
			               (unsigned long long)p->p_memsz, (unsigned long long)min_addr,
			               (unsigned long long)mem_size);
			return -1;
		}
		if ((p->p_flags & PF_X) && eh.e_entry >= p->p_paddr &&
		    eh.e_entry - p->p_paddr < p->p_memsz)
			entry_ok = 1;
		if (p->p_paddr < img.load_start)
			img.load_start = p->p_paddr;
		if (p->p_paddr + p->p_memsz > img.load_end)
			img.load_end = p->p_paddr + p->p_memsz;
		nload++;
	}
	if (!nload) {
		unik_error_set(err, UNIK_E_INVALID, "`%s`: no loadable segment", name);
		return -1;
	}
	if (!entry_ok) {
		unik_error_set(err, UNIK_E_INVALID,
		               "`%s`: the entry point 0x%llx is in no executable segment", name,
		               (unsigned long long)eh.e_entry);
		return -1;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		memcpy(mem + p->p_paddr, f + p->p_offset, p->p_filesz);
		memset(mem + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	img.entry = eh.e_entry;
	*out = img;
	return 0;
}
