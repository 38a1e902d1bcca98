/* unik's error type: formatting messages, adding context, and mapping codes to HTTP statuses. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void unik_error_clear(struct unik_error *err)
{
	if (!err)
		return;
	err->code = UNIK_OK;
	err->msg[0] = '\0';
}

static void error_vset(struct unik_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
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
	va_list ap;
	size_t len;

	if (!err)
		return;
	va_start(ap, fmt);
	error_vset(err, unik_error_code_from_errno(errnum), fmt, ap);
	va_end(ap);
	/* errnum 0 would come from a caller that forgot to save errno: still report an I/O error.
	 */
	if (err->code == UNIK_OK)
		err->code = UNIK_E_IO;
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
}

void unik_error_prefix(struct unik_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	va_list ap;
	size_t len;

	if (!err)
		return;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (old[0] != '\0')
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", old);
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
