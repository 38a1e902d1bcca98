/* The compiler interface: how a source tree becomes a unik kernel.  One folder per backend
 * (compilers/rump/, later includeos/, mirage/), one line in compilers/registry.c. */
#ifndef UNIK_COMPILER_H
#define UNIK_COMPILER_H

#include "compilers/manifest.h"
#include "compilers/sandbox.h"
#include "error.h"

struct unik_compiler {
	const char *name;             /* "rump" */
	const char *base;             /* what `--base` selects: "rump" */
	const char *const *languages; /* NULL-terminated: {"c", NULL} */
	const char *description;      /* one line */
	const char *usage;            /* how to lay out a project for it (several lines) */

	/* Builds src_dir (which the backend may write into) as described by m, every command
	 * run through unik_sandbox_run in sb (whose rw_dirs are src_dir and out_dir; the
	 * backend adds the toolchain directories it needs).  Everything the tools print goes
	 * to log_fd as it happens.  On success *kernel is the path (malloc'd, caller frees) of
	 * the kernel ELF, inside src_dir or out_dir. */
	int (*build)(const char *src_dir, const struct unik_manifest *m, const char *out_dir,
	             const struct unik_sandbox *sb, int log_fd, char **kernel,
	             struct unik_error *err);
};

/* NULL-terminated list of compiled-in compilers. */
extern const struct unik_compiler *const unik_compilers[];

/* The compiler for base (NULL: the default, "rump") that supports language (NULL: any);
 * NULL with a message listing what exists when there is none. */
const struct unik_compiler *unik_compiler_find(const char *base, const char *language,
                                               struct unik_error *err);

/* Where unik-cc is: $UNIK_CC, else "unik-cc" next to the running program.  Caller frees. */
char *unik_cc_path(void);

#endif
