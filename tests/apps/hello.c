/* The smallest guest test: a greeting, then the arguments it was given. */
#include <stdio.h>

int main(int argc, char **argv)
{
	printf("hello from unik\n");
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=<%s>\n", i, argv[i]);
	return 0;
}
