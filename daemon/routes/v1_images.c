/* /v1/images: list, describe and delete images, and their files in each format. */
#include "daemon/routes/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void images_list(struct req *r)
{
	reply_json(r, 200, images_json());
}

void images_get(struct req *r)
{
	struct unik_error err = {0};
	json_t *j = image_json_ref(seg(r, 2), &err);

	if (j)
		reply_json(r, 200, j);
	else
		reply_error(r, &err);
}

void images_delete(struct req *r)
{
	struct unik_error err = {0};

	if (unik_core_image_delete(D.core, seg(r, 2), req_query_bool(r, "force"), &err) < 0)
		reply_error(r, &err);
	else
		reply_text(r, 204, "");
}

/* GET streams the image's file in a format, POST only makes it: both pack it first when the
 * image lacks it (or again with ?force=true), and check it, so nothing damaged goes out. */
void images_format_get(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *filename = NULL;
	struct unik_image *im = NULL;
	uint64_t size = 0;
	int fd = -1;
	const char *relative = req_query(r, "relative");

	/* ?relative=BASE: an xl.cfg naming BASE.elf and BASE.rootfs.cpio beside it (an export). */
	if (relative && strcmp(seg(r, 4), "xl") == 0) {
		_cleanup_free_ char *k = xasprintf("%s.elf", relative);
		_cleanup_free_ char *rf = xasprintf("%s.rootfs.cpio", relative);
		char *text = NULL;

		if (unik_core_image_xl_relative(D.core, seg(r, 2), k, rf, &text, &err) < 0)
			reply_error(r, &err);
		else
			reply_text(r, 200, text);
		free(text);
		return;
	}
	if (unik_core_image_format(D.core, seg(r, 2), seg(r, 4), req_query_bool(r, "force"), true,
	                           &fd, NULL, &size, &im, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	filename = xasprintf("%s.%s", im->name, seg(r, 4));
	unik_image_free(im);
	reply_file(r, fd, size, "application/octet-stream", filename);
}

void images_rootfs(struct req *r)
{
	struct unik_error err = {0};
	_cleanup_free_ char *filename = xasprintf("%s.rootfs.cpio", seg(r, 2));
	uint64_t size = 0;
	int fd = -1;

	if (unik_core_image_rootfs(D.core, seg(r, 2), &fd, &size, &err) < 0)
		reply_error(r, &err);
	else
		reply_file(r, fd, size, "application/octet-stream", filename);
}

void images_format_post(struct req *r)
{
	struct unik_error err = {0};
	struct unik_image *out = NULL;

	if (unik_core_image_format(D.core, seg(r, 2), seg(r, 4), req_query_bool(r, "force"), true,
	                           NULL, NULL, NULL, &out, &err) < 0) {
		reply_error(r, &err);
		return;
	}
	reply_json(r, 200, image_json(out));
	unik_image_free(out);
}

/* The list is asked for far more often than instances change: keep its text until they do. */
