/* unik start: boot stopped or ended instances again, with the same settings. */
#include "cmd/unik/cli.h"

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik start [options] INSTANCE...",
	    "Boots stopped or ended instances again with the settings they were created with;\n"
	    "the new console output is appended to their log (unik logs).  Prints the name of\n"
	    "each instance started.",
	    "  unik start i1\n"
	    "  unik start i1 && unik logs -f i1\n",
	};
	return cli_instance_action_verb(cli, argc, argv, &help, "start");
}
