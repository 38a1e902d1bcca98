/* The host side of the guest command-line grammar (guest ABI, docs/guest-abi.md): env(1)-style
 * words with shell quoting.  unik-cc composes the baked default with it; providers will parse it.
 */
#ifndef UNIK_CMDLINE_H
#define UNIK_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "lib/util.h"

/* The grammar:
 *  - words are separated by blanks (space, tab, newline, carriage return);
 *  - '...' quotes everything up to the next single quote;
 *  - "..." quotes too, and inside it a backslash escapes \ " $ and ` (any other backslash is
 *    kept, as in sh);
 *  - outside quotes a backslash escapes any character;
 *  - leading words of the form NAME=VALUE (NAME a C identifier, judged after quote removal, as
 *    env(1) sees its arguments) are the environment; a "--" word ends them explicitly and is
 *    dropped; the next word is argv[0], the rest arguments.
 */
struct unik_cmdline {
	struct strv env;  /* "NAME=VALUE" */
	struct strv argv; /* may be empty */
};

/* Splits s into *out (which the caller releases with unik_cmdline_free, also after a failure).
 * Fails with UNIK_E_INVALID on an unterminated quote or a trailing backslash. */
int unik_cmdline_split(const char *s, struct unik_cmdline *out, struct unik_error *err);
void unik_cmdline_free(struct unik_cmdline *c);

/* True when name[0..len) is a valid environment variable name (a C identifier). */
bool unik_env_name_valid(const char *name, size_t len);

/* True when word has the form NAME=VALUE with a valid NAME. */
bool unik_env_word_valid(const char *word);

/* Quotes word so that the grammar (and sh) reads it back as exactly that one word: returned as is
 * when it only has safe characters, else in single quotes, with ' written as '\''.  Caller frees.
 */
char *unik_cmdline_quote_word(const char *word);

/* Composes a command line from env words (each must be NAME=VALUE; the value is quoted, the
 * NAME= part is left bare) and argv words.  Either vector may be NULL or empty.  Fails with
 * UNIK_E_INVALID on a bad env word, or when argv[0] itself looks like NAME=VALUE, which the
 * grammar would read as one more variable.  *out is owned by the caller. */
int unik_cmdline_compose(const struct strv *env, const struct strv *argv, char **out,
                         struct unik_error *err);

#endif
