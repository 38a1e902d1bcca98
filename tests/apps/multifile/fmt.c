/* Formatting a summary (with libm, so the link needs -lm). */
#include <math.h>
#include <stdio.h>

#include "wordstat.h"

const char *fmt_stat(const struct wordstat *ws)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "words=%d letters=%d mean=%.3f sqrt(letters)=%.4f", ws->words,
	         ws->letters, ws->mean, sqrt((double)ws->letters));
	return buf;
}
