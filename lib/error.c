/* unik's error type: formatting messages, adding context, and mapping codes to HTTP statuses. */
#include "lib/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

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

/* The error codes of the REST API (docs/api/rest.md): the daemon writes them, the client reads
 * them back and the test tools print them, all from this one table.  The first row for a code
 * gives its name and HTTP status.  The rows marked by_status name a status whatever the code
 * (the daemon answers 401 and 413 before any code is known); they are read back as well. */
static const struct {
	int code;
	const char *name;
	int status;
	bool by_status;
} api_codes[] = {
    {UNIK_OK, "ok", 200, false},
    {UNIK_E_INVALID, "invalid", 400, false},
    {UNIK_E_NOTFOUND, "not_found", 404, false},
    {UNIK_E_EXISTS, "exists", 409, false},
    {UNIK_E_STATE, "state", 409, false},
    {UNIK_E_PERM, "forbidden", 403, false},
    {UNIK_E_UNSUPPORTED, "unsupported", 501, false},
    /* IO, NOMEM and anything unknown fall to "internal" (500): a client cannot act on the
     * difference, and the message says what failed. */
    {UNIK_E_INTERNAL, "internal", 500, false},
    {UNIK_E_PERM, "unauthorized", 401, true},
    {UNIK_E_INVALID, "too_large", 413, true},
    {UNIK_E_INVALID, "too_large", 414, true},
    {UNIK_E_INVALID, "invalid", 405, true},
};
#define N_API_CODES (sizeof(api_codes) / sizeof(api_codes[0]))

static size_t api_row(int code)
{
	for (size_t i = 0; i < N_API_CODES; i++)
		if (!api_codes[i].by_status && api_codes[i].code == code)
			return i;
	for (size_t i = 0; i < N_API_CODES; i++)
		if (api_codes[i].code == UNIK_E_INTERNAL)
			return i;
	return 0; /* not reached: the table has an "internal" row */
}

int unik_error_http_status(int code)
{
	return api_codes[api_row(code)].status;
}

const char *unik_error_code_name(int code)
{
	return api_codes[api_row(code)].name;
}

const char *unik_error_api_name(int code, int status)
{
	for (size_t i = 0; i < N_API_CODES; i++)
		if (api_codes[i].by_status && api_codes[i].status == status)
			return api_codes[i].name;
	return unik_error_code_name(code);
}

int unik_error_code_from_name(const char *name)
{
	for (size_t i = 0; name && i < N_API_CODES; i++)
		if (strcmp(api_codes[i].name, name) == 0)
			return api_codes[i].code;
	return -1;
}
