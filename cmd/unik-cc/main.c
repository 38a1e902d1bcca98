/* unik-cc: a gcc-compatible driver that compiles C against musl and links it with the unik
 * runtime into a bootable unikernel ELF.  docs/unik-cc.md describes it for users. */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/unik-cc/args.h"
#include "lib/cmdline.h"
#include "lib/cpio.h"
#include "lib/error.h"
#include "lib/guest_elf.h"
#include "lib/selfpath.h"
#include "lib/unik_spawn.h"
#include "lib/util.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

#define DEFAULT_MUSL_DIR     "/usr/lib/x86_64-linux-musl"
#define DEFAULT_MUSL_INCLUDE "/usr/include/x86_64-linux-musl"

struct driver {
	const struct unikcc_args *args;
	const char *gcc;
	const char *musl_dir;
	struct strv compile_flags;
	char *tmpdir;
};

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static void print_help(void)
{
	fputs(
	    "Usage: unik-cc [gcc options] [--unik-* options] file...\n"
	    "\n"
	    "Compiles C programs against musl and links them with the unik runtime into a\n"
	    "bootable unikernel ELF (default output a.out).  With -c, -S, -E, -M or -MM it only\n"
	    "compiles, as gcc does, so CC=unik-cc works for ordinary Makefiles.  A partial link\n"
	    "(-r, -Wl,-r) adds nothing; the final link adds the runtime, crt files and libc, less\n"
	    "what -nostartfiles, -nodefaultlibs, -nolibc or -nostdlib leave out (the runtime\n"
	    "stays).  -shared, -pie and -static-pie are refused.\n"
	    "\n"
	    "unik-cc options (also accepted as --opt=VALUE):\n"
	    "  --unik-cmdline STR      default command line baked into the image: argv[0] and\n"
	    "                          arguments, shell-quoted (default: the output's file name)\n"
	    "  --unik-env NAME=VALUE   environment variable baked into the image (repeatable)\n"
	    "  --unik-rootfs DIR       embed DIR as the guest's root file system (newc cpio)\n"
	    "  --unik-multiboot        also link the multiboot v1 header (GRUB, QEMU -M pc)\n"
	    "  --unik-service          link an event-driven service (include/unik/service.h:\n"
	    "                          service_start, no main) with unikrt-service.o\n"
	    "  --unik-app              a device application (the mirage backend): link the\n"
	    "                          runtime's device variant and libunikapp.a\n"
	    "  --unik-device KIND:NAME declare a device (net:NAME or block:NAME; repeatable)\n"
	    "  --unik-target TARGET    where a device application runs (implies --unik-app):\n"
	    "                          virtio (default: a kernel for QEMU and the providers),\n"
	    "                          unix (a static Linux executable for unik-spt, with\n"
	    "                          libunikapp-unix.a) or hvt (unik-hvt, unik's KVM monitor:\n"
	    "                          links unikrt-hvt.o and hvt.ld)\n"
	    "  --unik-lwip             lwIP as a library over the device application's net\n"
	    "                          devices (unik/lwip-netif.h): its headers, liblwip-app.a\n"
	    "  --unik-runtime-dir DIR  directory holding unikrt.o, mb1.o and unik.ld\n"
	    "  --unik-keep-temps       keep the generated files and print where they are\n"
	    "  --help                  print this help\n"
	    "  --version               print unik-cc's version, then gcc's\n"
	    "  -v                      print each command unik-cc runs, and pass -v to gcc\n"
	    "\n"
	    "Environment:\n"
	    "  UNIK_GCC           the compiler to run (default gcc)\n"
	    "  UNIK_RUNTIME_DIR   the runtime directory (default: ../lib/unik, then\n"
	    "                     ../build/runtime and ../runtime next to unik-cc's directory)\n"
	    "  UNIK_MUSL_DIR      musl's libraries (default " DEFAULT_MUSL_DIR ")\n"
	    "  UNIK_MUSL_INCLUDE  musl's headers (default " DEFAULT_MUSL_INCLUDE ")\n"
	    "  UNIK_BUILD_OUTPUTS colon-separated patterns (e.g. 'mkconf:gen_*'): a run whose -o\n"
	    "                     file name matches one builds a host program with UNIK_BUILD_CC\n"
	    "  UNIK_BUILD_CC      the host compiler for those (default cc)\n"
	    "\n"
	    "All other options go to gcc unchanged (see gcc --help).\n",
	    stdout);
}

/* The host compiler when this run's output is one of UNIK_BUILD_OUTPUTS (a colon-separated list
 * of shell patterns matched against the output's file name), else NULL.  Code generators and
 * other programs a build runs on the host must not become unikernels. */
static const char *build_cc_for(const struct unikcc_args *a)
{
	const char *patterns = getenv("UNIK_BUILD_OUTPUTS");
	const char *out = a->output;
	const char *base;
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (!patterns || !*patterns)
		return NULL;
	if (!out && a->mode == UNIKCC_LINK)
		out = "a.out";
	if (!out)
		return NULL;
	base = strrchr(out, '/');
	base = base ? base + 1 : out;
	copy = xstrdup(patterns);
	for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
		if (fnmatch(p, base, 0) == 0)
			return env_or("UNIK_BUILD_CC", "cc");
	return NULL;
}

static void print_command(char *const *argv)
{
	fputs("unik-cc: running:", stderr);
	for (size_t i = 0; argv[i]; i++) {
		_cleanup_free_ char *q = unik_cmdline_quote_word(argv[i]);

		fprintf(stderr, " %s", q);
	}
	fputc('\n', stderr);
}

static int run(struct driver *d, const struct strv *argv, int *status, struct unik_error *err)
{
	if (d->args->verbose)
		print_command(strv_argv(argv));
	fflush(stdout);
	return unik_spawn((const char *const *)strv_argv(argv), NULL, status, err);
}

/* Asks gcc where one of its own files is (gcc -print-file-name=NAME).  gcc echoes the bare name
 * when it has no such file; that is reported as UNIK_E_NOTFOUND. */
static int gcc_file(struct driver *d, const char *name, char **out, struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *text = NULL;
	size_t len;
	int status;

	strv_push(&argv, d->gcc);
	strv_pushf(&argv, "-print-file-name=%s", name);
	if (d->args->verbose)
		print_command(strv_argv(&argv));
	if (unik_spawn_capture((const char *const *)strv_argv(&argv), NULL, &text, &len, &status,
	                       err) < 0)
		return -1;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (status != 0) {
		unik_error_set(err, UNIK_E_IO, "`%s -print-file-name=%s` failed with status %d",
		               d->gcc, name, status);
		return -1;
	}
	if (text[0] != '/' || access(text, R_OK) < 0) {
		unik_error_set(err, UNIK_E_NOTFOUND, "`%s` does not have `%s`", d->gcc, name);
		return -1;
	}
	*out = unik_steal_ptr(&text);
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *const runtime_files[] = {"unikrt.o", "mb1.o", "unik.ld"};
static const char *const musl_files[] = {"crt1.o", "crti.o", "crtn.o", "libc.a"};

/* NULL when dir holds the whole runtime, else the first file it lacks. */
static const char *runtime_missing(const char *dir)
{
	for (size_t i = 0; i < sizeof(runtime_files) / sizeof(runtime_files[0]); i++) {
		_cleanup_free_ char *p = unik_path_join(dir, runtime_files[i]);

		if (access(p, R_OK) < 0)
			return runtime_files[i];
	}
	return NULL;
}

static char *find_runtime(const struct unikcc_args *a, struct unik_error *err)
{
	static const char *const rel[] = {"../lib/unik", "../build/runtime", "../runtime"};
	_cleanup_free_ char *exe = NULL;
	_cleanup_strv_ struct strv tried = {0};
	const char *explicit = a->runtime_dir;
	const char *how = "--unik-runtime-dir";
	const char *missing;

	if (!explicit && getenv("UNIK_RUNTIME_DIR") && *getenv("UNIK_RUNTIME_DIR")) {
		explicit = getenv("UNIK_RUNTIME_DIR");
		how = "UNIK_RUNTIME_DIR";
	}
	if (explicit) {
		missing = runtime_missing(explicit);
		if (!missing)
			return xstrdup(explicit);
		unik_error_set(err, UNIK_E_NOTFOUND,
		               "%s `%s` has no `%s`: point it at the directory holding unikrt.o, "
		               "mb1.o and unik.ld (the runtime build output, e.g. build/runtime)",
		               how, explicit, missing);
		return NULL;
	}
	exe = unik_self_dir();
	if (exe) {
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			_cleanup_free_ char *dir = unik_path_join(exe, rel[i]);
			char *canon = realpath(dir, NULL);

			if (canon && !runtime_missing(canon))
				return canon;
			strv_push(&tried, canon ? canon : dir);
			free(canon);
		}
	}
	{
		_cleanup_free_ char *list = xstrdup("");

		for (size_t i = 0; i < tried.n; i++) {
			char *next = xasprintf("%s%s`%s`", list, i ? ", " : "", tried.v[i]);

			free(list);
			list = next;
		}
		unik_error_set(err, UNIK_E_NOTFOUND,
		               "cannot find the unik runtime (unikrt.o, mb1.o, unik.ld); looked in "
		               "%s. Build it with `make` in the unik tree, or set UNIK_RUNTIME_DIR "
		               "or --unik-runtime-dir to the directory that holds it",
		               tried.n ? list : "no place (cannot resolve /proc/self/exe)");
	}
	return NULL;
}

/* The baked command line: env words first, then --unik-cmdline verbatim or the output's name. */
static char *compose_cmdline(const struct unikcc_args *a, const char *output,
                             struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *env_part = NULL;
	struct unik_cmdline check;
	const char *base;
	char *out = NULL;

	if (!a->cmdline) {
		base = strrchr(output, '/');
		strv_push(&argv, base ? base + 1 : output);
		if (unik_cmdline_compose(&a->env, &argv, &out, err) < 0) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "the output name `%s` cannot be the baked program name: the "
			    "guest would read NAME=VALUE as an environment variable; give "
			    "the program name with --unik-cmdline",
			    argv.v[0]);
			return NULL;
		}
		return out;
	}
	if (unik_cmdline_split(a->cmdline, &check, err) < 0) {
		unik_cmdline_free(&check);
		unik_error_prefix(err, "--unik-cmdline `%s`", a->cmdline);
		return NULL;
	}
	unik_cmdline_free(&check);
	if (unik_cmdline_compose(&a->env, NULL, &env_part, err) < 0)
		return NULL;
	return xasprintf("%s%s%s", env_part, *env_part && *a->cmdline ? " " : "", a->cmdline);
}

/* The command line as assembler data: .byte values only, so no user text is ever parsed as
 * assembler source. */
static int write_cmdline_asm(const char *path, const char *cmdline, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0, n = strlen(cmdline);
	FILE *f = open_memstream(&text, &len);
	int ret;

	if (!f) {
		unik_error_sys(err, errno, "write `%s`", path);
		return -1;
	}
	fputs("# Generated by unik-cc: the default command line baked into the image.\n"
	      "\t.section .unik.cmdline,\"a\",@progbits\n",
	      f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s0x%02x",
		        i % 16 ? ","
		        : i    ? "\n\t.byte "
		               : "\t.byte ",
		        (unsigned char)cmdline[i]);
	if (n)
		fputc('\n', f);
	fputs("\t.byte 0\n\t.section .note.GNU-stack,\"\",@progbits\n", f);
	fclose(f);
	ret = unik_write_file_atomic(path, text, len, 0644, err);
	return ret;
}

/* The device application's declared devices as a UNIK_NOTE_APP_DEVICES note (include/unik/abi.h):
 * "KIND:NAME" words, each NUL-terminated, padded to four bytes.  An application that declares
 * none still gets the note, empty: the host tells a device application by it. */
static int write_devices_asm(const char *path, const struct strv *devices, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0, desc = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		unik_error_sys(err, errno, "write `%s`", path);
		return -1;
	}
	for (size_t i = 0; i < devices->n; i++)
		desc += strlen(devices->v[i]) + 1;
	fprintf(f,
	        "# Generated by unik-cc: the devices the application declares.\n"
	        "\t.section .note.unik,\"a\",@note\n\t.balign 4\n"
	        "\t.long 5, %zu, 3\n\t.asciz \"unik\"\n\t.balign 4\n",
	        desc);
	for (size_t i = 0; i < devices->n; i++)
		fprintf(f, "\t.asciz \"%s\"\n", devices->v[i]);
	fputs("\t.balign 4\n\t.section .note.GNU-stack,\"\",@progbits\n", f);
	fclose(f);
	return unik_write_file_atomic(path, text, len, 0644, err);
}

/* A file name as a GNU as string literal: anything but plain printable ASCII is an octal escape. */
static char *asm_string(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 4 + 3), *p = out;

	*p++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*p++ = (char)c;
		} else {
			*p++ = '\\';
			*p++ = (char)('0' + (c >> 6));
			*p++ = (char)('0' + ((c >> 3) & 7));
			*p++ = (char)('0' + (c & 7));
		}
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

static void rootfs_warn(void *ctx, const char *path, const char *reason)
{
	fprintf(stderr, "unik-cc: warning: --unik-rootfs `%s`: %s `%s`\n", (const char *)ctx,
	        reason, path);
}

static int write_rootfs_asm(struct driver *d, const char *asm_path, struct unik_error *err)
{
	const char *dir = d->args->rootfs;
	_cleanup_free_ char *cpio = unik_path_join(d->tmpdir, "rootfs.cpio");
	_cleanup_free_ char *quoted = NULL, *text = NULL;
	struct stat st;

	if (stat(dir, &st) < 0) {
		unik_error_set(err, unik_error_code_from_errno(errno),
		               "--unik-rootfs `%s`: %s; give a directory whose contents become the "
		               "guest's /",
		               dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--unik-rootfs `%s` is not a directory: give a directory whose "
		               "contents become the guest's /",
		               dir);
		return -1;
	}
	if (unik_cpio_pack(dir, cpio, rootfs_warn, (void *)dir, err) < 0)
		return -1;
	quoted = asm_string(cpio);
	text = xasprintf("# Generated by unik-cc: the root file system embedded in the image.\n"
	                 "\t.section .unik.rootfs,\"a\",@progbits\n"
	                 "\t.balign 16\n"
	                 "\t.incbin %s\n"
	                 "\t.section .note.GNU-stack,\"\",@progbits\n",
	                 quoted);
	return unik_write_file_atomic(asm_path, text, strlen(text), 0644, err);
}

/* gcc -c one generated assembler file. */
static int assemble(struct driver *d, const char *src, const char *obj, int *status,
                    struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};

	strv_push(&argv, d->gcc);
	strv_push(&argv, "-c");
	strv_push(&argv, "-o");
	strv_push(&argv, obj);
	strv_push(&argv, src);
	if (run(d, &argv, status, err) < 0)
		return -1;
	if (*status != 0) {
		unik_error_set(err, UNIK_E_IO, "assembling the generated `%s` failed (status %d)",
		               src, *status);
		return -1;
	}
	return 0;
}

/* -Wl splits on commas; a path with one goes through -Xlinker, which does not. */
static void push_linker_pair(struct strv *argv, const char *opt, const char *value)
{
	if (strchr(value, ',')) {
		strv_push(argv, "-Xlinker");
		strv_push(argv, opt);
		strv_push(argv, "-Xlinker");
		strv_push(argv, value);
	} else {
		strv_pushf(argv, "-Wl,%s,%s", opt, value);
	}
}

/* Whether the program uses what `var` (UNIK_NET, UNIK_VOL: "0" or "1") forces, else whether
 * what musl brought into the linked output defines one of users; -1 on error. */
static int uses_any(const char *var, const char *output, const char *const *users,
                    struct unik_error *err)
{
	const char *force = getenv(var);
	if (force && *force)
		return strcmp(force, "0") != 0;
	return unik_elf_defines_any(output, users, err);
}

/* The runtime's network code (virtio-net, the TCP/IP stack, sockets) and its device file systems
 * (virtio-blk with ext2, virtio-9p: volumes and shares mounted at boot) are linked only into
 * programs that may use them, so that the others stay small: the program is linked with
 * unikrt.o first; when what musl brought in defines socket or socketpair, it is linked again
 * with unikrt-net.o (which has everything) in its place, else when it defines a call that opens
 * or names files, with unikrt-vol.o.  UNIK_NET=0 or 1 and UNIK_VOL=0 or 1 skip the look and
 * decide. */
static int link_variant(struct driver *d, const char *rt, struct strv *argv, size_t rt_arg,
                        const char *output, int *status, struct unik_error *err)
{
	static const char *const net_users[] = {"socket", "socketpair", NULL};
	static const char *const file_users[] = {
	    "open",      "open64",   "openat",   "openat64", "fopen",    "fopen64", "freopen",
	    "opendir",   "creat",    "stat",     "stat64",   "lstat",    "fstatat", "access",
	    "faccessat", "mkdir",    "mkdirat",  "unlink",   "unlinkat", "rmdir",   "remove",
	    "rename",    "renameat", "truncate", "chdir",    "readlink", "symlink", "link",
	    "realpath",  "nftw",     "ftw",      "scandir",  "glob",     "statvfs", "statfs",
	    "utimensat", "chmod",    "execve",   "sync",     "fsync",    NULL};
	const char *variant = NULL;
	int uses = uses_any("UNIK_NET", output, net_users, err);
	if (uses < 0)
		return -1;
	if (uses) {
		variant = "unikrt-net.o";
	} else {
		if ((uses = uses_any("UNIK_VOL", output, file_users, err)) < 0)
			return -1;
		if (uses)
			variant = "unikrt-vol.o";
	}
	if (!variant)
		return 0;
	_cleanup_free_ char *path = unik_path_join(rt, variant);
	if (access(path, R_OK) < 0) {
		unik_error_sys(err, errno,
		               "this program uses %s, but the runtime's variant `%s` is missing: "
		               "rebuild the runtime (make)",
		               variant[7] == 'n' ? "sockets" : "files", path);
		return -1;
	}
	free(argv->v[rt_arg]);
	argv->v[rt_arg] = xstrdup(path);
	return run(d, argv, status, err);
}

static int do_link(struct driver *d, int *status, struct unik_error *err)
{
	const struct unikcc_args *a = d->args;
	const char *output = a->output ? a->output : "a.out";
	_cleanup_free_ char *rt = NULL, *crtbegin = NULL, *libgcc = NULL, *libgcc_eh = NULL;
	_cleanup_free_ char *crtend = NULL, *cmdline = NULL;
	_cleanup_strv_ struct strv gen_objs = {0};
	_cleanup_strv_ struct strv argv = {0};
	struct unik_error ignored;

	if (a->cxx) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "C++ is not supported yet: only C sources and objects can be "
		               "linked into a unikernel");
		return -1;
	}
	if (a->unsupported && strcmp(a->unsupported, "-shared") == 0) {
		unik_error_set(
		    err, UNIK_E_UNSUPPORTED,
		    "`-shared` cannot be used: a unikernel is one static binary and "
		    "loads no shared libraries; link the library's objects or a static "
		    "archive (`ar rcs libNAME.a ...`) into the program instead, or build "
		    "this host-side library with the host compiler (UNIK_BUILD_CC, see "
		    "docs/unik-cc.md)");
		return -1;
	}
	if (a->unsupported) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "`%s` cannot be used: a unikernel is one static executable at a "
		               "fixed address; remove it from the link",
		               a->unsupported);
		return -1;
	}
	if (a->response_file) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "response files (`%s`) are not supported when linking; pass the "
		               "arguments directly",
		               a->response_file);
		return -1;
	}
	/* The unix target is a Linux process for bin/unik-spt: musl's start-up and
	 * libunikapp-unix.a, no runtime kernel, no baked command line (unik-spt passes argv). */
	bool unix_target = a->app && a->target == UNIKCC_TARGET_UNIX;

	if (unix_target && (a->service || a->multiboot || a->rootfs || a->cmdline || a->env.n)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--unik-target unix makes a host process for unik-spt: it takes no "
		               "%s (the arguments and devices come from unik-spt's command line)",
		               a->service     ? "--unik-service"
		               : a->multiboot ? "--unik-multiboot"
		               : a->rootfs    ? "--unik-rootfs"
		               : a->cmdline   ? "--unik-cmdline"
		                              : "--unik-env");
		return -1;
	}
	rt = find_runtime(a, err);
	if (!rt)
		return -1;
	for (size_t i = 0; i < sizeof(musl_files) / sizeof(musl_files[0]); i++) {
		_cleanup_free_ char *p = unik_path_join(d->musl_dir, musl_files[i]);

		if (access(p, R_OK) < 0) {
			unik_error_sys(err, errno,
			               "musl's `%s`: install musl-dev or set UNIK_MUSL_DIR to the "
			               "directory holding musl's crt1.o and libc.a",
			               p);
			return -1;
		}
	}
	bool hvt = a->app && a->target == UNIKCC_TARGET_HVT;
	if (hvt && (a->service || a->multiboot || a->rootfs)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--unik-target hvt builds a device application for unik-hvt, which "
		               "takes no %s",
		               a->service     ? "--unik-service"
		               : a->multiboot ? "--unik-multiboot"
		                              : "--unik-rootfs (it has no file systems)");
		return -1;
	}
	if (hvt) {
		_cleanup_free_ char *p = unik_path_join(rt, "unikrt-hvt.o");

		if (access(p, R_OK) < 0) {
			unik_error_sys(err, errno,
			               "--unik-target hvt needs the runtime's `%s`: rebuild the "
			               "runtime (make)",
			               p);
			return -1;
		}
	}
	/* A service has no C start-up: the runtime's event loop calls service_start. */
	bool start_files = !a->no_start_files && !a->service;

	if (a->service) {
		_cleanup_free_ char *p = unik_path_join(rt, "unikrt-service.o");

		if (access(p, R_OK) < 0) {
			unik_error_sys(
			    err, errno,
			    "--unik-service needs the runtime's `%s`: rebuild the runtime "
			    "with lwIP (make; scripts/install-deps fetches lwIP)",
			    p);
			return -1;
		}
	}
	if (start_files && (gcc_file(d, "crtbeginT.o", &crtbegin, err) < 0 ||
	                    gcc_file(d, "crtend.o", &crtend, err) < 0))
		return -1;
	if (gcc_file(d, "libgcc.a", &libgcc, err) < 0)
		return -1;
	if (a->no_default_libs || gcc_file(d, "libgcc_eh.a", &libgcc_eh, &ignored) < 0)
		libgcc_eh = NULL;
	cmdline = unix_target ? NULL : compose_cmdline(a, output, err);
	if (!cmdline && !unix_target)
		return -1;

	d->tmpdir = unik_mkdtemp("unik-cc", err);
	if (!d->tmpdir)
		return -1;
	if (!unix_target) {
		_cleanup_free_ char *src = unik_path_join(d->tmpdir, "cmdline.s");
		_cleanup_free_ char *obj = unik_path_join(d->tmpdir, "cmdline.o");

		if (write_cmdline_asm(src, cmdline, err) < 0 ||
		    assemble(d, src, obj, status, err) < 0)
			return -1;
		strv_push(&gen_objs, obj);
	}
	if (a->rootfs) {
		_cleanup_free_ char *src = unik_path_join(d->tmpdir, "rootfs.s");
		_cleanup_free_ char *obj = unik_path_join(d->tmpdir, "rootfs.o");

		if (write_rootfs_asm(d, src, err) < 0 || assemble(d, src, obj, status, err) < 0)
			return -1;
		strv_push(&gen_objs, obj);
	}
	if (a->app) {
		_cleanup_free_ char *src = unik_path_join(d->tmpdir, "devices.s");
		_cleanup_free_ char *obj = unik_path_join(d->tmpdir, "devices.o");

		if (write_devices_asm(src, &a->devices, err) < 0 ||
		    assemble(d, src, obj, status, err) < 0)
			return -1;
		strv_push(&gen_objs, obj);
	}
	if (caught_signal)
		return -1;

	strv_push(&argv, d->gcc);
	strv_extend(&argv, &d->compile_flags);
	strv_push(&argv, "-static");
	strv_push(&argv, "-nostdlib");
	strv_push(&argv, "-no-pie");
	if (!unix_target) {
		_cleanup_free_ char *ld = unik_path_join(rt, hvt ? "hvt.ld" : "unik.ld");

		push_linker_pair(&argv, "-T", ld);
		strv_push(&argv, "-Wl,--no-warn-rwx-segments");
	}
	strv_push(&argv, "-Wl,-z,noexecstack");
	strv_push(&argv, "-Wl,--build-id=none");
	if (!unix_target) {
		strv_push(&argv, "-Wl,--discard-locals"); /* the runtime's symbols (unikrt.o) */
		strv_push(&argv, "-Wl,-z,max-page-size=4096");
	}
	if (start_files) {
		strv_push_take(&argv, unik_path_join(d->musl_dir, "crt1.o"));
		strv_push_take(&argv, unik_path_join(d->musl_dir, "crti.o"));
		strv_push(&argv, crtbegin);
	}
	strv_extend(&argv, &a->link_args);
	/* The runtime is the kernel, not a default library: -nostdlib and friends keep it, as
	 * they keep the generated objects. libgcc.a stays too, after the runtime that calls into
	 * it; an archive only supplies what nothing else defines. */
	size_t rt_arg = argv.n;
	if (!unix_target)
		strv_push_take(&argv, unik_path_join(rt, a->service ? "unikrt-service.o"
		                                         : hvt      ? "unikrt-hvt.o"
		                                         : a->app   ? "unikrt-app.o"
		                                                    : "unikrt.o"));
	if (a->multiboot)
		strv_push_take(&argv, unik_path_join(rt, "mb1.o"));
	strv_extend(&argv, &gen_objs);
	strv_push(&argv, "-L");
	strv_push(&argv, d->musl_dir);
	strv_push(&argv, "-Wl,--start-group");
	if (a->lwip)
		strv_push_take(&argv, unik_path_join(rt, "liblwip-app.a"));
	if (a->app)
		strv_push_take(
		    &argv, unik_path_join(rt, unix_target ? "libunikapp-unix.a" : "libunikapp.a"));
	if (!a->no_libc)
		strv_push(&argv, "-lc");
	strv_push(&argv, libgcc);
	if (libgcc_eh)
		strv_push(&argv, libgcc_eh);
	strv_push(&argv, "-Wl,--end-group");
	if (start_files) {
		strv_push(&argv, crtend);
		strv_push_take(&argv, unik_path_join(d->musl_dir, "crtn.o"));
	}
	strv_push(&argv, "-o");
	strv_push(&argv, output);
	if (run(d, &argv, status, err) < 0)
		return -1;
	if (*status != 0 || a->service || a->app)
		return 0; /* the linker said why; a service or a device application has its one
		             runtime */
	return link_variant(d, rt, &argv, rt_arg, output, status, err);
}

static void cleanup_tmpdir(struct driver *d)
{
	struct unik_error err;

	if (!d->tmpdir)
		return;
	if (d->args->keep_temps) {
		fprintf(stderr, "unik-cc: temporary files kept in %s\n", d->tmpdir);
	} else if (unik_rmtree(d->tmpdir, &err) < 0) {
		fprintf(stderr, "unik-cc: warning: %s\n", err.msg);
	}
	free(d->tmpdir);
	d->tmpdir = NULL;
}

static int setup_compile_flags(struct driver *d, struct unik_error *err)
{
	const char *musl_inc = env_or("UNIK_MUSL_INCLUDE", DEFAULT_MUSL_INCLUDE);
	_cleanup_free_ char *gcc_inc = NULL;

	if (!is_dir(musl_inc)) {
		unik_error_set(err, UNIK_E_NOTFOUND,
		               "musl's headers are not in `%s`: install musl-dev or set "
		               "UNIK_MUSL_INCLUDE to the directory holding musl's stdio.h",
		               musl_inc);
		return -1;
	}
	if (gcc_file(d, "include", &gcc_inc, err) < 0) {
		if (err->code == UNIK_E_NOTFOUND)
			unik_error_prefix(err, "gcc's own headers (stddef.h, stdarg.h)");
		return -1;
	}
	/* musl's headers first, then gcc's freestanding ones, as Debian's musl-gcc.specs does. */
	strv_push(&d->compile_flags, "-nostdinc");
	strv_push(&d->compile_flags, "-isystem");
	strv_push(&d->compile_flags, musl_inc);
	strv_push(&d->compile_flags, "-isystem");
	strv_push(&d->compile_flags, gcc_inc);
	strv_push(&d->compile_flags, "-D__unik__=1");
	/* The runtime's headers for programs (unik/service.h), when the runtime is found. */
	{
		struct unik_error ignored;
		_cleanup_free_ char *rt = find_runtime(d->args, &ignored);
		_cleanup_free_ char *inc = rt ? unik_path_join(rt, "include") : NULL;

		if (inc && is_dir(inc)) {
			strv_push(&d->compile_flags, "-isystem");
			strv_push(&d->compile_flags, inc);
		}
		/* lwIP's headers and liblwip-app.a's configuration (Makefile, LWIP_APP_INC). */
		if (inc && d->args->lwip) {
			_cleanup_free_ char *lw = unik_path_join(inc, "lwip-app");

			if (!is_dir(lw)) {
				unik_error_set(
				    err, UNIK_E_NOTFOUND,
				    "--unik-lwip needs lwIP's headers in `%s`: rebuild the "
				    "runtime with lwIP (make; scripts/install-deps fetches it)",
				    lw);
				return -1;
			}
			strv_push(&d->compile_flags, "-isystem");
			strv_push(&d->compile_flags, lw);
			strv_push(&d->compile_flags, "-DUNIK_LWIP_APP=1");
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct unikcc_args args;
	struct driver d = {.args = &args};
	struct unik_error err;
	const char *build_cc;
	int status = 1, ret;

	unik_error_clear(&err);
	if (unikcc_parse_args(argc, argv, &args, &err) < 0) {
		fprintf(stderr, "unik-cc: %s\n", err.msg);
		unikcc_args_free(&args);
		return 1;
	}
	if (args.help) {
		print_help();
		unikcc_args_free(&args);
		return 0;
	}
	d.gcc = env_or("UNIK_GCC", "gcc");
	d.musl_dir = env_or("UNIK_MUSL_DIR", DEFAULT_MUSL_DIR);
	if (args.version) {
		printf("unik-cc (unik) %s\n", UNIK_VERSION);
		fflush(stdout);
	}

	if ((build_cc = build_cc_for(&args))) {
		_cleanup_strv_ struct strv cmd = {0};

		/* A host program: the user's arguments, nothing of unik's added. */
		strv_push(&cmd, build_cc);
		strv_extend(&cmd, &args.gcc_args);
		if (run(&d, &cmd, &status, &err) < 0) {
			fprintf(stderr, "unik-cc: %s\n", err.msg);
			status = 1;
		}
		unikcc_args_free(&args);
		return status;
	}
	if (args.mode == UNIKCC_LINK) {
		struct sigaction sa = {.sa_handler = on_signal};

		/* Interrupted or not, gcc is waited for and the temporary directory removed. */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}

	ret = setup_compile_flags(&d, &err);
	if (ret == 0 && args.mode != UNIKCC_LINK) {
		_cleanup_strv_ struct strv cmd = {0};

		strv_push(&cmd, d.gcc);
		strv_extend(&cmd, &d.compile_flags);
		strv_extend(&cmd, &args.gcc_args);
		/* A partial link makes an object for a later link, which adds the runtime, crt
		 * files and libc once. gcc adds nothing for -r itself, but -Wl,-r is opaque to
		 * it: it would add the host's crt files and -pie. */
		if (args.mode == UNIKCC_PARTIAL) {
			strv_push(&cmd, "-nostdlib");
			strv_push(&cmd, "-no-pie");
		}
		ret = run(&d, &cmd, &status, &err);
	} else if (ret == 0) {
		ret = do_link(&d, &status, &err);
	}
	cleanup_tmpdir(&d);
	if (caught_signal) {
		signal(caught_signal, SIG_DFL);
		raise(caught_signal);
	}
	if (ret < 0 && err.code != UNIK_OK) {
		fprintf(stderr, "unik-cc: %s\n", err.msg);
		if (status == 0)
			status = 1;
	}
	strv_free(&d.compile_flags);
	unikcc_args_free(&args);
	return ret < 0 && status == 0 ? 1 : status;
}
