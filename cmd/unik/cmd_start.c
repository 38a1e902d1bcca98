/* unik start: boot stopped or ended instances again, with the same settings. */
#include "cli.h"

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
		return cli_usage_error(cli, "which instance? (unik start INSTANCE...)");
	return cli_each_ref(cli, &refs, "POST", "/v1/instances/%s/start", "");
}
