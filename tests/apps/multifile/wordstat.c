/* Counting words and letters. */
#include <ctype.h>

#include "wordstat.h"

void wordstat_add(struct wordstat *ws, const char *word)
{
	ws->words++;
	for (; *word; word++)
		ws->letters += isalpha((unsigned char)*word) != 0;
	ws->mean = (double)ws->letters / ws->words;
}
