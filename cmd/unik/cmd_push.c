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
	    "does not verify (a local registry).",
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
	if (!isatty(1) || cli->json)
		;
	else
		fprintf(stderr, "pushing %s to %s...\n", pos.v[0], pos.v[1]);
	j = cli_request(cli, "POST", path, body);
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
	    "as for `unik push`.",
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
	if (isatty(1) && !cli->json)
		fprintf(stderr, "pulling %s...\n", pos.v[0]);
	j = cli_request(cli, "POST", "/v1/images/pull", body);
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
