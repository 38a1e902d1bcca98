/* What the unik CLI's verbs share: the verb table's entry type, option parsing with UniK's
 * spellings, reaching the daemon (starting one when needed) and printing tables or JSON. */
#ifndef UNIK_CLI_H
#define UNIK_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/client.h"
#include "lib/error.h"
#include "lib/util.h"

/* Exit statuses. */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1, /* the daemon reported a failure, or it could not be reached */
	CLI_USAGE = 2,  /* bad command line */
};

/* The state of one invocation.  Strings are borrowed from argv or the environment, except where
 * noted. */
struct cli {
	const char *verb;   /* the canonical verb name ("rmi" for delete-image) */
	const char *typed;  /* the name as typed */
	const char *host;   /* --host, else UNIK_HOST; NULL for the config file or the socket */
	const char *token;  /* --token, else UNIK_TOKEN */
	const char *output; /* -o: "table" (default) or "json" */
	bool json;
	bool no_autostart;          /* cli_client() does not start a daemon */
	struct unik_client *client; /* owned; made by cli_client() */
	const char *retry_timeout;  /* --retry-timeout, else UNIK_RETRY_TIMEOUT (seconds) */
	const char *color;          /* --color: "auto" (default), "always" or "never" */
	bool no_trunc;              /* --no-trunc: tables print whole cells */
};

/* ------------------------------------------------------------------------------------------- */
/* Verbs */

typedef int (*cli_verb_fn)(struct cli *cli, int argc, char **argv);

struct cli_verb {
	const char *name;
	const char *alias; /* another name, or NULL */
	cli_verb_fn fn;
	const char *summary; /* one line for `unik help` */
};

/* The table (main.c); NULL-name terminated. */
extern const struct cli_verb cli_verbs[];
const struct cli_verb *cli_find_verb(const char *name);

/* One function per verb, one file each (cmd_<verb>.c). */
int cmd_build(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_describe_image(struct cli *cli, int argc, char **argv);
int cmd_rmi(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_push(struct cli *cli, int argc, char **argv);
int cmd_pull(struct cli *cli, int argc, char **argv);
/* Puts a registry login into a push or pull request's body: --username and the password read
 * from stdin, else the "auth" of Docker's config.json for ref's registry, else nothing.  0, or
 * the exit status of a usage error. */
int cli_registry_auth(const struct cli *cli, const char *ref, const char *username,
                      bool password_stdin, json_t *body);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_network(struct cli *cli, int argc, char **argv);
int cmd_volume(struct cli *cli, int argc, char **argv);
int cmd_volumes(struct cli *cli, int argc, char **argv);
int cmd_create_volume(struct cli *cli, int argc, char **argv);
int cmd_delete_volume(struct cli *cli, int argc, char **argv);
int cmd_attach_volume(struct cli *cli, int argc, char **argv);
int cmd_detach_volume(struct cli *cli, int argc, char **argv);
int cmd_networks(struct cli *cli, int argc, char **argv);
int cmd_describe_instance(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_providers(struct cli *cli, int argc, char **argv);
int cmd_compilers(struct cli *cli, int argc, char **argv);
int cmd_describe_compiler(struct cli *cli, int argc, char **argv);
int cmd_target(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);

/* ------------------------------------------------------------------------------------------- */
/* Options */

enum cli_opt_kind {
	CLI_OPT_BOOL, /* target: bool * */
	CLI_OPT_STR,  /* target: const char ** (borrowed from argv) */
	CLI_OPT_LIST, /* target: struct strv * (repeatable; copies) */
};

struct cli_opt {
	char short_name;   /* 0 for none */
	const char *names; /* long names, '|'-separated, the first one shown in help */
	enum cli_opt_kind kind;
	void *target;
	const char *metavar; /* for help: "MB", "K=V" */
	const char *help;
};

struct cli_help {
	const char *usage;    /* "unik run [options] IMAGE [ARGS...]" (may hold several lines) */
	const char *text;     /* what the verb does */
	const char *examples; /* lines of examples */
};

/* Flags for cli_parse_args. */
#define CLI_STOP_AT_POSITIONAL 1u /* the first positional word ends the options (run) */

/* Parses argv[1..argc) (argv[0] is the verb) against opts and the options every verb takes
 * (--host, --token, -o/--output, -h/--help); positional words are pushed onto *pos.
 * Returns 0, 1 when help was asked for, or -1 with err saying what is wrong (and, for an unknown
 * option, what was probably meant). */
int cli_parse_args(struct cli *cli, int argc, char **argv, const struct cli_opt *opts, size_t nopts,
                   unsigned flags, struct strv *pos, struct unik_error *err);

/* cli_parse_args for a verb: prints the help (and returns 1 with *exit_code CLI_OK) or the error
 * with a hint (returns -1 with *exit_code CLI_USAGE); returns 0 to go on. */
int cli_parse(struct cli *cli, int argc, char **argv, const struct cli_opt *opts, size_t nopts,
              unsigned flags, const struct cli_help *help, struct strv *pos, int *exit_code);

void cli_print_help(const struct cli *cli, const struct cli_opt *opts, size_t nopts,
                    const struct cli_help *help);
/* Whether UNIK_HELP_FORMAT=json asks --help for JSON (usage, text, examples, the option
 * tables), which scripts/gen-man turns into man pages and completion. */
bool cli_help_json(void);
/* The hidden `unik __complete KIND`: names of images, instances, volumes or networks (one a
 * line) from a daemon that answers, for shell completion; never starts one, prints nothing on
 * failure. */
int cli_complete(int argc, char **argv);

/* Prints "unik VERB: message" and a hint to stderr; returns CLI_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...) UNIK_PRINTF(2, 3);

/* The closest of candidates ('|'-separated groups allowed) to word, or NULL if none is close. */
const char *cli_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* ------------------------------------------------------------------------------------------- */
/* The daemon */

/* $UNIK_HOME, else ~/.unik.  Caller frees. */
char *cli_home(void);

/* The client for this invocation, made on first use: --host, UNIK_HOST, the client config, else
 * the default socket, where a daemon is started when none answers.  NULL after printing why. */
struct unik_client *cli_client(struct cli *cli);

/* Starts `unik daemon ARGS...` in its own session with its output in HOME/daemon.log, and waits
 * until it answers on sock and has written HOME/daemon.pid.  The daemon is a grandchild, so it
 * never becomes our zombie.  0, or -1 with err (the log's end printed). */
int cli_start_daemon(const char *home, const char *sock, const struct strv *args,
                     struct unik_error *err);

/* Set by SIGINT/SIGTERM once cli_catch_signals has run; the client's requests end when it is. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_signals(void);

/* Prints "unik: message" for a failed request and returns CLI_FAILED. */
int cli_fail(const struct unik_error *err);

/* A request whose JSON answer is wanted; prints the error and returns NULL on failure. */
json_t *cli_request(struct cli *cli, const char *method, const char *path, json_t *body);

/* Sends method to fmt (one %s, for the escaped ref) plus query (may be "") for each ref, and
 * prints each ref as it succeeds, or with -o json an array of the answers.  Goes on after a
 * failure; CLI_OK when all succeeded, else CLI_FAILED. */
int cli_each_ref(struct cli *cli, const struct strv *refs, const char *method, const char *fmt,
                 const char *query);

/* Streams GET path to stdout as it comes; 0 or -1 (error printed). */
int cli_stream_to_stdout(struct cli *cli, const char *path);

/* ------------------------------------------------------------------------------------------- */
/* Output */

/* Prints j as indented JSON on stdout. */
void cli_print_json(const json_t *j);

/* A column of a table: its heading and the JSON field it shows (dotted paths go into objects). */
struct cli_column {
	const char *heading;
	const char *field;
	const char *(*format)(const json_t *row, const char *field, char *buf, size_t len);
};

/* Prints rows (a JSON array of objects) as an aligned table that fits cli_width() (long cells
 * cut at a word boundary with "…", unless --no-trunc; the STATE and AVAILABLE columns are never
 * cut, and coloured when cli_color(1)),
 * or as JSON when cli->json. */
void cli_print_table(const struct cli *cli, const json_t *rows, const struct cli_column *cols,
                     size_t ncols);
/* Prints each row's "id" (else "name") on a line of its own: -q. */
void cli_print_ids(const json_t *rows);

/* The width tables fit: $COLUMNS when it is a number, else the terminal's on stdout, else 80. */
size_t cli_width(void);
/* The display width of UTF-8 text (one column per character). */
size_t cli_text_width(const char *s);
/* s cut to at most width columns at a word boundary with "…" (never in the middle of a word:
 * a first word longer than width is kept whole).  Caller frees. */
char *cli_ellipsize(const char *s, size_t width);

/* Whether to colour what goes to fd: --color=always|never, else NO_COLOR unset, TERM not
 * "dumb" and fd a terminal.  Set by option parsing; --color is checked there. */
bool cli_color(int fd);
extern const char *cli_color_when; /* --color as given, or NULL */
/* The escape sequence that colours a state word ("running", "exited (1)", "unavailable", ...),
 * or "" for one without a colour. */
const char *cli_state_color(const char *word);
#define CLI_RESET "\033[0m"
#define CLI_RED   "\033[31m"
#define CLI_BOLD  "\033[1m"

/* Formatters for columns. */
const char *cli_fmt_size(const json_t *row, const char *field, char *buf, size_t len);
const char *cli_fmt_age(const json_t *row, const char *field, char *buf, size_t len);
const char *cli_fmt_list(const json_t *row, const char *field, char *buf, size_t len);
/* An image's "formats" object as "elf 96K, raw 1.0M". */
const char *cli_fmt_formats(const json_t *row, const char *field, char *buf, size_t len);

/* A value of row as text ("" for null or missing), formatted into buf when not a string. */
const char *cli_field(const json_t *row, const char *field, char *buf, size_t len);

/* "12.5 KiB" */
void cli_human_size(double bytes, char *buf, size_t len);

/* Prints key: value lines for an object (describe-*), or JSON when cli->json. */
void cli_print_object(const struct cli *cli, const json_t *obj);

/* The two shapes most verbs have.  A list verb takes no arguments, GETs path and prints the
 * rows as a table (or JSON).  A describe verb takes one reference, as its only argument or
 * through one of the `|`-separated option spellings in flags, and GETs collection/<ref>. */
int cli_list_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                  const char *path, const struct cli_column *cols, size_t ncols);
int cli_describe_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                      const char *flags, const char *noun, const char *collection);

/* "64", "64M", "64MB", "64MiB", "1G": a memory size in MiB; -1 when it is none. */
long cli_parse_mem(const char *s);

/* K=V words (a bare K takes our own $K) as a JSON object; NULL after printing a usage error. */
json_t *cli_env_object(const struct cli *cli, const struct strv *env);
/* --provider-opt KEY=VALUE words as the JSON object the daemon takes as "provider_opts", or
 * NULL after a usage error. */
json_t *cli_provider_opts(const struct cli *cli, const struct strv *words);
/* GETs path into dest (atomically: a complete file or none; NULL for stdout), with progress on a
 * terminal ("what: 3.0 MiB of 64 MiB (4%)") when total is known and large; checks that total
 * bytes came when total is not 0.  0, or -1 after printing why.  *written: the bytes received. */
int cli_download(struct cli *cli, const char *path, const char *dest, uint64_t total,
                 const char *what, uint64_t *written);
/* A verb with commands of its own (`unik network create`): the table ends with a NULL name. */
struct cli_subverb {
	const char *name, *alias;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *what;
};
/* Runs the command argv[1] names from subs with the words after the verb; with none (or --help),
 * lists them under "unik NOUN COMMAND" and blurb; an unknown one is a usage error with a
 * suggestion. */
int cli_subverb(struct cli *cli, int argc, char **argv, const char *noun, const char *blurb,
                const struct cli_subverb *subs);
/* The one NAME a verb takes: *name when an option gave it, else the only word in pos.  0, or
 * the usage error's exit status (too many words, or none: "which name? (USAGE)"). */
int cli_one_name(struct cli *cli, const struct strv *pos, const char **name, const char *usage);
/* words as a JSON array of strings. */
json_t *cli_strv_json(const struct strv *words);

/* A verb that POSTs /v1/instances/REF/ACTION for each INSTANCE word (or --instance): start,
 * stop. */
int cli_instance_action_verb(struct cli *cli, int argc, char **argv, const struct cli_help *help,
                             const char *action);

/* A path with one escaped reference: fmt has one %s. Caller frees. */
char *cli_path(const char *fmt, const char *ref);

#endif
