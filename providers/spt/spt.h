/* The spt provider (docs/providers/spt.md): a mirage application built for the unix target runs
 * as a seccomp-confined host process, bin/unik-spt, supervised by unik-shim as QEMU is. */
#ifndef UNIK_PROVIDER_SPT_H
#define UNIK_PROVIDER_SPT_H

#include "lib/util.h"
#include "providers/provider.h"

extern const struct unik_provider unik_provider_spt;

/* unik-spt's command line for an instance (without the program itself): --console-abi, --mem,
 * --argv0, a --net per net device on its tap (taps[i], made by the provider), a --block per
 * block device on descriptor fd_base + i, the kernel path, then the arguments of cmdline (guest
 * syntax; its environment words are dropped: a unix-target application has none). */
int spt_build_argv(const struct unik_run_spec *spec, const char *kernel, const char *const *taps,
                   int fd_base, struct strv *out, struct unik_error *err);

#endif
