/* Unit tests for lib/guest_elf: the one check of a unik kernel, on kernels built here in memory
 * (sound, truncated at every byte, the wrong class or machine, without one of the notes, loaded
 * too low) and on files (the ABI version a caller asks for). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/guest_elf.h"
#include "lib/util.h"
#include "tests/lib/fake_kernel.h"
#include "unik/abi.h"

/* Parses and verifies buf; returns the error message ("" when it passed). */
static const char *check_mem(const uint8_t *buf, size_t len, struct unik_guest_elf *g)
{
	static struct unik_error err;

	memset(&err, 0, sizeof(err));
	if (unik_guest_elf_parse_mem(buf, len, "k", g, &err) == 0 &&
	    unik_guest_elf_verify(g, "k", &err) == 0)
		return "";
	assert_int_equal(err.code, UNIK_E_INVALID);
	return err.msg;
}

static void test_sound_v1(void **state)
{
	uint8_t buf[1024];
	struct fake_kernel_shape s = {.abi = 1, .mb2 = true};
	size_t n = fake_kernel_make(buf, &s);
	struct unik_guest_elf g;

	(void)state;
	assert_string_equal(check_mem(buf, n, &g), "");
	assert_int_equal(g.abi_version, 1);
	assert_true(g.pvh);
	assert_int_equal(g.pvh_entry, 0x100040);
	assert_true(g.multiboot2);
	assert_int_equal(g.entry, 0x100010);
	assert_int_equal(g.load_start, UNIK_LOAD_ADDR);
	assert_int_equal(g.load_end, UNIK_LOAD_ADDR + 0x1000);
	s.mb2 = false;
	n = fake_kernel_make(buf, &s);
	assert_string_equal(check_mem(buf, n, &g), "");
	assert_false(g.multiboot2);
}

/* Every ABI version from 1 to the host's is taken and reported; a newer one is refused with the
 * version it found. */
static void test_versions(void **state)
{
	uint8_t buf[1024];
	struct unik_guest_elf g;
	char want[64];

	(void)state;
	for (uint32_t v = 1; v <= UNIK_ABI_VERSION; v++) {
		struct fake_kernel_shape s = {.abi = v};
		size_t n = fake_kernel_make(buf, &s);

		assert_string_equal(check_mem(buf, n, &g), "");
		assert_int_equal(g.abi_version, v);
	}
	/* A v2 note: a device-aware image, taken once this host knows v2. */
	struct fake_kernel_shape s2 = {.abi = 2};
	size_t n = fake_kernel_make(buf, &s2);
	if (UNIK_ABI_VERSION >= 2) {
		assert_string_equal(check_mem(buf, n, &g), "");
		assert_int_equal(g.abi_version, 2);
	} else {
		assert_non_null(strstr(check_mem(buf, n, &g), "guest ABI v2"));
	}
	struct fake_kernel_shape next = {.abi = UNIK_ABI_VERSION + 1};
	n = fake_kernel_make(buf, &next);
	snprintf(want, sizeof(want), "guest ABI v%d", UNIK_ABI_VERSION + 1);
	assert_non_null(strstr(check_mem(buf, n, &g), want));
	/* Parsing alone still says which version it is. */
	assert_int_equal(unik_guest_elf_parse_mem(buf, n, "k", &g, NULL), 0);
	assert_int_equal(g.abi_version, UNIK_ABI_VERSION + 1);
}

static void test_truncated(void **state)
{
	uint8_t buf[1024];
	struct fake_kernel_shape s = {.abi = 1};
	size_t n = fake_kernel_make(buf, &s);
	struct unik_guest_elf g;

	(void)state;
	/* Whatever the cut, the check fails, and past the headers it says the file is short. */
	for (size_t cut = 0; cut < n; cut++)
		assert_string_not_equal(check_mem(buf, cut, &g), "");
	assert_non_null(strstr(check_mem(buf, n - 1, &g), "truncated: segment 0 ends at byte"));
	assert_non_null(strstr(check_mem(buf, 10, &g), "not an ELF file"));
}

static void test_wrong_class_and_machine(void **state)
{
	uint8_t buf[1024];
	struct fake_kernel_shape c32 = {.abi = 1, .class = ELFCLASS32};
	struct fake_kernel_shape arm = {.abi = 1, .machine = EM_AARCH64};
	struct unik_guest_elf g;
	size_t n;

	(void)state;
	n = fake_kernel_make(buf, &c32);
	assert_non_null(strstr(check_mem(buf, n, &g), "not an x86-64 ELF"));
	n = fake_kernel_make(buf, &arm);
	assert_non_null(strstr(check_mem(buf, n, &g), "not an x86-64 ELF"));
	assert_non_null(strstr(check_mem((const uint8_t *)"#!/bin/sh\n", 10, &g), "not an ELF"));
}

static void test_missing_notes_and_low_load(void **state)
{
	uint8_t buf[1024];
	struct fake_kernel_shape no_unik = {.abi = UINT32_MAX};
	struct fake_kernel_shape no_pvh = {.abi = 1, .no_pvh = true};
	struct fake_kernel_shape low = {.abi = 1, .paddr = 0x7c00};
	struct unik_guest_elf g;
	size_t n;

	(void)state;
	n = fake_kernel_make(buf, &no_unik);
	assert_non_null(strstr(check_mem(buf, n, &g), "not a unik kernel (no \"unik\" note)"));
	n = fake_kernel_make(buf, &no_pvh);
	assert_non_null(strstr(check_mem(buf, n, &g), "no PVH entry note"));
	n = fake_kernel_make(buf, &low);
	assert_non_null(strstr(check_mem(buf, n, &g), "loads at 0x7c00"));
	/* A damaged note list (a size running past the segment) is read as no note. */
	n = fake_kernel_make(buf, &(struct fake_kernel_shape){.abi = 1});
	buf[sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 4] = 0xff; /* n_descsz */
	assert_non_null(strstr(check_mem(buf, n, &g), "no \"unik\" note"));
}

static void test_files(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-gelf", &err);
	_cleanup_free_ char *k1 = unik_path_join(d, "v1.elf");
	_cleanup_free_ char *bad = unik_path_join(d, "bad.elf");
	_cleanup_free_ char *none = unik_path_join(d, "none.elf");
	struct unik_guest_elf g;
	uint8_t buf[1024];
	size_t n;

	(void)state;
	assert_non_null(d);
	n = fake_kernel_make(buf, &(struct fake_kernel_shape){.abi = 1});
	assert_int_equal(unik_write_file_atomic(k1, buf, n, 0644, &err), 0);
	assert_int_equal(unik_write_file_atomic(bad, buf, n - 16, 0644, &err), 0);
	assert_int_equal(unik_guest_elf_abi_version(k1, &err), 1);
	assert_int_equal(unik_guest_elf_check(k1, &g, &err), 0);
	assert_true(g.pvh);
	assert_int_equal(unik_guest_elf_abi_version(bad, &err), -1);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_non_null(strstr(err.msg, bad)); /* the message names the file */
	assert_int_equal(unik_guest_elf_abi_version(none, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_int_equal(unik_guest_elf_check(d, NULL, &err), -1); /* a directory */
	assert_int_equal(err.code, UNIK_E_INVALID);
	unik_rmtree(d, NULL);
}

/* An ELF64 with a symbol table: a null symbol, a local "socket", an undefined "socketpair", a
 * global defined "main" and a weak defined "connect". */
static size_t symtab_elf(uint8_t *buf, size_t cap)
{
	static const char strs[] = "\0socket\0socketpair\0main\0connect";
	Elf64_Sym syms[5] = {
	    {0},
	    {.st_name = 1, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_FUNC), .st_shndx = 1},
	    {.st_name = 8, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = SHN_UNDEF},
	    {.st_name = 19, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1},
	    {.st_name = 24, .st_info = ELF64_ST_INFO(STB_WEAK, STT_FUNC), .st_shndx = 1},
	};
	Elf64_Ehdr eh = {0};
	Elf64_Shdr sh[3] = {{0}};
	size_t off = sizeof(eh);

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	sh[1] = (Elf64_Shdr){.sh_type = SHT_SYMTAB,
	                     .sh_offset = off,
	                     .sh_size = sizeof(syms),
	                     .sh_link = 2,
	                     .sh_entsize = sizeof(Elf64_Sym)};
	off += sizeof(syms);
	sh[2] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = off, .sh_size = sizeof(strs)};
	off += sizeof(strs);
	eh.e_shoff = off;
	assert_true(off + sizeof(sh) <= cap);
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sh[1].sh_offset, syms, sizeof(syms));
	memcpy(buf + sh[2].sh_offset, strs, sizeof(strs));
	memcpy(buf + off, sh, sizeof(sh));
	return off + sizeof(sh);
}

static void test_defines_any(void **state)
{
	static const char *const sock[] = {"socket", "socketpair", NULL};
	static const char *const mainfn[] = {"nothing", "main", NULL};
	static const char *const weak[] = {"connect", NULL};
	uint8_t buf[1024];
	size_t len = symtab_elf(buf, sizeof(buf));

	(void)state;
	/* A local or undefined symbol of the name is not a definition the program has. */
	assert_int_equal(unik_elf_defines_any_mem(buf, len, sock), 0);
	assert_int_equal(unik_elf_defines_any_mem(buf, len, mainfn), 1);
	assert_int_equal(unik_elf_defines_any_mem(buf, len, weak), 1);
	/* Cut anywhere, it reads nothing outside the buffer and finds less or the same. */
	for (size_t n = 0; n < len; n++)
		assert_true(unik_elf_defines_any_mem(buf, n, mainfn) <= 1);
	buf[0] = 0;
	assert_int_equal(unik_elf_defines_any_mem(buf, len, mainfn), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sound_v1),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_wrong_class_and_machine),
	    cmocka_unit_test(test_missing_notes_and_low_load),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_defines_any),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
