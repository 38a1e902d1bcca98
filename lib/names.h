/* The names users give images and instances: [A-Za-z0-9][A-Za-z0-9_.-]{0,62} (docs/api/rest.md),
 * safe in paths, URLs and shell words. */
#ifndef UNIK_NAMES_H
#define UNIK_NAMES_H

#include <stdbool.h>

#include "lib/error.h"

#define UNIK_NAME_MAX 63

bool unik_name_valid(const char *name);

/* 0 if name is valid, else -1 with UNIK_E_INVALID and a message such as
 * `image name "a;b" is not valid: use letters, digits, "_", "." and "-" (at most 63), starting
 * with a letter or digit`; what is "image name", "instance name", ... */
int unik_name_check(const char *what, const char *name, struct unik_error *err);

#endif
