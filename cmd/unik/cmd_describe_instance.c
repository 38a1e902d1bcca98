/* unik describe-instance: everything the daemon knows about one instance. */
#include "cli.h"

int cmd_describe_instance(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik describe-instance [options] INSTANCE",
	    "Shows one instance: its image, state, exit status, process, IP address, memory,\n"
	    "arguments and environment.  INSTANCE is a name, an id or a unique prefix of either.",
	    "  unik describe-instance i1\n"
	    "  unik describe-instance --instance i1 -o json\n",
	};
	const char *inst = NULL;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &pos, &rc))
		return rc;
	if (!inst && pos.n == 1)
		inst = pos.v[0];
	else if (pos.n > (inst ? 0u : 1u))
		return cli_usage_error(cli, "takes one instance (got `%s` too)", pos.v[pos.n - 1]);
	if (!inst)
		return cli_usage_error(cli, "which instance? (unik describe-instance INSTANCE)");
	path = cli_path("/v1/instances/%s", inst);
	if (!(j = cli_request(cli, "GET", path, NULL)))
		return CLI_FAILED;
	cli_print_object(cli, j);
	json_decref(j);
	return CLI_OK;
}
