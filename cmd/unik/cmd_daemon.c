/* unik daemon: run the daemon (daemon/) in the foreground; the CLI starts it this way too. */
#include "cli.h"
#include "daemon/daemon.h"

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	return unik_daemon_main(argc, argv);
}
