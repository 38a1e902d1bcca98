/* The one error type of unik's host code: an errno-like code plus a message that says what was
 * being done.  A function that can fail returns -1 or NULL and fills the err given last. */
#ifndef UNIK_ERROR_H
#define UNIK_ERROR_H

#include <stddef.h>

enum unik_error_code {
	UNIK_OK = 0,
	UNIK_E_INVALID,     /* bad input from the caller or the user: HTTP 400 */
	UNIK_E_NOTFOUND,    /* 404 */
	UNIK_E_EXISTS,      /* 409 */
	UNIK_E_STATE,       /* the thing exists but is in the wrong state for this: 409 */
	UNIK_E_PERM,        /* 403 */
	UNIK_E_UNSUPPORTED, /* valid request that unik cannot do (yet): 501 */
	UNIK_E_IO,          /* the system failed us: 500 */
	UNIK_E_NOMEM,       /* 500; only for allocations that may legitimately be huge */
	UNIK_E_INTERNAL,    /* a bug: 500 */
};

struct unik_error {
	int code;
	char msg[1024];
};

#define UNIK_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))

/* All of these accept err == NULL (the error is then dropped) and truncate long messages. */
void unik_error_set(struct unik_error *err, int code, const char *fmt, ...) UNIK_PRINTF(3, 4);

/* Like unik_error_set, with ": strerror(errnum)" appended and the code derived from errnum
 * (ENOENT -> NOTFOUND, EEXIST -> EXISTS, EACCES/EPERM -> PERM, ...). */
void unik_error_sys(struct unik_error *err, int errnum, const char *fmt, ...) UNIK_PRINTF(3, 4);

/* Adds context as the error travels up: the message becomes "<fmt...>: <old message>". */
void unik_error_prefix(struct unik_error *err, const char *fmt, ...) UNIK_PRINTF(2, 3);

void unik_error_clear(struct unik_error *err);

/* The REST API's error codes (docs/api/rest.md), from one table.  The HTTP status for a code
 * (500 for IO, NOMEM, INTERNAL and unknown codes) and its name in REST error bodies ("invalid",
 * "not_found", "exists", "state", "forbidden", "unsupported", "internal").  Names are static. */
int unik_error_http_status(int code);
const char *unik_error_code_name(int code);
/* The name for an error answered with status: the few statuses that have a name of their own
 * ("unauthorized" for 401, "too_large" for 413 and 414, "invalid" for 405), else the code's. */
const char *unik_error_api_name(int code, int status);
/* The code for a name of the table above (either kind), or -1 for a name it does not hold. */
int unik_error_code_from_name(const char *name);

/* The unik code that best describes an errno value. */
int unik_error_code_from_errno(int errnum);

#endif
