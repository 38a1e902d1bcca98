/* The hidden `unik __complete KIND` of the shell completion scripts (scripts/gen-man): the names
 * of the daemon's images, instances, volumes or networks, one a line. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

int cli_complete(int argc, char **argv)
{
	static const char *const kinds[] = {"images", "instances", "volumes", "networks"};
	struct cli cli = {0};
	struct unik_client *c;
	struct unik_error err = {0};
	_cleanup_free_ char *path = NULL;
	json_t *rows = NULL, *row;
	size_t i;
	bool known = false;

	if (argc != 1)
		return CLI_USAGE;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		known = known || !strcmp(argv[0], kinds[i]);
	if (!known)
		return CLI_USAGE;
	cli.no_autostart = true;
	cli.retry_timeout = "0";
	/* Quietly nothing when no daemon answers: completion must not print errors. */
	if (!freopen("/dev/null", "w", stderr))
		return CLI_FAILED;
	c = cli_client(&cli);
	path = xasprintf("/v1/%s", argv[0]);
	if (!c || unik_client_json(c, "GET", path, NULL, &rows, &err) < 0) {
		unik_client_free(cli.client);
		return CLI_FAILED;
	}
	json_array_foreach(rows, i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));

		if (name && *name)
			puts(name);
	}
	json_decref(rows);
	unik_client_free(cli.client);
	return CLI_OK;
}
