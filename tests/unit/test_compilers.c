/* Unit tests for the compiler side that every backend shares: the registry's lookup and its
 * messages (built from the table), and unik_compiler_artifacts' pieces: the `files:` directory,
 * the default command line, and what a build hands back. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "compilers/compiler.h"
#include "lib/util.h"
#include "unik/abi.h"

static void test_find_and_messages(void **state)
{
	struct unik_error err = {0};
	const struct unik_compiler *c;

	(void)state;
	c = unik_compiler_find(NULL, NULL, &err);
	assert_non_null(c);
	assert_string_equal(c->base, "rump");
	assert_ptr_equal(unik_compiler_find("rump", "c", &err), c);
	/* Unknown base: every base of the table is named, and a near one suggested. */
	assert_null(unik_compiler_find("rupm", NULL, &err));
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "did you mean \"rump\"?"));
	for (size_t i = 0; unik_compilers[i]; i++)
		assert_non_null(strstr(err.msg, unik_compilers[i]->base));
	assert_null(unik_compiler_find("zzzzzzzzzz", NULL, &err));
	assert_null(strstr(err.msg, "did you mean"));
	assert_non_null(strstr(err.msg, "available: rump"));
	/* Known base, unknown language: its languages are named. */
	assert_null(unik_compiler_find("rump", "cobol", &err));
	assert_non_null(strstr(err.msg, "does not support language \"cobol\""));
	assert_non_null(strstr(err.msg, "languages: c"));
	/* The includeos backend, a base of its own. */
	c = unik_compiler_find("includeos", "c", &err);
	assert_non_null(c);
	assert_string_equal(c->name, "includeos");
	assert_non_null(strstr(c->usage, "service_start"));
}

static void test_cmdline(void **state)
{
	struct unik_manifest m = {0};
	char *s;

	(void)state;
	assert_null(unik_compiler_cmdline(&m));
	m.args = xstrdup("app -v 'two words'");
	strv_push(&m.env, "GREETING=hello world");
	strv_push(&m.env, "X=1");
	s = unik_compiler_cmdline(&m);
	assert_string_equal(s, "'GREETING=hello world' X=1 app -v 'two words'");
	free(s);
	free(m.args);
	m.args = NULL;
	s = unik_compiler_cmdline(&m);
	assert_string_equal(s, "'GREETING=hello world' X=1");
	free(s);
	unik_manifest_free(&m);
}

static void mkdirs(const char *root, const char *rel)
{
	_cleanup_free_ char *p = unik_path_join(root, rel);

	assert_int_equal(mkdir(p, 0755), 0);
}

static void test_rootfs_dir(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-comp", &err);
	_cleanup_free_ char *src = unik_path_join(d, "src");
	_cleanup_free_ char *link = unik_path_join(src, "out");
	_cleanup_free_ char *real = NULL, *got = NULL;
	struct unik_manifest m = {0};

	(void)state;
	assert_non_null(d);
	mkdirs(d, "src");
	mkdirs(d, "src2");
	mkdirs(d, "src/root");
	/* No files: nothing, and no error. */
	err.code = 0;
	assert_null(unik_compiler_rootfs_dir(src, &m, &err));
	assert_int_equal(err.code, 0);
	m.files = xstrdup("root");
	got = unik_compiler_rootfs_dir(src, &m, &err);
	real = realpath(src, NULL);
	assert_non_null(got);
	assert_int_equal(strncmp(got, real, strlen(real)), 0);
	assert_string_equal(got + strlen(real), "/root");
	free(m.files);
	/* A link out of the tree, also to a sibling whose name starts like the source's. */
	assert_int_equal(symlink("../src2", link), 0);
	m.files = xstrdup("out");
	assert_null(unik_compiler_rootfs_dir(src, &m, &err));
	assert_non_null(strstr(err.msg, "leaves the source tree"));
	free(m.files);
	m.files = xstrdup("missing");
	assert_null(unik_compiler_rootfs_dir(src, &m, &err));
	assert_non_null(strstr(err.msg, "\"files\" names missing, which is not a directory"));
	unik_manifest_free(&m);
	unik_rmtree(d, NULL);
}

/* A kernel the guest ELF check takes: header, PT_LOAD at 1 MiB, the unik and PVH notes. */
static void write_kernel(const char *path)
{
	uint8_t buf[0x300] = {0};
	Elf64_Ehdr eh = {0};
	Elf64_Phdr load = {0}, note = {0};
	Elf64_Nhdr unik = {.n_namesz = 5, .n_descsz = 4, .n_type = UNIK_NOTE_ABI};
	Elf64_Nhdr pvh = {.n_namesz = 4, .n_descsz = 4, .n_type = UNIK_XEN_ELFNOTE_PHYS32_ENTRY};
	size_t off = sizeof(eh) + 2 * sizeof(Elf64_Phdr);
	struct unik_error err;
	uint32_t v = 1, entry = UNIK_LOAD_ADDR;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	load.p_type = PT_LOAD;
	load.p_offset = 0x200;
	load.p_paddr = UNIK_LOAD_ADDR;
	load.p_filesz = load.p_memsz = 0x100;
	note.p_type = PT_NOTE;
	note.p_offset = off;
	note.p_filesz = 2 * sizeof(Elf64_Nhdr) + 8 + 4 + 4 + 4;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &load, sizeof(load));
	memcpy(buf + sizeof(eh) + sizeof(load), &note, sizeof(note));
	memcpy(buf + off, &unik, sizeof(unik));
	memcpy(buf + off + sizeof(unik), "unik", 5);
	memcpy(buf + off + sizeof(unik) + 8, &v, 4);
	off += sizeof(unik) + 12;
	memcpy(buf + off, &pvh, sizeof(pvh));
	memcpy(buf + off + sizeof(pvh), "Xen", 4);
	memcpy(buf + off + sizeof(pvh) + 4, &entry, 4);
	assert_int_equal(unik_write_file_atomic(path, buf, sizeof(buf), 0755, &err), 0);
}

static void test_artifacts(void **state)
{
	struct unik_error err = {0};
	_cleanup_free_ char *d = unik_mkdtemp("unik-test-comp", &err);
	_cleanup_free_ char *src = unik_path_join(d, "src");
	_cleanup_free_ char *out = unik_path_join(d, "out");
	_cleanup_free_ char *kernel = unik_path_join(out, "app");
	_cleanup_free_ char *motd = unik_path_join(src, "root/motd");
	_cleanup_free_ char *logp = unik_path_join(d, "build.log");
	_cleanup_free_ char *log = NULL;
	_cleanup_artifacts_ struct unik_artifacts a = {0};
	const struct unik_compiler *c = unik_compiler_find("rump", NULL, &err);
	struct unik_manifest m = {0};
	struct stat st;
	size_t len;
	int fd;

	(void)state;
	assert_non_null(d);
	mkdirs(d, "src");
	mkdirs(d, "out");
	mkdirs(d, "src/root");
	assert_int_equal(unik_write_file_atomic(motd, "hi\n", 3, 0644, &err), 0);
	write_kernel(kernel);
	m.name = xstrdup("app");
	m.args = xstrdup("app 1");
	m.memory_mb = 96;
	m.files = xstrdup("root");
	fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(unik_compiler_artifacts(c, src, &m, out, xstrdup(kernel), fd, &a, &err),
	                 0);
	close(fd);
	assert_string_equal(a.kernel, kernel);
	assert_non_null(a.rootfs);
	assert_int_equal(stat(a.rootfs, &st), 0);
	assert_true(st.st_size > 0);
	assert_string_equal(a.cmdline, "app 1");
	assert_string_equal(a.name, "app");
	assert_string_equal(a.base, "rump");
	assert_string_equal(a.language, "c");
	assert_string_equal(a.compiler, "rump");
	assert_int_equal(a.memory_mb, 96);
	assert_int_equal(a.platform, UNIK_PLATFORM_PVH);
	assert_int_equal(a.devices, 0);
	assert_int_equal(unik_read_file(logp, &log, &len, &err), 0);
	assert_non_null(strstr(log, "unik: root fs from root\n"));
	unik_artifacts_free(&a);

	/* Not a kernel: refused before any root fs is made. */
	assert_int_equal(unik_write_file_atomic(kernel, "#!/bin/sh\n", 10, 0755, &err), 0);
	assert_int_equal(unik_compiler_artifacts(c, src, &m, out, xstrdup(kernel), -1, &a, &err),
	                 -1);
	assert_non_null(strstr(err.msg, "not an ELF"));
	assert_null(a.kernel);
	unik_manifest_free(&m);
	unik_rmtree(d, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_and_messages),
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_rootfs_dir),
	    cmocka_unit_test(test_artifacts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
