/* The parts of a multipart/form-data upload as they arrive from libmicrohttpd's post
 * processor: the file part ("source" or "tarfile") streamed to a temporary file, the other
 * parts collected as strings, with limits; and the error, if any, that ends the request. */
#ifndef UNIK_DAEMON_HTTP_FORM_H
#define UNIK_DAEMON_HTTP_FORM_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

#define FORM_MAX (64u << 10) /* all the parts that are not the file, together */

struct http_form {
	const char *tmp_dir; /* where the upload goes (not owned) */
	uint64_t max_upload; /* bytes */
	int status;          /* the HTTP status of the error that ends the request, or 0 */
	struct unik_error err;
	int upload_fd;
	char *upload_path; /* owned; removed by http_form_discard */
	bool got_file;
	uint64_t upload_bytes;
	size_t form_bytes;
	json_t *form; /* name -> string, owned */
};

void http_form_init(struct http_form *f, const char *tmp_dir, uint64_t max_upload);
/* The MHD_PostDataIterator; cls is the struct http_form.  Always MHD_YES: an error is kept in
 * status and err, and the rest of the body is skipped. */
enum MHD_Result http_form_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size);
/* Closes and removes the upload (it has been consumed or refused). */
void http_form_discard(struct http_form *f);
void http_form_free(struct http_form *f);

#endif
