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

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik ps [options]\n       unik instances [options]",
	    "Lists instances: name, id, image, state (with the exit status of ended ones),\n"
	    "provider, the first NIC's IP address, published ports and age.",
	    "  unik ps\n"
	    "  unik ps -o json\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},         {"ID", "id", NULL},
	    {"IMAGE", "image", NULL},       {"STATE", "state", fmt_state},
	    {"PROVIDER", "provider", NULL}, {"IP", "ip", NULL},
	    {"PORTS", "ports", fmt_ports},  {"CREATED", "created", cli_fmt_age},
	};
	return cli_list_verb(cli, argc, argv, &help, "/v1/instances", cols,
	                     sizeof(cols) / sizeof(cols[0]));
}
