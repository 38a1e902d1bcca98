/* unik: the command line.  One table of verbs, one file per verb (cmd_<verb>.c); each verb parses
 * its options and calls the daemon's REST API (docs/api/rest.md).  docs/cli.md is the manual. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/unik/cli.h"

const struct cli_verb cli_verbs[] = {
    {"init", NULL, cmd_init, "write a starter project (rump, includeos or mirage) to build"},
    {"build", NULL, cmd_build, "build an image from a source directory or a git repository"},
    {"images", NULL, cmd_images, "list images"},
    {"describe-image", NULL, cmd_describe_image, "show everything about one image"},
    {"rmi", "delete-image", cmd_rmi, "delete images"},
    {"export", NULL, cmd_export, "write an image as a disk (raw, qcow2, vmdk, vhd, iso) or ELF"},
    {"push", NULL, cmd_push, "push an image to an OCI registry"},
    {"pull", NULL, cmd_pull, "pull an image from an OCI registry"},
    {"run", NULL, cmd_run, "run an image as a new instance (attached, or -d)"},
    {"ps", "instances", cmd_ps, "list instances"},
    {"describe-instance", NULL, cmd_describe_instance, "show everything about one instance"},
    {"inspect", NULL, cmd_inspect, "any object by name as JSON: image, instance, volume, network"},
    {"volume", NULL, cmd_volume, "create, list, inspect, export, attach and remove volumes"},
    {"volumes", NULL, cmd_volumes, "list volumes"},
    {"create-volume", NULL, cmd_create_volume, "UniK's volume create"},
    {"delete-volume", NULL, cmd_delete_volume, "UniK's volume rm"},
    {"attach-volume", NULL, cmd_attach_volume, "UniK's volume attach"},
    {"detach-volume", NULL, cmd_detach_volume, "UniK's volume detach"},
    {"network", NULL, cmd_network, "create, list, inspect and remove networks"},
    {"networks", NULL, cmd_networks, "list networks"},
    {"logs", NULL, cmd_logs, "print an instance's console (-f to follow)"},
    {"start", NULL, cmd_start, "boot stopped or ended instances again"},
    {"stop", NULL, cmd_stop, "stop running instances"},
    {"rm", "delete-instance", cmd_rm, "delete instances"},
    {"providers", NULL, cmd_providers, "list the providers instances can run on"},
    {"compilers", NULL, cmd_compilers, "list the compilers images can be built with"},
    {"describe-compiler", NULL, cmd_describe_compiler, "how to lay out a project for a compiler"},
    {"target", NULL, cmd_target, "choose the daemon this CLI talks to (client-config.yaml)"},
    {"version", NULL, cmd_version, "print the CLI's and the daemon's versions"},
    {"help", NULL, cmd_help, "list the verbs, or show one verb's help"},
    {"daemon", NULL, cmd_daemon, "run the daemon in the foreground; daemon start|stop|status"},
    {NULL, NULL, NULL, NULL},
};

const struct cli_verb *cli_find_verb(const char *name)
{
	for (const struct cli_verb *v = cli_verbs; v->name; v++)
		if (strcmp(v->name, name) == 0 || (v->alias && strcmp(v->alias, name) == 0))
			return v;
	return NULL;
}

static int unknown_verb(const char *name)
{
	const char *cands[64];
	size_t n = 0;
	const char *guess;

	for (const struct cli_verb *v = cli_verbs; v->name && n < 62; v++) {
		cands[n++] = v->name;
		if (v->alias)
			cands[n++] = v->alias;
	}
	guess = cli_did_you_mean(name, cands, n);
	if (guess)
		return cli_usage_error(NULL, "unknown verb `%s` (did you mean `%s`?)", name, guess);
	return cli_usage_error(NULL, "unknown verb `%s`", name);
}

/* Options given before the verb (`unik --host h:3000 ps`) are handed to it, in front of its
 * own. */
static bool takes_value(const char *arg)
{
	return !strcmp(arg, "--host") || !strcmp(arg, "--token") || !strcmp(arg, "-o") ||
	       !strcmp(arg, "--output") || !strcmp(arg, "--retry-timeout") ||
	       !strcmp(arg, "--color") || !strcmp(arg, "--colour");
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	_cleanup_strv_ struct strv args = {0};
	const struct cli_verb *verb;
	int i = 1, rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "__complete"))
		return cli_complete(argc - 2, argv + 2);
	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		if (!strcmp(argv[i], "--version")) {
			argv[i] = "version";
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			argv[i] = "help";
			break;
		}
		i += takes_value(argv[i]) && i + 1 < argc ? 2 : 1;
	}
	if (i >= argc) {
		cmd_help(&cli, 0, NULL);
		return cli_usage_error(NULL, "no verb given");
	}
	verb = cli_find_verb(argv[i]);
	if (!verb)
		return unknown_verb(argv[i]);
	cli.verb = verb->name;
	cli.typed = argv[i];
	strv_push(&args, argv[i]);
	for (int j = 1; j < i; j++)
		strv_push(&args, argv[j]);
	for (int j = i + 1; j < argc; j++)
		strv_push(&args, argv[j]);
	/* The daemon takes its own options and argv[0] "daemon". */
	if (verb->fn == cmd_daemon)
		rc = cmd_daemon(&cli, argc - i, argv + i);
	else
		rc = verb->fn(&cli, (int)args.n, (char **)strv_argv(&args));
	unik_client_free(cli.client);
	return rc;
}
