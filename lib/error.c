/* unik's error type: formatting messages, adding context, and mapping codes to HTTP statuses. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

void unik_error_clear(struct unik_error *err)
{
	if (!err)
		return;
	err->code = UNIK_OK;
	err->msg[0] = '\0';
}

/* Stores text as the message; one that does not fit is cut between two UTF-8 characters, so
 * that a message quoting what a client sent stays valid text. */
static void msg_store(struct unik_error *err, const char *text, size_t len)
{
	len = unik_utf8_cut(text, len, sizeof(err->msg) - 1);
	memmove(err->msg, text, len);
	err->msg[len] = '\0';
}

static void msg_vformat(struct unik_error *err, const char *fmt, const char *suffix, va_list ap)
{
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);

	if (n < 0) {
		snprintf(err->msg, sizeof(err->msg), "(no memory for the message)");
		return;
	}
	if (suffix) {
		char *all = NULL;

		n = asprintf(&all, "%s%s", text, suffix);
		free(text);
		if (n < 0) {
			snprintf(err->msg, sizeof(err->msg), "(no memory for the message)");
			return;
		}
		text = all;
	}
	msg_store(err, text, (size_t)n);
	free(text);
}

static void error_vset(struct unik_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	msg_vformat(err, fmt, NULL, ap);
}

void unik_error_set(struct unik_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
}

int unik_error_code_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return UNIK_OK;
	case ENOENT:
	case ENOTDIR:
	case ESRCH:
		return UNIK_E_NOTFOUND;
	case EEXIST:
	case ENOTEMPTY:
		return UNIK_E_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return UNIK_E_PERM;
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
	case EISDIR:
		return UNIK_E_INVALID;
	case EBUSY:
		return UNIK_E_STATE;
	case ENOSYS:
	case ENOTSUP:
		return UNIK_E_UNSUPPORTED;
	case ENOMEM:
		return UNIK_E_NOMEM;
	default:
		return UNIK_E_IO;
	}
}

void unik_error_sys(struct unik_error *err, int errnum, const char *fmt, ...)
{
	char suffix[256];
	va_list ap;

	if (!err)
		return;
	snprintf(suffix, sizeof(suffix), ": %s", strerror(errnum));
	err->code = unik_error_code_from_errno(errnum);
	va_start(ap, fmt);
	msg_vformat(err, fmt, suffix, ap);
	va_end(ap);
	/* errnum 0 would come from a caller that forgot to save errno: still report an I/O error.
	 */
	if (err->code == UNIK_OK)
		err->code = UNIK_E_IO;
}

void unik_error_prefix(struct unik_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg) + 2];
	va_list ap;

	if (!err)
		return;
	old[0] = '\0';
	if (err->msg[0] != '\0') {
		err->msg[sizeof(err->msg) - 1] = '\0';
		snprintf(old, sizeof(old), ": %s", err->msg);
	}
	va_start(ap, fmt);
	msg_vformat(err, fmt, old, ap);
	va_end(ap);
}

int unik_error_http_status(int code)
{
	switch (code) {
	case UNIK_OK:
		return 200;
	case UNIK_E_INVALID:
		return 400;
	case UNIK_E_PERM:
		return 403;
	case UNIK_E_NOTFOUND:
		return 404;
	case UNIK_E_EXISTS:
	case UNIK_E_STATE:
		return 409;
	case UNIK_E_UNSUPPORTED:
		return 501;
	default:
		return 500;
	}
}

const char *unik_error_code_name(int code)
{
	switch (code) {
	case UNIK_OK:
		return "ok";
	case UNIK_E_INVALID:
		return "invalid";
	case UNIK_E_NOTFOUND:
		return "not_found";
	case UNIK_E_EXISTS:
		return "exists";
	case UNIK_E_STATE:
		return "bad_state";
	case UNIK_E_PERM:
		return "permission_denied";
	case UNIK_E_UNSUPPORTED:
		return "unsupported";
	case UNIK_E_IO:
		return "io";
	case UNIK_E_NOMEM:
		return "no_memory";
	default:
		return "internal";
	}
}
