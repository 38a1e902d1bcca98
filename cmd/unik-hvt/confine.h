/* unik-hvt's seccomp filter (confine.c). */
#ifndef UNIK_HVT_CONFINE_H
#define UNIK_HVT_CONFINE_H

#include <stdbool.h>

#include "lib/error.h"

/* From now on only what running the guest needs: KVM_RUN (and KVM_GET_REGS, for a report) on
 * vcpu, read and write on the taps, pread (and pwrite unless read-only) on the block files,
 * write on standard output and error, ppoll, the clock, exit.  Anything else kills the
 * process. */
int hvt_confine(int vcpu, const int *taps, unsigned ntaps, const int *blocks, const bool *blocks_ro,
                unsigned nblocks, struct unik_error *err);

#endif
