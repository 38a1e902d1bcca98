/* unik stop: stop running instances (gracefully, then by force after a while). */
#include "cmd/unik/cli.h"

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik stop [options] INSTANCE...",
	    "Stops running instances: the guest is asked to power off, and the VM is ended if\n"
	    "it has not after a few seconds.  An instance that has already ended keeps its\n"
	    "final state.  Prints the name of each instance stopped.",
	    "  unik stop i1\n"
	    "  unik stop --instance i1\n",
	};
	return cli_instance_action_verb(cli, argc, argv, &help, "stop");
}
