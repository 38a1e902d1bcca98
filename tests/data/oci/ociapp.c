/* The guest program of the unik-oci tests, built with unik-cc into a kernel and with gcc -static
 * into an ordinary Linux binary (the runc side).  ociapp [hello | exit N | args ... | mem |
 * sleep SECONDS | echo]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "hello";

	if (!strcmp(mode, "hello")) {
		printf("hello from ociapp\n");
		return 0;
	}
	if (!strcmp(mode, "exit") && argc > 2) {
		printf("exiting with %s\n", argv[2]);
		return atoi(argv[2]);
	}
	if (!strcmp(mode, "args")) {
		for (int i = 0; i < argc; i++)
			printf("argv[%d]=<%s>\n", i, argv[i]);
		for (char **e = environ; *e; e++)
			printf("env <%s>\n", *e);
		return 0;
	}
	if (!strcmp(mode, "mem")) {
		struct sysinfo si;

		if (sysinfo(&si) != 0)
			return 1;
		printf("totalram_mib=%llu\n",
		       (unsigned long long)si.totalram * si.mem_unit / (1024 * 1024));
		return 0;
	}
	if (!strcmp(mode, "sleep") && argc > 2) {
		int n = atoi(argv[2]);

		for (int i = 0; i < n; i++) {
			printf("tick %d\n", i);
			fflush(stdout);
			sleep(1);
		}
		printf("slept\n");
		return 0;
	}
	if (!strcmp(mode, "echo")) {
		char line[256];

		printf("ready>\n");
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (!strcmp(line, "quit"))
				return 7;
			printf("got <%s>\n", line);
			fflush(stdout);
		}
		return 0;
	}
	fprintf(stderr, "ociapp: unknown mode %s\n", mode);
	return 2;
}
