/* Option parsing for the unik CLI: GNU-style long and short options, UniK's camelCase
 * spellings as aliases, the options every verb takes, help text and "did you mean" hints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/unik/cli.h"
#include "lib/suggest.h"

/* The options every verb takes.  Built per call because the targets live in *cli. */
#define NCOMMON 7
static void common_opts(struct cli *cli, bool *help, struct cli_opt out[NCOMMON])
{
	const struct cli_opt opts[NCOMMON] = {
	    {0, "host", CLI_OPT_STR, &cli->host, "HOST[:PORT]",
	     "the daemon (default: $UNIK_HOST, client-config.yaml, the socket)"},
	    {0, "token", CLI_OPT_STR, &cli->token, "TOKEN",
	     "bearer token for a daemon on TCP (default: $UNIK_TOKEN)"},
	    {0, "retry-timeout", CLI_OPT_STR, &cli->retry_timeout, "SECONDS",
	     "retry a daemon too busy to answer for this long (default: $UNIK_RETRY_TIMEOUT, "
	     "else 30; 0: never)"},
	    {'o', "output", CLI_OPT_STR, &cli->output, "FORMAT", "`table` (default) or `json`"},
	    {0, "no-trunc", CLI_OPT_BOOL, &cli->no_trunc, NULL,
	     "print whole cells in tables (default: cut them to the terminal's width)"},
	    {0, "color|colour", CLI_OPT_STR, &cli->color, "WHEN",
	     "colour: `auto` (default: on a terminal, without $NO_COLOR), `always`, `never`"},
	    {'h', "help", CLI_OPT_BOOL, help, NULL, "show this help"},
	};

	memcpy(out, opts, sizeof(opts));
}

static bool name_in(const char *names, const char *name, size_t len)
{
	const char *p = names;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		if (n == len && strncmp(p, name, len) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static const struct cli_opt *find_long(const struct cli_opt *opts, size_t n,
                                       const struct cli_opt *common, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (name_in(opts[i].names, name, len))
			return &opts[i];
	for (size_t i = 0; i < NCOMMON; i++)
		if (name_in(common[i].names, name, len))
			return &common[i];
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *opts, size_t n,
                                        const struct cli_opt *common, char c)
{
	for (size_t i = 0; i < n; i++)
		if (opts[i].short_name == c)
			return &opts[i];
	for (size_t i = 0; i < NCOMMON; i++)
		if (common[i].short_name == c)
			return &common[i];
	return NULL;
}

const char *cli_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
	static char best_name[128];
	_cleanup_strv_ struct strv names = {0};
	const char *best;

	/* A candidate may list aliases ("a|b"); each is a word of its own. */
	for (size_t i = 0; i < n; i++) {
		const char *p = candidates[i];

		while (p && *p) {
			const char *bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);

			strv_push_take(&names, xstrndup(p, len));
			p = bar ? bar + 1 : NULL;
		}
	}
	best = unik_suggest(word, (const char *const *)strv_argv(&names), names.n);
	if (!best || strlen(best) >= sizeof(best_name))
		return NULL;
	memcpy(best_name, best, strlen(best) + 1);
	return best_name;
}

static void unknown_option(const char *arg, const char *name, const struct cli_opt *opts, size_t n,
                           const struct cli_opt *common, struct unik_error *err)
{
	const char *cands[64];
	size_t nc = 0;
	const char *guess;

	for (size_t i = 0; i < n && nc < 60; i++)
		cands[nc++] = opts[i].names;
	for (size_t i = 0; i < NCOMMON; i++)
		cands[nc++] = common[i].names;
	guess = name && strlen(name) > 1 ? cli_did_you_mean(name, cands, nc) : NULL;
	if (guess)
		unik_error_set(err, UNIK_E_INVALID, "unknown option `%s` (did you mean `--%s`?)",
		               arg, guess);
	else
		unik_error_set(err, UNIK_E_INVALID, "unknown option `%s`", arg);
}

static int set_value(const struct cli_opt *o, const char *shown, const char *value,
                     struct unik_error *err)
{
	switch (o->kind) {
	case CLI_OPT_BOOL:
		if (!value || !strcasecmp(value, "true") || !strcmp(value, "1")) {
			*(bool *)o->target = true;
		} else if (!strcasecmp(value, "false") || !strcmp(value, "0")) {
			*(bool *)o->target = false;
		} else {
			unik_error_set(err, UNIK_E_INVALID, "option `%s` takes no value (got `%s`)",
			               shown, value);
			return -1;
		}
		return 0;
	case CLI_OPT_STR:
		*(const char **)o->target = value;
		return 0;
	case CLI_OPT_LIST:
		strv_push((struct strv *)o->target, value);
		return 0;
	}
	return 0;
}

int cli_parse_args(struct cli *cli, int argc, char **argv, const struct cli_opt *opts, size_t nopts,
                   unsigned flags, struct strv *pos, struct unik_error *err)
{
	struct cli_opt common[NCOMMON];
	bool help = false, stopped = false;

	common_opts(cli, &help, common);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (stopped || arg[0] != '-' || arg[1] == '\0') {
			strv_push(pos, arg);
			if (flags & CLI_STOP_AT_POSITIONAL)
				stopped = true;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			stopped = true;
			continue;
		}
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct cli_opt *o = find_long(opts, nopts, common, name, len);
			const char *value = eq ? eq + 1 : NULL;
			_cleanup_free_ char *shown = xstrndup(arg, (size_t)(2 + len));

			if (!o) {
				_cleanup_free_ char *bare = xstrndup(name, len);

				unknown_option(shown, bare, opts, nopts, common, err);
				return -1;
			}
			if (o->kind != CLI_OPT_BOOL && !value) {
				if (i + 1 >= argc) {
					unik_error_set(err, UNIK_E_INVALID,
					               "option `%s` needs a value%s%s", shown,
					               o->metavar ? " " : "",
					               o->metavar ? o->metavar : "");
					return -1;
				}
				value = argv[++i];
			}
			if (set_value(o, shown, value, err) < 0)
				return -1;
			continue;
		}
		/* Short options, possibly bundled (-df) or with the value attached (-m64). */
		for (const char *p = arg + 1; *p; p++) {
			const struct cli_opt *o = find_short(opts, nopts, common, *p);
			char shown[3] = {'-', *p, '\0'};
			const char *value = NULL;

			if (!o) {
				/* -instanceName: UniK's Go flags also took one dash (and its first
				 * letters may be short options: -i, -n). */
				if (arg[2] &&
				    find_long(opts, nopts, common, arg + 1, strlen(arg + 1)))
					unik_error_set(err, UNIK_E_INVALID,
					               "unknown option `%s` (did you mean `-%s`?)",
					               arg, arg);
				else if (p != arg + 1)
					unik_error_set(err, UNIK_E_INVALID,
					               "unknown option `%s` in `%s`", shown, arg);
				else
					unik_error_set(err, UNIK_E_INVALID, "unknown option `%s`",
					               shown);
				return -1;
			}
			if (o->kind != CLI_OPT_BOOL) {
				if (p[1]) {
					value = p + 1;
				} else if (i + 1 < argc) {
					value = argv[++i];
				} else {
					unik_error_set(err, UNIK_E_INVALID,
					               "option `%s` needs a value%s%s", shown,
					               o->metavar ? " " : "",
					               o->metavar ? o->metavar : "");
					return -1;
				}
			}
			if (set_value(o, shown, value, err) < 0)
				return -1;
			if (value)
				break;
		}
	}
	if (help)
		return 1;
	if (cli->color && strcmp(cli->color, "auto") && strcmp(cli->color, "always") &&
	    strcmp(cli->color, "never")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--color `%s`: want `auto`, `always` or `never`", cli->color);
		return -1;
	}
	cli_color_when = cli->color;
	if (cli->output) {
		if (strcmp(cli->output, "json") == 0) {
			cli->json = true;
		} else if (strcmp(cli->output, "table") && strcmp(cli->output, "text")) {
			unik_error_set(err, UNIK_E_INVALID,
			               "unknown output format `%s` (use table or json)",
			               cli->output);
			return -1;
		}
	}
	return 0;
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	const char *verb = cli && cli->typed ? cli->typed : NULL;
	bool color = cli_color(2);

	fprintf(stderr, "%sunik%s%s:%s ", color ? CLI_BOLD CLI_RED : "", verb ? " " : "",
	        verb ? verb : "", color ? CLI_RESET : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (verb)
		fprintf(stderr, "\nRun `unik %s --help` for usage.\n", verb);
	else
		fputs("\nRun `unik help` for the list of verbs.\n", stderr);
	return CLI_USAGE;
}

int cli_parse(struct cli *cli, int argc, char **argv, const struct cli_opt *opts, size_t nopts,
              unsigned flags, const struct cli_help *help, struct strv *pos, int *exit_code)
{
	struct unik_error err = {0};
	int r = cli_parse_args(cli, argc, argv, opts, nopts, flags, pos, &err);

	if (r == 1) {
		cli_print_help(cli, opts, nopts, help);
		*exit_code = CLI_OK;
		return 1;
	}
	if (r < 0) {
		*exit_code = cli_usage_error(cli, "%s", err.msg);
		return -1;
	}
	return 0;
}

static void print_opts(const struct cli_opt *opts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &opts[i];
		const char *bar = strchr(o->names, '|');
		size_t first = bar ? (size_t)(bar - o->names) : strlen(o->names);
		char left[80];
		int w;

		if (o->short_name)
			w = snprintf(left, sizeof(left), "  -%c, --%.*s", o->short_name, (int)first,
			             o->names);
		else
			w = snprintf(left, sizeof(left), "      --%.*s", (int)first, o->names);
		if (o->metavar && w > 0 && (size_t)w < sizeof(left))
			snprintf(left + w, sizeof(left) - (size_t)w, " %s", o->metavar);
		if (strlen(left) > 28)
			printf("%s\n%-30s%s", left, "", o->help);
		else
			printf("%-30s%s", left, o->help);
		if (bar) {
			fputs(" (also", stdout);
			for (const char *p = bar + 1; p && *p;) {
				const char *next = strchr(p, '|');
				size_t len = next ? (size_t)(next - p) : strlen(p);

				printf(" --%.*s", (int)len, p);
				p = next ? next + 1 : NULL;
			}
			fputs(")", stdout);
		}
		putchar('\n');
	}
}

bool cli_help_json(void)
{
	const char *f = getenv("UNIK_HELP_FORMAT");

	return f && !strcmp(f, "json");
}

static json_t *opts_json(const struct cli_opt *opts, size_t n)
{
	static const char *const kinds[] = {"bool", "string", "list"};
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &opts[i];
		json_t *names = json_array();
		char shortn[2] = {o->short_name, 0};

		for (const char *p = o->names; p && *p;) {
			const char *bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);

			json_array_append_new(names, json_stringn(p, len));
			p = bar ? bar + 1 : NULL;
		}
		json_array_append_new(a, json_pack("{s:s?, s:o, s:s, s:s?, s:s?}", "short",
		                                   o->short_name ? shortn : NULL, "names", names,
		                                   "kind", kinds[o->kind], "metavar", o->metavar,
		                                   "help", o->help));
	}
	return a;
}

void cli_print_help(const struct cli *cli, const struct cli_opt *opts, size_t nopts,
                    const struct cli_help *help)
{
	struct cli_opt common[NCOMMON];
	bool dummy = false;
	struct cli tmp = *cli;

	common_opts(&tmp, &dummy, common);
	/* A verb's own short option wins over a common one (export's -o FILE): the common one is
	 * then only its long name, and help lists each letter once. */
	for (size_t i = 0; i < NCOMMON; i++)
		for (size_t j = 0; j < nopts; j++)
			if (common[i].short_name && common[i].short_name == opts[j].short_name)
				common[i].short_name = 0;
	/* The same tables as data, for the man pages and completion (scripts/gen-man). */
	if (cli_help_json()) {
		json_t *j = json_pack("{s:s?, s:s, s:s?, s:s?, s:o, s:o}", "verb", cli->verb,
		                      "usage", help->usage, "text", help->text, "examples",
		                      help->examples, "options", opts_json(opts, nopts),
		                      "common_options", opts_json(common, NCOMMON));

		cli_print_json(j);
		json_decref(j);
		return;
	}
	printf("Usage: %s\n", help->usage);
	if (help->text)
		printf("\n%s\n", help->text);
	if (nopts) {
		puts("\nOptions:");
		print_opts(opts, nopts);
	}
	puts("\nCommon options:");
	print_opts(common, NCOMMON);
	if (help->examples)
		printf("\nExamples:\n%s", help->examples);
}
