/* Where unik's own programs are, from the running program's place.  Two layouts are known: a
 * build tree, where every program is in bin/ side by side (the runtime in ../build/runtime), and
 * an installed PREFIX (docs/install.md): PREFIX/bin (unik, unik-cc, unik-oci), PREFIX/libexec/unik
 * (unik-daemon, unik-shim, unik-pack) and PREFIX/lib/unik (the runtime). */
#ifndef UNIK_SELFPATH_H
#define UNIK_SELFPATH_H

/* The directory of the running program (/proc/self/exe, symbolic links resolved).  Caller
 * frees; NULL when it cannot be known. */
char *unik_self_dir(void);

/* The unik program name (e.g. "unik-shim"), looked for beside the running program, then in
 * ../libexec/unik (a program in PREFIX/bin), then in ../../bin (a program in
 * PREFIX/libexec/unik).  An absolute path the caller frees; NULL when none is there. */
char *unik_find_program(const char *name);

#endif
