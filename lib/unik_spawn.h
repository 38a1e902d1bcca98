/* Running programs from an argument vector (never through a shell): PATH lookup, optional
 * redirections, extra environment and working directory, then wait for the exit status. */
#ifndef UNIK_SPAWN_H
#define UNIK_SPAWN_H

#include <stddef.h>

#include "lib/error.h"

/* Values for the *_fd fields besides a real descriptor. */
#define UNIK_SPAWN_INHERIT (-1) /* the child shares ours */
#define UNIK_SPAWN_DEVNULL (-2) /* the child gets /dev/null */

struct unik_spawn_opts {
	/* Where the child's standard streams go.  A descriptor given here is only borrowed. */
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
	/* NULL-terminated "NAME=VALUE" words added to the child's environment, replacing variables
	 * of the same name; NULL for none. */
	const char *const *env_add;
	/* Directory the child starts in; NULL to inherit ours.  The program is still looked up in
	 * our PATH, and a relative program path is resolved from the new directory. */
	const char *cwd;
};

#define UNIK_SPAWN_OPTS_INIT                                                                       \
	{                                                                                          \
		.stdin_fd = UNIK_SPAWN_INHERIT, .stdout_fd = UNIK_SPAWN_INHERIT,                   \
		.stderr_fd = UNIK_SPAWN_INHERIT,                                                   \
	}

/* Runs argv[0] (searched in PATH unless it contains a slash) with argv and waits for it.
 * Returns 0 once the program ran, with *status its exit status, or 128 + N if signal N killed it.
 * Returns -1 when it could not be started; err then says why (UNIK_E_NOTFOUND for "command not
 * found").  opts may be NULL: everything inherited. */
int unik_spawn(const char *const *argv, const struct unik_spawn_opts *opts, int *status,
               struct unik_error *err);

/* Like unik_spawn, but the child's stdout is collected into *out (NUL-terminated, caller frees;
 * *len excludes the NUL and may be NULL).  opts->stdout_fd is ignored. */
int unik_spawn_capture(const char *const *argv, const struct unik_spawn_opts *opts, char **out,
                       size_t *len, int *status, struct unik_error *err);

#endif
