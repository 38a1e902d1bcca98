/* unik logs: print an instance's console, and with -f keep printing until it ends. */
#include "cmd/unik/cli.h"

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik logs [options] INSTANCE",
	    "Prints the console of an instance: everything its guest wrote to stdout and\n"
	    "stderr, and the runtime's `unik:` lines.  With -f it keeps printing new output\n"
	    "until the instance ends (or Ctrl-C, which leaves the instance running).",
	    "  unik logs i1\n"
	    "  unik logs -f i1\n"
	    "  unik logs --instance i1 --follow\n",
	};
	const char *inst = NULL;
	bool follow = false;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	    {'f', "follow", CLI_OPT_BOOL, &follow, NULL, "keep printing until the instance ends"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &pos, &rc))
		return rc;
	if (!inst && pos.n == 1)
		inst = pos.v[0];
	else if (pos.n > (inst ? 0u : 1u))
		return cli_usage_error(cli, "takes one instance (got `%s` too)", pos.v[pos.n - 1]);
	if (!inst)
		return cli_usage_error(cli, "which instance? (unik logs INSTANCE)");
	path =
	    cli_path(follow ? "/v1/instances/%s/logs?follow=true" : "/v1/instances/%s/logs", inst);
	cli_catch_signals();
	if (cli_stream_to_stdout(cli, path) < 0)
		return cli_interrupted ? 130 : CLI_FAILED;
	return CLI_OK;
}
