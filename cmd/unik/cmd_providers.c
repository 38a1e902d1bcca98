/* unik providers: the providers compiled into the daemon, and whether each can run here. */
#include <stdio.h>

#include "cmd/unik/cli.h"

static const char *fmt_default(const json_t *row, const char *field, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return json_is_true(json_object_get(row, field)) ? "*" : "";
}

static const char *fmt_available(const json_t *row, const char *field, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return json_is_true(json_object_get(row, field)) ? "yes" : "unavailable";
}

int cmd_providers(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik providers [options]",
	    "Lists the providers the daemon has (where instances run), the image format each\n"
	    "runs, and whether it can run on this host now; below the table, each unavailable\n"
	    "one says why on one line (\"xen: unavailable (...)\", cut to the terminal's width\n"
	    "unless --no-trunc).  The default is marked with *.  With\n"
	    "-o json each provider also lists the options --provider-opt takes.",
	    "  unik providers\n"
	    "  unik providers -o json\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},
	    {"DEFAULT", "default", fmt_default},
	    {"FORMAT", "image_format", NULL},
	    {"AVAILABLE", "available", fmt_available},
	    {"DESCRIPTION", "description", NULL},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *j, *row;
	size_t i;
	int rc;

	if (cli_parse(cli, argc, argv, NULL, 0, 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	if (!(j = cli_request(cli, "GET", "/v1/providers", NULL)))
		return CLI_FAILED;
	cli_print_table(cli, j, cols, sizeof(cols) / sizeof(cols[0]));
	if (!cli->json) {
		bool first = true;

		json_array_foreach(j, i, row)
		{
			const char *reason = json_string_value(json_object_get(row, "reason"));
			const char *name = json_string_value(json_object_get(row, "name"));
			_cleanup_free_ char *line = NULL, *cut = NULL;

			if (json_is_true(json_object_get(row, "available")))
				continue;
			/* One line each: the reason's own line breaks become spaces, and it is cut
			 * to the terminal's width. */
			line = xasprintf("%s: unavailable (%s)", name ? name : "?",
			                 reason && *reason ? reason : "no reason given");
			for (char *p = line; *p; p++)
				if (*p == '\n' || *p == '\r' || *p == '\t')
					*p = ' ';
			cut = cli->no_trunc ? xstrdup(line) : cli_ellipsize(line, cli_width());
			printf("%s%s\n", first ? "\n" : "", cut);
			first = false;
		}
	}
	json_decref(j);
	return CLI_OK;
}
