/* "Did you mean ...": the edit distance between two words and the nearest of a list of names,
 * shared by the CLI, unik-cc's options and the Unikfile's keys so all three hint alike. */
#ifndef UNIK_SUGGEST_H
#define UNIK_SUGGEST_H

#include <stddef.h>

/* The number of single-character edits (insert, delete, replace, or swap of two neighbours) that
 * turn a into b, ignoring ASCII case: "memroy" -> "memory" is 1, "Name" -> "name" is 0. */
size_t unik_edit_distance(const char *a, const char *b);

/* The candidate nearest to word, if it is near enough to be worth suggesting: within
 * max(2, strlen(word) / 3) edits.  Looks at candidates[0..n-1], stopping early at a NULL entry
 * (so a NULL-terminated list may pass n = SIZE_MAX).  The first of equally near candidates wins.
 * Returns one of the candidates (owned by the caller's list), or NULL when none is near. */
const char *unik_suggest(const char *word, const char *const *candidates, size_t n);

#endif
