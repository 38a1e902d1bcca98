/* Pipes: data through a pipe, end of file once the writers are closed, EAGAIN on an empty
 * non-blocking pipe, EPIPE with a closed reader, and a pipe end dup2'd onto stdout.  Modes:
 * "deadlock" reads an empty pipe whose writer this program holds (unik reports it and exits
 * 255; Linux would hang), "sigpipe" writes to a pipe with no reader under SIGPIPE's default
 * action. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EAGAIN   ? "EAGAIN"
		       : errno == EPIPE  ? "EPIPE"
		       : errno == ESPIPE ? "ESPIPE"
		                         : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(int argc, char **argv)
{
	int p[2];
	char buf[64];
	if (pipe(p) < 0) {
		perror("pipe");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "deadlock")) {
		printf("reading an empty pipe\n");
		fflush(stdout);
		read(p[0], buf, sizeof(buf));
		printf("not reached\n");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "sigpipe")) {
		close(p[0]);
		printf("writing with no reader\n");
		fflush(stdout);
		write(p[1], "x", 1);
		printf("not reached\n");
		return 1;
	}

	struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
	int ready = poll(pf, 2, 0); /* arguments are evaluated in no set order */
	printf("poll empty: %d in=%d out=%d\n", ready, pf[0].revents, pf[1].revents);
	show("write", write(p[1], "hello pipe", 10));
	ready = poll(pf, 1, 0);
	printf("poll: %d in=%d\n", ready, pf[0].revents);
	struct stat st;
	fstat(p[0], &st);
	printf("fifo: %d\n", S_ISFIFO(st.st_mode));
	show("lseek", lseek(p[0], 0, SEEK_SET));
	long n = read(p[0], buf, 5);
	printf("read %ld: %.*s\n", n, (int)n, buf);
	n = read(p[0], buf, sizeof(buf));
	printf("read %ld: %.*s\n", n, (int)n, buf);
	show("write to the read end", write(p[0], "x", 1));

	/* a dup of the write end keeps the pipe open: EOF only once both are closed */
	int w2 = dup(p[1]);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	show("read empty, non-blocking", read(p[0], buf, sizeof(buf)));
	write(w2, "tail", 4);
	close(w2);
	n = read(p[0], buf, sizeof(buf));
	printf("read %ld: %.*s\n", n, (int)n, buf);
	show("read at EOF", read(p[0], buf, sizeof(buf)));
	ready = poll(pf, 1, 0);
	printf("poll at EOF: %d hup=%d\n", ready, pf[0].revents == POLLHUP);
	close(p[0]);

	/* pipe2 flags; a full non-blocking pipe refuses a small write */
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		perror("pipe2");
		return 1;
	}
	printf("cloexec: %d nonblock: %d\n", fcntl(p[0], F_GETFD) == FD_CLOEXEC,
	       (fcntl(p[1], F_GETFL) & O_NONBLOCK) != 0);
	static char big[100000];
	show("big write", write(p[1], big, sizeof(big)));
	show("write to a full pipe", write(p[1], "x", 1));
	close(p[0]);

	/* no reader: EPIPE once SIGPIPE is ignored */
	signal(SIGPIPE, SIG_IGN);
	show("empty write with no reader", write(p[1], "", 0));
	show("write with no reader", write(p[1], "x", 1));
	close(p[1]);

	/* stdout onto a pipe: what printf writes comes back out of the read end */
	pipe(p);
	int saved = dup(1);
	fflush(stdout);
	dup2(p[1], 1);
	close(p[1]);
	printf("through the pipe\n");
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	n = read(p[0], buf, sizeof(buf));
	printf("captured %ld: %.*s", n, (int)n, buf);
	close(p[0]);
	return 0;
}
