/* The compiler interface: how a source tree becomes a unik kernel and its root fs.  A backend is
 * one folder (compilers/rump/, later includeos/, mirage/) and one line in compilers/registry.c. */
#ifndef UNIK_COMPILER_H
#define UNIK_COMPILER_H

#include "compilers/manifest.h"
#include "compilers/sandbox.h"
#include "lib/error.h"
#include "lib/artifacts.h"

struct unik_compiler {
	const char *name;             /* "rump" */
	const char *base;             /* what `--base` selects: "rump" */
	const char *const *languages; /* NULL-terminated: {"c", NULL} */
	const char *description;      /* one line */
	const char *usage;            /* how to lay out a project for it (several lines) */
	/* The targets a source builds for (the Unikfile's `target:`, `unik build --target`),
	 * the default first, NULL-terminated; NULL for a backend with one (no `target:`).  For
	 * each, the provider that runs it by default, NULL for the daemon's default. */
	const char *const *targets;
	const char *const *target_providers;

	/* Builds src_dir (which the backend may write into) as described by m, every command
	 * run through unik_sandbox_run in sb (whose rw_dirs are src_dir and out_dir; the
	 * backend adds the toolchain directories it needs).  Everything the tools print goes
	 * to log_fd as it happens.  On success *out holds what was built (release it with
	 * unik_artifacts_free): the kernel ELF inside src_dir or out_dir, the root fs made from
	 * the manifest's `files:` in out_dir, the default command line, metadata, the platform
	 * and the devices the kernel requires.  A backend ends with unik_compiler_artifacts,
	 * which does all but the kernel the same way for every backend. */
	int (*build)(const char *src_dir, const struct unik_manifest *m, const char *out_dir,
	             const struct unik_sandbox *sb, int log_fd, struct unik_artifacts *out,
	             struct unik_error *err);
};

/* NULL-terminated list of compiled-in compilers. */
extern const struct unik_compiler *const unik_compilers[];

/* The compiler for base (NULL: the default, "rump") that supports language (NULL: any);
 * NULL with a message listing what exists when there is none. */
const struct unik_compiler *unik_compiler_find(const char *base, const char *language,
                                               struct unik_error *err);

/* Fills *out for a kernel that c built from src_dir (kernel: malloc'd, taken even on failure):
 * checks it is a unik kernel (lib/guest_elf.h), packs the manifest's `files:` directory, which
 * must lie inside src_dir, as newc cpio into out_dir/rootfs.cpio (a line on log_fd for each
 * entry left out), and fills the command line and metadata from m and c.  The platform is PVH
 * and no devices are required: a backend that differs sets them afterwards. */
int unik_compiler_artifacts(const struct unik_compiler *c, const char *src_dir,
                            const struct unik_manifest *m, const char *out_dir, char *kernel,
                            int log_fd, struct unik_artifacts *out, struct unik_error *err);

/* The resolved path of the manifest's `files:` directory, checked to lie inside src_dir;
 * NULL with err set when it does not, NULL with err untouched when m has none.  Caller frees. */
char *unik_compiler_rootfs_dir(const char *src_dir, const struct unik_manifest *m,
                               struct unik_error *err);

/* The default guest command line of m: its env as NAME=VALUE words (quoted), then its args;
 * NULL when it has neither.  Caller frees. */
char *unik_compiler_cmdline(const struct unik_manifest *m);

/* compilers/rump/: builds a C source tree with unik-cc as the rump backend does (its Makefile
 * with CC=unik-cc, else every top-level .c file), cc_flag (NULL: none) added to unik-cc's
 * arguments, then unik_compiler_artifacts for c.  A tree whose C files look written for another
 * base (main() and no service_start(), or the other way round) is refused with a message that
 * names it. */
int unik_compiler_build_c(const struct unik_compiler *c, const char *cc_flag, const char *src_dir,
                          const struct unik_manifest *m, const char *out_dir,
                          const struct unik_sandbox *sandbox, int log_fd,
                          struct unik_artifacts *out, struct unik_error *err);

/* Where unik-cc is: $UNIK_CC, else beside the running program or in its installed layout
 * (lib/selfpath.h), else "unik-cc" (PATH).  Caller frees. */
char *unik_cc_path(void);

#endif
