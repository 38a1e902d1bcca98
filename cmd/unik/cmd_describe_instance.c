/* unik describe-instance: everything the daemon knows about one instance. */
#include "cmd/unik/cli.h"

int cmd_describe_instance(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik describe-instance [options] INSTANCE",
	    "Shows one instance: its image, state, exit status, process, IP address, memory,\n"
	    "arguments and environment, and the provider's own handle for it (the libvirt or\n"
	    "Xen domain's name and UUID, the EC2 instance id).  INSTANCE is a name, an id or a\n"
	    "unique prefix of either.",
	    "  unik describe-instance i1\n"
	    "  unik describe-instance --instance i1 -o json\n",
	};
	return cli_describe_verb(cli, argc, argv, &help, "instance|instanceName|name", "instance",
	                         "/v1/instances");
}
