/* A first unikernel: an ordinary C program that greets and shows the command line it got. */
#include <stdio.h>

int main(int argc, char **argv)
{
	printf("Hello from a unikernel!\n");
	printf("I am %s, started with %d argument%s:\n", argv[0], argc - 1, argc == 2 ? "" : "s");
	for (int i = 1; i < argc; i++)
		printf("  argv[%d] = \"%s\"\n", i, argv[i]);
	return 0;
}
