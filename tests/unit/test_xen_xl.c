/* Unit tests for the `xl` image format: the xl.cfg unik writes is read back with libxlutil (the
 * parser `xl create` uses) and every field compared, strings with quotes, backslashes and control
 * bytes included; the libxl configuration xl would build from that file (the same keys mapped
 * as xl(1) maps them) equals the one the xen provider builds; and pack()/check() on files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <elf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxl_utils.h>
#include <libxlutil.h>

#include "images/format.h"
#include "images/xl/xl.h"
#include "providers/xen/xen.h"
#include "unik/abi.h"

#define TEST_UUID "5f1e0b7c-2a43-4d7e-9c1a-0123456789ab"

/* Command lines that need every kind of care in xl.cfg's string syntax. */
static const char *const nasty[] = {
    "",
    "hello",
    "GREETING='hello world' greet --flag \"two words\"",
    "back\\slash \\\\double \\\" trailing\\",
    "\"",
    "'",
    "# not a comment ; not = a setting [ nor , a list ]",
    "tab\there\nnew line\r\x01\x1f\x7f end",
    "utf-8: h\xc3\xa9llo \xe2\x9c\x93",
    "\\x41 is not an escape here",
};

static void roundtrip(const struct unik_xl_guest *g)
{
	_cleanup_free_ char *text = NULL;
	struct unik_xl_parsed p;
	struct unik_error err = {0};

	if (unik_xl_cfg_text(g, &text, &err) < 0)
		fail_msg("unik_xl_cfg_text: %s", err.msg);
	if (unik_xl_cfg_parse(text, strlen(text), "test.cfg", &p, &err) < 0)
		fail_msg("libxlutil refused our xl.cfg: %s\n%s", err.msg, text);
	assert_string_equal(p.type, "pvh");
	assert_string_equal(p.name, g->name);
	assert_string_equal(p.kernel, g->kernel);
	if (g->ramdisk)
		assert_string_equal(p.ramdisk, g->ramdisk);
	else
		assert_null(p.ramdisk);
	if (strcmp(p.cmdline, g->cmdline ? g->cmdline : ""))
		fail_msg("cmdline came back as [%s], wanted [%s]; the file:\n%s", p.cmdline,
		         g->cmdline, text);
	assert_int_equal(p.memory, (long)g->memory_mb);
	assert_int_equal(p.maxmem, (long)g->memory_mb);
	assert_int_equal(p.vcpus, (long)g->vcpus);
	assert_int_equal(p.maxvcpus, (long)g->vcpus);
	assert_string_equal(p.on_poweroff, g->on_poweroff ? g->on_poweroff : "destroy");
	assert_string_equal(p.on_reboot, g->on_reboot ? g->on_reboot : "destroy");
	assert_string_equal(p.on_crash, g->on_crash ? g->on_crash : "destroy");
	if (g->disk) {
		assert_int_equal(p.n_disks, 1);
		assert_string_equal(p.disk, g->disk);
	} else {
		assert_int_equal(p.n_disks, 0);
		assert_null(p.disk);
	}
	unik_xl_parsed_free(&p);
}

static void test_roundtrip_cmdlines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		struct unik_xl_guest g = {
		    .name = "unik-hello",
		    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
		    .ramdisk = i % 2 ? "/var/lib/unik/images/ba9876543210/rootfs.cpio" : NULL,
		    .cmdline = nasty[i],
		    .memory_mb = 64 + i,
		    .vcpus = 1 + (unsigned)i,
		};
		roundtrip(&g);
	}
}

static void test_roundtrip_strings_everywhere(void **state)
{
	(void)state;
	struct unik_xl_guest g = {
	    .name = "we\"ird 'name' \\ here",
	    .kernel = "/path with spaces/\"quoted\"/kernel.elf",
	    .ramdisk = "/back\\slash/rootfs.cpio",
	    .cmdline = NULL,
	    .memory_mb = 1 << 20,
	    .vcpus = 128,
	    .on_poweroff = "preserve",
	    .on_reboot = "coredump-destroy",
	    .on_crash = "preserve",
	    .disk = "format=raw,vdev=xvda,access=rw,target=/v/\"d\".img",
	};

	roundtrip(&g);
}

static void test_quote(void **state)
{
	(void)state;
	char *q = unik_xl_quote("a\"b\\c\nd");

	assert_string_equal(q, "\"a\\\"b\\\\c\\nd\"");
	free(q);
	q = unik_xl_quote("");
	assert_string_equal(q, "\"\"");
	free(q);
}

static void test_text_refuses(void **state)
{
	(void)state;
	struct unik_xl_guest ok = {.name = "n", .kernel = "/k", .memory_mb = 8, .vcpus = 1}, g;
	struct unik_error err;
	char *text = NULL;

	g = ok, g.kernel = "k";
	assert_int_equal(unik_xl_cfg_text(&g, &text, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	g = ok, g.memory_mb = 0;
	assert_int_equal(unik_xl_cfg_text(&g, &text, &err), -1);
	g = ok, g.on_crash = "rename-restart";
	assert_int_equal(unik_xl_cfg_text(&g, &text, &err), -1);
	assert_non_null(strstr(err.msg, "rename-restart"));
	assert_null(text);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char broken[] = "type = \"pvh\"\nname = \"unterminated\nmemory = 64\n";
	static const char notstr[] = "type = [ \"pvh\" ]\n";
	struct unik_xl_parsed p;
	struct unik_error err;

	assert_int_equal(unik_xl_cfg_parse(broken, strlen(broken), "broken.cfg", &p, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	/* libxlutil's own report names the file and line. */
	assert_non_null(strstr(err.msg, "broken.cfg"));
	assert_int_equal(unik_xl_cfg_parse(notstr, strlen(notstr), "l.cfg", &p, &err), -1);
	assert_non_null(strstr(err.msg, "\"type\" is not a string"));
	assert_int_equal(unik_xl_cfg_parse("\0x", 2, "bin.cfg", &p, &err), -1);
}

/* ---- what xl makes of the file, against what the provider builds --------------------------- */

/* The libxl configuration xl(1) makes of these keys of an xl.cfg (its parse_config_data), done
 * here independently of providers/xen/config.c: libxl's own enum tables, libxlutil's lists and
 * disk parser. */
static void xl_to_libxl(const char *text, libxl_domain_config *c)
{
	XLU_Config *cfg = xlu_cfg_init(stderr, "exported.cfg");
	libxl_domain_build_info *b = &c->b_info;
	static const char *const actions[] = {"on_poweroff", "on_reboot", "on_crash"};
	libxl_action_on_shutdown *act[] = {&c->on_poweroff, &c->on_reboot, &c->on_crash};
	XLU_ConfigList *disks;
	const char *s;
	long l;
	int n;

	assert_non_null(cfg);
	assert_int_equal(xlu_cfg_readdata(cfg, text, (int)strlen(text)), 0);
	assert_int_equal(xlu_cfg_get_string(cfg, "type", &s, 0), 0);
	assert_int_equal(libxl_domain_type_from_string(s, &c->c_info.type), 0);
	assert_int_equal(xlu_cfg_get_string(cfg, "name", &s, 0), 0);
	c->c_info.name = strdup(s);
	libxl_domain_build_info_init_type(b, c->c_info.type);
	assert_int_equal(xlu_cfg_get_long(cfg, "memory", &l, 0), 0);
	b->target_memkb = (uint64_t)l * 1024;
	assert_int_equal(xlu_cfg_get_long(cfg, "maxmem", &l, 0), 0);
	b->max_memkb = (uint64_t)l * 1024;
	assert_int_equal(xlu_cfg_get_long(cfg, "vcpus", &l, 0), 0);
	b->avail_vcpus.size = (uint32_t)(l + 7) / 8;
	b->avail_vcpus.map = calloc(b->avail_vcpus.size, 1);
	libxl_bitmap_set_none(&b->avail_vcpus);
	while (l-- > 0)
		libxl_bitmap_set(&b->avail_vcpus, (int)l);
	assert_int_equal(xlu_cfg_get_long(cfg, "maxvcpus", &l, 0), 0);
	b->max_vcpus = (int)l;
	assert_int_equal(xlu_cfg_get_string(cfg, "kernel", &s, 0), 0);
	b->kernel = strdup(s);
	if (xlu_cfg_get_string(cfg, "ramdisk", &s, 1) == 0)
		b->ramdisk = strdup(s);
	if (xlu_cfg_get_string(cfg, "cmdline", &s, 1) == 0)
		b->cmdline = strdup(s);
	for (size_t i = 0; i < 3; i++) {
		char name[40];

		/* xl spells them with '-', libxl's table with '_'. */
		assert_int_equal(xlu_cfg_get_string(cfg, actions[i], &s, 0), 0);
		snprintf(name, sizeof(name), "%s", s);
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		assert_int_equal(libxl_action_on_shutdown_from_string(name, act[i]), 0);
	}
	if (xlu_cfg_get_list(cfg, "disk", &disks, &n, 1) == 0) {
		c->disks = calloc((size_t)n, sizeof(*c->disks));
		for (int i = 0; i < n; i++) {
			const char *spec = xlu_cfg_get_listitem(disks, i);

			libxl_device_disk_init(&c->disks[i]);
			assert_int_equal(xlu_disk_parse(cfg, 1, &spec, &c->disks[i]), 0);
		}
		c->num_disks = n;
	}
	xlu_cfg_destroy(cfg);
}

static void consistent(const struct unik_xl_guest *g)
{
	_cleanup_free_ char *text = NULL, *from_builder = NULL, *from_xl = NULL;
	libxl_domain_config a, b;
	libxl_uuid uuid;
	struct unik_error err = {0};

	assert_int_equal(libxl_uuid_from_string(&uuid, TEST_UUID), 0);
	libxl_domain_config_init(&a);
	libxl_domain_config_init(&b);
	if (xen_build_config(g, &uuid, &a, &err) < 0)
		fail_msg("xen_build_config: %s", err.msg);
	assert_int_equal(unik_xl_cfg_text(g, &text, &err), 0);
	xl_to_libxl(text, &b);
	/* xl makes a fresh uuid for each domain; the provider records its own. */
	libxl_uuid_copy(NULL, &b.c_info.uuid, &uuid);
	from_builder = xen_config_json(&a);
	from_xl = xen_config_json(&b);
	if (strcmp(from_builder, from_xl))
		fail_msg("the provider and the exported xl.cfg disagree:\n--- provider ---\n%s\n"
		         "--- xl.cfg as xl reads it ---\n%s\n--- the file ---\n%s",
		         from_builder, from_xl, text);
	libxl_domain_config_dispose(&a);
	libxl_domain_config_dispose(&b);
}

static void test_export_matches_provider(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		struct unik_xl_guest g = {
		    .name = "unik-hello-0123456789ab",
		    .kernel = "/var/lib/unik/images/ba9876543210/kernel.elf",
		    .ramdisk = i % 2 ? NULL : "/var/lib/unik/images/ba9876543210/rootfs.cpio",
		    .cmdline = nasty[i],
		    .memory_mb = i == 3 ? 65536 : 64,
		    .vcpus = i == 4 ? 9 : 1,
		    .on_crash = i == 5   ? "preserve"
		                : i == 6 ? "coredump-destroy"
		                         : NULL,
		    .disk = i == 7 ? "format=raw,vdev=xvda,access=rw,target=/v/data.img" : NULL,
		};
		consistent(&g);
	}
}

/* ---- the format on files ------------------------------------------------------------------- */

/* The smallest file the guest ELF check (lib/guest_elf.c) takes for a kernel: an x86-64 ELF
 * header and one PT_NOTE segment with the "unik" ABI note and Xen's PVH entry note. */
static void write_fake_kernel(const char *path)
{
	unsigned char buf[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 44] = {0};
	Elf64_Ehdr eh = {0};
	Elf64_Phdr ph = {0};
	Elf64_Nhdr nh = {
	    .n_namesz = sizeof(UNIK_NOTE_NAME), .n_descsz = 4, .n_type = UNIK_NOTE_ABI};
	Elf64_Nhdr pvh = {.n_namesz = 4, .n_descsz = 4, .n_type = UNIK_XEN_ELFNOTE_PHYS32_ENTRY};
	size_t note = sizeof(eh) + sizeof(ph);
	struct unik_error err;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_NOTE;
	ph.p_offset = note;
	ph.p_filesz = 44;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + note, &nh, sizeof(nh));
	memcpy(buf + note + sizeof(nh), UNIK_NOTE_NAME, sizeof(UNIK_NOTE_NAME));
	buf[note + sizeof(nh) + 8] = 1; /* the ABI version */
	memcpy(buf + note + 24, &pvh, sizeof(pvh));
	memcpy(buf + note + 24 + sizeof(pvh), "Xen", 4);
	buf[note + 24 + sizeof(pvh) + 4 + 2] = 0x10; /* the entry point: 0x100000 */
	assert_int_equal(unik_write_file_atomic(path, buf, sizeof(buf), 0644, &err), 0);
}

static void put(const char *path, const char *text)
{
	struct unik_error err;

	assert_int_equal(unik_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void test_pack_and_check(void **state)
{
	(void)state;
	const struct unik_image_format *f = unik_image_format_find("xl");
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-xl", &err);
	_cleanup_free_ char *kernel = unik_path_join(d, "kernel.elf");
	_cleanup_free_ char *rootfs = unik_path_join(d, "rootfs.cpio");
	_cleanup_free_ char *out = unik_path_join(d, "xl.cfg");
	_cleanup_free_ char *text = NULL, *bad = unik_path_join(d, "bad.cfg");
	const char *cmdline = "GREETING='hi \"there\"' app C:\\dir";
	struct unik_artifacts a = {.kernel = kernel,
	                           .rootfs = rootfs,
	                           .cmdline = cmdline,
	                           .name = "hello",
	                           .memory_mb = 256};
	struct unik_xl_parsed p;
	uint64_t size = 0;
	size_t len;
	DIR *dh;
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	assert_non_null(f);
	assert_string_equal(f->file, "xl.cfg");
	assert_non_null(strstr(unik_image_format_names(), "xl"));
	write_fake_kernel(kernel);
	put(rootfs, "070701");
	if (f->pack(&a, out, &size, &err) < 0)
		fail_msg("pack: %s", err.msg);
	if (f->check(out, &err) < 0)
		fail_msg("check: %s", err.msg);
	assert_int_equal(unik_read_file(out, &text, &len, &err), 0);
	assert_int_equal(size, len);
	assert_int_equal(unik_xl_cfg_parse(text, len, out, &p, &err), 0);
	assert_string_equal(p.kernel, kernel);
	assert_string_equal(p.ramdisk, rootfs);
	assert_string_equal(p.cmdline, cmdline);
	assert_string_equal(p.name, "hello");
	assert_int_equal(p.memory, 256);
	assert_int_equal(p.vcpus, 1);
	unik_xl_parsed_free(&p);
	/* Atomic: only the file itself, no temporary left beside it. */
	dh = opendir(d);
	while ((e = readdir(dh)))
		n += e->d_name[0] != '.';
	closedir(dh);
	assert_int_equal(n, 3);

	/* Without a root fs, command line or memory: no ramdisk, "", the default memory. */
	a.rootfs = NULL;
	a.cmdline = NULL;
	a.memory_mb = 0;
	assert_int_equal(f->pack(&a, out, &size, &err), 0);
	free(text);
	assert_int_equal(unik_read_file(out, &text, &len, &err), 0);
	assert_int_equal(unik_xl_cfg_parse(text, len, out, &p, &err), 0);
	assert_null(p.ramdisk);
	assert_string_equal(p.cmdline, "");
	assert_int_equal(p.memory, UNIK_XL_DEFAULT_MEMORY_MB);
	unik_xl_parsed_free(&p);

	/* check() refuses what xl would not boot, or what points at nothing. */
	put(bad, "type = \"hvm\"\nname = \"x\"\nkernel = \"/k\"\nmemory = 64\n");
	assert_int_equal(f->check(bad, &err), -1);
	assert_non_null(strstr(err.msg, "not \"pvh\""));
	put(bad, "type = \"pvh\"\nname = \"x\"\nkernel = \"/nonexistent/k\"\nmemory = 64\n");
	assert_int_equal(f->check(bad, &err), -1);
	assert_non_null(strstr(err.msg, "its kernel"));
	free(text);
	text = xasprintf("type = \"pvh\"\nname = \"x\"\nkernel = \"%s\"\nmemory = 0\n", kernel);
	put(bad, text);
	assert_int_equal(f->check(bad, &err), -1);
	free(text);
	text = xasprintf("type = \"pvh\"\nname = \"x\"\nkernel = \"%s\"\nmemory = 64\n"
	                 "on_crash = \"explode\"\n",
	                 kernel);
	put(bad, text);
	assert_int_equal(f->check(bad, &err), -1);
	assert_non_null(strstr(err.msg, "explode"));
	free(text);
	text = xasprintf("type = \"pvh\"\nname = \"x\"\nkernel = \"%s\"\nramdisk = \"%s/gone\"\n"
	                 "memory = 64\n",
	                 kernel, d);
	put(bad, text);
	assert_int_equal(f->check(bad, &err), -1);
	assert_non_null(strstr(err.msg, "ramdisk"));
	put(bad, "type = \"pvh\"\nname = \"trunc");
	assert_int_equal(f->check(bad, &err), -1);
	/* A kernel that is not a unik kernel makes no xl.cfg. */
	a.kernel = bad;
	assert_int_equal(f->pack(&a, out, &size, &err), -1);
	assert_int_equal(unik_rmtree(d, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_cmdlines),
	    cmocka_unit_test(test_roundtrip_strings_everywhere),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_text_refuses),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_export_matches_provider),
	    cmocka_unit_test(test_pack_and_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
