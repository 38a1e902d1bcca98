/* The whole userland of the Linux guests of bench/bench_net.py and bench/bench_vol.py: the /init
 * of a one-directory initramfs.  It loads the kernel modules listed in /modules (one file name a
 * line, in /lib) with finit_module, mounts what each -m asks (SOURCE:DIR:TYPE[:DATA], after
 * devtmpfs on /dev and proc on /proc), gives eth0 the address of its first other argument
 * (IP/PREFIX, or - for no network) with ioctls, brings it up, and execs the rest of its
 * arguments (the program).  Built static with musl-gcc.
 *     kernel command line: ... -- 10.0.0.2/24 /http --body 1024
 *                          ... -- -m /dev/vda:/data:ext2 - /volbench disk /data 64 1000 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void load_modules(void)
{
	char names[32][64];
	int n = 0, left, loaded;
	FILE *f = fopen("/modules", "r");

	while (f && n < 32 && fgets(names[n], sizeof(names[n]), f)) {
		names[n][strcspn(names[n], "\n")] = 0;
		if (names[n][0])
			n++;
	}
	if (f)
		fclose(f);
	/* Passes until nothing more loads, so that the list's order need not be exact. */
	do {
		left = loaded = 0;
		for (int i = 0; i < n; i++) {
			char path[96];
			if (!names[i][0])
				continue;
			snprintf(path, sizeof(path), "/lib/%.63s", names[i]);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 ||
			    (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
				left++;
				if (fd >= 0)
					close(fd);
				continue;
			}
			close(fd);
			names[i][0] = 0;
			loaded++;
		}
	} while (left && loaded);
	if (left)
		fprintf(stderr, "init: %d modules did not load\n", left);
}

static int set_addr(int s, unsigned long req, const char *ifname, struct in_addr a)
{
	struct ifreq r = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&r.ifr_addr;

	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr = a;
	return ioctl(s, req, &r);
}

static int up(int s, const char *ifname)
{
	struct ifreq r = {0};

	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &r) < 0)
		return -1;
	r.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &r);
}

/* SOURCE:DIR:TYPE[:DATA], DIR made first.  A device node may show up after its driver's module
 * is loaded: the mount is tried again for a few seconds. */
static int mount_spec(const char *spec)
{
	char buf[512];
	char *src = buf, *dir, *type, *data;

	snprintf(buf, sizeof(buf), "%s", spec);
	if (!(dir = strchr(src, ':')) || !(type = strchr(dir + 1, ':'))) {
		fprintf(stderr, "init: bad mount %s (SOURCE:DIR:TYPE[:DATA])\n", spec);
		return -1;
	}
	*dir++ = 0;
	*type++ = 0;
	if ((data = strchr(type, ':')))
		*data++ = 0;
	mkdir(dir, 0755);
	for (int tries = 0; mount(src, dir, type, 0, data) < 0; tries++) {
		if (tries == 500 || (errno != ENOENT && errno != ENXIO && errno != ENODEV)) {
			fprintf(stderr, "init: mount %s on %s (%s): %s\n", src, dir, type,
			        strerror(errno));
			return -1;
		}
		usleep(10000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char ip[32];
	struct in_addr a, mask;
	int prefix = 24, s;

	load_modules();
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	while (argc > 2 && !strcmp(argv[1], "-m")) {
		if (mount_spec(argv[2]) < 0)
			return 1;
		argc -= 2;
		argv += 2;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: init [-m SOURCE:DIR:TYPE[:DATA]]... IP/PREFIX|- PROGRAM "
		                "[ARG...]\n");
		return 1;
	}
	if (!strcmp(argv[1], "-"))
		goto run;
	snprintf(ip, sizeof(ip), "%s", argv[1]);
	char *slash = strchr(ip, '/');
	if (slash) {
		*slash = 0;
		prefix = atoi(slash + 1);
	}
	if (inet_pton(AF_INET, ip, &a) != 1 || prefix < 1 || prefix > 32) {
		fprintf(stderr, "init: bad address %s\n", argv[1]);
		return 1;
	}
	mask.s_addr = htonl(~0u << (32 - prefix));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	up(s, "lo");
	/* The driver's probe may finish after its module's init returns: wait for eth0. */
	for (int tries = 0; up(s, "eth0") < 0; tries++) {
		if (tries == 500) {
			perror("init: eth0");
			return 1;
		}
		usleep(10000);
	}
	if (set_addr(s, SIOCSIFADDR, "eth0", a) < 0 ||
	    set_addr(s, SIOCSIFNETMASK, "eth0", mask) < 0) {
		perror("init: eth0 address");
		return 1;
	}
	close(s);
	printf("init: eth0 up %s/%d\n", ip, prefix);
	fflush(stdout);
run:
	execv(argv[2], argv + 2);
	perror("init: exec");
	return 1;
}
