/* Unit tests for unik-hvt's ELF loader (lib/hvt_elf.c): a good kernel loads, and every
 * malformed one (truncated headers, segments outside the file or guest memory, an entry outside
 * code, overflowing sizes) is refused with nothing written to guest memory. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/hvt.h"

#define BASE     0x100000ull
#define MEM_SIZE (4ull << 20)
#define CODE_OFF (sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr))

/* An ELF with one RWX PT_LOAD at BASE: its headers, then 16 bytes of "code", and 4096 of
 * .bss. */
struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t code[16];
};

static void good(struct image *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = BASE + CODE_OFF;
	im->eh.e_phoff = sizeof(Elf64_Ehdr);
	im->eh.e_ehsize = sizeof(Elf64_Ehdr);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 1;
	im->ph.p_type = PT_LOAD;
	im->ph.p_flags = PF_R | PF_W | PF_X;
	im->ph.p_offset = 0;
	im->ph.p_paddr = im->ph.p_vaddr = BASE;
	im->ph.p_filesz = sizeof(*im);
	im->ph.p_memsz = sizeof(*im) + 4096;
	memset(im->code, 0xcc, sizeof(im->code));
}

static uint8_t mem[MEM_SIZE];

/* Loads len bytes of im; returns the loader's result, and checks that a refusal wrote nothing
 * and named the file. */
static int load(const void *file, size_t len, struct unik_hvt_image *out, struct unik_error *err)
{
	memset(mem, 0x5a, sizeof(mem));
	int r = unik_hvt_elf_load(file, len, "k.elf", mem, MEM_SIZE, BASE, out, err);
	if (r < 0) {
		assert_int_equal(err->code, UNIK_E_INVALID);
		assert_non_null(strstr(err->msg, "k.elf"));
		for (size_t i = 0; i < sizeof(mem); i++)
			if (mem[i] != 0x5a)
				fail_msg("a refused load wrote guest memory at 0x%zx", i);
	}
	return r;
}

static void test_good_kernel_loads(void **state)
{
	struct image im;
	struct unik_hvt_image out;
	struct unik_error err;

	(void)state;
	good(&im);
	assert_int_equal(load(&im, sizeof(im), &out, &err), 0);
	assert_int_equal(out.entry, BASE + CODE_OFF);
	assert_int_equal(out.load_start, BASE);
	assert_int_equal(out.load_end, BASE + sizeof(im) + 4096);
	assert_memory_equal(mem + BASE, &im, sizeof(im));
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(mem[BASE + sizeof(im) + i], 0); /* .bss zeroed */
	assert_int_equal(mem[BASE + sizeof(im) + 4096], 0x5a);
}

/* One malformation: what to change, and what the message must say. */
static void refused(void (*mutate)(struct image *), size_t len, const char *want)
{
	struct image im;
	struct unik_hvt_image out;
	struct unik_error err;

	good(&im);
	mutate(&im);
	assert_int_equal(load(&im, len ? len : sizeof(im), &out, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("wanted \"%s\" in: %s", want, err.msg);
}

static void nothing(struct image *im)
{
	(void)im;
}
static void bad_magic(struct image *im)
{
	im->eh.e_ident[1] = 'X';
}
static void elf32(struct image *im)
{
	im->eh.e_ident[EI_CLASS] = ELFCLASS32;
}
static void big_endian(struct image *im)
{
	im->eh.e_ident[EI_DATA] = ELFDATA2MSB;
}
static void arm(struct image *im)
{
	im->eh.e_machine = EM_AARCH64;
}
static void shared(struct image *im)
{
	im->eh.e_type = ET_DYN;
}
static void phentsize(struct image *im)
{
	im->eh.e_phentsize = 32;
}
static void no_phdrs(struct image *im)
{
	im->eh.e_phnum = 0;
}
static void many_phdrs(struct image *im)
{
	im->eh.e_phnum = 1000;
}
static void phoff_past_end(struct image *im)
{
	im->eh.e_phoff = sizeof(*im) - 8;
}
static void phoff_overflow(struct image *im)
{
	im->eh.e_phoff = UINT64_MAX - 16;
}
static void filesz_over_memsz(struct image *im)
{
	im->ph.p_memsz = 8;
}
static void segment_past_file(struct image *im)
{
	im->ph.p_filesz = sizeof(*im) + 1;
	im->ph.p_memsz = sizeof(*im) + 1;
}
static void offset_overflow(struct image *im)
{
	im->ph.p_offset = UINT64_MAX - 4;
}
static void below_min(struct image *im)
{
	im->ph.p_paddr = 0x1000;
	im->eh.e_entry = 0x1000 + CODE_OFF;
}
static void past_memory(struct image *im)
{
	im->ph.p_memsz = MEM_SIZE;
}
static void paddr_overflow(struct image *im)
{
	im->ph.p_paddr = UINT64_MAX - 64;
}
static void memsz_overflow(struct image *im)
{
	im->ph.p_memsz = UINT64_MAX;
}
static void entry_outside(struct image *im)
{
	im->eh.e_entry = BASE + sizeof(*im) + 8192;
}
static void entry_not_code(struct image *im)
{
	im->ph.p_flags = PF_R | PF_W;
}
static void no_load(struct image *im)
{
	im->ph.p_type = PT_NOTE;
}

static void test_malformed_refused(void **state)
{
	(void)state;
	refused(nothing, 10, "not an ELF file");
	refused(nothing, sizeof(Elf64_Ehdr) + 4, "program headers lie outside");
	refused(bad_magic, 0, "not an ELF file");
	refused(elf32, 0, "not an x86-64 ELF64 executable");
	refused(big_endian, 0, "not an x86-64 ELF64 executable");
	refused(arm, 0, "not an x86-64 ELF64 executable");
	refused(shared, 0, "not an x86-64 ELF64 executable");
	refused(phentsize, 0, "bad program headers");
	refused(no_phdrs, 0, "bad program headers");
	refused(many_phdrs, 0, "bad program headers");
	refused(phoff_past_end, 0, "program headers lie outside");
	refused(phoff_overflow, 0, "program headers lie outside");
	refused(filesz_over_memsz, 0, "more bytes in the file");
	refused(segment_past_file, 0, "segment 0 lies outside the file");
	refused(offset_overflow, 0, "segment 0 lies outside the file");
	refused(below_min, 0, "outside guest memory");
	refused(past_memory, 0, "outside guest memory");
	refused(paddr_overflow, 0, "outside guest memory");
	refused(memsz_overflow, 0, "outside guest memory");
	refused(entry_outside, 0, "entry point");
	refused(entry_not_code, 0, "entry point");
	refused(no_load, 0, "no loadable segment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_kernel_loads),
	    cmocka_unit_test(test_malformed_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
