/* The multi-file test program: statistics over its arguments. */
#include <stdio.h>

#include "wordstat.h"

int main(int argc, char **argv)
{
	struct wordstat ws = {0, 0, 0.0};

	for (int i = 1; i < argc; i++)
		wordstat_add(&ws, argv[i]);
	printf("multifile: %s\n", fmt_stat(&ws));
	return ws.words;
}
