/* unik daemon: runs the daemon (bin/unik-daemon, next to this binary) in the foreground; the
 * CLI starts it this way too. */
#include "cmd/unik/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	(void)cli;
	if (n <= 0) {
		fprintf(stderr, "unik: cannot find my own binary: %s\n", strerror(errno));
		return 1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *daemon = unik_path_join(self, "unik-daemon");
	struct strv args = {0};
	strv_push(&args, daemon);
	for (int i = 1; i < argc; i++)
		strv_push(&args, argv[i]);
	execv(daemon, strv_argv(&args));
	fprintf(stderr, "unik: cannot run %s: %s (is unik installed completely?)\n", daemon,
	        strerror(errno));
	strv_free(&args);
	return 1;
}
