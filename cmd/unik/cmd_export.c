/* unik export: write an image in one format (raw, qcow2, vmdk, vhd, iso, xl, elf) to a file or to
 * stdout; the daemon packs the format first when the image lacks it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/unik/cli.h"

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik export [options] IMAGE --format FORMAT [-o FILE|-]",
	    "Writes IMAGE in FORMAT (elf, raw, qcow2, vmdk, vhd, iso, or xl: a Xen xl.cfg that\n"
	    "boots the store's kernel) to FILE, which appears complete or not at all\n"
	    "(default: NAME.FORMAT in the current directory), or to\n"
	    "stdout with `-o -`.  The daemon packs the format first when the image was not\n"
	    "built with it, and checks the file before sending it.  Shows progress on a\n"
	    "terminal.  See docs/images.md for booting each format.",
	    "  unik export hello --format raw -o hello.raw\n"
	    "  unik export hello --format qcow2 -o - | ssh host 'cat > hello.qcow2'\n"
	    "  unik export hello --format iso --remake\n"
	    "  unik export hello --format xl -o hello.cfg && xl create hello.cfg\n",
	};
	const char *image = NULL, *format = NULL, *file = NULL;
	bool remake = false;
	const struct cli_opt opts[] = {
	    {0, "image|imageName|name", CLI_OPT_STR, &image, "IMAGE", "the image"},
	    {0, "format", CLI_OPT_STR, &format, "FORMAT", "elf, raw, qcow2, vmdk, vhd, iso or xl"},
	    {'o', "file", CLI_OPT_STR, &file, "FILE",
	     "where to write it (`-` for stdout; JSON is --output json)"},
	    {0, "remake", CLI_OPT_BOOL, &remake, NULL, "pack the format again even if it exists"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *post_path = NULL, *get_path = NULL, *dest = NULL;
	struct {
		uint64_t total, written;
	} s = {0};
	const char *name;
	json_t *im = NULL;
	bool to_stdout;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (!image && pos.n == 1)
		image = pos.v[0];
	else if (pos.n > (image ? 0u : 1u))
		return cli_usage_error(cli, "takes one image (got `%s` too)", pos.v[pos.n - 1]);
	if (!image)
		return cli_usage_error(cli, "which image? (unik export IMAGE --format FORMAT)");
	if (!format)
		return cli_usage_error(
		    cli, "which format? (--format elf, raw, qcow2, vmdk, vhd, iso or xl)");
	to_stdout = file && strcmp(file, "-") == 0;
	if (to_stdout && isatty(1))
		return cli_usage_error(cli, "stdout is a terminal: give -o FILE, or redirect it");

	/* Make it first: the answer says how big it is, for the progress. */
	{
		_cleanup_free_ char *p = cli_path("/v1/images/%s/formats/", image);
		_cleanup_free_ char *f = cli_path("%s", format);

		post_path = xasprintf("%s%s%s", p, f, remake ? "?force=true" : "");
		get_path = xasprintf("%s%s", p, f);
	}
	cli_catch_signals();
	if (!(im = cli_request(cli, "POST", post_path, NULL)))
		return cli_interrupted ? 130 : CLI_FAILED;
	name = json_string_value(json_object_get(im, "name"));
	if (!name)
		name = image;
	s.total = (uint64_t)json_integer_value(
	    json_object_get(json_object_get(json_object_get(im, "formats"), format), "size_bytes"));
	dest = file ? xstrdup(file) : xasprintf("%s.%s", name, format);

	if (cli_download(cli, get_path, to_stdout ? NULL : dest, s.total, "exporting", &s.written) <
	    0) {
		rc = cli_interrupted ? 130 : CLI_FAILED;
		goto out;
	}
	if (cli->json) {
		json_t *j =
		    json_pack("{s:s, s:s, s:I, s:s}", "image", name, "format", format, "size_bytes",
		              (json_int_t)s.written, "file", to_stdout ? "-" : dest);
		if (!to_stdout)
			cli_print_json(j);
		json_decref(j);
	} else if (!to_stdout) {
		char size[32];

		cli_human_size((double)s.written, size, sizeof(size));
		printf("exported %s (%s, %s) to %s\n", name, format, size, dest);
	}
	rc = CLI_OK;
out:
	json_decref(im);
	return rc;
}
