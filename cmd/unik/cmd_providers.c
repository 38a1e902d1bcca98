/* unik providers: the providers compiled into the daemon, and whether each can run here. */
#include <stdio.h>

#include "cli.h"

static const char *fmt_default(const json_t *row, const char *field, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return json_is_true(json_object_get(row, field)) ? "*" : "";
}

static const char *fmt_available(const json_t *row, const char *field, char *buf, size_t len)
{
	const char *reason = json_string_value(json_object_get(row, "reason"));

	if (json_is_true(json_object_get(row, field)))
		return "yes";
	if (reason && *reason)
		snprintf(buf, len, "unavailable (%s)", reason);
	else
		snprintf(buf, len, "unavailable");
	return buf;
}

int cmd_providers(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik providers [options]",
	    "Lists the providers the daemon has (where instances run), the image format each\n"
	    "runs, and whether it can run on this host now (and if not, why).  The default is\n"
	    "marked with *.",
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
	return cli_list_verb(cli, argc, argv, &help, "/v1/providers", cols,
	                     sizeof(cols) / sizeof(cols[0]));
}
