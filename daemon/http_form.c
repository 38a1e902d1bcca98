/* Multipart parts as they arrive: see http_form.h. */
#include "daemon/http_form.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/utf8.h"
#include "lib/util.h"

void http_form_init(struct http_form *f, const char *tmp_dir, uint64_t max_upload)
{
	memset(f, 0, sizeof(*f));
	f->tmp_dir = tmp_dir;
	f->max_upload = max_upload;
	f->upload_fd = -1;
	f->form = json_object();
}

enum MHD_Result http_form_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
	struct http_form *f = cls;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	if (f->status)
		return MHD_YES;
	if (!key) {
		f->status = 400;
		unik_error_set(&f->err, UNIK_E_INVALID,
		               "malformed multipart body: a part without a name");
		return MHD_YES;
	}
	if (strcmp(key, "source") == 0 || strcmp(key, "tarfile") == 0 || filename) {
		if (strcmp(key, "source") != 0 && strcmp(key, "tarfile") != 0) {
			f->status = 400;
			unik_error_set(
			    &f->err, UNIK_E_INVALID,
			    "unexpected file part \"%.*s\" (the source goes in \"source\")",
			    UNIK_UTF8_CUT(key, 60));
			return MHD_YES;
		}
		if (f->upload_fd < 0) {
			_cleanup_free_ char *tmpl = xasprintf("%s/upload-XXXXXX", f->tmp_dir);
			f->upload_fd = mkostemp(tmpl, O_CLOEXEC);
			if (f->upload_fd < 0) {
				f->status = 500;
				unik_error_sys(&f->err, errno, "create %s", tmpl);
				return MHD_YES;
			}
			f->upload_path = unik_steal_ptr(&tmpl);
		} else if (off == 0 && size > 0 && f->got_file && f->upload_bytes > 0) {
			f->status = 400;
			unik_error_set(&f->err, UNIK_E_INVALID, "more than one source part");
			return MHD_YES;
		}
		f->got_file = true;
		f->upload_bytes += size;
		if (f->upload_bytes > f->max_upload) {
			f->status = 413;
			unik_error_set(&f->err, UNIK_E_INVALID,
			               "the upload is larger than %llu MiB (build.max_upload_mb)",
			               (unsigned long long)(f->max_upload >> 20));
			return MHD_YES;
		}
		if (size && pwrite(f->upload_fd, data, size, (off_t)off) != (ssize_t)size) {
			f->status = 500;
			unik_error_sys(&f->err, errno, "write the upload");
		}
		return MHD_YES;
	}
	if (size && memchr(data, '\0', size)) {
		f->status = 400;
		unik_error_set(&f->err, UNIK_E_INVALID,
		               "form part \"%.*s\" holds a NUL byte: send text",
		               UNIK_UTF8_CUT(key, 60));
		return MHD_YES;
	}
	f->form_bytes += size;
	if (f->form_bytes > FORM_MAX || json_object_size(f->form) > 64) {
		f->status = 413;
		unik_error_set(&f->err, UNIK_E_INVALID, "the form fields are too large");
		return MHD_YES;
	}
	const char *old = json_string_value(json_object_get(f->form, key));
	_cleanup_free_ char *v =
	    xasprintf("%s%.*s", old && off ? old : "", (int)size, data ? data : "");
	json_t *js = json_string(v);
	json_object_set_new(f->form, key, js ? js : json_string(""));
	return MHD_YES;
}

void http_form_discard(struct http_form *f)
{
	if (f->upload_fd >= 0)
		close(f->upload_fd);
	f->upload_fd = -1;
	if (f->upload_path)
		unlink(f->upload_path);
	free(f->upload_path);
	f->upload_path = NULL;
}

void http_form_free(struct http_form *f)
{
	http_form_discard(f);
	json_decref(f->form);
	f->form = NULL;
}
