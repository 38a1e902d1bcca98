/* The `elf` image format: the kernel ELF itself, checked to be a unik kernel and copied. */
#include "images/format.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unik/abi.h"
#include "util.h"

static bool has_unik_note(const unsigned char *p, size_t len, uint64_t off, uint64_t size)
{
	uint64_t end;

	if (off > len || size > len - off)
		return false;
	end = off + size;
	while (off + sizeof(Elf64_Nhdr) <= end) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, p + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ull);
		next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ull);
		if (next > end || next <= off)
			return false;
		if (nh.n_namesz == sizeof(UNIK_NOTE_NAME) && nh.n_type == UNIK_NOTE_ABI &&
		    memcmp(p + name_off, UNIK_NOTE_NAME, sizeof(UNIK_NOTE_NAME)) == 0 &&
		    nh.n_descsz >= 4)
			return true;
		off = next;
	}
	return false;
}

int unik_elf_check_kernel(const char *path, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	const unsigned char *p;
	size_t len;
	Elf64_Ehdr eh;

	if (unik_read_file(path, &buf, &len, err) < 0)
		return -1;
	p = (const unsigned char *)buf;
	if (len < sizeof(eh) || memcmp(p, ELFMAG, SELFMAG) != 0) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not an ELF file", path);
		return -1;
	}
	memcpy(&eh, p, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not an x86-64 ELF", path);
		return -1;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
		unik_error_set(err, UNIK_E_INVALID, "%s: bad program headers", path);
		return -1;
	}
	/* A truncated kernel would load short segments and boot into garbage: refuse it here. */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, p + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD &&
		    (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "%s: truncated: segment %u ends at byte %llu but the file has "
			    "%zu bytes",
			    path, i, (unsigned long long)(ph.p_offset + ph.p_filesz), len);
			return -1;
		}
	}
	if (eh.e_shoff &&
	    (eh.e_shoff > len || (uint64_t)eh.e_shnum * eh.e_shentsize > len - eh.e_shoff)) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "%s: truncated: the section headers end at byte %llu but the file "
		    "has %zu bytes",
		    path, (unsigned long long)(eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize),
		    len);
		return -1;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, p + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && has_unik_note(p, len, ph.p_offset, ph.p_filesz))
			return 0;
	}
	unik_error_set(err, UNIK_E_INVALID,
	               "%s is an ELF program but not a unik kernel (no \"unik\" note): was it "
	               "linked with unik-cc?",
	               path);
	return -1;
}

static int copy_file(const char *from, const char *to, uint64_t *size, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (unik_read_file(from, &buf, &len, err) < 0)
		return -1;
	if (unik_write_file_atomic(to, buf, len, 0644, err) < 0)
		return -1;
	*size = len;
	return 0;
}

static int elf_pack(const struct unik_artifacts *a, const char *out_path, uint64_t *size,
                    struct unik_error *err)
{
	if (unik_elf_check_kernel(a->kernel, err) < 0)
		return -1;
	return copy_file(a->kernel, out_path, size, err);
}

const struct unik_image_format unik_image_format_elf = {
    .name = "elf",
    .description = "the kernel ELF, booted directly (QEMU -kernel, Xen PVH, Firecracker)",
    .file = "kernel.elf",
    .pack = elf_pack,
    .check = unik_elf_check_kernel,
};
