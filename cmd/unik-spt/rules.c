/* The rule list of unik-spt's seccomp filter (rules.h): the five device interfaces of
 * include/unik/devices-app.h as libunikapp-unix.a makes them, and the few calls musl's static
 * start-up, malloc, stdio and exit make.  Nothing opens a file, a socket or a process. */
#include "cmd/unik-spt/rules.h"

#include <asm/prctl.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

const struct spt_rule spt_rules[] = {
    {"write", SPT_FD_CONSOLE, 0, 0, 0, "unik_console_write; printf through musl's stdout"},
    {"writev", SPT_FD_CONSOLE, 0, 0, 0, "musl's stdio flushing stdout and stderr"},
    {"ioctl", SPT_ARG_EQ, 1, TIOCGWINSZ, ENOTTY, "musl's stdout asks whether it is a tty"},
    {"write", SPT_FD_REPORT, 0, 0, 0, "unik-spt's SIGSYS handler reports the forbidden call"},
    {"read", SPT_FD_NET, 0, 0, 0, "unik_net_read"},
    {"write", SPT_FD_NET, 0, 0, 0, "unik_net_write"},
    {"pread64", SPT_FD_BLK, 0, 0, 0, "unik_block_read"},
    {"pwrite64", SPT_FD_BLK_RW, 0, 0, 0, "unik_block_write (writable devices)"},
    {"ppoll", SPT_ANY, 0, 0, 0, "unik_yield"},
    {"clock_gettime", SPT_ANY, 0, 0, 0, "unik_clock_monotonic, unik_clock_wall"},
    {"exit_group", SPT_ANY, 0, 0, 0, "unik_exit, returning from unik_app_main"},
    {"exit", SPT_ANY, 0, 0, 0, "unik_exit"},
    {"arch_prctl", SPT_ARG_EQ, 0, ARCH_SET_FS, 0, "musl's start: the thread pointer"},
    {"set_tid_address", SPT_ANY, 0, 0, 0, "musl's start"},
    {"brk", SPT_ANY, 0, 0, 0, "malloc"},
    {"mmap", SPT_MMAP_ANON, 0, 0, 0, "malloc: anonymous, never executable"},
    {"munmap", SPT_ANY, 0, 0, 0, "free"},
    {"mremap", SPT_ANY, 0, 0, 0, "realloc"},
    {"madvise", SPT_ANY, 0, 0, 0, "free"},
};
const size_t spt_nrules = sizeof(spt_rules) / sizeof(spt_rules[0]);

static int add(scmp_filter_ctx ctx, const struct spt_rule *r, int nr, unsigned n,
               const struct scmp_arg_cmp *cmp, struct unik_error *err)
{
	uint32_t action =
	    r->errno_value ? SCMP_ACT_ERRNO((uint32_t)r->errno_value) : SCMP_ACT_ALLOW;
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);

	if (rc < 0) {
		unik_error_sys(err, -rc, "seccomp rule for %s", r->syscall);
		return -1;
	}
	return 0;
}

static int add_fds(scmp_filter_ctx ctx, const struct spt_rule *r, int nr, const int *fds,
                   unsigned n, struct unik_error *err)
{
	for (unsigned i = 0; i < n; i++) {
		struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fds[i]);

		if (add(ctx, r, nr, 1, &cmp, err) < 0)
			return -1;
	}
	return 0;
}

scmp_filter_ctx spt_filter_new(const struct spt_fds *fds, struct unik_error *err)
{
	static const int console[] = {1, 2};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);

	if (!ctx) {
		unik_error_set(err, UNIK_E_IO, "seccomp_init failed");
		return NULL;
	}
	for (size_t i = 0; i < spt_nrules; i++) {
		const struct spt_rule *r = &spt_rules[i];
		int nr = seccomp_syscall_resolve_name(r->syscall), rc = 0;

		if (nr == __NR_SCMP_ERROR) {
			unik_error_set(err, UNIK_E_INVALID, "seccomp: unknown system call %s",
			               r->syscall);
			goto fail;
		}
		switch (r->check) {
		case SPT_ANY:
			rc = add(ctx, r, nr, 0, NULL, err);
			break;
		case SPT_FD_CONSOLE:
			rc = add_fds(ctx, r, nr, console, 2, err);
			break;
		case SPT_FD_REPORT:
			rc = fds->report >= 0 ? add_fds(ctx, r, nr, &fds->report, 1, err) : 0;
			break;
		case SPT_FD_NET:
			rc = add_fds(ctx, r, nr, fds->net, fds->nnet, err);
			break;
		case SPT_FD_BLK:
			rc = add_fds(ctx, r, nr, fds->blk, fds->nblk, err);
			break;
		case SPT_FD_BLK_RW:
			rc = add_fds(ctx, r, nr, fds->blk_rw, fds->nblk_rw, err);
			break;
		case SPT_ARG_EQ: {
			struct scmp_arg_cmp cmp = {r->arg, SCMP_CMP_EQ, r->value, 0};

			rc = add(ctx, r, nr, 1, &cmp, err);
			break;
		}
		case SPT_MMAP_ANON: {
			struct scmp_arg_cmp cmp[] = {
			    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
			    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS),
			};

			rc = add(ctx, r, nr, 2, cmp, err);
			break;
		}
		}
		if (rc < 0)
			goto fail;
	}
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}
