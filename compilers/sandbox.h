/* The build sandbox: a compiler backend runs each build command under bubblewrap, as an
 * unprivileged user, in its own namespaces with no network, with only its build directory
 * writable and under time, memory and output limits (docs/daemon.md, "Build sandbox"). */
#ifndef UNIK_SANDBOX_H
#define UNIK_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/util.h"

enum unik_sandbox_kind {
	UNIK_SANDBOX_BWRAP, /* the default */
	UNIK_SANDBOX_NONE,  /* build_sandbox: none: no isolation, limits only (unsafe) */
};

struct unik_sandbox_limits {
	uint64_t timeout_s; /* wall clock of one build command */
	uint64_t memory_mb; /* RLIMIT_AS of every process of the build */
	uint64_t log_mb;    /* what the build may print */
	uint64_t output_mb; /* what its directories may hold (and its largest file) */
	uint64_t max_procs; /* RLIMIT_NPROC of the build user */
};

/* The defaults, documented in docs/daemon.md. */
#define UNIK_SANDBOX_LIMITS_DEFAULT                                                                \
	{                                                                                          \
		.timeout_s = 600, .memory_mb = 4096, .log_mb = 16, .output_mb = 1024,              \
		.max_procs = 1024,                                                                 \
	}
#define UNIK_SANDBOX_UID_DEFAULT   65534
#define UNIK_SANDBOX_GID_DEFAULT   65534
#define UNIK_SANDBOX_BWRAP_DEFAULT "/usr/bin/bwrap"

struct unik_sandbox {
	enum unik_sandbox_kind kind;
	const char *bwrap; /* the program; NULL: UNIK_SANDBOX_BWRAP_DEFAULT */
	uid_t uid;         /* who the build runs as, when the daemon is root */
	gid_t gid;
	/* The writable directories (a build's src/ and out/), seen at the same paths inside.  The
	 * directory above them, where the daemon keeps the build's log, stays out of reach. */
	struct strv rw_dirs;
	struct unik_sandbox_limits limits;
	struct strv ro_dirs; /* toolchain directories outside /usr, read-only at the same path */
	struct strv env;     /* NAME=VALUE words set inside, after the defaults */
	/* Set by unik_sandbox_run when the daemon is root: bwrap, running as the build user,
	 * cannot reach the directories under a 0700 $UNIK_HOME, so they are first bound into a
	 * private tmpfs on UNIK_SANDBOX_STAGE (in a mount namespace of the child's own) and bwrap
	 * binds them from there. */
	bool staged;
};

#define UNIK_SANDBOX_STAGE "/tmp"
/* bwrap's --info-fd: written once the sandbox stands, which tells a sandbox that could not
 * start from a build that failed. */
#define UNIK_SANDBOX_FD_INFO 3

/* The bwrap command line (a pure function, golden-tested) that runs cmd in cwd inside sb,
 * appended to out. */
void unik_sandbox_argv(const struct unik_sandbox *sb, const char *cwd, const char *const *cmd,
                       struct strv *out);

/* Gets sb->rw_dirs ready for the build user: when the daemon is root and builds run as
 * another user, every file under them is handed to sb->uid:sb->gid (symlinks not followed). */
int unik_sandbox_prepare(const struct unik_sandbox *sb, struct unik_error *err);

/* Runs cmd in cwd inside sb, its output (stdout and stderr) copied to log_fd.  Returns 0 when
 * it exited with status 0; -1 otherwise, with err saying why: "WHAT exited with status N", a
 * limit that was hit (naming the daemon-config.yaml key that raises it), or a sandbox that
 * could not start. */
int unik_sandbox_run(const struct unik_sandbox *sb, const char *const *cmd, const char *cwd,
                     int log_fd, const char *what, struct unik_error *err);

/* unik_sandbox_run, with the command first written to log_fd as "$ WORD ..." (quoted). */
int unik_sandbox_run_logged(const struct unik_sandbox *sb, const char *const *cmd, const char *cwd,
                            int log_fd, const char *what, struct unik_error *err);

/* dst becomes a copy of src that owns its own lists (free it with unik_sandbox_free), for a
 * build that adds directories and variables of its own. */
void unik_sandbox_copy(struct unik_sandbox *dst, const struct unik_sandbox *src);

/* Adds dir (made absolute) to sb->ro_dirs when it is a directory outside /usr and not there yet. */
void unik_sandbox_add_ro_dir(struct unik_sandbox *sb, const char *dir);
/* unik-cc at cc and what it reads into sb: its own directory; the runtime and the headers it
 * finds next to itself (cmd/unik-cc/main.c: ../lib/unik, ../build/runtime, ../runtime,
 * ../include); and the UNIK_* variables it honours, passed on with the directories they name. */
void unik_sandbox_toolchain(struct unik_sandbox *sb, const char *cc);

void unik_sandbox_free(struct unik_sandbox *sb);

#endif
