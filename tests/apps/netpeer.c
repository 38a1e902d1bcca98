/* The guest's side of tests/integration/test_net_guest.py: a network peer for a client or a
 * server on the host.
 *   netpeer udpecho PORT         echoes UDP datagrams on PORT (every address) until one says "bye"
 *   netpeer connect IP PORT SIZE connects out to IP:PORT, sends SIZE bytes of a pattern, closes its
 *                                sending side and checks that the server echoes them all back
 * Without arguments it only says that it ran, so that its output is the same natively. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static int udpecho(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	static char buf[65536];
	long n = 0;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("netpeer: udp bind");
		return 1;
	}
	printf("udp echo on port %d\n", port);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (len < 0) {
			perror("netpeer: recvfrom");
			return 1;
		}
		if (sendto(s, buf, (size_t)len, 0, (struct sockaddr *)&from, fl) != len) {
			perror("netpeer: sendto");
			return 1;
		}
		n++;
		if (len == 3 && !memcmp(buf, "bye", 3))
			break;
	}
	printf("echoed %ld datagrams\n", n);
	close(s);
	return 0;
}

static int connect_out(const char *ip, int port, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	unsigned char *out = malloc(size), *in = malloc(size + 1);
	size_t sent = 0, got = 0;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (!out || !in || s < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "netpeer: bad address %s or no memory\n", ip);
		return 1;
	}
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("netpeer: connect");
		return 1;
	}
	printf("connected to %s port %d\n", ip, port);
	for (size_t i = 0; i < size; i++)
		out[i] = pattern(i);
	/* Sends and reads in turns so that neither side's buffers have to hold it all. */
	while (sent < size || got < size + 1) {
		if (sent < size) {
			size_t chunk = size - sent < 16384 ? size - sent : 16384;
			ssize_t n = write(s, out + sent, chunk);
			if (n < 0) {
				perror("netpeer: write");
				return 1;
			}
			sent += (size_t)n;
			if (sent == size)
				shutdown(s, SHUT_WR);
		}
		ssize_t n = read(s, in + got, size + 1 - got);
		if (n < 0) {
			perror("netpeer: read");
			return 1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	printf("sent %zu bytes, got %zu back, %s\n", sent, got,
	       got == size && !memcmp(in, out, size) ? "the same" : "different");
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && !strcmp(argv[1], "udpecho"))
		return udpecho(atoi(argv[2]));
	if (argc > 4 && !strcmp(argv[1], "connect"))
		return connect_out(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
	printf("netpeer ran\n");
	return 0;
}
