/* unik inspect: any object by name or id (image, instance, volume, network), as `docker
 * inspect` finds a container or an image: one JSON array of the objects found. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik/cli.h"

static const struct {
	const char *kind, *collection;
} kinds[] = {
    {"image", "/v1/images"},
    {"instance", "/v1/instances"},
    {"volume", "/v1/volumes"},
    {"network", "/v1/networks"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* The objects ref names, one per kind (NULL where none); -1 after printing a failure other
 * than "not found". */
static int lookup_all(struct cli *cli, const char *ref, const char *only, json_t *found[NKINDS])
{
	struct unik_client *c = cli_client(cli);

	if (!c)
		return -1;
	for (size_t k = 0; k < NKINDS; k++) {
		_cleanup_free_ char *esc = unik_client_escape(ref);
		_cleanup_free_ char *path = xasprintf("%s/%s", kinds[k].collection, esc);
		struct unik_error err = {0};

		found[k] = NULL;
		if (only && strcmp(only, kinds[k].kind))
			continue;
		if (unik_client_json(c, "GET", path, NULL, &found[k], &err) < 0) {
			found[k] = NULL;
			if (err.code != UNIK_E_NOTFOUND) {
				cli_fail(&err);
				return -1;
			}
		}
	}
	return 0;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik inspect [--type KIND] NAME...",
	    "Prints, as one JSON array, the object each NAME (a name or an id) names: an image,\n"
	    "an instance, a volume or a network.  A name that several kinds of object have is\n"
	    "an error that lists them; --type picks one.  Exits 1 if a NAME names nothing.",
	    "  unik inspect hello\n"
	    "  unik inspect --type image hello\n"
	    "  unik inspect web data\n",
	};
	const char *type = NULL;
	const struct cli_opt opts[] = {
	    {0, "type", CLI_OPT_STR, &type, "KIND", "image, instance, volume or network"},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *out;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &pos, &rc))
		return rc;
	if (type) {
		bool known = false;

		for (size_t k = 0; k < NKINDS; k++)
			known = known || !strcmp(type, kinds[k].kind);
		if (!known)
			return cli_usage_error(
			    cli, "--type `%s`: want image, instance, volume or network", type);
	}
	if (!pos.n)
		return cli_usage_error(cli, "which object? (unik inspect NAME...)");
	out = json_array();
	rc = CLI_OK;
	for (size_t i = 0; i < pos.n; i++) {
		json_t *found[NKINDS];
		size_t n = 0, which = 0;
		char kinds_found[64] = "";

		if (lookup_all(cli, pos.v[i], type, found) < 0) {
			json_decref(out);
			return CLI_FAILED;
		}
		for (size_t k = 0; k < NKINDS; k++) {
			if (!found[k])
				continue;
			snprintf(kinds_found + strlen(kinds_found),
			         sizeof(kinds_found) - strlen(kinds_found), "%s%s", n ? ", " : "",
			         kinds[k].kind);
			which = k;
			n++;
		}
		if (n == 1) {
			json_array_append(out, found[which]);
		} else if (n == 0) {
			fprintf(stderr, "unik: no %s named `%s`\n",
			        type ? type : "image, instance, volume or network", pos.v[i]);
			rc = CLI_FAILED;
		} else {
			fprintf(stderr,
			        "unik: `%s` names more than one object (%s): pick one with "
			        "--type KIND\n",
			        pos.v[i], kinds_found);
			rc = CLI_FAILED;
		}
		for (size_t k = 0; k < NKINDS; k++)
			json_decref(found[k]);
	}
	cli_print_json(out);
	json_decref(out);
	return rc;
}
