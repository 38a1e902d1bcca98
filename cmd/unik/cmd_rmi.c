/* unik rmi (UniK's `delete-image`): delete images from the store. */
#include "cmd/unik/cli.h"

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik rmi [options] IMAGE...\n       unik delete-image --image IMAGE [--force]",
	    "Deletes images from the daemon's store.  An image that instances use is refused\n"
	    "unless -f (--force), which deletes those instances too.  Prints the name of each "
	    "image\n"
	    "deleted.",
	    "  unik rmi hello\n"
	    "  unik rmi -f hello\n"
	    "  unik delete-image --image hello --force\n",
	};
	const char *image = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    {0, "image|imageName|name", CLI_OPT_STR, &image, "IMAGE", "the image"},
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, "also delete the instances that use it"},
	};
	_cleanup_strv_ struct strv refs = {0};
	int rc;

	if (cli_parse(cli, argc, argv, opts, 2, 0, &help, &refs, &rc))
		return rc;
	if (image)
		strv_push(&refs, image);
	if (!refs.n)
		return cli_usage_error(cli, "which image? (unik rmi IMAGE...)");
	return cli_each_ref(cli, &refs, "DELETE", "/v1/images/%s", force ? "?force=true" : "");
}
