/* unik build: pack a source directory (or name a git repository), have the daemon build it into
 * an image, and stream the build log, compiler errors included, to the terminal. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/unik/cli.h"
#include "lib/tarpack.h"

#define PROGRESS_MIN_BYTES (1u << 20)

struct build_args {
	const char *name, *path, *base, *lang, *provider, *args, *mem, *git, *target;
	struct strv env, mounts, formats, popts;
	bool force, no_cleanup;
};

static void warn_skip(void *ctx, const char *path, const char *reason)
{
	(void)ctx;
	fprintf(stderr, "unik build: %s `%s`\n", reason, path);
}

static void progress(void *ctx, uint64_t sent, uint64_t total)
{
	int *last = ctx;
	int pct = total ? (int)(sent * 100 / total) : 0;
	char a[32], b[32];

	if (pct == *last)
		return;
	*last = pct;
	cli_human_size((double)sent, a, sizeof(a));
	cli_human_size((double)total, b, sizeof(b));
	fprintf(stderr, "\rsending the source: %s of %s (%d%%)   ", a, b, pct);
	if (sent >= total)
		fputc('\n', stderr);
}

static int to_stream(void *ctx, const char *data, size_t len)
{
	FILE *f = ctx;

	if (fwrite(data, 1, len, f) != len)
		return 1;
	fflush(f);
	return 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

	nanosleep(&ts, NULL);
}

/* The default image name: the source directory's base name. */
static char *default_name(const char *path)
{
	_cleanup_free_ char *abs = realpath(path, NULL);
	_cleanup_free_ char *copy = xstrdup(abs ? abs : path);

	return xstrdup(basename(copy));
}

static json_t *build_options(struct cli *cli, const struct build_args *a, const char *name)
{
	json_t *o = json_pack("{s:s}", "name", name);

	if (a->base)
		json_object_set_new(o, "base", json_string(a->base));
	if (a->lang)
		json_object_set_new(o, "language", json_string(a->lang));
	if (a->target)
		json_object_set_new(o, "target", json_string(a->target));
	if (a->provider)
		json_object_set_new(o, "provider", json_string(a->provider));
	if (a->popts.n) {
		json_t *po = cli_provider_opts(cli, &a->popts);

		if (!po) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "provider_opts", po);
	}
	if (a->args)
		json_object_set_new(o, "args", json_string(a->args));
	if (a->env.n) {
		json_t *env = cli_env_object(cli, &a->env);

		if (!env) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "env", env);
	}
	if (a->mem) {
		long mb = cli_parse_mem(a->mem);

		if (mb < 0) {
			cli_usage_error(cli, "--mem `%s`: want a size in MiB such as 64 or 64M",
			                a->mem);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "memory_mb", json_integer(mb));
	}
	if (a->formats.n) {
		json_t *fs = json_array();

		/* --format raw,qcow2 and --format raw --format qcow2 alike. */
		for (size_t i = 0; i < a->formats.n; i++) {
			_cleanup_free_ char *copy = xstrdup(a->formats.v[i]);
			char *save = NULL;

			for (char *t = strtok_r(copy, ", ", &save); t;
			     t = strtok_r(NULL, ", ", &save))
				json_array_append_new(fs, json_string(t));
		}
		json_object_set_new(o, "formats", fs);
	}
	if (a->force)
		json_object_set_new(o, "force", json_true());
	if (a->git)
		json_object_set_new(o, "git", json_string(a->git));
	return o;
}

/* Uploads the packed source (or the git URL) and returns the build's id. */
static char *start_build(struct cli *cli, const struct build_args *a, json_t *options)
{
	struct unik_client *c = cli_client(cli);
	struct unik_error err = {0};
	json_t *resp = NULL;
	char *id = NULL;
	int r;

	if (!c)
		return NULL;
	if (a->git) {
		r = unik_client_json(c, "POST", "/v1/builds", options, &resp, &err);
	} else {
		_cleanup_free_ char *tar = NULL, *opts_text = json_dumps(options, JSON_COMPACT);
		size_t len = 0;
		struct unik_tarpack_opts topts = {.warn = warn_skip};
		int last = -1;
		struct unik_client_part parts[] = {
		    {"options", NULL, "application/json", opts_text, strlen(opts_text)},
		    {"source", "source.tar.gz", "application/gzip", NULL, 0},
		};

		if (unik_tarpack(a->path, &topts, &tar, &len, NULL, &err) < 0) {
			cli_fail(&err);
			return NULL;
		}
		parts[1].data = tar;
		parts[1].len = len;
		r = unik_client_upload(c, "/v1/builds", parts, 2,
		                       len >= PROGRESS_MIN_BYTES && isatty(2) ? progress : NULL,
		                       &last, &resp, &err);
	}
	if (r < 0) {
		cli_fail(&err);
		return NULL;
	}
	if (json_is_string(json_object_get(resp, "id")))
		id = xstrdup(json_string_value(json_object_get(resp, "id")));
	else
		fprintf(stderr, "unik: the daemon's answer to POST /v1/builds has no id\n");
	json_decref(resp);
	return id;
}

int cmd_build(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik build [options] [--path DIR | DIR | --git URL[#REF]]",
	    "Builds an image from a source directory (default: the current one), which is\n"
	    "packed as a gzip tar without .git/ and without what .unikignore names, or from a\n"
	    "git repository.  The build log, compiler errors included, streams to the terminal\n"
	    "as it is written.  Exits 0 once the image is stored, 1 if the build failed.\n"
	    "\n"
	    "The `rump` compiler runs the project's Makefile with CC=unik-cc (the binary named\n"
	    "by manifest.yaml's binary_name or the Unikfile), or compiles every .c file when\n"
	    "there is no Makefile.  See `unik describe-compiler rump`.",
	    "  unik build --name hello --path examples/hello\n"
	    "  unik build -n web -e PORT=8080 --mem 128 ./web\n"
	    "  unik build --name tool --git https://example.org/tool.git#v1.2\n"
	    "  unik build --name hello --format raw,qcow2 examples/hello\n"
	    "  unik build --name hello --provider aws --provider-opt region=eu-west-1 "
	    "examples/hello\n",
	};
	struct build_args a = {0};
	const struct cli_opt opts[] = {
	    {'n', "name|imageName", CLI_OPT_STR, &a.name, "NAME",
	     "the image's name (default: the directory's name)"},
	    {0, "path", CLI_OPT_STR, &a.path, "DIR", "the source directory (default .)"},
	    {0, "git", CLI_OPT_STR, &a.git, "URL[#REF]", "build from a git repository instead"},
	    {0, "base", CLI_OPT_STR, &a.base, "BASE", "the compiler (default rump)"},
	    {0, "language|lang", CLI_OPT_STR, &a.lang, "LANG", "the language (default c)"},
	    {0, "target", CLI_OPT_STR, &a.target, "TARGET",
	     "where a mirage application runs: virtio (QEMU, the default) or unix (unik-spt)"},
	    {0, "provider", CLI_OPT_STR, &a.provider, "PROVIDER",
	     "the provider to build for (default qemu); aws stages an AMI"},
	    {0, "provider-opt", CLI_OPT_LIST, &a.popts, "KEY=VALUE",
	     "a provider option, e.g. region=eu-west-1 for aws (repeatable)"},
	    {0, "args", CLI_OPT_STR, &a.args, "'ARGV0 ARG...'",
	     "the default guest command line, shell-quoted words"},
	    {'e', "env", CLI_OPT_LIST, &a.env, "K=V", "default guest environment (repeatable)"},
	    {'m', "mem|memory|instanceMemory", CLI_OPT_STR, &a.mem, "MB",
	     "default guest memory in MiB"},
	    {0, "format|formats", CLI_OPT_LIST, &a.formats, "FORMAT[,FORMAT...]",
	     "also pack raw, qcow2, vmdk, vhd or iso (elf always; repeatable)"},
	    {'f', "force", CLI_OPT_BOOL, &a.force, NULL, "replace an image of the same name"},
	    {0, "no-cleanup", CLI_OPT_BOOL, &a.no_cleanup, NULL, "accepted for UniK; no effect"},
	    {0, "mountpoint", CLI_OPT_LIST, &a.mounts, "DIR",
	     "UniK's volume mount points (not supported yet)"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *name = NULL, *id = NULL, *log_path = NULL, *build_path = NULL;
	json_t *options = NULL, *b = NULL;
	FILE *log_out;
	const char *state;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		goto out_rc;
	if (pos.n == 1 && !a.path && !a.git)
		a.path = pos.v[0];
	else if (pos.n) {
		rc = cli_usage_error(cli, "unexpected argument `%s` (the source is --path DIR)",
		                     pos.v[pos.n - 1]);
		goto out_rc;
	}
	if (a.git && a.path) {
		rc = cli_usage_error(cli, "give --path or --git, not both");
		goto out_rc;
	}
	if (a.mounts.n) {
		rc = cli_usage_error(cli, "--mountpoint: volumes are not supported yet");
		goto out_rc;
	}
	if (!a.path)
		a.path = ".";
	if (a.name) {
		name = xstrdup(a.name);
	} else if (a.git) {
		rc = cli_usage_error(cli, "--git needs --name");
		goto out_rc;
	} else {
		name = default_name(a.path);
	}
	if (!(options = build_options(cli, &a, name))) {
		rc = CLI_USAGE;
		goto out_rc;
	}
	cli_catch_signals();
	if (!(id = start_build(cli, &a, options))) {
		rc = cli_interrupted ? 130 : CLI_FAILED;
		goto out_rc;
	}
	/* The log goes where the user looks; with -o json, stdout is kept for the JSON. */
	log_out = cli->json ? stderr : stdout;
	log_path = cli_path("/v1/builds/%s/log?follow=true", id);
	{
		struct unik_error err = {0};

		if (unik_client_stream(cli->client, "GET", log_path, to_stream, log_out, &err) <
		    0) {
			rc = cli_interrupted ? 130 : cli_fail(&err);
			goto out_rc;
		}
	}
	build_path = cli_path("/v1/builds/%s", id);
	for (;;) {
		if (!(b = cli_request(cli, "GET", build_path, NULL))) {
			rc = cli_interrupted ? 130 : CLI_FAILED;
			goto out_rc;
		}
		state = json_string_value(json_object_get(b, "state"));
		if (!state || strcmp(state, "running"))
			break;
		json_decref(b);
		b = NULL;
		pause_ms(20);
	}
	if (!state || strcmp(state, "succeeded")) {
		const char *why = json_string_value(json_object_get(b, "error"));

		fprintf(stderr, "unik: build of %s failed%s%s\n", name, why && *why ? ": " : "",
		        why ? why : "");
		if (cli->json)
			cli_print_json(b);
		rc = CLI_FAILED;
		goto out_rc;
	}
	{
		_cleanup_free_ char *img_path =
		    cli_path("/v1/images/%s", json_string_value(json_object_get(b, "image"))
		                                  ? json_string_value(json_object_get(b, "image"))
		                                  : name);
		json_t *img = cli_request(cli, "GET", img_path, NULL);
		char size[32] = "?";

		if (!img) {
			rc = CLI_FAILED;
			goto out_rc;
		}
		if (cli->json) {
			cli_print_json(img);
		} else {
			if (json_is_number(json_object_get(img, "size_bytes")))
				cli_human_size(
				    json_number_value(json_object_get(img, "size_bytes")), size,
				    sizeof(size));
			printf("built image %s (%s)\n",
			       json_string_value(json_object_get(img, "name"))
			           ? json_string_value(json_object_get(img, "name"))
			           : name,
			       size);
		}
		json_decref(img);
	}
	rc = CLI_OK;
out_rc:
	json_decref(options);
	json_decref(b);
	strv_free(&a.env);
	strv_free(&a.popts);
	strv_free(&a.mounts);
	strv_free(&a.formats);
	return rc;
}
