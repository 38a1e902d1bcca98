/* Exports that are more than one stored file: an xl.cfg that names its kernel and root fs by
 * file names beside it (the CLI writes the three files together), and an image's root fs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "images/store.h"
#include "images/xl/xl.h"

int unik_core_image_xl_relative(struct unik_core *c, const char *ref, const char *kernel_name,
                                const char *rootfs_name, char **text, struct unik_error *err)
{
	_cleanup_free_ char *cmdline = NULL, *rootfs = NULL;
	const struct unik_image *im;
	struct unik_xl_guest g = {0};
	int rc = -1;

	core_lock(c);
	if (!(im = resolve_image(c, ref, err)) || image_cmdline(im, &cmdline, err) < 0)
		goto out;
	rootfs = unik_image_rootfs_path(c->images_dir, im->id);
	g.name = im->name;
	g.kernel = kernel_name;
	g.ramdisk = rootfs ? rootfs_name : NULL;
	g.cmdline = cmdline ? cmdline : "";
	g.memory_mb = im->memory_mb > 0 ? (uint64_t)im->memory_mb : UNIK_XL_DEFAULT_MEMORY_MB;
	g.vcpus = 1;
	g.relative = true;
	rc = unik_xl_cfg_text(&g, text, err);
out:
	core_unlock(c);
	return rc;
}

int unik_core_image_rootfs(struct unik_core *c, const char *ref, int *fd, uint64_t *size,
                           struct unik_error *err)
{
	_cleanup_free_ char *path = NULL;
	const struct unik_image *im;
	struct stat sb;
	int f;

	core_lock(c);
	if ((im = resolve_image(c, ref, err)) &&
	    !(path = unik_image_rootfs_path(c->images_dir, im->id)))
		unik_error_set(err, UNIK_E_NOTFOUND, "image %s has no root fs", im->name);
	core_unlock(c);
	if (!path)
		return -1;
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f, &sb) < 0) {
		unik_error_sys(err, errno, "open %s", path);
		if (f >= 0)
			close(f);
		return -1;
	}
	*fd = f;
	*size = (uint64_t)sb.st_size;
	return 0;
}
