/* unik compilers: the compiler backends compiled into the daemon. */
#include "cmd/unik/cli.h"

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
	return cli_list_verb(cli, argc, argv, &help, "/v1/compilers", cols,
	                     sizeof(cols) / sizeof(cols[0]));
}
