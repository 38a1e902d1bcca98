/* unik init: write a starter project (source, Makefile where the base needs one, Unikfile,
 * README) for a compiler base, one that builds and runs as it is. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/unik/cli.h"

/* A file of a starter: its text has @NAME@ where the project's name goes. */
struct starter_file {
	const char *path, *text;
};

static const struct starter_file rump_files[] = {
    {"main.c",
     "/* @NAME@: an ordinary C program that unik builds into a unikernel (the rump base). */\n"
     "#include <stdio.h>\n"
     "\n"
     "int main(int argc, char **argv)\n"
     "{\n"
     "\tprintf(\"Hello from @NAME@!\\n\");\n"
     "\tfor (int i = 1; i < argc; i++)\n"
     "\t\tprintf(\"argument %d: %s\\n\", i, argv[i]);\n"
     "\treturn 0;\n"
     "}\n"},
    {"Makefile",
     "# unik build runs `make CC=unik-cc`; `make CC=cc` builds the same program for Linux.\n"
     "CC ?= unik-cc\n"
     "ifeq ($(origin CC),default)\n"
     "CC := unik-cc\n"
     "endif\n"
     "CFLAGS ?= -O2 -Wall\n"
     "\n"
     "@NAME@: main.c\n"
     "\t$(CC) $(CFLAGS) -o $@ $<\n"
     "\n"
     "clean:\n"
     "\trm -f @NAME@\n"
     "\n"
     ".PHONY: clean\n"},
    {"Unikfile", "# docs/unikfile.md lists every key.\n"
                 "name: @NAME@\n"
                 "base: rump\n"
                 "language: c\n"
                 "memory: 64M\n"},
    {NULL, NULL},
};

static const struct starter_file includeos_files[] = {
    {"service.c",
     "/* @NAME@: an event-driven service (the includeos base): service_start() sets up\n"
     " * listeners and timers and returns; the event loop runs until service_exit(). */\n"
     "#include <unik/service.h>\n"
     "\n"
     "static int ticks;\n"
     "\n"
     "static void tick(struct service_timer *t, void *arg)\n"
     "{\n"
     "\t(void)arg;\n"
     "\tservice_log(\"@NAME@: tick %d\\n\", ++ticks);\n"
     "\tif (ticks == 3) {\n"
     "\t\tservice_timer_cancel(t);\n"
     "\t\tservice_exit(0);\n"
     "\t}\n"
     "}\n"
     "\n"
     "void service_start(void)\n"
     "{\n"
     "\tservice_log(\"Hello from @NAME@!\\n\");\n"
     "\tservice_timer_every(100, 100, tick, NULL);\n"
     "}\n"},
    {"Unikfile", "# docs/unikfile.md lists every key; docs/backends/includeos.md the service API.\n"
                 "name: @NAME@\n"
                 "base: includeos\n"
                 "language: c\n"},
    {NULL, NULL},
};

static const struct starter_file mirage_files[] = {
    {"app.c",
     "/* @NAME@: an application over explicit devices (the mirage base).  It declares none;\n"
     " * add them to the Unikfile (devices: [{net: service}]) and bind them at run time. */\n"
     "#include <string.h>\n"
     "\n"
     "#include <unik/devices-app.h>\n"
     "\n"
     "int unik_app_main(const struct unik_app_info *info)\n"
     "{\n"
     "\tstatic const char hello[] = \"Hello from @NAME@!\\n\";\n"
     "\n"
     "\tunik_console_write(hello, strlen(hello));\n"
     "\tfor (int i = 1; i < info->argc; i++) {\n"
     "\t\tunik_console_write(info->argv[i], strlen(info->argv[i]));\n"
     "\t\tunik_console_write(\"\\n\", 1);\n"
     "\t}\n"
     "\treturn 0;\n"
     "}\n"},
    {"Unikfile", "# docs/unikfile.md lists every key; docs/backends/mirage.md the device API.\n"
                 "name: @NAME@\n"
                 "base: mirage\n"
                 "language: c\n"},
    {NULL, NULL},
};

static const struct {
	const char *base;
	const struct starter_file *files;
	const char *what;
} starters[] = {
    {"rump", rump_files, "an ordinary C program (main.c) built with its Makefile"},
    {"includeos", includeos_files, "an event-driven service (service.c)"},
    {"mirage", mirage_files, "an application over explicit devices (app.c)"},
};

static char *expand(const char *text, const char *name)
{
	struct strv parts = {0};
	const char *p = text, *at;
	char *out;

	while ((at = strstr(p, "@NAME@"))) {
		strv_push_take(&parts, xstrndup(p, (size_t)(at - p)));
		strv_push(&parts, name);
		p = at + 6;
	}
	strv_push(&parts, p);
	out = strv_join(&parts, "");
	strv_free(&parts);
	return out;
}

/* The image name a directory gives: its base name, with what a name may not hold turned to
 * `-` (names are [A-Za-z0-9][A-Za-z0-9_.-]{0,62}). */
static char *project_name(const char *dir)
{
	_cleanup_free_ char *abs = realpath(dir, NULL);
	_cleanup_free_ char *copy = xstrdup(abs ? abs : dir);
	char *name = xstrdup(basename(copy));

	for (char *c = name; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
		            *c))
			*c = '-';
	if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]) ||
	    strlen(name) > 63) {
		free(name);
		return NULL;
	}
	return name;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik init [--base BASE] [--name NAME] [DIR]",
	    "Writes a starter project into DIR (default: the current directory, made if\n"
	    "missing): the source, a Makefile where the base needs one, a Unikfile and a\n"
	    "README.  It builds and runs as it is: `unik build DIR`, then `unik run NAME`.\n"
	    "Bases: rump (the default; a C program with main()), includeos (an event-driven\n"
	    "service), mirage (an application over explicit devices).  Files that exist are\n"
	    "left alone: init refuses unless --force.",
	    "  unik init hello && unik build hello && unik run hello\n"
	    "  unik init --base includeos svc\n",
	};
	const char *base = "rump", *name_opt = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    {0, "base", CLI_OPT_STR, &base, "BASE", "rump (default), includeos or mirage"},
	    {'n', "name", CLI_OPT_STR, &name_opt, "NAME",
	     "the image's name (default: the directory's name)"},
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, "overwrite files that exist"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *name = NULL;
	const struct starter_file *files = NULL;
	const char *dir, *what = NULL;
	struct unik_error err = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 3, 0, &help, &pos, &rc))
		return rc;
	if (pos.n > 1)
		return cli_usage_error(cli, "takes one directory (got `%s` too)", pos.v[1]);
	dir = pos.n ? pos.v[0] : ".";
	for (size_t i = 0; i < sizeof(starters) / sizeof(starters[0]); i++)
		if (!strcmp(base, starters[i].base)) {
			files = starters[i].files;
			what = starters[i].what;
		}
	if (!files)
		return cli_usage_error(cli, "--base `%s`: want rump, includeos or mirage", base);
	/* DIR and any parents it lacks, as mkdir -p. */
	{
		_cleanup_free_ char *d = xstrdup(dir);

		for (char *p = d + 1;; p++) {
			char c = *p;

			if (c && c != '/')
				continue;
			*p = '\0';
			if (mkdir(d, 0777) < 0 && errno != EEXIST) {
				unik_error_sys(&err, errno, "create `%s`", d);
				return cli_fail(&err);
			}
			*p = c;
			if (!c)
				break;
		}
	}
	name = name_opt ? xstrdup(name_opt) : project_name(dir);
	if (!name || !*name || strlen(name) > 63 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
	        strlen(name) ||
	    !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]))
		return cli_usage_error(cli,
		                       "`%s` cannot be an image name ([A-Za-z0-9][A-Za-z0-9_.-]*, "
		                       "at most 63): give one with --name",
		                       name && *name ? name : dir);
	if (!force) {
		for (const struct starter_file *f = files; f->path; f++) {
			_cleanup_free_ char *p = unik_path_join(dir, f->path);

			if (access(p, F_OK) == 0)
				return cli_usage_error(cli,
				                       "`%s` exists: init leaves it alone "
				                       "(--force overwrites it)",
				                       p);
		}
		_cleanup_free_ char *readme = unik_path_join(dir, "README.md");
		if (access(readme, F_OK) == 0)
			return cli_usage_error(cli,
			                       "`%s` exists: init leaves it alone "
			                       "(--force overwrites it)",
			                       readme);
	}
	for (const struct starter_file *f = files; f->path; f++) {
		_cleanup_free_ char *p = unik_path_join(dir, f->path);
		_cleanup_free_ char *text = expand(f->text, name);

		if (unik_write_file_atomic(p, text, strlen(text), 0644, &err) < 0)
			return cli_fail(&err);
		printf("wrote %s\n", p);
	}
	{
		_cleanup_free_ char *p = unik_path_join(dir, "README.md");
		_cleanup_free_ char *text = xasprintf(
		    "# %s\n\n"
		    "A unikernel project made by `unik init --base %s`: %s.\n\n"
		    "```sh\n"
		    "unik build %s        # builds the image `%s` (its name is in the Unikfile)\n"
		    "unik run %s          # runs it and prints its console\n"
		    "```\n\n"
		    "The Unikfile's keys are in unik's docs/unikfile.md; `unik describe-compiler "
		    "%s`\n"
		    "says how a %s project is laid out.\n",
		    name, base, what, dir, name, name, base, base);

		if (unik_write_file_atomic(p, text, strlen(text), 0644, &err) < 0)
			return cli_fail(&err);
		printf("wrote %s\n", p);
	}
	printf("next: unik build %s && unik run %s\n", dir, name);
	return CLI_OK;
}
