/* A program that uses sockets, so that unik-cc links it with the runtime's network variant
 * (lwIP).  It calls socket() only when asked, and otherwise says only that it ran, so that its
 * output is the same natively and on a guest with or without a network device.  "unix" asks
 * for an AF_UNIX socket, which the guest does not have yet (socketpair only).  "resolv" waits
 * (up to 10 s) for /etc/resolv.conf to name a server, as the network configuration writes it,
 * and prints it. */
#include <errno.h>
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
	if (argc > 1 && !strcmp(argv[1], "resolv")) {
		for (int tries = 0; tries < 100; tries++) {
			char line[200] = "";
			FILE *f = fopen("/etc/resolv.conf", "r");
			while (f && fgets(line, sizeof(line), f) && strncmp(line, "nameserver", 10))
				;
			if (f)
				fclose(f);
			if (!strncmp(line, "nameserver", 10)) {
				fputs(line, stdout);
				break;
			}
			usleep(100000);
		}
	}
	if (argc > 1 && !strcmp(argv[1], "unix")) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		printf("socket(AF_UNIX): %d %s\n", s,
		       s < 0 && errno == EAFNOSUPPORT ? "EAFNOSUPPORT" : "");
	}
	printf("net stack program ran\n");
	return 0;
}
