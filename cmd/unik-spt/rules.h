/* unik-spt's seccomp filter (docs/providers/spt.md): the host system calls a unix-target
 * application may make, as a table, and the libseccomp filter made from it for one instance's
 * descriptors.  Everything the table does not allow traps (SIGSYS), and unik-spt's handler then
 * reports the call and lets the kernel kill the process (main.c). */
#ifndef UNIK_SPT_RULES_H
#define UNIK_SPT_RULES_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* What a rule checks of the call's arguments. */
enum spt_check {
	SPT_ANY,        /* nothing: every call is allowed */
	SPT_FD_CONSOLE, /* argument 0 is 1 or 2 (stdout, stderr: the console) */
	SPT_FD_REPORT,  /* argument 0 is the report descriptor of the SIGSYS handler */
	SPT_FD_NET,     /* argument 0 is one of the tap descriptors */
	SPT_FD_BLK,     /* argument 0 is one of the block descriptors */
	SPT_FD_BLK_RW,  /* argument 0 is one of the writable block descriptors */
	SPT_ARG_EQ,     /* argument `arg` equals `value` */
	SPT_MMAP_ANON,  /* mmap: MAP_ANONYMOUS set, PROT_EXEC clear (no file, no new code) */
};

struct spt_rule {
	const char *syscall; /* its name, as libseccomp knows it */
	enum spt_check check;
	unsigned arg;
	uint64_t value;
	int errno_value; /* 0: allow; else fail the call with this errno (ioctl: ENOTTY) */
	const char *why; /* which interface or part of musl's start needs it */
};

extern const struct spt_rule spt_rules[];
extern const size_t spt_nrules;

/* The descriptors of one instance. */
struct spt_fds {
	int report;
	int net[16];
	unsigned nnet;
	int blk[16];
	unsigned nblk;
	int blk_rw[16];
	unsigned nblk_rw;
};

/* A filter of spt_rules for fds: default action trap; the caller loads and releases it.  NULL
 * with err set when libseccomp refuses a rule. */
scmp_filter_ctx spt_filter_new(const struct spt_fds *fds, struct unik_error *err);

#endif
