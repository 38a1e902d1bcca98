/* The `oci` image format in the image store's table (images/format.h): a docker-archive tarball
 * for `docker load` / `podman load`, run with unik-oci (docs/oci.md). */
#include "images/format.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cmdline.h"
#include "images/oci/oci.h"
#include "lib/util.h"

static int oci_pack(const struct unik_artifacts *a, const char *out, uint64_t *size,
                    struct unik_error *err)
{
	struct unik_cmdline cl = {0};
	struct stat sb;
	int r = -1;

	/* The default command line becomes the image's Env and Cmd; argv[0] is the image name,
	 * which is also the kernel's file name in the image (unik-oci makes argv[0] from it). */
	if (a->cmdline && unik_cmdline_split(a->cmdline, &cl, err) < 0)
		goto out;
	const char *const *argv = (const char *const *)strv_argv(&cl.argv);
	struct unik_oci_image_spec spec = {
	    .kernel = a->kernel,
	    .rootfs = a->rootfs,
	    .name = a->name ? a->name : "unikernel",
	    .args = cl.argv.n > 1 ? argv + 1 : NULL,
	    .env = cl.env.n ? (const char *const *)strv_argv(&cl.env) : NULL,
	    .cmdline = a->cmdline,
	    .memory_mb = a->memory_mb,
	    .base = a->base,
	    .out = out,
	};
	struct stat rs;
	if (spec.rootfs && stat(spec.rootfs, &rs) < 0)
		spec.rootfs = NULL;
	if (unik_oci_pack(&spec, err) < 0)
		goto out;
	if (stat(out, &sb) < 0) {
		unik_error_sys(err, errno, "stat %s", out);
		goto out;
	}
	*size = (uint64_t)sb.st_size;
	r = 0;
out:
	unik_cmdline_free(&cl);
	return r;
}

/* A tar whose entries end in a manifest.json, a config and a layer, read to the end. */
static int oci_check(const char *path, struct unik_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	bool manifest = false, layer = false;
	int r;

	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 16384) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INVALID, "open %s: %s", path, archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		manifest |= !strcmp(n, "manifest.json");
		layer |= unik_str_has_suffix(n, "/layer.tar");
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ARCHIVE_FATAL;
			break;
		}
	}
	if (r != ARCHIVE_EOF || !manifest || !layer) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not a whole docker-archive image: %s",
		               path,
		               r != ARCHIVE_EOF ? archive_error_string(a)
		                                : "no manifest.json or layer (truncated?)");
		archive_read_free(a);
		return -1;
	}
	archive_read_free(a);
	return 0;
}

const struct unik_image_format unik_image_format_oci = {
    .name = "oci",
    .description = "a docker-archive image for docker load / podman load, run with unik-oci",
    .file = "image.oci.tar",
    .pack = oci_pack,
    .check = oci_check,
};
