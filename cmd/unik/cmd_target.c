/* unik target: choose the daemon this CLI talks to, in UniK's client-config.yaml. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/unik/cli.h"

/* "target: ..." as text, or with -o json {"target": "HOST:PORT" or null for the local daemon,
 * "socket": the local socket or null, "config": the file, "changed": true when written/removed}. */
static void print_target(const struct cli *cli, const char *target, const char *home,
                         const char *cfg, const char *how, bool changed)
{
	_cleanup_free_ char *sock = unik_path_join(home, "daemon.sock");

	if (cli->json) {
		json_t *o = json_pack("{s:s?, s:s?, s:s, s:b}", "target", target, "socket",
		                      target ? NULL : sock, "config", cfg, "changed", changed);

		cli_print_json(o);
		json_decref(o);
	} else if (target) {
		printf("target: %s (%s %s)\n", target, how, cfg);
	} else {
		printf("target: the local daemon (unix socket %s)\n", sock);
	}
}

int cmd_target(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik target --host HOST [--port PORT]\n"
	    "       unik target HOST[:PORT]\n"
	    "       unik target --local\n"
	    "       unik target",
	    "Makes HOST:PORT (port 3000 if not given) the daemon every later unik command\n"
	    "talks to, by writing `host: \"HOST:PORT\"` to $UNIK_HOME/client-config.yaml\n"
	    "(~/.unik by default), as UniK's `unik target` did.  --local removes that file, so\n"
	    "the CLI uses the local daemon on $UNIK_HOME/daemon.sock again.  With no options it\n"
	    "prints the current target.  --host and $UNIK_HOST on a single command override it.\n"
	    "With -o json it prints {\"target\": \"HOST:PORT\" or null, \"socket\": the local\n"
	    "socket or null, \"config\": the file, \"changed\": whether this run changed it}.",
	    "  unik target --host 10.0.0.5 --port 3000\n"
	    "  unik target 127.0.0.1:3000\n"
	    "  unik target --local\n",
	};
	const char *port = NULL;
	bool local = false;
	const struct cli_opt opts[] = {
	    {0, "port", CLI_OPT_STR, &port, "PORT", "the daemon's TCP port (default 3000)"},
	    {0, "local", CLI_OPT_BOOL, &local, NULL, "go back to the local daemon's socket"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *home = NULL, *cfg = NULL, *target = NULL, *current = NULL;
	_cleanup_free_ char *sock = NULL, *base = NULL;
	const char *host = cli->host;
	struct unik_error err = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &pos, &rc))
		return rc;
	host = cli->host;
	if (!host && pos.n == 1)
		host = pos.v[0];
	else if (pos.n > (host ? 0u : 1u))
		return cli_usage_error(cli, "takes one host (got `%s` too)", pos.v[pos.n - 1]);
	home = cli_home();
	cfg = unik_path_join(home, "client-config.yaml");
	if (local) {
		if (host || port)
			return cli_usage_error(cli, "--local takes no host or port");
		if (unlink(cfg) < 0 && errno != ENOENT) {
			unik_error_sys(&err, errno, "remove `%s`", cfg);
			return cli_fail(&err);
		}
		print_target(cli, NULL, home, cfg, NULL, true);
		return CLI_OK;
	}
	if (!host) {
		if (port)
			return cli_usage_error(cli, "--port needs --host");
		if (unik_client_config_load(cfg, &current, &err) < 0)
			return cli_fail(&err);
		print_target(cli, current, home, cfg, "from", false);
		return CLI_OK;
	}
	if (port) {
		if (strchr(host, ':') && host[0] != '[')
			return cli_usage_error(
			    cli, "give the port once: `--host %s` already has one", host);
		target = xasprintf("%s:%s", host, port);
	} else {
		target = xstrdup(host);
	}
	if (unik_client_parse_host(target, &sock, &base, &err) < 0)
		return cli_usage_error(cli, "%s", err.msg);
	if (mkdir(home, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(&err, errno, "create `%s`", home);
		return cli_fail(&err);
	}
	if (unik_client_config_write(cfg, target, &err) < 0)
		return cli_fail(&err);
	print_target(cli, target, home, cfg, "written to", true);
	return CLI_OK;
}
