/* unik describe-image: everything the daemon knows about one image. */
#include "cmd/unik/cli.h"

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
	return cli_describe_verb(cli, argc, argv, &help, "image|imageName|name", "image",
	                         "/v1/images");
}
