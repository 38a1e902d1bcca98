/* An image's files in each format (images/format.h): packed at build time when asked for, and
 * on demand when exported or when a provider needs a format the image lacks.  Packs and removals
 * of image files are serialized by pack_lock (taken before the core's lock, never inside it), so a
 * pack never writes into a directory that is being removed. */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/format.h"
#include "images/store.h"
#include "lib/utf8.h"

void image_set_format(struct unik_image *im, const char *name, uint64_t size)
{
	unik_formats_set(&im->formats, name, size);
	if (strcmp(name, "elf") == 0)
		im->elf_size = size;
}

/* Records a format's size in the index and in image.json, when it changed (lock held). */
int image_write_meta(struct unik_core *c, const struct unik_image *im, struct unik_error *err)
{
	json_t *meta = unik_image_meta_json(im);
	_cleanup_free_ char *text = json_dumps(meta, JSON_INDENT(2));

	json_decref(meta);
	return unik_image_store_write_meta(c->images_dir, im->id, text, err);
}

static int record_format(struct unik_core *c, struct unik_image *im, const char *format,
                         uint64_t size, struct unik_error *err)
{
	const struct unik_format_file *cur = unik_formats_get(&im->formats, format);

	if (cur && cur->size == size)
		return 0;
	image_set_format(im, format, size);
	db_begin(c);
	if (db_put_image(c, im, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		return -1;
	}
	return image_write_meta(c, im, err);
}

/* Turns a failed check of f's file into the error the caller sees: what is wrong, and the fix. */
static void damaged(struct unik_error *err, const char *im_name, const struct unik_image_format *f)
{
	struct unik_error e = *err;

	if (strcmp(f->name, "elf") == 0)
		unik_error_set(err, UNIK_E_STATE,
		               "image %s: its kernel (%s) is damaged: %s; build the image again",
		               im_name, f->file, e.msg);
	else
		unik_error_set(err, UNIK_E_STATE,
		               "image %s: its %s file %s is damaged: %s; make it again with `unik "
		               "export %s --format %s --remake` (POST "
		               "/v1/images/%s/formats/%s?force=true)",
		               im_name, f->name, f->file, e.msg, im_name, f->name, im_name,
		               f->name);
}

/* A pack as a job of the core's queue, run inline (the caller waits for the file). */
struct pack_args {
	struct unik_core *c;
	const char *id;
	const struct unik_image_format *f;
	const char *cmdline, *name, *base;
	uint64_t mem, *size;
};

static int pack_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct pack_args *a = arg;

	(void)job;
	return unik_image_store_pack(a->c->images_dir, a->id, a->f, a->cmdline, a->name, a->base,
	                             a->mem, a->size, err);
}

int unik_core_image_format(struct unik_core *c, const char *ref, const char *format, bool force,
                           bool check, int *fd, char **path, uint64_t *size,
                           struct unik_image **out, struct unik_error *err)
{
	const struct unik_image_format *f = unik_image_format_find(format);
	_cleanup_free_ char *cmdline = NULL, *file = NULL, *im_name = NULL, *im_base = NULL;
	char id[UNIK_ID_LEN + 1];
	struct unik_image *im;
	struct stat sb;
	uint64_t sz = 0, mem = 0;
	int rfd = -1, rc = -1;

	if (!f) {
		unik_error_set(err, UNIK_E_INVALID, "unknown image format \"%.*s\" (known: %s)",
		               UNIK_UTF8_CUT(format, 60), unik_image_format_names());
		return -1;
	}
	pthread_mutex_lock(&c->pack_lock);
	core_lock(c);
	im = resolve_image(c, ref, err);
	if (im) {
		memcpy(id, im->id, sizeof(id));
		im_name = xstrdup(im->name);
		im_base = im->base ? xstrdup(im->base) : NULL;
		mem = im->memory_mb > 0 ? (uint64_t)im->memory_mb : 0;
		if (image_cmdline(im, &cmdline, err) < 0)
			im = NULL;
	}
	core_unlock(c);
	if (!im)
		goto out;
	file = unik_image_format_path(c->images_dir, id, f);
	if (force || stat(file, &sb) < 0) {
		const struct unik_image_format *elf = unik_image_format_find("elf");
		_cleanup_free_ char *kernel = unik_image_kernel_path(c->images_dir, id);

		/* Nothing is packed from a damaged kernel. */
		if (elf->check(kernel, err) < 0) {
			damaged(err, im_name, elf);
			goto out;
		}
		struct pack_args a = {c, id, f, cmdline, im_name, im_base, mem, &sz};

		if (unik_jobs_run(c->jobs, UNIK_JOB_PACK, id, im_name, pack_job, &a, err) < 0) {
			unik_error_prefix(err, "image %s", im_name);
			goto out;
		}
	} else {
		sz = (uint64_t)sb.st_size;
	}
	if (check && f->check(file, err) < 0) {
		damaged(err, im_name, f);
		goto out;
	}
	if (fd) {
		rfd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (rfd < 0 || fstat(rfd, &sb) < 0) {
			unik_error_sys(err, errno, "open %s", file);
			goto out;
		}
		sz = (uint64_t)sb.st_size;
	}
	core_lock(c);
	im = find_image_id(c, id);
	if (!im) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_NOTFOUND, "image %s was deleted meanwhile", im_name);
		goto out;
	}
	if (record_format(c, im, f->name, sz, err) < 0) {
		core_unlock(c);
		goto out;
	}
	if (out)
		*out = unik_image_dup(im);
	core_unlock(c);
	if (fd) {
		*fd = rfd;
		rfd = -1;
	}
	if (path) {
		*path = file;
		file = NULL;
	}
	if (size)
		*size = sz;
	rc = 0;
out:
	pthread_mutex_unlock(&c->pack_lock);
	if (rfd >= 0)
		close(rfd);
	return rc;
}

int image_files_remove(struct unik_core *c, const char *id, struct unik_error *err)
{
	int r;

	pthread_mutex_lock(&c->pack_lock);
	r = unik_image_store_remove(c->images_dir, id, err);
	pthread_mutex_unlock(&c->pack_lock);
	return r;
}
