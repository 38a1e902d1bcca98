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

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik ps [options]\n       unik instances [options]",
	    "Lists instances: name, id, image, state (with the exit status of ended ones),\n"
	    "provider, IP address and age.",
	    "  unik ps\n"
	    "  unik ps -o json\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},
	    {"ID", "id", NULL},
	    {"IMAGE", "image", NULL},
	    {"STATE", "state", fmt_state},
	    {"PROVIDER", "provider", NULL},
	    {"IP", "ip", NULL},
	    {"CREATED", "created", cli_fmt_age},
	};
	return cli_list_verb(cli, argc, argv, &help, "/v1/instances", cols,
	                     sizeof(cols) / sizeof(cols[0]));
}
