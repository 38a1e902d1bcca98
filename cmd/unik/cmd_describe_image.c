/* unik describe-image: everything the daemon knows about one image. */
#include "cli.h"

int cmd_describe_image(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik describe-image [options] IMAGE",
	    "Shows one image: its compiler, provider, formats and sizes, and the default\n"
	    "arguments, environment and memory baked into it.  IMAGE is a name, an id or a\n"
	    "unique prefix of either.",
	    "  unik describe-image hello\n"
	    "  unik describe-image --image hello -o json\n",
	};
	const char *image = NULL;
	const struct cli_opt opts[] = {
	    {0, "image|imageName|name", CLI_OPT_STR, &image, "IMAGE", "the image"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL;
	json_t *j;
	int rc;

	if (cli_parse(cli, argc, argv, opts, 1, 0, &help, &pos, &rc))
		return rc;
	if (!image && pos.n == 1)
		image = pos.v[0];
	else if (pos.n > (image ? 0u : 1u))
		return cli_usage_error(cli, "takes one image (got `%s` too)", pos.v[pos.n - 1]);
	if (!image)
		return cli_usage_error(cli, "which image? (unik describe-image IMAGE)");
	path = cli_path("/v1/images/%s", image);
	if (!(j = cli_request(cli, "GET", path, NULL)))
		return CLI_FAILED;
	cli_print_object(cli, j);
	json_decref(j);
	return CLI_OK;
}
