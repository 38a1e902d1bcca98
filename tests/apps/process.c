/* The process as the runtime presents it: signals sent to itself (handlers, SA_SIGINFO,
 * SA_RESETHAND, ignored and blocked signals, default actions), bad pointers (EFAULT), stack
 * growth and overflow, identity, devices and limits.  argv[1] picks the part to run. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

static volatile int got, got_info_signo, got_info_code;

static void on_usr1(int sig)
{
	got += sig;
	printf("handler: signal %d\n", sig);
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_info_signo = si ? si->si_signo : -1;
	got_info_code = si ? si->si_code : 0;
	got += sig;
}

static int signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("after raise: got=%d\n", got);

	/* The handler may clobber caller-saved registers but not what the interrupted call
	 * preserves: a value carried across raise() must survive. */
	volatile double d = 1.5;
	raise(SIGUSR1);
	printf("double survives: %.2f got=%d\n", d * 2, got);

	sa.sa_handler = NULL;
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGUSR2, &sa, NULL);
	kill(getpid(), SIGUSR2);
	printf("siginfo: signo=%d code_is_tkill=%d got=%d\n", got_info_signo,
	       got_info_code == SI_TKILL || got_info_code == SI_USER, got);
	struct sigaction now;
	sigaction(SIGUSR2, NULL, &now);
	printf("reset to default: %d\n", now.sa_handler == SIG_DFL);

	signal(SIGUSR1, SIG_IGN);
	raise(SIGUSR1);
	printf("ignored: got=%d\n", got);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	signal(SIGUSR1, on_usr1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	printf("blocked: got=%d\n", got);
	return 0;
}

static int efault(void)
{
	errno = 0;
	ssize_t r = write(1, (void *)16, 10);
	printf("write(bad pointer) = %zd errno=%s\n", r,
	       errno == EFAULT ? "EFAULT" : strerror(errno));
	errno = 0;
	int fd = open((const char *)8, O_RDONLY);
	printf("open(bad pointer) = %d errno=%s\n", fd,
	       errno == EFAULT ? "EFAULT" : strerror(errno));
	return 0;
}

static unsigned long deep(unsigned n)
{
	volatile char pad[4096];
	pad[0] = (char)n;
	pad[4095] = (char)(n >> 8);
	if (n == 0)
		return pad[0];
	return deep(n - 1) + (unsigned char)pad[4095] + 1;
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static unsigned long forever(unsigned long n)
{
	volatile char pad[65536];
	pad[0] = (char)n;
	return forever(n + 1) + pad[0];
}

static int identity(void)
{
	struct utsname u;
	uname(&u);
	printf("uname: %s %s\n", u.sysname, u.machine);
	printf("pid=%d ppid=%d uid=%d gid=%d\n", (int)getpid(), (int)getppid(), (int)getuid(),
	       (int)getgid());
	printf("isatty: stdin=%d stdout=%d stderr=%d\n", isatty(0), isatty(1), isatty(2));
	printf("cpus=%ld pagesize=%ld\n", sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_PAGESIZE));
	struct rlimit rl;
	getrlimit(RLIMIT_STACK, &rl);
	printf("stack limit=%llu\n", (unsigned long long)rl.rlim_cur);
	unsigned char a[16] = {0}, b[16] = {0};
	ssize_t n1 = getrandom(a, sizeof(a), 0), n2 = getrandom(b, sizeof(b), 0);
	printf("getrandom: %zd %zd differ=%d\n", n1, n2, memcmp(a, b, sizeof(a)) != 0);
	int z = open("/dev/zero", O_RDONLY), nul = open("/dev/null", O_WRONLY);
	char buf[8] = "xxxxxxx";
	ssize_t zr = read(z, buf, 8), nw = write(nul, "abc", 3);
	printf("/dev/zero read=%zd zero=%d /dev/null write=%zd\n", zr, buf[3] == 0, nw);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "signals"))
		return signals();
	if (!strcmp(what, "efault"))
		return efault();
	if (!strcmp(what, "stack")) {
		/* About 6 MiB of stack: the reserve grows on demand up to 8 MiB, as on Linux. */
		printf("deep recursion: %lu\n", deep(1500));
		return 0;
	}
	if (!strcmp(what, "overflow"))
		return (int)forever(0);
	if (!strcmp(what, "sigterm")) {
		printf("sending SIGTERM to myself\n");
		fflush(stdout);
		kill(getpid(), SIGTERM);
		printf("still alive?\n");
		return 1;
	}
	if (!strcmp(what, "identity"))
		return identity();
	fprintf(stderr, "usage: process signals|efault|stack|overflow|sigterm|identity\n");
	return 2;
}
