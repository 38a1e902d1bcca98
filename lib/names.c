/* Validation of image and instance names: see names.h. */
#include "lib/names.h"

#include <string.h>

#include "lib/utf8.h"

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool unik_name_valid(const char *name)
{
	size_t i;

	if (!name || !alnum(name[0]))
		return false;
	for (i = 1; name[i]; i++) {
		if (i >= UNIK_NAME_MAX)
			return false;
		if (!alnum(name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
			return false;
	}
	return true;
}

int unik_name_check(const char *what, const char *name, struct unik_error *err)
{
	char shown[48];
	size_t i, n;

	if (unik_name_valid(name))
		return 0;
	if (!name || !*name) {
		unik_error_set(err, UNIK_E_INVALID, "%s is empty", what);
		return -1;
	}
	/* Shown cut between characters, control bytes and quotes as "?". */
	n = unik_utf8_cut(name, strlen(name), 40);
	for (i = 0; i < n; i++)
		shown[i] = (unsigned char)name[i] < 0x20 || name[i] == '"' || name[i] == 0x7f
		               ? '?'
		               : name[i];
	shown[i] = '\0';
	unik_error_set(err, UNIK_E_INVALID,
	               "%s \"%s%s\" is not valid: use letters, digits, \"_\", \".\" and \"-\" (at "
	               "most %d), starting with a letter or digit",
	               what, shown, name[i] ? "..." : "", UNIK_NAME_MAX);
	return -1;
}
