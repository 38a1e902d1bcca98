/* unik export: write an image in one format (raw, qcow2, vmdk, vhd, iso, oci, docker-archive, xl,
 * elf) to a file or to stdout; the daemon packs the format first when the image lacks it.  An OCI
 * layout may be a directory (unpacked here), and xl writes the kernel and root fs beside its
 * config. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "cmd/unik/cli.h"
#include "lib/untar.h"

/* An OCI image layout directory at dest: the tar the daemon sends, unpacked and checked. */
static int export_layout_dir(struct cli *cli, const char *get_path, const char *dest,
                             uint64_t total, uint64_t *written)
{
	_cleanup_free_ char *tar = xasprintf("%s.part.tar", dest);
	struct unik_error err = {0};
	struct stat sb;
	int rc = -1;

	if (cli_download(cli, get_path, tar, total, "exporting", written) < 0)
		return -1;
	if (mkdir(dest, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "unik export: create `%s`: %s\n", dest, strerror(errno));
		goto out;
	}
	if (stat(dest, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "unik export: `%s` is not a directory\n", dest);
		goto out;
	}
	if (unik_untar(tar, dest, NULL, NULL, &err) < 0) {
		fprintf(stderr, "unik export: unpack the layout into `%s`: %s\n", dest, err.msg);
		goto out;
	}
	rc = 0;
out:
	unlink(tar);
	return rc;
}

/* `xl`: DIR/BASE.elf, DIR/BASE.rootfs.cpio (when the image has one) and the config at dest
 * that names them by those relative names. */
static int export_xl(struct cli *cli, const char *image, const char *dest, const json_t *im,
                     uint64_t *written)
{
	_cleanup_free_ char *dir = xstrdup(dest), *base = NULL, *kernel = NULL, *rootfs = NULL;
	_cleanup_free_ char *p = cli_path("/v1/images/%s", image);
	_cleanup_free_ char *elf_path = NULL, *rootfs_path = NULL, *cfg_path = NULL, *esc = NULL;
	char *slash = strrchr(dir, '/'), *dot;
	uint64_t n = 0;

	base = xstrdup(slash ? slash + 1 : dir);
	if (slash)
		slash[1] = '\0';
	else
		dir[0] = '\0';
	if ((dot = strrchr(base, '.')) && dot != base &&
	    (strcmp(dot, ".cfg") == 0 || strcmp(dot, ".xl") == 0))
		*dot = '\0';
	if (!*base || base[0] == '.')
		return cli_usage_error(cli, "-o `%s`: give the config a file name", dest), -1;
	kernel = xasprintf("%s%s.elf", dir, base);
	rootfs = xasprintf("%s%s.rootfs.cpio", dir, base);
	esc = unik_client_escape(base);
	elf_path = xasprintf("%s/formats/elf", p);
	rootfs_path = xasprintf("%s/rootfs", p);
	cfg_path = xasprintf("%s/formats/xl?relative=%s", p, esc);
	uint64_t elf_size = (uint64_t)json_integer_value(
	    json_object_get(json_object_get(json_object_get(im, "formats"), "elf"), "size_bytes"));
	uint64_t rootfs_size = (uint64_t)json_integer_value(json_object_get(im, "rootfs_bytes"));
	if (cli_download(cli, elf_path, kernel, elf_size, "exporting the kernel", &n) < 0)
		return -1;
	*written = n;
	if (rootfs_size) {
		if (cli_download(cli, rootfs_path, rootfs, rootfs_size, "exporting the root fs",
		                 &n) < 0)
			return -1;
		*written += n;
	}
	if (cli_download(cli, cfg_path, dest, 0, "exporting", &n) < 0)
		return -1;
	*written += n;
	if (!cli->json)
		printf("wrote %s%s%s beside the config\n", kernel, rootfs_size ? " and " : "",
		       rootfs_size ? rootfs : "");
	return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik export [options] IMAGE --format FORMAT [-o FILE|DIR|-]",
	    "Writes IMAGE in FORMAT to FILE, which appears complete or not at all (default:\n"
	    "NAME.FORMAT in the current directory), or to stdout with `-o -`.  Formats: elf,\n"
	    "raw, qcow2, vmdk, vhd, iso; oci, an OCI image layout (skopeo `oci:DIR`, umoci),\n"
	    "written as a directory unless FILE ends in .tar (then an `oci-archive:` tar);\n"
	    "docker-archive, the tarball `docker load` takes; and xl, a Xen xl.cfg written\n"
	    "with the kernel (BASE.elf) and root fs (BASE.rootfs.cpio) beside it, named by\n"
	    "those relative names.  The daemon packs the format first when the image was not\n"
	    "built with it, and checks the file before sending it.  Shows progress on a\n"
	    "terminal.  See docs/images.md for booting each format.",
	    "  unik export hello --format raw -o hello.raw\n"
	    "  unik export hello --format qcow2 -o - | ssh host 'cat > hello.qcow2'\n"
	    "  unik export hello --format iso --remake\n"
	    "  unik export hello --format oci -o hello.oci && skopeo inspect oci:hello.oci\n"
	    "  unik export hello --format docker-archive -o hello.tar && docker load -i hello.tar\n"
	    "  unik export hello --format xl -o xen/hello.cfg && cd xen && xl create hello.cfg\n",
	};
	const char *image = NULL, *format = NULL, *file = NULL;
	bool remake = false;
	const struct cli_opt opts[] = {
	    {0, "image|imageName|name", CLI_OPT_STR, &image, "IMAGE", "the image"},
	    {0, "format", CLI_OPT_STR, &format, "FORMAT",
	     "elf, raw, qcow2, vmdk, vhd, iso, oci, docker-archive or xl"},
	    {'o', "file", CLI_OPT_STR, &file, "FILE",
	     "where to write it (`-` for stdout; a directory for oci; JSON is --output json)"},
	    {0, "remake", CLI_OPT_BOOL, &remake, NULL, "pack the format again even if it exists"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *post_path = NULL, *get_path = NULL, *dest = NULL;
	struct {
		uint64_t total, written;
	} s = {0};
	const char *name;
	json_t *im = NULL;
	bool to_stdout, layout_dir, xl;
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
		return cli_usage_error(cli,
		                       "which format? (--format elf, raw, qcow2, vmdk, vhd, iso, "
		                       "oci, docker-archive or xl)");
	to_stdout = file && strcmp(file, "-") == 0;
	if (to_stdout && isatty(1))
		return cli_usage_error(cli, "stdout is a terminal: give -o FILE, or redirect it");
	xl = strcmp(format, "xl") == 0;
	if (xl && to_stdout)
		return cli_usage_error(cli,
		                       "the xl export is three files (config, kernel, root fs): "
		                       "give -o FILE.cfg");
	layout_dir = strcmp(format, "oci") == 0 && !to_stdout &&
	             !(file && unik_str_has_suffix(file, ".tar"));
	if (layout_dir && file) {
		DIR *d = opendir(file);
		struct dirent *de;
		bool empty = true;

		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		if (d)
			closedir(d);
		if (!empty)
			return cli_usage_error(cli,
			                       "`%s` is not empty: the OCI layout goes into a new "
			                       "or empty directory (or give FILE.tar)",
			                       file);
	}

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

	if (xl           ? export_xl(cli, name, dest, im, &s.written) < 0
	    : layout_dir ? export_layout_dir(cli, get_path, dest, s.total, &s.written) < 0
	                 : cli_download(cli, get_path, to_stdout ? NULL : dest, s.total,
	                                "exporting", &s.written) < 0) {
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
