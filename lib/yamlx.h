/* Strict YAML for unik's own files (daemon-config.yaml, Unikfile): libyaml's events folded into a
 * small tree of mappings, sequences and scalars that remembers line numbers, plus checks that
 * name the line of whatever is wrong ("Unikfile line 7: unknown key ..."). */
#ifndef UNIK_YAMLX_H
#define UNIK_YAMLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

enum yamlx_kind {
	YAMLX_SCALAR,
	YAMLX_MAP,
	YAMLX_SEQ,
};

struct yamlx_node {
	enum yamlx_kind kind;
	int line;    /* 1-based line of the node's first character */
	char *value; /* SCALAR: the text (owned; a NUL inside is refused) */
	bool quoted; /* SCALAR: written in quotes, so "123" stays a string and "" is not null */
	size_t n;    /* MAP: pairs, SEQ: items */
	struct yamlx_node **keys; /* MAP: scalar keys (unique) */
	struct yamlx_node **vals; /* MAP: values, SEQ: items */
};

/* Parses one YAML document.  An empty document gives an empty mapping.  Anchors, aliases, more
 * than one document, non-scalar or duplicate keys and nesting deeper than 32 levels are refused.
 * fname names the file in messages.  *out is owned by the caller (yamlx_free). */
int yamlx_parse(const char *buf, size_t len, const char *fname, struct yamlx_node **out,
                struct unik_error *err);
void yamlx_free(struct yamlx_node *n);

/* Fails unless n is of the kind; what names it in the message ("key \"listen\""). */
int yamlx_expect(const struct yamlx_node *n, enum yamlx_kind kind, const char *fname,
                 const char *what, struct unik_error *err);

/* Fails on the first key of map that is not in the NULL-terminated allowed list, naming its line
 * and the closest allowed key when one is near ("did you mean ..."). */
int yamlx_check_keys(const struct yamlx_node *map, const char *const *allowed, const char *fname,
                     struct unik_error *err);

/* The value of key in map, or NULL. */
const struct yamlx_node *yamlx_get(const struct yamlx_node *map, const char *key);

/* True for an unquoted null scalar (~, null, Null, NULL, or nothing). */
bool yamlx_is_null(const struct yamlx_node *n);

/* Typed scalar readers; what names the value in messages.  *out of yamlx_str is malloc'd. */
int yamlx_str(const struct yamlx_node *n, const char *fname, const char *what, char **out,
              struct unik_error *err);
int yamlx_int(const struct yamlx_node *n, const char *fname, const char *what, int64_t min,
              int64_t max, int64_t *out, struct unik_error *err);
int yamlx_bool(const struct yamlx_node *n, const char *fname, const char *what, bool *out,
               struct unik_error *err);

#endif
