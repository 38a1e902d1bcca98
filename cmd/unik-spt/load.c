/* unik-spt's ELF loader (load.h).  It trusts nothing in the file: every offset and size is
 * checked against the file and the address space before it is used. */
#include "cmd/unik-spt/load.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define PAGE       4096ull
#define USER_LIMIT 0x00007ffffffff000ull /* the top of x86-64 Linux's user address space */

static int bad(struct unik_error *err, const char *name, const char *what)
{
	unik_error_set(err, UNIK_E_INVALID, "%s: %s", name, what);
	return -1;
}

static const Elf64_Phdr *phdrs(const struct spt_elf *e)
{
	const Elf64_Ehdr *eh = (const void *)e->file;

	return (const void *)(e->file + eh->e_phoff);
}

int spt_elf_check(const void *buf, size_t len, const char *name, struct spt_elf *out,
                  struct unik_error *err)
{
	const unsigned char *file = buf;
	const Elf64_Ehdr *eh = buf;
	const Elf64_Phdr *ph;
	bool entry_ok = false, phdr_found = false;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(Elf64_Ehdr) || memcmp(file, ELFMAG, SELFMAG))
		return bad(err, name, "not an ELF file");
	if (file[EI_CLASS] != ELFCLASS64 || file[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return bad(err, name, "not an x86-64 ELF64 file");
	if (eh->e_type != ET_EXEC)
		return bad(err, name,
		           "not a static non-PIE executable (ET_EXEC): build it with unik-cc "
		           "--unik-target unix");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64 ||
	    eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff ||
	    eh->e_phoff % 8)
		return bad(err, name, "truncated or malformed program headers");
	ph = (const void *)(file + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type == PT_INTERP || p->p_type == PT_DYNAMIC)
			return bad(err, name,
			           "a dynamically linked program: unik-spt runs only static "
			           "executables (unik-cc --unik-target unix)");
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_offset > len || p->p_filesz > len - p->p_offset)
			return bad(err, name, "truncated: a loaded segment lies outside the file");
		if (p->p_filesz > p->p_memsz || p->p_vaddr < 0x10000 || p->p_vaddr >= USER_LIMIT ||
		    p->p_memsz > USER_LIMIT - p->p_vaddr || p->p_vaddr % PAGE != p->p_offset % PAGE)
			return bad(err, name, "a loaded segment has a bad address or size");
		for (unsigned j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];

			if (q->p_type == PT_LOAD && p->p_vaddr < q->p_vaddr + q->p_memsz &&
			    q->p_vaddr < p->p_vaddr + p->p_memsz)
				return bad(err, name, "loaded segments overlap");
		}
		if ((p->p_flags & PF_X) && eh->e_entry >= p->p_vaddr &&
		    eh->e_entry - p->p_vaddr < p->p_filesz)
			entry_ok = true;
		if (eh->e_phoff >= p->p_offset &&
		    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <=
		        p->p_offset + p->p_filesz) {
			out->phdr = p->p_vaddr + (eh->e_phoff - p->p_offset);
			phdr_found = true;
		}
	}
	if (!entry_ok)
		return bad(err, name, "the entry point is not in an executable segment");
	if (!phdr_found)
		return bad(err, name, "the program headers are not in a loaded segment");
	out->entry = eh->e_entry;
	out->phnum = eh->e_phnum;
	out->file = file;
	out->size = len;
	return 0;
}

int spt_elf_map(const struct spt_elf *e, struct unik_error *err)
{
	const Elf64_Ehdr *eh = (const void *)e->file;
	const Elf64_Phdr *ph = phdrs(e);

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint64_t start, end;
		int prot = 0;
		void *m;

		if (p->p_type != PT_LOAD || !p->p_memsz)
			continue;
		start = p->p_vaddr & ~(PAGE - 1);
		end = (p->p_vaddr + p->p_memsz + PAGE - 1) & ~(PAGE - 1);
		/* Segments may share a page at their ends (the linker's default layout): the
		 * second maps what the first did not. */
		m = mmap((void *)start, end - start, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED && errno == EEXIST) {
			uint64_t next = start + PAGE;

			if (next < end) {
				m = mmap((void *)next, end - next, PROT_READ | PROT_WRITE,
				         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
				if (m != MAP_FAILED)
					m = (void *)start;
			}
			if (next >= end || m == MAP_FAILED) {
				if (mprotect((void *)start, PAGE, PROT_READ | PROT_WRITE) < 0) {
					unik_error_sys(err, errno, "map segment at 0x%llx",
					               (unsigned long long)start);
					return -1;
				}
				m = (void *)start;
			}
		}
		if (m == MAP_FAILED || m != (void *)start) {
			unik_error_sys(err, m == MAP_FAILED ? errno : EEXIST,
			               "map segment at 0x%llx (is the address used by unik-spt?)",
			               (unsigned long long)start);
			return -1;
		}
		memcpy((void *)p->p_vaddr, e->file + p->p_offset, p->p_filesz);
		if (p->p_flags & PF_R)
			prot |= PROT_READ;
		if (p->p_flags & PF_W)
			prot |= PROT_WRITE;
		if (p->p_flags & PF_X)
			prot |= PROT_EXEC;
		if (mprotect((void *)start, end - start, prot) < 0) {
			unik_error_sys(err, errno, "protect segment at 0x%llx",
			               (unsigned long long)start);
			return -1;
		}
	}
	return 0;
}

uintptr_t spt_stack_build(const struct spt_elf *e, size_t stack_size, char *const *argv,
                          char *const *envp, struct unik_error *err)
{
	size_t argc = 0, envc = 0, strings = 16;
	unsigned char *base, *top, *sp, *str;
	uint64_t *w;

	while (argv[argc])
		strings += strlen(argv[argc++]) + 1;
	while (envp[envc])
		strings += strlen(envp[envc++]) + 1;
	/* argc, argv + NULL, envp + NULL, 8 auxv pairs + AT_NULL */
	size_t words = 1 + argc + 1 + envc + 1 + 2 * 9;
	if (strings + words * 8 + 64 > stack_size / 2) {
		unik_error_set(err, UNIK_E_INVALID, "the arguments do not fit on the stack");
		return 0;
	}
	base = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
	            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED) {
		unik_error_sys(err, errno, "map the stack");
		return 0;
	}
	top = base + stack_size;
	/* Strings at the top: AT_RANDOM's 16 bytes, then argv's and envp's. */
	str = top - strings;
	unsigned char *random = str;
	if (getrandom(random, 16, 0) != 16) {
		unik_error_sys(err, errno, "getrandom");
		return 0;
	}
	str += 16;
	sp = (unsigned char *)(((uintptr_t)(top - strings) - words * 8) & ~(uintptr_t)15);
	w = (uint64_t *)sp;
	*w++ = argc;
	for (size_t i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		memcpy(str, argv[i], n);
		*w++ = (uintptr_t)str;
		str += n;
	}
	*w++ = 0;
	for (size_t i = 0; i < envc; i++) {
		size_t n = strlen(envp[i]) + 1;

		memcpy(str, envp[i], n);
		*w++ = (uintptr_t)str;
		str += n;
	}
	*w++ = 0;
	const uint64_t aux[][2] = {
	    {AT_PHDR, e->phdr},   {AT_PHENT, sizeof(Elf64_Phdr)},
	    {AT_PHNUM, e->phnum}, {AT_PAGESZ, PAGE},
	    {AT_ENTRY, e->entry}, {AT_RANDOM, (uintptr_t)random},
	    {AT_SECURE, 0},       {AT_HWCAP, 0},
	    {AT_NULL, 0},
	};
	for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]); i++) {
		*w++ = aux[i][0];
		*w++ = aux[i][1];
	}
	return (uintptr_t)sp;
}
