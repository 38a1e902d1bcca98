/* unik-spt: runs a unix-target device application (docs/backends/mirage.md, "Targets") as a
 * seccomp-confined Linux process, as Solo5's spt tender does.  It checks the application's
 * declared devices against the bindings on its command line before anything runs, opens taps and
 * files, then forks: the child loads the ELF into itself, installs the filter (rules.c) and jumps
 * to the entry point; the parent waits, reports a forbidden call and exits with the
 * application's status.  docs/providers/spt.md describes it for users. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/unik-spt/load.h"
#include "cmd/unik-spt/rules.h"
#include "lib/guest_elf.h"
#include "lib/devices.h"
#include "lib/spt.h"
#include "lib/util.h"

#ifndef UNIK_VERSION
#define UNIK_VERSION "unknown"
#endif

#define STACK_SIZE     (8u << 20)
#define DEFAULT_MEM_MB 64
/* Where the SIGSYS handler writes the number of the forbidden call: above the devices'. */
#define REPORT_FD (UNIK_SPT_FD_FIRST + UNIK_SPT_DEVICES_MAX)

struct binding {
	char kind; /* 'n' or 'b' */
	char name[16];
	const char *path; /* the tap's name or the file */
	bool readonly;
	uint8_t mac[6];
	bool has_mac;
	char config[64]; /* "IP/PREFIX[,gw=IP]" or "" */
	int fd;
	uint64_t sectors;
	bool used;
};

static void usage(FILE *f)
{
	fputs("Usage: unik-spt [--net NAME=TAP[,mac=MAC][,ip=IP/PREFIX][,gw=IP]]...\n"
	      "                [--block NAME=FILE[:ro]]... [--mem MB] [--console-abi]\n"
	      "                [--argv0 NAME] KERNEL [ARGS...]\n"
	      "\n"
	      "Runs a device application built for the unix target (unik-cc --unik-target unix,\n"
	      "unik build --target unix) as a seccomp-confined process.  Every device the\n"
	      "application declares must be bound by its name, and only those: --net to an\n"
	      "existing tap, --block to a file (whole 512-byte sectors; :ro read-only; FILE\n"
	      "fd:N uses descriptor N, already open).  --mem limits the application's memory\n"
	      "(default 64 MiB).  Any system call the device interfaces do not need kills the\n"
	      "application; unik-spt then says which.  Its exit status is the application's\n"
	      "(128+N when signal N ended it).  --console-abi ends the console (stdout) as a\n"
	      "unik guest does (docs/guest-abi.md): `unik: exit status N`, after a\n"
	      "`unik: crash: ...` line (status 255) when the filter or a signal killed it.\n"
	      "The application's argv[0] is KERNEL, or NAME with --argv0.\n",
	      f);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0 || (i < 5 && s[2] != ':') || (i == 5 && s[2]))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return 0;
}

/* "a.b.c.d" with an optional "/PREFIX" (when prefix is not NULL), checked. */
static bool valid_ip(const char *s, bool prefix)
{
	unsigned a, b, c, d, p = 0;
	char tail = 0;
	int n = prefix ? sscanf(s, "%3u.%3u.%3u.%3u/%2u%c", &a, &b, &c, &d, &p, &tail)
	               : sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail);

	return n == (prefix ? 5 : 4) && a < 256 && b < 256 && c < 256 && d < 256 && p <= 32 &&
	       strspn(s, "0123456789./") == strlen(s);
}

static bool valid_name(const char *s, size_t n)
{
	if (!n || n > 15 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* --net NAME=TAP[,...] or --block NAME=FILE[:ro] into b. */
static int parse_binding(char kind, char *spec, struct binding *b, struct unik_error *err)
{
	const char *opt = kind == 'n' ? "--net" : "--block";
	char *eq = strchr(spec, '=');

	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->fd = -1;
	if (!eq || !valid_name(spec, (size_t)(eq - spec)) || !eq[1]) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s `%s`: expected NAME=%s, NAME the device's declared name", opt,
		               spec, kind == 'n' ? "TAP" : "FILE");
		return -1;
	}
	memcpy(b->name, spec, (size_t)(eq - spec));
	if (kind == 'b') {
		size_t n = strlen(eq + 1);

		if (n > 3 && !strcmp(eq + 1 + n - 3, ":ro")) {
			eq[1 + n - 3] = '\0';
			b->readonly = true;
		}
		b->path = eq + 1;
		return 0;
	}
	char *save = NULL, *ip = NULL, *gw = NULL;
	b->path = strtok_r(eq + 1, ",", &save);
	for (char *w = strtok_r(NULL, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strncmp(w, "mac=", 4) && parse_mac(w + 4, b->mac) == 0 && !(b->mac[0] & 1)) {
			b->has_mac = true;
		} else if (!strncmp(w, "ip=", 3) && valid_ip(w + 3, true)) {
			ip = w + 3;
		} else if (!strncmp(w, "gw=", 3) && valid_ip(w + 3, false)) {
			gw = w + 3;
		} else {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "--net `%s`: bad option `%s` (mac=XX:XX:XX:XX:XX:XX unicast, "
			    "ip=A.B.C.D/PREFIX, gw=A.B.C.D)",
			    b->name, w);
			return -1;
		}
	}
	if (!b->path || strlen(b->path) >= IFNAMSIZ) {
		unik_error_set(err, UNIK_E_INVALID, "--net %s: a tap name of 1 to %d characters",
		               b->name, IFNAMSIZ - 1);
		return -1;
	}
	if (gw && !ip) {
		unik_error_set(err, UNIK_E_INVALID, "--net %s: gw= without ip=", b->name);
		return -1;
	}
	if (ip)
		snprintf(b->config, sizeof(b->config), "%s%s%s", ip, gw ? ",gw=" : "",
		         gw ? gw : "");
	return 0;
}

/* "fd:N": descriptor N, open already; -1 when s is not that or N is not open (with flags). */
static int inherited_fd(const char *s, int *flags)
{
	char *end;
	long n;

	if (strncmp(s, "fd:", 3))
		return -1;
	n = strtol(s + 3, &end, 10);
	if (*end || end == s + 3 || n < 3 || n > 1024 || (*flags = fcntl((int)n, F_GETFL)) < 0)
		return -1;
	return (int)n;
}

static int open_tap(struct binding *b, struct unik_error *err)
{
	struct ifreq ifr = {0};
	int fd, fl;

	if (!strncmp(b->path, "fd:", 3)) {
		/* A tap the caller attached (IFF_TAP | IFF_NO_PI: the spt provider, through
		 * unik-shim, whose user may not open /dev/net/tun). */
		int n = inherited_fd(b->path, &fl);

		if (n < 0 || fcntl(n, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    (fd = fcntl(n, F_DUPFD_CLOEXEC, 3)) < 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--net %s: `%s` is not an open descriptor", b->name,
			               b->path);
			return -1;
		}
		close(n);
	} else {
		fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			unik_error_sys(err, errno, "--net %s: open /dev/net/tun", b->name);
			return -1;
		}
		memcpy(ifr.ifr_name, b->path, strlen(b->path));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			unik_error_sys(err, errno, "--net %s: attach to tap `%s`", b->name,
			               b->path);
			close(fd);
			return -1;
		}
	}
	if (!b->has_mac) {
		/* A locally administered unicast address of its own. */
		if (getrandom(b->mac, 6, 0) != 6) {
			unik_error_sys(err, errno, "getrandom");
			close(fd);
			return -1;
		}
		b->mac[0] = (uint8_t)((b->mac[0] & 0xfe) | 0x02);
	}
	b->fd = fd;
	return 0;
}

static int open_block(struct binding *b, struct unik_error *err)
{
	struct stat st;
	uint64_t size;
	int fd;

	if (!strncmp(b->path, "fd:", 3)) {
		/* A descriptor the caller opened (the spt provider, through unik-shim). */
		int fl = 0, n = inherited_fd(b->path, &fl);

		if (n < 0 || (!b->readonly && (fl & O_ACCMODE) != O_RDWR)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--block %s: `%s` is not an open descriptor%s", b->name,
			               b->path, b->readonly ? "" : " for reading and writing");
			return -1;
		}
		fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
		close(n);
	} else {
		fd = open(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		unik_error_sys(err, errno, "--block %s: open `%s`", b->name, b->path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (!S_ISBLK(st.st_mode) || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "--block %s: `%s` is neither a regular file nor a block device",
		               b->name, b->path);
		close(fd);
		return -1;
	}
	b->sectors = size / UNIK_SPT_SECTOR;
	b->fd = fd;
	return 0;
}

/* Each declared device bound once, nothing undeclared bound; the bindings put in declaration
 * order into out. */
static int match_devices(const struct unik_guest_elf *g, struct binding *binds, size_t nbinds,
                         struct binding **out, struct unik_error *err)
{
	for (size_t i = 0; i < nbinds; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(binds[i].name, binds[j].name)) {
				unik_error_set(err, UNIK_E_INVALID, "device `%s` is bound twice",
				               binds[i].name);
				return -1;
			}
	for (unsigned d = 0; d < g->napp_devices; d++) {
		const struct unik_guest_elf_device *dev = &g->app_devices[d];
		char kind = dev->kind == UNIK_DEVICE_NET ? 'n' : 'b';
		struct binding *b = NULL;

		for (size_t i = 0; i < nbinds && !b; i++)
			if (!strcmp(binds[i].name, dev->name))
				b = &binds[i];
		if (!b) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "the application declares %s device `%s`, which is not bound: "
			    "add %s %s=%s",
			    kind == 'n' ? "net" : "block", dev->name,
			    kind == 'n' ? "--net" : "--block", dev->name,
			    kind == 'n' ? "TAP" : "FILE");
			return -1;
		}
		if (b->kind != kind) {
			unik_error_set(err, UNIK_E_INVALID,
			               "device `%s` is a %s device: bind it with %s", dev->name,
			               kind == 'n' ? "net" : "block",
			               kind == 'n' ? "--net" : "--block");
			return -1;
		}
		b->used = true;
		out[d] = b;
	}
	for (size_t i = 0; i < nbinds; i++)
		if (!binds[i].used) {
			_cleanup_free_ char *list = xstrdup("");

			for (unsigned d = 0; d < g->napp_devices; d++) {
				char *next = xasprintf(
				    "%s%s%s:%s", list, d ? ", " : "",
				    g->app_devices[d].kind == UNIK_DEVICE_NET ? "net" : "block",
				    g->app_devices[d].name);
				free(list);
				list = next;
			}
			unik_error_set(err, UNIK_E_INVALID,
			               "the application declares no device `%s` (it declares: %s)",
			               binds[i].name, *list ? list : "none");
			return -1;
		}
	return 0;
}

/* The SIGSYS handler of the child: the filter trapped a call.  It writes the call's number to
 * REPORT_FD, then makes a forbidden call again; with SIGSYS blocked in the handler the kernel
 * kills the process by SIGSYS.  Raw system calls only: musl owns the thread pointer now. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	int nr = si->si_syscall;
	long r;

	(void)sig;
	(void)uc;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "a"((long)SYS_write), "D"((long)REPORT_FD), "S"(&nr), "d"(sizeof(nr))
	                 : "rcx", "r11", "memory");
	for (;;)
		__asm__ volatile("syscall"
		                 : "=a"(r)
		                 : "a"((long)SYS_getpid)
		                 : "rcx", "r11", "memory");
}

/* The current VmData of this process, in bytes (0 when unknown). */
static uint64_t vm_data(void)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	const char *p;

	if (unik_read_file("/proc/self/status", &text, &len, NULL) < 0 ||
	    !(p = strstr(text, "VmData:")))
		return 0;
	return strtoull(p + 7, NULL, 10) * 1024;
}

/* The child: loads the application and becomes it.  Returns only on failure. */
static void run_child(const struct spt_elf *e, struct binding **devs, unsigned ndevs, int report,
                      char *const *argv, const char *env, unsigned mem_mb, pid_t parent)
{
	struct unik_error err;
	struct spt_fds fds = {.report = REPORT_FD};
	struct sigaction sa = {0};
	struct rlimit rl = {0, 0};
	stack_t ss;
	sigset_t none;
	char *envp[] = {(char *)env, NULL};
	uintptr_t sp;
	int high[UNIK_SPT_DEVICES_MAX];
	scmp_filter_ctx ctx;

	unik_error_clear(&err);
	/* The application goes with unik-spt, even when unik-spt is killed (SIGKILL from a
	 * supervisor): it must not outlive it holding the devices and the console. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	/* The descriptors at their places: first out of the way, then down. */
	for (unsigned i = 0; i < ndevs; i++)
		if ((high[i] = fcntl(devs[i]->fd, F_DUPFD_CLOEXEC, 100)) < 0)
			goto sys;
	if (dup2(report, REPORT_FD) < 0)
		goto sys;
	for (unsigned i = 0; i < ndevs; i++) {
		int fd = UNIK_SPT_FD_FIRST + (int)i;

		if (dup2(high[i], fd) < 0)
			goto sys;
		if (devs[i]->kind == 'n')
			fds.net[fds.nnet++] = fd;
		else {
			fds.blk[fds.nblk++] = fd;
			if (!devs[i]->readonly)
				fds.blk_rw[fds.nblk_rw++] = fd;
		}
	}
	for (int fd = UNIK_SPT_FD_FIRST + (int)ndevs; fd < REPORT_FD; fd++)
		close(fd);
	if (syscall(SYS_close_range, REPORT_FD + 1, ~0u, 0) < 0)
		goto sys;
	setrlimit(RLIMIT_CORE, &rl);
	if (spt_elf_map(e, &err) < 0)
		goto fail;
	if (!(sp = spt_stack_build(e, STACK_SIZE, argv, envp, &err)))
		goto fail;
	/* The handler runs on a stack of its own, so that it works whatever the app did to its. */
	ss.ss_sp = malloc(65536);
	ss.ss_size = 65536;
	ss.ss_flags = 0;
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	if (!ss.ss_sp || sigaltstack(&ss, NULL) < 0 || sigaction(SIGSYS, &sa, NULL) < 0)
		goto sys;
	rl.rlim_cur = rl.rlim_max = vm_data() + (uint64_t)mem_mb * 1024 * 1024;
	if (setrlimit(RLIMIT_DATA, &rl) < 0)
		goto sys;
	if (!(ctx = spt_filter_new(&fds, &err)))
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int rc = seccomp_load(ctx);
	if (rc < 0) {
		unik_error_sys(&err, -rc, "load the seccomp filter");
		goto fail;
	}
	/* From here on, only the application's calls: no more libc of ours. */
	__asm__ volatile("mov %0, %%rsp\n\t"
	                 "xor %%ebp, %%ebp\n\t"
	                 "xor %%edx, %%edx\n\t"
	                 "jmp *%1"
	                 :
	                 : "r"(sp), "r"(e->entry)
	                 : "memory");
	__builtin_unreachable();
sys:
	unik_error_sys(&err, errno, "prepare the application's process");
fail:
	fprintf(stderr, "unik-spt: %s\n", err.msg);
	_exit(125);
}

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

int main(int argc, char **argv)
{
	struct unik_error err;
	struct binding binds[2 * UNIK_SPT_DEVICES_MAX];
	struct binding *devs[UNIK_SPT_DEVICES_MAX];
	size_t nbinds = 0;
	unsigned long mem_mb = DEFAULT_MEM_MB;
	bool console_abi = false;
	const char *argv0 = NULL;
	struct unik_guest_elf g;
	struct spt_elf e;
	_cleanup_free_ char *file = NULL, *env = NULL;
	size_t len;
	int i, pipefd[2], status, nr = -1;
	pid_t pid;

	unik_error_clear(&err);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		char kind = !strcmp(a, "--net") ? 'n' : !strcmp(a, "--block") ? 'b' : 0;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--console-abi")) {
			console_abi = true;
			continue;
		}
		if (!strcmp(a, "--version")) {
			printf("unik-spt (unik) %s\n", UNIK_VERSION);
			return 0;
		}
		if (!strcmp(a, "--argv0") && i + 1 < argc) {
			argv0 = argv[++i];
			continue;
		}
		if (!kind && strcmp(a, "--mem")) {
			fprintf(stderr, "unik-spt: unknown option `%s` (see unik-spt --help)\n", a);
			return 125;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "unik-spt: `%s` needs a value\n", a);
			return 125;
		}
		if (!kind) {
			char *end;

			errno = 0;
			mem_mb = strtoul(argv[++i], &end, 10);
			if (errno || *end || !mem_mb || mem_mb > 1u << 20) {
				fprintf(stderr,
				        "unik-spt: --mem `%s`: a number of MiB, 1 to 1048576\n",
				        argv[i]);
				return 125;
			}
			continue;
		}
		if (nbinds == sizeof(binds) / sizeof(binds[0])) {
			fprintf(stderr, "unik-spt: too many devices\n");
			return 125;
		}
		if (parse_binding(kind, argv[++i], &binds[nbinds++], &err) < 0) {
			fprintf(stderr, "unik-spt: %s\n", err.msg);
			return 125;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 125;
	}
	if (unik_read_file(argv[i], &file, &len, &err) < 0 ||
	    unik_guest_elf_parse_mem(file, len, argv[i], &g, &err) < 0 ||
	    spt_elf_check(file, len, argv[i], &e, &err) < 0) {
		fprintf(stderr, "unik-spt: %s\n", err.msg);
		return 125;
	}
	if (!g.app || g.pvh) {
		fprintf(stderr, "unik-spt: %s: %s\n", argv[i],
		        g.pvh ? "a kernel for a virtual machine (virtio target), not for unik-spt: "
		                "build the application with --target unix"
		              : "not a device application (it has no UNIK_NOTE_APP_DEVICES note): "
		                "unik-spt runs mirage applications built with --target unix");
		return 125;
	}
	if (match_devices(&g, binds, nbinds, devs, &err) < 0) {
		fprintf(stderr, "unik-spt: %s\n", err.msg);
		return 125;
	}
	env = xasprintf("%s=", unik_spt_env_name);
	for (unsigned d = 0; d < g.napp_devices; d++) {
		struct binding *b = devs[d];
		_cleanup_free_ char *word = NULL;
		char *next;

		if ((b->kind == 'n' ? open_tap(b, &err) : open_block(b, &err)) < 0) {
			fprintf(stderr, "unik-spt: %s\n", err.msg);
			return 125;
		}
		word = b->kind == 'n' ? unik_spt_net_word(b->name, b->mac, 1500, b->config)
		                      : unik_spt_blk_word(b->name, b->sectors, b->readonly);
		next = xasprintf("%s%s%s", env, d ? " " : "", word);
		free(env);
		env = next;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("unik-spt: pipe");
		return 125;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t self = getpid();
	pid = fork();
	if (pid < 0) {
		perror("unik-spt: fork");
		return 125;
	}
	if (pid == 0) {
		close(pipefd[0]);
		if (argv0)
			argv[i] = (char *)argv0;
		run_child(&e, devs, g.napp_devices, pipefd[1], argv + i, env, (unsigned)mem_mb,
		          self);
	}
	close(pipefd[1]);
	child_pid = pid;
	{
		struct sigaction sa = {.sa_handler = forward};

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("unik-spt: waitpid");
			return 125;
		}
	if (WIFEXITED(status)) {
		if (console_abi)
			printf("unik: exit status %d\n", WEXITSTATUS(status));
		return WEXITSTATUS(status);
	}
	_cleanup_free_ char *reason = NULL;
	if (WTERMSIG(status) == SIGSYS && read(pipefd[0], &nr, sizeof(nr)) == sizeof(nr)) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		reason = xasprintf("killed by seccomp: system call %d (%s)", nr,
		                   name ? name : "unknown");
		free(name);
	} else {
		reason = xasprintf("the application was killed by signal %d (%s)", WTERMSIG(status),
		                   strsignal(WTERMSIG(status)));
	}
	fprintf(stderr, "unik-spt: %s\n", reason);
	/* Stopped on request (SIGTERM forwarded, or SIGKILL): no crash to report. */
	if (console_abi && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGKILL &&
	    WTERMSIG(status) != SIGINT && WTERMSIG(status) != SIGHUP)
		printf("unik: crash: %s\nunik: exit status 255\n", reason);
	return 128 + WTERMSIG(status);
}
