/* unik images: list the images in the daemon's store. */
#include "cmd/unik/cli.h"

int cmd_images(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik images [options]",
	    "Lists the images the daemon has built: name, id, compiler, provider, size, the\n"
	    "formats it has been packed in with their sizes, and age.",
	    "  unik images\n"
	    "  unik rmi $(unik images -q)\n"
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
	return cli_list_verb(cli, argc, argv, &help, "/v1/images", cols,
	                     sizeof(cols) / sizeof(cols[0]));
}
