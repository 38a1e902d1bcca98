/* The `oci` and `docker-archive` image formats in the image store's table (images/format.h): an
 * OCI image layout as a tar (skopeo's `oci-archive:`, umoci once unpacked) and a docker-archive
 * tarball for `docker load` / `podman load`, both run with unik-oci (docs/oci.md). */
#include "images/format.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cmdline.h"
#include "images/oci/oci.h"
#include "lib/util.h"

static int pack_as(const struct unik_artifacts *a, const char *out, bool layout, uint64_t *size,
                   struct unik_error *err)
{
	struct unik_oci_blobs b;
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
	    .language = a->language,
	    .compiler = a->compiler,
	    .out = out,
	};
	struct stat rs;
	if (spec.rootfs && stat(spec.rootfs, &rs) < 0)
		spec.rootfs = NULL;
	if (unik_oci_blobs_make(&spec, &b, err) < 0)
		goto out;
	r = layout ? unik_oci_write_layout(&b, out, err)
	           : unik_oci_write_docker_archive(&b, out, err);
	unik_oci_blobs_free(&b);
	if (r < 0)
		goto out;
	r = -1;
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

static int oci_pack(const struct unik_artifacts *a, const char *out, uint64_t *size,
                    struct unik_error *err)
{
	return pack_as(a, out, true, size, err);
}

static int docker_pack(const struct unik_artifacts *a, const char *out, uint64_t *size,
                       struct unik_error *err)
{
	return pack_as(a, out, false, size, err);
}

/* A tar that holds a docker-archive's manifest.json and a layer, or an OCI layout's oci-layout,
 * index.json and blobs, read to the end. */
static int check_tar(const char *path, bool layout, struct unik_error *err)
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
		if (layout) {
			manifest |= !strcmp(n, "index.json");
			layer |= !strncmp(n, "blobs/sha256/", 13);
		} else {
			manifest |= !strcmp(n, "manifest.json");
			layer |= unik_str_has_suffix(n, "/layer.tar");
		}
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ARCHIVE_FATAL;
			break;
		}
	}
	if (r != ARCHIVE_EOF || !manifest || !layer) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not a whole %s: %s", path,
		               layout ? "OCI image layout" : "docker-archive image",
		               r != ARCHIVE_EOF ? archive_error_string(a)
		               : layout         ? "no index.json or blobs (truncated?)"
		                                : "no manifest.json or layer (truncated?)");
		archive_read_free(a);
		return -1;
	}
	archive_read_free(a);
	return 0;
}

static int oci_check(const char *path, struct unik_error *err)
{
	return check_tar(path, true, err);
}

static int docker_check(const char *path, struct unik_error *err)
{
	return check_tar(path, false, err);
}

const struct unik_image_format unik_image_format_oci = {
    .name = "oci",
    .description = "an OCI image layout (tar) for skopeo, umoci and registries, run with unik-oci",
    .file = "image.oci-layout.tar",
    .pack = oci_pack,
    .check = oci_check,
};

const struct unik_image_format unik_image_format_docker_archive = {
    .name = "docker-archive",
    .description = "a docker-archive image for docker load / podman load, run with unik-oci",
    .file = "image.docker.tar",
    .pack = docker_pack,
    .check = docker_check,
};
