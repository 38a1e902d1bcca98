/* A program that uses sockets, so that unik-cc links it with the runtime's network variant
 * (lwIP).  It calls socket() only when asked (the runtime's socket calls are still to come), and
 * otherwise says only that it ran, so that its output is the same natively and on a guest with
 * or without a network device. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "socket")) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		printf("socket: %s\n", s >= 0 ? "ok" : "failed");
		if (s >= 0)
			close(s);
	}
	printf("net stack program ran\n");
	return 0;
}
