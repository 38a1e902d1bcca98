/* unik rm (UniK's `delete-instance`): delete instances and their console logs. */
#include "cmd/unik/cli.h"

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik rm [options] INSTANCE...\n       unik delete-instance --instance INSTANCE "
	    "[--force]",
	    "Deletes instances and their console logs.  A running instance is refused unless\n"
	    "-f (--force), which stops it first.  Prints the name of each instance deleted.",
	    "  unik rm i1\n"
	    "  unik rm -f i1 i2\n"
	    "  unik delete-instance --instance i1 --force\n",
	};
	const char *inst = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, "stop a running instance first"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &refs, &rc))
		return rc;
	if (inst)
		strv_push(&refs, inst);
	if (!refs.n)
		return cli_usage_error(cli, "which instance? (unik rm INSTANCE...)");
	return cli_each_ref(cli, &refs, "DELETE", "/v1/instances/%s", force ? "?force=true" : "");
}
