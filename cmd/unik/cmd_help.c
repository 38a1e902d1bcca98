/* unik help: the table of verbs, or one verb's help. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_verb *v;

	if (argc >= 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
		char *sub[] = {argv[1], "--help", NULL};
		struct cli c = {0};

		if (!(v = cli_find_verb(argv[1])))
			return cli_usage_error(cli, "unknown verb `%s`", argv[1]);
		c.verb = v->name;
		c.typed = argv[1];
		return v->fn(&c, 2, sub);
	}
	if (argc >= 2 && cli_help_json()) {
		static const struct cli_help help = {
		    "unik help [VERB]",
		    "Lists the verbs, or prints one verb's help (the same as `unik VERB --help`).",
		    "  unik help\n"
		    "  unik help run\n",
		};

		cli_print_help(cli, NULL, 0, &help);
		return CLI_OK;
	}
	if (cli_help_json()) {
		json_t *a = json_array();

		for (v = cli_verbs; v->name; v++)
			json_array_append_new(a,
			                      json_pack("{s:s, s:s?, s:s}", "name", v->name,
			                                "alias", v->alias, "summary", v->summary));
		cli_print_json(a);
		json_decref(a);
		return CLI_OK;
	}
	puts("Usage: unik [--host HOST[:PORT]] VERB [options] [arguments]\n"
	     "\n"
	     "unik builds C programs into unikernels and runs them as virtual machines.\n"
	     "\n"
	     "Verbs:");
	for (v = cli_verbs; v->name; v++) {
		char name[48];

		snprintf(name, sizeof(name), "%s%s%s", v->name, v->alias ? ", " : "",
		         v->alias ? v->alias : "");
		printf("  %-26s%s\n", name, v->summary);
	}
	puts("\n"
	     "Run `unik VERB --help` for a verb's options and examples.  The daemon is found\n"
	     "through --host, $UNIK_HOST, $UNIK_HOME/client-config.yaml (unik target), else the\n"
	     "socket $UNIK_HOME/daemon.sock (UNIK_HOME defaults to ~/.unik), where a daemon is\n"
	     "started when none answers.  $UNIK_TOKEN (or --token) is sent as a bearer token.\n"
	     "A daemon too busy to take a request is retried for 30 s (--retry-timeout SECONDS\n"
	     "or $UNIK_RETRY_TIMEOUT; 0 turns that off).\n"
	     "\n"
	     "A first unikernel:\n"
	     "  unik build --name hello --path examples/hello\n"
	     "  unik run hello");
	return CLI_OK;
}
