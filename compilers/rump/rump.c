/* The rump backend: unmodified POSIX C programs on unik's runtime, built with their own Makefile
 * and CC=unik-cc, or, without a Makefile, every top-level .c file compiled into one kernel. */
#include "compilers/compiler.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/guest_elf.h"
#include "lib/unik_spawn.h"
#include "compilers/sandbox.h"
#include "lib/util.h"

/* A snapshot of the regular files under a tree, to tell which ones a build wrote. */
struct file_sig {
	char *path;
	struct timespec mtime;
	off_t size;
};

struct snapshot {
	struct file_sig *v;
	size_t n, cap;
};

static void snap_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void snap_walk(const char *dir, int depth, struct snapshot *s)
{
	DIR *d;
	struct dirent *de;

	if (depth > 12 || s->n > 100000 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		_cleanup_free_ char *p = unik_path_join(dir, de->d_name);
		if (lstat(p, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			snap_walk(p, depth + 1, s);
		} else if (S_ISREG(sb.st_mode)) {
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 64;
				s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
			}
			s->v[s->n++] =
			    (struct file_sig){unik_steal_ptr(&p), sb.st_mtim, sb.st_size};
		}
	}
	closedir(d);
}

static const struct file_sig *snap_find(const struct snapshot *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	return NULL;
}

/* The unik kernels the build wrote or changed. */
static void new_kernels(const struct snapshot *before, const char *src, struct strv *out)
{
	struct snapshot after = {0};

	snap_walk(src, 0, &after);
	for (size_t i = 0; i < after.n; i++) {
		const struct file_sig *b = snap_find(before, after.v[i].path);

		if (b && b->size == after.v[i].size && b->mtime.tv_sec == after.v[i].mtime.tv_sec &&
		    b->mtime.tv_nsec == after.v[i].mtime.tv_nsec)
			continue;
		if (unik_guest_elf_check(after.v[i].path, NULL, NULL) == 0)
			strv_push(out, after.v[i].path);
	}
	snap_free(&after);
}

static bool has_makefile(const char *src)
{
	static const char *const names[] = {"GNUmakefile", "makefile", "Makefile", NULL};

	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *p = unik_path_join(src, names[i]);
		if (access(p, F_OK) == 0)
			return true;
	}
	return false;
}

/* Whether the Makefile names $(CXX) or ${CXX} (a C++ project). */
static bool makefile_uses_cxx(const char *src)
{
	static const char *const names[] = {"GNUmakefile", "makefile", "Makefile", NULL};

	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *p = unik_path_join(src, names[i]);
		_cleanup_free_ char *text = NULL;
		struct unik_error ignored;

		if (unik_read_file(p, &text, NULL, &ignored) < 0)
			continue;
		return strstr(text, "$(CXX)") || strstr(text, "${CXX}");
	}
	return false;
}

static int build_make(const char *src, const struct unik_manifest *m, const char *cc,
                      const char *cc_flag, const struct unik_sandbox *sb, int log_fd, char **kernel,
                      struct unik_error *err)
{
	struct snapshot before = {0};
	_cleanup_strv_ struct strv found = {0};
	_cleanup_free_ char *ccarg =
	    xasprintf("CC=%s%s%s", cc, cc_flag ? " " : "", cc_flag ? cc_flag : "");
	/* $(CXX) too, so that a C++ Makefile meets unik-cc's own clear refusal rather than
	 * building a Linux program with the host's g++. */
	_cleanup_free_ char *cxxarg =
	    xasprintf("CXX=%s%s%s", cc, cc_flag ? " " : "", cc_flag ? cc_flag : "");
	const char *argv[] = {"make", "-C", src, ccarg, cxxarg, NULL};
	bool cxx = makefile_uses_cxx(src);
	int rc = -1;

	snap_walk(src, 0, &before);
	if (unik_sandbox_run_logged(sb, argv, src, log_fd, "make", err) < 0) {
		if (cxx)
			unik_error_prefix(err, "the Makefile builds C++ with $(CXX), and unik "
			                       "builds C only so far");
		goto out;
	}
	if (m->binary) {
		_cleanup_free_ char *p = unik_path_join(src, m->binary);

		if (access(p, F_OK) < 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "make succeeded but did not produce \"%s\" (named by %s)",
			               m->binary, m->file ? m->file : "the build options");
			goto out;
		}
		*kernel = unik_steal_ptr(&p);
		rc = 0;
		goto out;
	}
	new_kernels(&before, src, &found);
	if (found.n == 1) {
		*kernel = xstrdup(found.v[0]);
		rc = 0;
	} else if (found.n == 0 && cxx) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "make succeeded but produced no unik kernel: the Makefile uses "
		    "$(CXX), and unik builds C only so far: compile and link with $(CC)");
	} else if (found.n == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "make succeeded but produced no unik kernel: does the Makefile link "
		               "with $(CC)?  Name the program with \"binary:\" in a Unikfile (or "
		               "binary_name in manifest.yaml)");
	} else {
		unik_error_set(err, UNIK_E_INVALID,
		               "make produced %zu kernels (%s, %s, ...): name the one to use with "
		               "\"binary:\" in a Unikfile (or binary_name in manifest.yaml)",
		               found.n, found.v[0] + strlen(src) + 1, found.v[1] + strlen(src) + 1);
	}
out:
	snap_free(&before);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int build_sources(const char *src, const struct unik_manifest *m, const char *out_dir,
                         const char *cc, const char *cc_flag, const struct unik_sandbox *sb,
                         int log_fd, char **kernel, struct unik_error *err)
{
	_cleanup_strv_ struct strv files = {0};
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *out = NULL;
	const char *base;
	DIR *d = opendir(src);
	struct dirent *de;

	if (!d) {
		unik_error_sys(err, errno, "open %s", src);
		return -1;
	}
	while ((de = readdir(d)))
		if (unik_str_has_suffix(de->d_name, ".c") && strlen(de->d_name) > 2)
			strv_push(&files, de->d_name);
	closedir(d);
	if (files.n == 0) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "nothing to build: the source has no Makefile and no .c files at its "
		    "top level");
		return -1;
	}
	qsort(files.v, files.n, sizeof(*files.v), cmp_str);
	base = m->binary ? strrchr(m->binary, '/') : NULL;
	base = base ? base + 1 : (m->binary ? m->binary : (m->name ? m->name : "app"));
	out = unik_path_join(out_dir, base);
	strv_push(&argv, cc);
	if (cc_flag)
		strv_push(&argv, cc_flag);
	strv_push(&argv, "-O2");
	strv_push(&argv, "-o");
	strv_push(&argv, out);
	for (size_t i = 0; i < files.n; i++)
		strv_pushf(&argv, "./%s", files.v[i]);
	strv_push(&argv, "-lm");
	if (unik_sandbox_run_logged(sb, (const char *const *)strv_argv(&argv), src, log_fd,
	                            "unik-cc", err) < 0)
		return -1;
	*kernel = unik_steal_ptr(&out);
	return 0;
}

/* Whether path, links resolved, lies under dir a or dir b. */
static bool inside(const char *path, const char *a, const char *b)
{
	_cleanup_free_ char *rp = realpath(path, NULL);
	const char *dirs[] = {a, b};

	for (size_t i = 0; rp && i < 2; i++) {
		_cleanup_free_ char *rd = realpath(dirs[i], NULL);
		size_t n = rd ? strlen(rd) : 0;

		if (rd && !strncmp(rp, rd, n) && rp[n] == '/')
			return true;
	}
	return false;
}

/* Whether the C file at path defines main() and service_start(): a look at the text, enough
 * to tell a POSIX program from an includeos service. */
static void scan_c(const char *path, bool *has_main, bool *has_service)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	struct unik_error ignored;

	if (unik_read_file(path, &text, &len, &ignored) < 0)
		return;
	*has_service =
	    *has_service || strstr(text, "service_start(void)") || strstr(text, "service_start()");
	*has_main = *has_main || strstr(text, "int main(") || strstr(text, "int\nmain(") ||
	            strstr(text, "int main (");
}

/* The base the C files at the top of src look written for: "includeos" when they define
 * service_start() and no main(), "rump" when the other way round, else NULL. */
static const char *layout_of(const char *src)
{
	bool has_main = false, has_service = false;
	DIR *d = opendir(src);
	struct dirent *de;

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!unik_str_has_suffix(de->d_name, ".c"))
			continue;
		_cleanup_free_ char *p = unik_path_join(src, de->d_name);
		scan_c(p, &has_main, &has_service);
	}
	closedir(d);
	if (has_service != has_main)
		return has_service ? "includeos" : "rump";
	return NULL;
}

int unik_compiler_build_c(const struct unik_compiler *c, const char *cc_flag, const char *src_dir,
                          const struct unik_manifest *m, const char *out_dir,
                          const struct unik_sandbox *sandbox, int log_fd,
                          struct unik_artifacts *out, struct unik_error *err)
{
	const char *looks = layout_of(src_dir);
	_cleanup_free_ char *cc = unik_cc_path();
	_cleanup_free_ char *k = NULL;
	struct unik_sandbox sb;
	struct stat st;
	int r;

	memset(out, 0, sizeof(*out));
	if (looks && strcmp(looks, c->base) != 0) {
		if (!strcmp(looks, "rump"))
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "this source looks like a rump project: it defines main() and no "
			    "service_start(); build it with --base rump (or base: rump in "
			    "the Unikfile), or write it as a service "
			    "(docs/backends/includeos.md)");
		else
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "this source looks like an includeos project: it defines "
			    "service_start() and no main(); build it with --base includeos "
			    "(or base: includeos in the Unikfile)");
		return -1;
	}
	if (access(cc, X_OK) < 0 && strchr(cc, '/')) {
		unik_error_sys(err, errno, "unik-cc (%s) cannot be run; set UNIK_CC", cc);
		return -1;
	}
	unik_sandbox_copy(&sb, sandbox);
	unik_sandbox_toolchain(&sb, cc);
	if (has_makefile(src_dir))
		r = build_make(src_dir, m, cc, cc_flag, &sb, log_fd, &k, err);
	else
		r = build_sources(src_dir, m, out_dir, cc, cc_flag, &sb, log_fd, &k, err);
	unik_sandbox_free(&sb);
	if (r < 0)
		return -1;
	/* The build is not trusted: its kernel is a file it wrote, not a link to one of the
	 * daemon's. */
	if (lstat(k, &st) < 0 || !S_ISREG(st.st_mode) || !inside(k, src_dir, out_dir)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "the kernel %s is not a regular file inside the build (a symbolic "
		               "link?)",
		               k);
		return -1;
	}
	return unik_compiler_artifacts(c, src_dir, m, out_dir, unik_steal_ptr(&k), log_fd, out,
	                               err);
}

extern const struct unik_compiler unik_compiler_rump;

static int rump_build(const char *src_dir, const struct unik_manifest *m, const char *out_dir,
                      const struct unik_sandbox *sandbox, int log_fd, struct unik_artifacts *out,
                      struct unik_error *err)
{
	return unik_compiler_build_c(&unik_compiler_rump, NULL, src_dir, m, out_dir, sandbox,
	                             log_fd, out, err);
}

static const char *const rump_languages[] = {"c", NULL};

const struct unik_compiler unik_compiler_rump = {
    .name = "rump",
    .base = "rump",
    .languages = rump_languages,
    .description = "unmodified POSIX C programs on unik's runtime, built with unik-cc",
    .usage = "A directory with a Makefile that compiles and links with $(CC): unik runs\n"
             "`make CC=unik-cc` in it.  The program to boot is named by \"binary:\" in a\n"
             "Unikfile (or binary_name in UniK's manifest.yaml); without one, the single\n"
             "unik kernel the build wrote is used.  Without a Makefile, every .c file at the\n"
             "top of the directory is compiled with `unik-cc -O2 -o app *.c -lm`.\n"
             "A Unikfile can also set name, args, env, memory and files (a directory that\n"
             "becomes the guest's root file system); see docs/unikfile.md.\n",
    .build = rump_build,
};
