/* unik images: list the images in the daemon's store. */
#include "cli.h"

int cmd_images(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik images [options]",
	    "Lists the images the daemon has built: name, id, compiler, provider, size, the\n"
	    "formats it has been packed in with their sizes, and age.",
	    "  unik images\n"
	    "  unik images -o json\n",
	};
	static const struct cli_column cols[] = {
	    {"NAME", "name", NULL},
	    {"ID", "id", NULL},
	    {"COMPILER", "compiler", NULL},
	    {"PROVIDER", "provider", NULL},
	    {"SIZE", "size_bytes", cli_fmt_size},
	    {"FORMATS", "formats", cli_fmt_formats},
	    {"CREATED", "created", cli_fmt_age},
	};
	_cleanup_strv_ struct strv pos = {0};
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, NULL, 0, 0, &help, &pos, &rc))
		return rc;
	if (pos.n)
		return cli_usage_error(cli, "takes no arguments (got `%s`)", pos.v[0]);
	if (!(j = cli_request(cli, "GET", "/v1/images", NULL)))
		return CLI_FAILED;
	cli_print_table(cli, j, cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(j);
	return CLI_OK;
}
