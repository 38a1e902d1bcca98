/* A UDP echo server for the published-port tests (tests/integration/test_net_publish.py): sends
 * every datagram back to where it came from, on port argv[1] (default 7) of every address, and
 * exits after argv[2] datagrams when given.  Natively it runs the same. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	long limit = argc > 2 ? atol(argv[2]) : 0, n = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[2048];

	if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("udpecho: bind");
		return 1;
	}
	printf("udp echo on port %d\n", port);
	fflush(stdout);
	while (!limit || n < limit) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t len = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

		if (len < 0) {
			perror("udpecho: recvfrom");
			return 1;
		}
		if (sendto(s, buf, (size_t)len, 0, (struct sockaddr *)&from, flen) != len)
			perror("udpecho: sendto");
		n++;
	}
	printf("echoed %ld datagrams\n", n);
	return 0;
}
