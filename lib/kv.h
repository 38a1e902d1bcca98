/* The key=value records providers keep in instance and image directories (docs/providers.md):
 * one "key=value" a line, kept in order; empty lines and lines starting with '#' are not
 * records.  One reader and writer for all of them. */
#ifndef UNIK_KV_H
#define UNIK_KV_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "lib/util.h"

/* A record in memory.  Zero-initialise it ({0}); it owns its lines (kv.lines.v[i] is a whole
 * "key=value" line) and unik_kv_free releases them. */
struct unik_kv {
	struct strv lines;
};

void unik_kv_free(struct unik_kv *kv);
#define _cleanup_kv_ _cleanup_(unik_kv_free)

/* Replaces kv's lines by those of text (which is not changed). */
void unik_kv_parse(struct unik_kv *kv, const char *text);
/* Loads path into kv (its lines replaced); a missing file is an empty record, not an error. */
int unik_kv_load(const char *path, struct unik_kv *kv, struct unik_error *err);
/* Writes kv's lines to path atomically (unik_write_file_atomic, mode 0644). */
int unik_kv_save(const char *path, const struct unik_kv *kv, struct unik_error *err);

/* The value of the first line for key, or NULL.  Owned by kv; valid until kv changes. */
const char *unik_kv_find(const struct unik_kv *kv, const char *key);
/* Sets key to value ("" for NULL): replaces the first line for key, or appends one. */
void unik_kv_set(struct unik_kv *kv, const char *key, const char *value);
/* Removes the first line for key, if any. */
void unik_kv_del(struct unik_kv *kv, const char *key);

/* Straight from a record's text, for a value or two: the first value for key copied into out
 * (cut to size); false and out empty when there is none. */
bool unik_kv_get(const char *text, const char *key, char *out, size_t size);

#endif
