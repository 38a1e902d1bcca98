/* Unit tests of images/disk's pure parts: GRUB quoting and configuration, the MBR, the size
 * plan, the kernel check and format names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "images/disk/disk.h"

static void test_quote(void **state)
{
	(void)state;
	char *q = unik_disk_grub_quote("it's a $x;y");
	assert_string_equal(q, "'it'\\''s a $x;y'");
	free(q);
	q = unik_disk_grub_quote("");
	assert_string_equal(q, "''");
	free(q);
}

static void test_config(void **state)
{
	struct unik_error err = {0};
	char *cfg = NULL;

	(void)state;
	assert_int_equal(
	    unik_disk_grub_config("bios", "A=1 app 'x y' \"q\\\"r\"", true, NULL, &cfg, &err), 0);
	assert_string_equal(cfg, "set gfxpayload=text\n"
	                         "multiboot2 /kernel.elf 'A=1' 'app' 'x y' 'q\"r'\n"
	                         "module2 /rootfs.cpio\n"
	                         "boot\n");
	free(cfg);
	/* A literal -- is kept; quoting does not stop a word from being a variable. */
	assert_int_equal(unik_disk_grub_config("efi", "-- X=1 y", false, NULL, &cfg, &err), 0);
	assert_non_null(strstr(cfg, "multiboot2 /kernel.elf '--' 'X=1' 'y'\n"));
	free(cfg);
	assert_int_equal(unik_disk_grub_config("efi", "'X=1' y", false, NULL, &cfg, &err), 0);
	assert_non_null(strstr(cfg, "multiboot2 /kernel.elf 'X=1' 'y'\n"));
	free(cfg);
	assert_int_equal(unik_disk_grub_config("iso", "", false, "/unik-00", &cfg, &err), 0);
	assert_non_null(strstr(cfg, "search --no-floppy --file /unik-00 --set=root\n"));
	assert_non_null(strstr(cfg, "multiboot2 /kernel.elf\n"));
	free(cfg);
}

static void test_config_refusals(void **state)
{
	static const char *const bad[] = {"app ''", "app 'a\tb'", "app \"it's here\"", "app 'open",
	                                  NULL};
	struct unik_error err = {0};
	char *cfg = NULL;

	(void)state;
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(unik_disk_grub_config("bios", bad[i], false, NULL, &cfg, &err),
		                 -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
	}
	assert_int_equal(unik_disk_grub_config("nope", "", false, NULL, &cfg, &err), -1);
	assert_int_equal(unik_disk_grub_config("iso", "", false, "no-slash", &cfg, &err), -1);
}

static void test_mbr_roundtrip(void **state)
{
	uint8_t mbr[512], code[440];
	struct unik_mbr_part p = {.bootable = true, .type = 0xef, .start = 512, .sectors = 1536};
	struct unik_mbr_part parts[4];
	struct unik_error err = {0};
	int n = -1;

	(void)state;
	memset(code, 0x90, sizeof(code));
	unik_mbr_encode(mbr, code, 0x6b696e75, &p);
	assert_int_equal(mbr[510], 0x55);
	assert_int_equal(mbr[511], 0xaa);
	assert_memory_equal(mbr + 440, "unik", 4);
	assert_int_equal(mbr[0], 0x90);
	assert_int_equal(unik_mbr_decode(mbr, parts, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(parts[0].bootable);
	assert_int_equal(parts[0].type, 0xef);
	assert_int_equal(parts[0].start, 512);
	assert_int_equal(parts[0].sectors, 1536);
	/* CHS of LBA 512 with 255 heads and 63 sectors: cylinder 0, head 8, sector 9. */
	assert_int_equal(mbr[447], 8);
	assert_int_equal(mbr[448], 9);
	assert_int_equal(mbr[449], 0);
}

static void test_mbr_bad(void **state)
{
	uint8_t mbr[512];
	struct unik_mbr_part p = {.type = 0x0c, .start = 100, .sectors = 100};
	struct unik_mbr_part parts[4];
	struct unik_error err = {0};
	int n;

	(void)state;
	unik_mbr_encode(mbr, NULL, 1, &p);
	mbr[511] = 0;
	assert_int_equal(unik_mbr_decode(mbr, parts, &n, &err), -1);
	assert_non_null(strstr(err.msg, "signature"));
	unik_mbr_encode(mbr, NULL, 1, &p);
	mbr[446] = 0x13;
	assert_int_equal(unik_mbr_decode(mbr, parts, &n, &err), -1);
	assert_non_null(strstr(err.msg, "status"));
	/* A second entry overlapping the first. */
	unik_mbr_encode(mbr, NULL, 1, &p);
	memcpy(mbr + 462, mbr + 446, 16);
	assert_int_equal(unik_mbr_decode(mbr, parts, &n, &err), -1);
	assert_non_null(strstr(err.msg, "overlaps"));
}

static void test_plan(void **state)
{
	struct unik_disk_layout l;

	(void)state;
	unik_disk_plan(460 * 1024, 5, &l);
	assert_int_equal(l.part_start, 512);
	assert_int_equal(l.total_bytes, 1024 * 1024);
	assert_int_equal(l.part_sectors, 2048 - 512);
	unik_disk_plan(50u * 1024 * 1024, 5, &l);
	assert_true(l.total_bytes >= 50u * 1024 * 1024 + 256 * 1024);
	assert_int_equal(l.total_bytes % (1024 * 1024), 0);
}

static void test_kernel_check(void **state)
{
	uint8_t k[4096] = {0};
	struct unik_error err = {0};
	uint32_t hdr[4] = {0xe85250d6u, 0, 16, 0};

	(void)state;
	assert_int_equal(unik_disk_check_kernel_mem(k, sizeof(k), "k", &err), -1);
	assert_non_null(strstr(err.msg, "not an ELF"));
	memcpy(k,
	       "\x7f"
	       "ELF",
	       4);
	k[4] = 2;   /* ELFCLASS64 */
	k[5] = 1;   /* ELFDATA2LSB */
	k[18] = 62; /* EM_X86_64 */
	assert_int_equal(unik_disk_check_kernel_mem(k, sizeof(k), "k", &err), -1);
	assert_non_null(strstr(err.msg, "multiboot2"));
	hdr[3] = (uint32_t)(0u - hdr[0] - hdr[1] - hdr[2]);
	memcpy(k + 1024, hdr, sizeof(hdr));
	assert_int_equal(unik_disk_check_kernel_mem(k, sizeof(k), "k", &err), 0);
	k[18] = 3;
	assert_int_equal(unik_disk_check_kernel_mem(k, sizeof(k), "k", &err), -1);
}

static void test_format_names(void **state)
{
	(void)state;
	assert_int_equal(unik_disk_format_parse("raw"), UNIK_DISK_RAW);
	assert_int_equal(unik_disk_format_parse("vpc"), UNIK_DISK_VHD);
	assert_int_equal(unik_disk_format_parse("vhd"), UNIK_DISK_VHD);
	assert_int_equal(unik_disk_format_parse("oci"), -1);
	assert_string_equal(unik_disk_format_name(UNIK_DISK_ISO), "iso");
	assert_null(unik_disk_format_name((enum unik_disk_format)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quote),           cmocka_unit_test(test_config),
	    cmocka_unit_test(test_config_refusals), cmocka_unit_test(test_mbr_roundtrip),
	    cmocka_unit_test(test_mbr_bad),         cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_kernel_check),    cmocka_unit_test(test_format_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
