/* unik push and unik pull: images to and from OCI registries.  The daemon talks to the registry;
 * the CLI hands it the credentials for this one request (--username with --password-stdin, or
 * the user's Docker config.json), and the daemon never stores them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/unik/cli.h"

/* The registry host of a reference, as Docker's config.json keys it. */
static char *ref_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');

	if (slash &&
	    (memchr(ref, '.', (size_t)(slash - ref)) || memchr(ref, ':', (size_t)(slash - ref)) ||
	     (slash - ref == 9 && strncmp(ref, "localhost", 9) == 0)))
		return xstrndup(ref, (size_t)(slash - ref));
	return xstrdup("docker.io");
}

/* A config.json "auths" key ("https://index.docker.io/v1/", "127.0.0.1:5000") names host. */
static bool auth_key_matches(const char *key, const char *host)
{
	const char *k = key;
	size_t n;

	if (strncmp(k, "https://", 8) == 0)
		k += 8;
	else if (strncmp(k, "http://", 7) == 0)
		k += 7;
	n = strcspn(k, "/");
	if (strlen(host) == n && strncmp(k, host, n) == 0)
		return true;
	if (strcmp(host, "docker.io") == 0)
		return (n == 15 && strncmp(k, "index.docker.io", n) == 0) ||
		       (n == 20 && strncmp(k, "registry-1.docker.io", n) == 0);
	return false;
}

int cli_registry_auth(const struct cli *cli, const char *ref, const char *username,
                      bool password_stdin, json_t *body)
{
	if (password_stdin && !username)
		return cli_usage_error(cli, "--password-stdin needs --username");
	if (username) {
		char buf[4096];
		size_t n = 0;

		if (!password_stdin)
			return cli_usage_error(cli,
			                       "--username needs --password-stdin (the password "
			                       "is read from stdin, never from the command line)");
		if (isatty(0))
			fprintf(stderr, "Password: ");
		while (n < sizeof(buf) - 1) {
			ssize_t k = read(0, buf + n, sizeof(buf) - 1 - n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			n += (size_t)k;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		buf[n] = '\0';
		json_object_set_new(body, "username", json_string(username));
		json_object_set_new(body, "password", json_stringn(buf, n));
		explicit_bzero(buf, sizeof(buf));
		return 0;
	}
	/* Docker's own login: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	_cleanup_free_ char *path = dir    ? xasprintf("%s/config.json", dir)
	                            : home ? xasprintf("%s/.docker/config.json", home)
	                                   : NULL;
	_cleanup_free_ char *host = ref_registry(ref);
	json_error_t jerr;
	json_t *cfg, *auths, *v;
	const char *key;

	if (!path || access(path, F_OK) < 0)
		return 0;
	if (!(cfg = json_load_file(path, 0, &jerr))) {
		fprintf(stderr, "unik %s: %s: %s (line %d)\n", cli->verb, path, jerr.text,
		        jerr.line);
		return CLI_USAGE;
	}
	auths = json_object_get(cfg, "auths");
	json_object_foreach(auths, key, v)
	{
		const char *a = json_string_value(json_object_get(v, "auth"));
		if (a && *a && auth_key_matches(key, host)) {
			json_object_set_new(body, "auth", json_string(a));
			break;
		}
	}
	json_decref(cfg);
	return 0;
}

/* The daemon's NDJSON stream of a push or pull (?progress=true): progress lines become one line
 * on stderr, rewritten in place; the last line is the result or the error. */
struct progress_sink {
	char *buf;
	size_t len;
	json_t *result;
	json_t *error;
	bool shown;
	const char *what;
};

static void progress_line(struct progress_sink *s, const char *line, size_t n)
{
	json_t *j = json_loadb(line, n, 0, NULL), *p;

	if (!j)
		return;
	if ((p = json_object_get(j, "progress"))) {
		const char *d = json_string_value(json_object_get(p, "digest"));
		uint64_t done = (uint64_t)json_integer_value(json_object_get(p, "done"));
		uint64_t total = (uint64_t)json_integer_value(json_object_get(p, "total"));
		char a[32], b[32];

		cli_human_size((double)done, a, sizeof(a));
		cli_human_size((double)total, b, sizeof(b));
		fprintf(stderr, "\r%s %.19s: %s of %s (%d%%)   ", s->what, d ? d : "", a, b,
		        total ? (int)(done * 100 / total) : 100);
		s->shown = true;
	} else if (json_object_get(j, "result")) {
		s->result = json_incref(json_object_get(j, "result"));
	} else if (json_object_get(j, "error")) {
		s->error = json_incref(json_object_get(j, "error"));
	}
	json_decref(j);
}

static int progress_data(void *ctx, const char *data, size_t len)
{
	struct progress_sink *s = ctx;
	char *nl;

	s->buf = xrealloc(s->buf, s->len + len + 1);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	while ((nl = memchr(s->buf, '\n', s->len))) {
		size_t n = (size_t)(nl - s->buf);

		progress_line(s, s->buf, n);
		memmove(s->buf, nl + 1, s->len - n - 1);
		s->len -= n + 1;
	}
	return 0;
}

/* POSTs body to path: on a terminal with the progress stream, else as one JSON answer.  The
 * answer, or NULL after printing the error. */
static json_t *registry_call(struct cli *cli, const char *path, json_t *body, const char *what)
{
	struct progress_sink s = {.what = what};
	struct unik_error err = {0};
	_cleanup_free_ char *ppath = NULL;
	int rc;

	if (!isatty(2) || cli->json)
		return cli_request(cli, "POST", path, body);
	if (!cli_client(cli))
		return NULL;
	cli_catch_signals();
	ppath = xasprintf("%s?progress=true", path);
	rc = unik_client_stream_json(cli->client, "POST", ppath, body, progress_data, &s, &err);
	if (s.shown)
		fputc('\n', stderr);
	free(s.buf);
	if (rc != 0) {
		if (!cli_interrupted)
			cli_fail(&err);
		json_decref(s.result);
		json_decref(s.error);
		return NULL;
	}
	if (s.error || !s.result) {
		const char *msg = json_string_value(json_object_get(s.error, "message"));

		fprintf(stderr, "unik: %s\n", msg ? msg : "the daemon's answer ended early");
		json_decref(s.error);
		json_decref(s.result);
		return NULL;
	}
	return s.result;
}

int cmd_push(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik push [options] IMAGE REF",
	    "Pushes IMAGE to a registry as REF (REGISTRY/REPOSITORY[:TAG], the tag `latest`\n"
	    "when none is given), as an OCI image that `unik pull`, `docker pull` (with the\n"
	    "unik runtime, docs/oci.md) and skopeo read.  The daemon uploads the blobs the\n"
	    "registry lacks, then the manifest.  Credentials come from --username with\n"
	    "--password-stdin, else from Docker's config.json (`docker login`); they are\n"
	    "used for this push only.  --insecure allows plain HTTP or a certificate that\n"
	    "does not verify (a local registry).  Shows each blob's progress on a terminal.",
	    "  unik push hello 127.0.0.1:5000/hello:1 --insecure\n"
	    "  echo \"$TOKEN\" | unik push hello ghcr.io/me/hello --username me --password-stdin\n",
	};
	const char *username = NULL;
	bool password_stdin = false, insecure = false;
	const struct cli_opt opts[] = {
	    {0, "username", CLI_OPT_STR, &username, "USER", "the registry login's user"},
	    {0, "password-stdin", CLI_OPT_BOOL, &password_stdin, NULL,
	     "read the password (or token) from stdin"},
	    {0, "insecure", CLI_OPT_BOOL, &insecure, NULL,
	     "allow plain HTTP or an unverified certificate"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	json_t *body, *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (pos.n != 2)
		return cli_usage_error(cli, "%s (unik push IMAGE REF)",
		                       pos.n < 2 ? "which image, and where to?" : "too many words");
	body = json_pack("{s:s, s:b}", "reference", pos.v[1], "insecure", insecure);
	if ((rc = cli_registry_auth(cli, pos.v[1], username, password_stdin, body))) {
		json_decref(body);
		return rc;
	}
	path = cli_path("/v1/images/%s/push", pos.v[0]);
	j = registry_call(cli, path, body, "pushing");
	json_decref(body);
	if (!j)
		return CLI_FAILED;
	if (cli->json)
		cli_print_json(j);
	else
		printf("pushed %s to %s (%s)\n", pos.v[0],
		       json_string_value(json_object_get(j, "reference")),
		       json_string_value(json_object_get(j, "digest")));
	json_decref(j);
	return CLI_OK;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik pull [options] REF [--name NAME]",
	    "Pulls the unikernel image REF (REGISTRY/REPOSITORY[:TAG] or @sha256:DIGEST) from\n"
	    "a registry into the image store as NAME (default: the name it was pushed with,\n"
	    "else the repository's last part), replacing an image of that name.  Every\n"
	    "digest is checked; on a mismatch nothing is stored.  Credentials and --insecure\n"
	    "as for `unik push`.  Shows each blob's progress on a terminal.",
	    "  unik pull 127.0.0.1:5000/hello:1 --insecure\n"
	    "  unik pull ghcr.io/me/hello --name hello2 && unik run hello2\n",
	};
	const char *username = NULL, *name = NULL;
	bool password_stdin = false, insecure = false;
	const struct cli_opt opts[] = {
	    {0, "name", CLI_OPT_STR, &name, "NAME", "the image's name here"},
	    {0, "username", CLI_OPT_STR, &username, "USER", "the registry login's user"},
	    {0, "password-stdin", CLI_OPT_BOOL, &password_stdin, NULL,
	     "read the password (or token) from stdin"},
	    {0, "insecure", CLI_OPT_BOOL, &insecure, NULL,
	     "allow plain HTTP or an unverified certificate"},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *body, *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (pos.n != 1)
		return cli_usage_error(cli, "%s (unik pull REF [--name NAME])",
		                       pos.n ? "takes one reference" : "which reference?");
	body = json_pack("{s:s, s:b}", "reference", pos.v[0], "insecure", insecure);
	if (name)
		json_object_set_new(body, "name", json_string(name));
	if ((rc = cli_registry_auth(cli, pos.v[0], username, password_stdin, body))) {
		json_decref(body);
		return rc;
	}
	j = registry_call(cli, "/v1/images/pull", body, "pulling");
	json_decref(body);
	if (!j)
		return CLI_FAILED;
	if (cli->json)
		cli_print_json(j);
	else
		printf("pulled %s as %s (%s)\n", pos.v[0],
		       json_string_value(json_object_get(j, "name")),
		       json_string_value(json_object_get(j, "id")));
	json_decref(j);
	return CLI_OK;
}
