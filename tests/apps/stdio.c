/* stdio buffering on a terminal, chosen by argv[1]: what a program sees on Linux when its
 * stdout and stderr are a tty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "isatty")) {
		printf("isatty(0)=%d isatty(1)=%d isatty(2)=%d\n", isatty(0), isatty(1), isatty(2));
		return 0;
	}
	if (!strcmp(mode, "nonl")) {
		/* An unterminated line is flushed when main returns. */
		printf("first line\n");
		printf("no newline at the end");
		return 0;
	}
	if (!strcmp(mode, "order")) {
		/* stdout is line-buffered: "a" waits for the newline, stderr goes out at once. */
		printf("a");
		write(2, "[stderr]\n", 9);
		printf("b\n");
		fprintf(stderr, "e1");
		printf("o1");
		fprintf(stderr, "e2\n");
		printf("o2\n");
		return 0;
	}
	if (!strcmp(mode, "_exit")) {
		/* _exit skips stdio: a finished line was written, the unfinished one is lost. */
		printf("kept line\n");
		printf("lost text");
		_exit(3);
	}
	if (!strcmp(mode, "exit")) {
		printf("flushed by exit");
		exit(4);
	}
	if (!strcmp(mode, "fflush")) {
		printf("partial ");
		fflush(stdout);
		write(1, "direct\n", 7);
		fputs("puts line", stdout);
		putchar('\n');
		return 0;
	}
	fprintf(stderr, "usage: stdio isatty|nonl|order|_exit|exit|fflush\n");
	return 2;
}
