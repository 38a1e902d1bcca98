/* Word statistics over argument strings, shared by the multi-file test program. */
#ifndef WORDSTAT_H
#define WORDSTAT_H

struct wordstat {
	int words;
	int letters;
	double mean;
};

void wordstat_add(struct wordstat *ws, const char *word);
const char *fmt_stat(const struct wordstat *ws);

#endif
