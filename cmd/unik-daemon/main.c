/* unik-daemon: the daemon's own binary, which `unik daemon` runs.  Kept apart from the CLI so
 * that every `unik` command does not load the daemon's libraries (HTTP server, SQLite, libgit2). */
#include "daemon/daemon.h"

int main(int argc, char **argv)
{
	return unik_daemon_main(argc, argv);
}
