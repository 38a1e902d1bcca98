/* The process-monitor providers (docs/providers/spt.md, docs/providers/hvt.md): a mirage
 * application built for the unix target runs as a seccomp-confined host process, bin/unik-spt
 * (the spt provider); one built for the hvt target in a KVM virtual machine of unik's own
 * monitor, bin/unik-hvt (the hvt provider); each supervised by unik-shim as QEMU is. */
#ifndef UNIK_PROVIDER_SPT_H
#define UNIK_PROVIDER_SPT_H

#include "lib/util.h"
#include "providers/provider.h"

extern const struct unik_provider unik_provider_spt;
extern const struct unik_provider unik_provider_hvt;

/* What differs between the process monitors; one run function serves them all. */
struct spt_monitor {
	const char *provider; /* the provider's name: "spt" */
	const char *program;  /* the monitor, found next to unik or in PATH: "unik-spt" */
	const char *env;      /* the variable that overrides where it is: "UNIK_SPT" */
	const char *target;   /* the mirage target of the applications it runs: "unix" */
	bool needs_kvm;       /* available only where the confined user can open /dev/kvm */
};
extern const struct spt_monitor spt_monitors[];
extern const size_t spt_nmonitors;

/* The monitor of provider `provider`, or NULL. */
const struct spt_monitor *spt_monitor_find(const char *provider);
/* Whether m's provider can run here; reason says why not. */
bool spt_monitor_available(const struct spt_monitor *m, char *reason, size_t reason_len);

/* A monitor's command line (unik-spt's and unik-hvt's are the same) for an instance (without the
 * program itself): --console-abi, --mem,
 * --argv0, a --net per net device on its tap (taps[i], made by the provider), a --block per
 * block device on descriptor fd_base + i, the kernel path, then the arguments of cmdline (guest
 * syntax; its environment words are dropped: a unix-target application has none). */
int spt_build_argv(const struct unik_run_spec *spec, const char *kernel, const char *const *taps,
                   int fd_base, struct strv *out, struct unik_error *err);

#endif
