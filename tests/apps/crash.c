/* Ends badly on purpose: "null" dereferences NULL, "abort" calls abort(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	printf("before the crash\n");
	if (!strcmp(mode, "null")) {
		int *volatile p = NULL;
		printf("read %d\n", *p);
	} else if (!strcmp(mode, "abort")) {
		abort();
	}
	printf("still alive\n");
	return 0;
}
