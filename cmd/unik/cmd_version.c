/* unik version: the CLI's version, and the daemon's when one answers (none is started). */
#include <stdio.h>

#include "cmd/unik/cli.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

int cmd_version(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik version [options]",
	    "Prints the CLI's version and, when a daemon answers, the daemon's version, its\n"
	    "API version and the guest ABI it builds for.  It never starts a daemon.",
	    "  unik version\n"
	    "  unik version -o json\n",
	};
	_cleanup_strv_ struct strv pos = {0};
	struct unik_client *c;
	struct unik_error err = {0};
	json_t *d = NULL;
	int rc;

	if (cli_parse(cli, argc, argv, NULL, 0, 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	cli->no_autostart = true;
	c = cli_client(cli);
	if (c && unik_client_json(c, "GET", "/v1/version", NULL, &d, &err) < 0)
		d = NULL;
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:O?}", "client", UNIK_VERSION, "daemon", d);

		cli_print_json(o);
		json_decref(o);
	} else {
		printf("unik %s\n", UNIK_VERSION);
		if (d)
			printf("daemon %s (API %s, guest ABI %lld) at %s\n",
			       json_string_value(json_object_get(d, "version")),
			       json_string_value(json_object_get(d, "api")),
			       (long long)json_integer_value(json_object_get(d, "guest_abi")),
			       unik_client_where(c));
		else
			printf("daemon: not reachable%s%s%s\n", c ? " (" : "", c ? err.msg : "",
			       c ? ")" : "");
	}
	json_decref(d);
	return CLI_OK;
}
