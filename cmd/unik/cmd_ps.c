/* unik ps (UniK's `instances`): list instances with their state and exit status. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

/* "exited (3)", "crashed (255)", "running". */
static const char *fmt_state(const json_t *row, const char *field, char *buf, size_t len)
{
	const char *state = json_string_value(json_object_get(row, field));
	const json_t *code = json_object_get(row, "exit_code");

	if (!state)
		return "";
	if (json_is_integer(code) && (!strcmp(state, "exited") || !strcmp(state, "crashed"))) {
		snprintf(buf, len, "%s (%lld)", state, (long long)json_integer_value(code));
		return buf;
	}
	return state;
}

/* The published ports as `docker ps` shows them: "0.0.0.0:8080->80/tcp, ...". */
static const char *fmt_ports(const json_t *row, const char *field, char *buf, size_t len)
{
	const json_t *ports = json_object_get(row, field), *p;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(ports, i, p)
	{
		const char *text = json_string_value(json_object_get(p, "text"));
		int w =
		    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", text ? text : "");

		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* Whether an instance has ended: exited, crashed or stopped (hidden without -a). */
static bool ended(const json_t *row)
{
	const char *state = json_string_value(json_object_get(row, "state"));

	return state &&
	       (!strcmp(state, "exited") || !strcmp(state, "crashed") || !strcmp(state, "stopped"));
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik ps [options]\n       unik instances [options]",
	    "Lists the instances that have not ended: name, id, image, state, provider, the\n"
	    "first NIC's IP address, published ports and age.  -a also lists ended ones\n"
	    "(exited, crashed, stopped) with their exit status.",
	    "  unik ps\n"
	    "  unik ps -a\n"
	    "  unik rm $(unik ps -aq)\n"
	    "  unik ps -a -o json\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},         {"ID", "id", NULL},
	    {"IMAGE", "image", NULL},       {"STATE", "state", fmt_state},
	    {"PROVIDER", "provider", NULL}, {"IP", "ip", NULL},
	    {"PORTS", "ports", fmt_ports},  {"CREATED", "created", cli_fmt_age},
	};
	bool all = false, quiet = false;
	const struct cli_opt opts[] = {
	    {'a', "all", CLI_OPT_BOOL, &all, NULL, "also list ended instances"},
	    {'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, "print only the ids, one a line"},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *j, *shown;
	size_t i;
	json_t *row;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	if (!(j = cli_request(cli, "GET", "/v1/instances", NULL)))
		return CLI_FAILED;
	shown = json_array();
	json_array_foreach(j, i, row) if (all || !ended(row)) json_array_append(shown, row);
	if (quiet && !cli->json)
		cli_print_ids(shown);
	else
		cli_print_table(cli, shown, cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(shown);
	json_decref(j);
	return CLI_OK;
}
