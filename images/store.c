/* The image store's files: see store.h. */
#include "images/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/format.h"
#include "lib/util.h"

/* A hard link where the compiler's output and the store share a file system (the usual case,
 * both under $UNIK_HOME), else a copy. */
static int link_or_copy(const char *from, const char *to, uint64_t *size, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;

	if (link(from, to) == 0 && stat(to, &st) == 0) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (unik_read_file(from, &buf, &len, err) < 0)
		return -1;
	if (unik_write_file_atomic(to, buf, len, 0644, err) < 0)
		return -1;
	*size = len;
	return 0;
}

int unik_image_store_put(const char *images_dir, const char *id, const struct unik_artifacts *a,
                         const char *meta_json, struct unik_image_files *files,
                         struct unik_error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s/.new-%s", images_dir, id);
	_cleanup_free_ char *final = unik_path_join(images_dir, id);
	_cleanup_free_ char *elf = unik_path_join(tmp, "kernel.elf");
	_cleanup_free_ char *cpio = unik_path_join(tmp, "rootfs.cpio");
	_cleanup_free_ char *meta = unik_path_join(tmp, "image.json");
	struct unik_artifacts k = {.kernel = a->kernel};
	const struct unik_image_format *fmt = unik_image_format_find("elf");

	memset(files, 0, sizeof(*files));
	if (mkdir(images_dir, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create %s", images_dir);
		return -1;
	}
	unik_rmtree(tmp, NULL);
	if (mkdir(tmp, 0700) < 0) {
		unik_error_sys(err, errno, "create %s", tmp);
		return -1;
	}
	if (fmt->pack(&k, elf, &files->elf_size, err) < 0)
		goto fail;
	if (a->rootfs && link_or_copy(a->rootfs, cpio, &files->rootfs_size, err) < 0) {
		unik_error_prefix(err, "store the root fs");
		goto fail;
	}
	if (unik_write_file_atomic(meta, meta_json, strlen(meta_json), 0644, err) < 0)
		goto fail;
	unik_rmtree(final, NULL);
	if (rename(tmp, final) < 0) {
		unik_error_sys(err, errno, "rename %s to %s", tmp, final);
		goto fail;
	}
	return 0;
fail:
	unik_rmtree(tmp, NULL);
	return -1;
}

int unik_image_store_remove(const char *images_dir, const char *id, struct unik_error *err)
{
	_cleanup_free_ char *d = unik_path_join(images_dir, id);

	if (!*id || strchr(id, '/') || strcmp(id, "..") == 0 || strcmp(id, ".") == 0) {
		unik_error_set(err, UNIK_E_INTERNAL, "bad image id \"%s\"", id);
		return -1;
	}
	return unik_rmtree(d, err);
}

char *unik_image_kernel_path(const char *images_dir, const char *id)
{
	return xasprintf("%s/%s/kernel.elf", images_dir, id);
}

char *unik_image_rootfs_path(const char *images_dir, const char *id)
{
	char *p = xasprintf("%s/%s/rootfs.cpio", images_dir, id);

	if (access(p, F_OK) == 0)
		return p;
	free(p);
	return NULL;
}

char *unik_image_format_path(const char *images_dir, const char *id,
                             const struct unik_image_format *f)
{
	return xasprintf("%s/%s/%s", images_dir, id, f->file);
}

int unik_image_store_pack(const char *images_dir, const char *id, const struct unik_image_format *f,
                          const char *cmdline, const char *name, const char *base,
                          uint64_t memory_mb, uint64_t *size, struct unik_error *err)
{
	_cleanup_free_ char *kernel = unik_image_kernel_path(images_dir, id);
	_cleanup_free_ char *rootfs = unik_image_rootfs_path(images_dir, id);
	_cleanup_free_ char *out = unik_image_format_path(images_dir, id, f);
	struct unik_artifacts a = {.kernel = kernel,
	                           .rootfs = rootfs,
	                           .cmdline = cmdline,
	                           .name = name,
	                           .memory_mb = memory_mb,
	                           .base = base};
	struct stat sb;

	if (strcmp(out, kernel) == 0) {
		if (f->check(kernel, err) < 0)
			return -1;
	} else if (f->pack(&a, out, size, err) < 0) {
		unik_error_prefix(err, "pack %s", f->name);
		return -1;
	}
	if (stat(out, &sb) < 0) {
		unik_error_sys(err, errno, "stat %s", out);
		return -1;
	}
	*size = (uint64_t)sb.st_size;
	return 0;
}

int unik_image_store_write_meta(const char *images_dir, const char *id, const char *meta_json,
                                struct unik_error *err)
{
	_cleanup_free_ char *meta = xasprintf("%s/%s/image.json", images_dir, id);

	return unik_write_file_atomic(meta, meta_json, strlen(meta_json), 0644, err);
}
