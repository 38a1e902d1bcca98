/* A small unik kernel ELF made in memory (tests/lib/fake_kernel.h). */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "tests/lib/fake_kernel.h"
#include "unik/abi.h"

/* An ELF header, two program headers (PT_LOAD, PT_NOTE), the notes, then the segment. */
size_t fake_kernel_make(uint8_t *buf, const struct fake_kernel_shape *s)
{
	Elf64_Ehdr eh = {0};
	Elf64_Phdr load = {0}, note = {0};
	size_t notes = sizeof(eh) + 2 * sizeof(Elf64_Phdr), off = notes;
	uint32_t abi = s->abi ? s->abi : UNIK_ABI_VERSION;

	memset(buf, 0, FAKE_KERNEL_SIZE);
	if (abi != UINT32_MAX) {
		Elf64_Nhdr nh = {.n_namesz = 5, .n_descsz = 4, .n_type = UNIK_NOTE_ABI};

		memcpy(buf + off, &nh, sizeof(nh));
		memcpy(buf + off + sizeof(nh), UNIK_NOTE_NAME, 5);
		memcpy(buf + off + sizeof(nh) + 8, &abi, 4);
		off += sizeof(nh) + 8 + 4;
	}
	if (!s->no_pvh) {
		Elf64_Nhdr nh = {
		    .n_namesz = 4, .n_descsz = 8, .n_type = UNIK_XEN_ELFNOTE_PHYS32_ENTRY};
		uint64_t entry = UNIK_LOAD_ADDR + 0x40;

		memcpy(buf + off, &nh, sizeof(nh));
		memcpy(buf + off + sizeof(nh), "Xen", 4);
		memcpy(buf + off + sizeof(nh) + 4, &entry, 8);
		off += sizeof(nh) + 4 + 8;
	}
	if (s->mb2) {
		uint32_t hdr[4] = {0xe85250d6u, 0, 16, 0};

		hdr[3] = (uint32_t)(0u - hdr[0] - hdr[1] - hdr[2]);
		memcpy(buf + FAKE_KERNEL_SEG_OFF, hdr, sizeof(hdr));
	}
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = s->class ? s->class : ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = s->machine ? s->machine : EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = UNIK_LOAD_ADDR + 0x10;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	load.p_type = PT_LOAD;
	load.p_offset = FAKE_KERNEL_SEG_OFF;
	load.p_paddr = load.p_vaddr = s->paddr ? s->paddr : UNIK_LOAD_ADDR;
	load.p_filesz = FAKE_KERNEL_SEG_SIZE;
	load.p_memsz = 0x1000; /* a .bss past the file's bytes */
	note.p_type = PT_NOTE;
	note.p_offset = notes;
	note.p_filesz = off - notes;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &load, sizeof(load));
	memcpy(buf + sizeof(eh) + sizeof(load), &note, sizeof(note));
	return FAKE_KERNEL_SIZE;
}

int fake_kernel_write(const char *path, const struct fake_kernel_shape *s)
{
	uint8_t buf[FAKE_KERNEL_SIZE];
	size_t len = fake_kernel_make(buf, s);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return -1;
	rc = unik_write_all(fd, buf, len);
	close(fd);
	return rc < 0 ? -1 : 0;
}
