/* unik-hvt confines itself before it runs the guest: from then on it needs only KVM_RUN on its
 * vCPU, reads and writes on its taps, preads and pwrites on its block files, writes to its
 * standard output and error, ppoll and the clock.  A seccomp filter allows those on those file
 * descriptors only and kills the process on anything else, so a guest that got the monitor to
 * misbehave could do little with it (Solo5's tenders do the same). */
#include "cmd/unik-hvt/confine.h"

#include <errno.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <string.h>

/* AddressSanitizer's leak check runs at exit and needs clone, ptrace, /proc and more: an ASan
 * build (make asan) keeps the filter but only logs what it would refuse. */
#if defined(__SANITIZE_ADDRESS__)
#define DENY SCMP_ACT_LOG
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DENY SCMP_ACT_LOG
#endif
#endif
#ifndef DENY
#define DENY SCMP_ACT_KILL_PROCESS
#endif

/* Argument arg equals v (every field given: libseccomp's SCMP_A0() leaves datum_b out, which
 * clang's -Wmissing-field-initializers refuses). */
static struct scmp_arg_cmp eq(unsigned arg, scmp_datum_t v)
{
	return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0};
}

static int allow_fd(scmp_filter_ctx ctx, int nr, int fd)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, eq(0, (scmp_datum_t)fd));
}

int hvt_confine(int vcpu, const int *taps, unsigned ntaps, const int *blocks, const bool *blocks_ro,
                unsigned nblocks, struct unik_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(DENY);
	int r = 0;

	if (!ctx) {
		unik_error_set(err, UNIK_E_IO, "seccomp_init failed");
		return -1;
	}
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2, eq(0, (scmp_datum_t)vcpu),
	                      eq(1, KVM_RUN));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2, eq(0, (scmp_datum_t)vcpu),
	                      eq(1, KVM_GET_REGS));
	r |= allow_fd(ctx, SCMP_SYS(write), 1);
	r |= allow_fd(ctx, SCMP_SYS(write), 2);
	for (unsigned i = 0; i < ntaps; i++) {
		r |= allow_fd(ctx, SCMP_SYS(read), taps[i]);
		r |= allow_fd(ctx, SCMP_SYS(write), taps[i]);
	}
	for (unsigned i = 0; i < nblocks; i++) {
		r |= allow_fd(ctx, SCMP_SYS(pread64), blocks[i]);
		if (!blocks_ro[i])
			r |= allow_fd(ctx, SCMP_SYS(pwrite64), blocks[i]);
	}
	/* ppoll, the clock (the vDSO's fallback), leaving, and what the C library's stderr and
	 * allocator may do on the way out. */
	static const int always[] = {SCMP_SYS(ppoll), SCMP_SYS(clock_gettime), SCMP_SYS(exit_group),
	                             SCMP_SYS(exit),  SCMP_SYS(rt_sigreturn),  SCMP_SYS(brk),
	                             SCMP_SYS(fstat), SCMP_SYS(newfstatat)};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, always[i], 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		unik_error_set(err, UNIK_E_IO, "loading the seccomp filter: %s", strerror(-r));
		return -1;
	}
	return 0;
}
