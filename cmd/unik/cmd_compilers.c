/* unik compilers: the compiler backends compiled into the daemon. */
#include "cli.h"

int cmd_compilers(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik compilers [options]",
	    "Lists the compilers the daemon can build images with (--base for unik build),\n"
	    "the languages each takes and the providers its images run on.",
	    "  unik compilers\n"
	    "  unik describe-compiler rump\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},
	    {"BASE", "base", NULL},
	    {"LANGUAGES", "languages", cli_fmt_list},
	    {"PROVIDERS", "providers", cli_fmt_list},
	    {"DESCRIPTION", "description", NULL},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, NULL, 0, 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	if (!(j = cli_request(cli, "GET", "/v1/compilers", NULL)))
		return CLI_FAILED;
	cli_print_table(cli, j, cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(j);
	return CLI_OK;
}
