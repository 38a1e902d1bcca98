/* unik describe-compiler: how to lay out a project for one compiler backend. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

int cmd_describe_compiler(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik describe-compiler [options] [BASE]\n"
	    "       unik describe-compiler --base BASE --language LANG --provider PROVIDER",
	    "Describes a compiler backend and explains how to lay out a project for it\n"
	    "(Makefile, manifest.yaml, Unikfile).  BASE defaults to rump.",
	    "  unik describe-compiler rump\n"
	    "  unik describe-compiler --base rump --language c --provider qemu\n",
	};
	const char *base = NULL, *lang = NULL, *provider = NULL;
	const struct cli_opt opts[] = {
	    {0, "base", CLI_OPT_STR, &base, "BASE", "the compiler (default rump)"},
	    {0, "language|lang", CLI_OPT_STR, &lang, "LANG", "the language (default c)"},
	    {0, "provider", CLI_OPT_STR, &provider, "PROVIDER", "the provider the image is for"},
	};
	_cleanup_strv_ struct strv pos = {0}, query = {0};
	_cleanup_free_ char *path = NULL, *full = NULL, *l = NULL, *p = NULL;
	const char *usage;
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 3, 0, &help, &pos, &rc))
		return rc;
	if (!base && pos.n == 1)
		base = pos.v[0];
	else if (pos.n > (base ? 0u : 1u))
		return cli_usage_error(cli, "takes one compiler (got `%s` too)", pos.v[pos.n - 1]);
	path = cli_path("/v1/compilers/%s", base ? base : "rump");
	if (lang) {
		l = unik_client_escape(lang);
		strv_pushf(&query, "language=%s", l);
	}
	if (provider) {
		p = unik_client_escape(provider);
		strv_pushf(&query, "provider=%s", p);
	}
	full = xasprintf("%s%s%s%s%s", path, query.n ? "?" : "", query.n ? query.v[0] : "",
	                 query.n > 1 ? "&" : "", query.n > 1 ? query.v[1] : "");
	if (!(j = cli_request(cli, "GET", full, NULL)))
		return CLI_FAILED;
	usage = json_string_value(json_object_get(j, "usage"));
	if (cli->json || !usage) {
		cli_print_object(cli, j);
	} else {
		json_t *rest = json_deep_copy(j);

		json_object_del(rest, "usage");
		cli_print_object(cli, rest);
		json_decref(rest);
		printf("\n%s%s", usage, usage[0] && usage[strlen(usage) - 1] == '\n' ? "" : "\n");
	}
	json_decref(j);
	return CLI_OK;
}
