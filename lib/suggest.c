/* "Did you mean ...": optimal-string-alignment distance and the nearest candidate. */
#include "lib/suggest.h"

#include <string.h>

#include "lib/util.h"

static int fold(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : (unsigned char)c;
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t unik_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d;
	/* Three rows of the (la+1) x (lb+1) table: two back (for swaps), one back and this one. */
	_cleanup_free_ size_t *rows = xcalloc(3 * (lb + 1), sizeof(*rows));
	size_t *prev2 = rows, *prev = rows + lb + 1, *cur = rows + 2 * (lb + 1);

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = fold(a[i - 1]) != fold(b[j - 1]);

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
			    fold(a[i - 2]) == fold(b[j - 1]) && prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		size_t *t = prev2;

		prev2 = prev;
		prev = cur;
		cur = t;
	}
	d = prev[lb];
	return d;
}

const char *unik_suggest(const char *word, const char *const *candidates, size_t n)
{
	size_t limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2, best_d = (size_t)-1;
	const char *best = NULL;

	for (size_t i = 0; i < n && candidates[i]; i++) {
		size_t d = unik_edit_distance(word, candidates[i]);

		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best_d <= limit ? best : NULL;
}
