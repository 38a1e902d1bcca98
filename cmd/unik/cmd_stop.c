/* unik stop: stop running instances (gracefully, then by force after a while). */
#include "cli.h"

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
	const char *inst = NULL;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &refs, &rc))
		return rc;
	if (inst)
		strv_push(&refs, inst);
	if (!refs.n)
		return cli_usage_error(cli, "which instance? (unik stop INSTANCE...)");
	return cli_each_ref(cli, &refs, "POST", "/v1/instances/%s/stop", "");
}
