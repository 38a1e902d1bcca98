/* Exit paths: "return N", "exit N", "atexit" (three handlers, run in reverse order, then
 * exit 7) and "setjmp" (longjmp across frames, then return 0). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf jb;
static volatile int depth;

static void h1(void)
{
	printf("atexit handler 1\n");
}
static void h2(void)
{
	printf("atexit handler 2\n");
}
static void h3(void)
{
	printf("atexit handler 3\n");
}

static void dive(int n)
{
	depth = n;
	if (n >= 5)
		longjmp(jb, n * 10);
	if (n < 100)
		dive(n + 1);
	printf("not reached\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "return") && argc > 2) {
		printf("returning %s\n", argv[2]);
		return atoi(argv[2]);
	}
	if (!strcmp(argv[1], "exit") && argc > 2) {
		printf("exiting %s\n", argv[2]);
		exit(atoi(argv[2]));
	}
	if (!strcmp(argv[1], "atexit")) {
		atexit(h1);
		atexit(h2);
		atexit(h3);
		printf("main done\n");
		exit(7);
	}
	if (!strcmp(argv[1], "setjmp")) {
		volatile int rounds = 0;
		int v = setjmp(jb);
		printf("setjmp returned %d (depth %d)\n", v, depth);
		if (rounds++ < 2)
			dive(1);
		printf("rounds %d\n", rounds);
		return 0;
	}
	return 2;
}
