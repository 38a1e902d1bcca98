/* BSD sockets on 127.0.0.1 and socketpair, the same natively and in the guest (where they run
 * on lwIP's loopback interface without any NIC): TCP echo of 1 MiB through a server thread,
 * end of file after shutdown, non-blocking connect and accept4, the errors (EAGAIN,
 * ECONNREFUSED, EADDRINUSE, EPIPE), socket options, epoll, UDP, and socketpair of both kinds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TOTAL (1 << 20)
#define CHUNK 8192

static const char *en(int e)
{
	switch (e) {
	case EAGAIN:
		return "EAGAIN";
	case EINPROGRESS:
		return "EINPROGRESS";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EADDRINUSE:
		return "EADDRINUSE";
	case EPIPE:
		return "EPIPE";
	case ENOTCONN:
		return "ENOTCONN";
	case EINVAL:
		return "EINVAL";
	case ECONNRESET:
		return "ECONNRESET";
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	default:
		return strerror(e);
	}
}

static void result(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, en(errno));
	else
		printf("%s: %ld\n", what, r);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	return ntohs(a.sin_port);
}

static int tcp_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		return -1;
	*port = port_of(fd);
	return fd;
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

static int readn(int fd, char *buf, int n)
{
	int got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, (size_t)(n - got));
		if (r <= 0)
			return r < 0 ? -1 : got;
		got += (int)r;
	}
	return got;
}

static int writen(int fd, const char *buf, int n)
{
	int put = 0;
	while (put < n) {
		ssize_t r = write(fd, buf + put, (size_t)(n - put));
		if (r <= 0)
			return -1;
		put += (int)r;
	}
	return put;
}

/* The echo server: one connection, everything read written back, closed at end of file. */
static void *echo_server(void *arg)
{
	int lfd = *(int *)arg, total = 0;
	static char buf[CHUNK];
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		return (void *)-1L;
	for (;;) {
		ssize_t r = read(c, buf, sizeof(buf));
		if (r <= 0)
			break;
		if (writen(c, buf, (int)r) < 0)
			break;
		total += (int)r;
	}
	close(c);
	return (void *)(long)total;
}

static uint32_t sum(uint32_t h, const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void tcp_echo(void)
{
	static char out[CHUNK], in[CHUNK];
	int port, lfd = tcp_listener(&port);
	pthread_t t;
	void *served;
	uint32_t hs = 2166136261u, hr = 2166136261u;
	long moved = 0;

	printf("listen on 127.0.0.1 port 0: %s, port assigned: %s\n", lfd >= 0 ? "ok" : "failed",
	       port > 0 ? "yes" : "no");
	pthread_create(&t, NULL, echo_server, &lfd);
	int c = tcp_connect(port);
	printf("connect: %s\n", c >= 0 ? "ok" : en(errno));
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	getpeername(c, (struct sockaddr *)&peer, &plen);
	printf("getpeername: %s:%s\n", inet_ntoa(peer.sin_addr),
	       ntohs(peer.sin_port) == port ? "the port" : "another port");
	for (int off = 0; off < TOTAL; off += CHUNK) {
		for (int i = 0; i < CHUNK; i++)
			out[i] = (char)((off + i) * 7 + (off + i) / 251);
		hs = sum(hs, (unsigned char *)out, CHUNK);
		/* Every other chunk read back with MSG_WAITALL, the others in a loop. */
		if (writen(c, out, CHUNK) < 0 ||
		    ((off / CHUNK) % 2 ? recv(c, in, CHUNK, MSG_WAITALL) : readn(c, in, CHUNK)) !=
		        CHUNK)
			break;
		hr = sum(hr, (unsigned char *)in, CHUNK);
		moved += CHUNK;
	}
	printf("echo: %ld bytes, checksum %s (%08x)\n", moved, hs == hr ? "ok" : "wrong", hr);
	result("shutdown SHUT_WR", shutdown(c, SHUT_WR));
	result("read after shutdown (EOF from the server)", read(c, in, sizeof(in)));
	result("send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
	pthread_join(t, &served);
	printf("server echoed %ld bytes\n", (long)served);
	close(c);
	close(lfd);
}

static void nonblocking(void)
{
	int port, lfd = tcp_listener(&port);
	char b[4];

	fcntl(lfd, F_SETFL, O_NONBLOCK);
	result("accept, nothing pending, non-blocking", accept(lfd, NULL, NULL));
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = loopback(port);
	result("non-blocking connect", connect(c, (struct sockaddr *)&a, sizeof(a)));
	struct pollfd p = {c, POLLOUT, 0};
	int n = poll(&p, 1, 5000);
	printf("poll: %d out=%d err=%d\n", n, !!(p.revents & POLLOUT), !!(p.revents & POLLERR));
	int err = -1;
	socklen_t len = sizeof(err);
	getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len);
	printf("SO_ERROR after connect: %d\n", err);
	struct pollfd lp = {lfd, POLLIN, 0};
	n = poll(&lp, 1, 5000);
	printf("poll listener: %d in=%d\n", n, !!(lp.revents & POLLIN));
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	int s = accept4(lfd, (struct sockaddr *)&from, &flen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	printf("accept4: %s from %s, nonblock %d cloexec %d\n", s >= 0 ? "ok" : en(errno),
	       inet_ntoa(from.sin_addr), !!(fcntl(s, F_GETFL) & O_NONBLOCK),
	       !!(fcntl(s, F_GETFD) & FD_CLOEXEC));
	result("recv, nothing there, non-blocking", recv(s, b, sizeof(b), 0));
	result("recv MSG_DONTWAIT on a blocking socket", recv(c, b, sizeof(b), MSG_DONTWAIT));
	result("send", send(c, "abc", 3, 0));
	p = (struct pollfd){s, POLLIN, 0};
	poll(&p, 1, 5000);
	result("recv MSG_PEEK", recv(s, b, 2, MSG_PEEK));
	result("recv", recv(s, b, sizeof(b), 0));
	printf("got: %.3s\n", b);
	close(s);
	close(c);
	close(lfd);
}

static void errors_and_options(void)
{
	int port, lfd = tcp_listener(&port);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(port);

	result("bind to a port in use", bind(s, (struct sockaddr *)&a, sizeof(a)));
	a.sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1, TEST-NET-1: not this machine's */
	result("bind to an address not this machine's", bind(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	/* A port nobody listens on: one that was just bound and released. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	a = loopback(0);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	int closed_port = port_of(s);
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	a = loopback(closed_port);
	result("connect to a closed port", connect(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	result("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &(socklen_t){16}));
	int one = 1, v = -1;
	socklen_t len = sizeof(v);
	result("setsockopt TCP_NODELAY", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 4));
	getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len);
	printf("TCP_NODELAY: %d\n", v);
	result("setsockopt SO_REUSEADDR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 4));
	getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len);
	printf("SO_REUSEADDR: %d\n", v);
	result("setsockopt SO_KEEPALIVE", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, 4));
	getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &len);
	printf("SO_KEEPALIVE: %d\n", v);
	getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
	printf("SO_TYPE: %d\n", v);
	getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len);
	printf("SO_ERROR: %d\n", v);
	result("setsockopt unknown option", setsockopt(s, SOL_SOCKET, 9999, &one, 4));
	close(s);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	getsockopt(u, SOL_SOCKET, SO_TYPE, &v, &len);
	printf("SO_TYPE udp: %d\n", v);
	close(u);
	close(lfd);
}

static void *accept_result(void *arg)
{
	int r = accept(*(int *)arg, NULL, NULL);
	printf("accept ended by shutdown: %d %s\n", r, r < 0 ? en(errno) : "");
	return NULL;
}

/* A thread blocked in accept, and shutdown() of the listening socket from another. */
static void shutdown_listener(void)
{
	int port, lfd = tcp_listener(&port);
	pthread_t t;
	pthread_create(&t, NULL, accept_result, &lfd);
	usleep(50000);
	result("shutdown of the listening socket", shutdown(lfd, SHUT_RD));
	pthread_join(t, NULL);
	close(lfd);
}

static void with_epoll(void)
{
	int port, lfd = tcp_listener(&port);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1}, got[4];

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("epoll, nothing pending: %d\n", epoll_wait(ep, got, 4, 0));
	int c = tcp_connect(port);
	int n = epoll_wait(ep, got, 4, 5000);
	printf("epoll, a connection pending: %d id=%u in=%d\n", n, got[0].data.u32,
	       !!(got[0].events & EPOLLIN));
	int s = accept(lfd, NULL, NULL);
	ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = 2};
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	printf("epoll, accepted and idle: %d\n", epoll_wait(ep, got, 4, 0));
	write(c, "ping", 4);
	n = epoll_wait(ep, got, 4, 5000);
	printf("epoll, data on the connection: %d id=%u in=%d\n", n, got[0].data.u32,
	       !!(got[0].events & EPOLLIN));
	close(c);
	char b[8];
	ssize_t r1 = read(s, b, 8), r2 = read(s, b, 8);
	printf("read data then EOF: %zd %zd\n", r1, r2);
	n = epoll_wait(ep, got, 4, 5000);
	printf("epoll at EOF: %d in=%d\n", n, !!(got[0].events & EPOLLIN));
	close(s);
	close(ep);
	close(lfd);
}

static void udp(void)
{
	int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = loopback(0), from;
	socklen_t flen = sizeof(from);
	char buf[64] = {0};

	bind(a, (struct sockaddr *)&sa, sizeof(sa));
	bind(b, (struct sockaddr *)&sa, sizeof(sa));
	int pa = port_of(a), pb = port_of(b);
	result("recvfrom empty, MSG_DONTWAIT", recvfrom(b, buf, 64, MSG_DONTWAIT, NULL, NULL));
	sa = loopback(pb);
	result("sendto", sendto(a, "ping", 4, 0, (struct sockaddr *)&sa, sizeof(sa)));
	ssize_t n = recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	printf("recvfrom: %zd \"%.*s\" from %s %s\n", n, (int)n, buf, inet_ntoa(from.sin_addr),
	       ntohs(from.sin_port) == pa ? "the sender's port" : "another port");
	result("sendto back", sendto(b, "hello world", 11, 0, (struct sockaddr *)&from, flen));
	char p1[5], p2[16];
	struct iovec iov[2] = {{p1, 5}, {p2, sizeof(p2)}};
	struct msghdr m = {
	    .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = iov, .msg_iovlen = 2};
	n = recvmsg(a, &m, 0);
	printf("recvmsg: %zd \"%.5s\" \"%.6s\" flags %d\n", n, p1, p2, m.msg_flags);
	sendto(a, "truncated", 9, 0, (struct sockaddr *)&sa, sizeof(sa));
	iov[0].iov_len = 4;
	m.msg_iovlen = 1;
	n = recvmsg(b, &m, 0);
	printf("recvmsg short: %zd \"%.4s\" MSG_TRUNC %d\n", n, p1, !!(m.msg_flags & MSG_TRUNC));
	result("connect udp", connect(a, (struct sockaddr *)&sa, sizeof(sa)));
	result("send connected", send(a, "c", 1, 0));
	n = recv(b, buf, sizeof(buf), 0);
	printf("recv: %zd %c\n", n, buf[0]);
	close(a);
	close(b);
}

static void pairs(void)
{
	int sv[2];
	char b[16];

	result("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	result("write 0->1", write(sv[0], "left", 4));
	result("write 1->0", write(sv[1], "right", 5));
	ssize_t n = read(sv[1], b, sizeof(b));
	printf("read 1: %zd %.*s\n", n, (int)n, b);
	n = read(sv[0], b, sizeof(b));
	printf("read 0: %zd %.*s\n", n, (int)n, b);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	result("read empty, non-blocking", read(sv[0], b, sizeof(b)));
	struct pollfd p = {sv[0], POLLIN | POLLOUT, 0};
	int pn = poll(&p, 1, 0);
	printf("poll: %d in=%d out=%d\n", pn, !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
	close(sv[1]);
	result("read after the peer closed", read(sv[0], b, sizeof(b)));
	result("send to a closed peer", send(sv[0], "x", 1, MSG_NOSIGNAL));
	close(sv[0]);

	result("socketpair dgram", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	printf("cloexec: %d\n", !!(fcntl(sv[0], F_GETFD) & FD_CLOEXEC));
	write(sv[0], "one", 3);
	write(sv[0], "two!", 4);
	n = read(sv[1], b, sizeof(b));
	printf("dgram 1: %zd %.*s\n", n, (int)n, b);
	n = read(sv[1], b, sizeof(b));
	printf("dgram 2: %zd %.*s\n", n, (int)n, b);
	write(sv[1], "back", 4);
	n = recv(sv[0], b, 2, 0);
	printf("dgram short read: %zd %.2s\n", n, b);
	result("dgram empty, MSG_DONTWAIT", recv(sv[0], b, sizeof(b), MSG_DONTWAIT));
	int v;
	socklen_t len = sizeof(v);
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len);
	printf("SO_TYPE: %d\n", v);
	close(sv[0]);
	close(sv[1]);
}

/* Both directions of one connection full at once (lwIP at both ends of the loopback, each
 * window closed while its reader is busy writing), many short connections, and a reset. */
#define DUPLEX (4 << 20)
static int duplex_fd;

static void *duplex_writer(void *arg)
{
	static char out[100000];
	long sent = 0;
	(void)arg;
	while (sent < DUPLEX) {
		for (int i = 0; i < (int)sizeof(out); i++)
			out[i] = (char)((sent + i) % 253);
		long n = DUPLEX - sent < (long)sizeof(out) ? DUPLEX - sent : (long)sizeof(out);
		ssize_t w = write(duplex_fd, out, (size_t)n);
		if (w <= 0)
			break;
		sent += w;
	}
	shutdown(duplex_fd, SHUT_WR);
	return (void *)sent;
}

static void *serve_many(void *arg)
{
	static char buf[65536];
	int lfd = *(int *)arg;
	for (int k = 0; k < 51; k++) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			break;
		ssize_t r;
		while ((r = read(c, buf, sizeof(buf))) > 0)
			if (writen(c, buf, (int)r) < 0)
				break;
		close(c);
	}
	return NULL;
}

static int stress(void)
{
	static char in[70000];
	int port, lfd = tcp_listener(&port);
	pthread_t server, writer;
	void *sent;
	long got = 0, bad = 0;
	ssize_t r;

	pthread_create(&server, NULL, serve_many, &lfd);
	duplex_fd = tcp_connect(port);
	pthread_create(&writer, NULL, duplex_writer, NULL);
	while ((r = read(duplex_fd, in, sizeof(in))) > 0) {
		for (int i = 0; i < r; i++)
			bad += in[i] != (char)((got + i) % 253);
		got += r;
	}
	pthread_join(writer, &sent);
	close(duplex_fd);
	printf("duplex: sent %ld, got %ld back, %ld wrong, last read %zd\n", (long)sent, got, bad,
	       r);
	int ok = 0;
	for (int k = 0; k < 50; k++) {
		char b[5];
		int c = tcp_connect(port);
		if (c < 0 || write(c, "hello", 5) != 5)
			break;
		ok += readn(c, b, 5) == 5 && !memcmp(b, "hello", 5);
		close(c);
	}
	printf("short connections: %d of 50\n", ok);
	pthread_join(server, NULL);
	/* Closing with unread data resets the connection, as Linux does. */
	int c = tcp_connect(port);
	int s = accept(lfd, NULL, NULL);
	write(c, "unread", 6);
	usleep(100000);
	close(s);
	usleep(100000);
	char b[8];
	result("read after the peer reset", read(c, b, sizeof(b)));
	struct pollfd p = {c, POLLIN | POLLOUT, 0};
	int n = poll(&p, 1, 0);
	printf("poll after the reset: %d in=%d out=%d hup=%d\n", n, !!(p.revents & POLLIN),
	       !!(p.revents & POLLOUT), !!(p.revents & POLLHUP));
	result("read again", read(c, b, sizeof(b)));
	close(c);
	close(lfd);
	return 0;
}

/* Writing to a TCP connection after SHUT_WR, without MSG_NOSIGNAL: SIGPIPE's default action. */
static int sigpipe(void)
{
	int port;
	tcp_listener(&port);
	int c = tcp_connect(port);
	shutdown(c, SHUT_WR);
	printf("writing after shutdown\n");
	write(c, "x", 1);
	printf("still here\n");
	return 1;
}

/* A read on a socketpair that nothing else can write to: the guest reports a deadlock. */
static int pair_deadlock(void)
{
	int sv[2];
	char b;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	printf("reading an empty socketpair\n");
	read(sv[0], &b, 1);
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "sigpipe"))
		return sigpipe();
	if (argc > 1 && !strcmp(argv[1], "stress"))
		return stress();
	if (argc > 1 && !strcmp(argv[1], "deadlock"))
		return pair_deadlock();
	tcp_echo();
	nonblocking();
	errors_and_options();
	shutdown_listener();
	with_epoll();
	udp();
	pairs();
	printf("done\n");
	return 0;
}
