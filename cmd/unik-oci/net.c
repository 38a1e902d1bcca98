/* The container's network for the guest, as urunc does it: the guest takes over the network
 * namespace the engine set up (its interface's address, gateway, DNS and MAC), through a tap in
 * that namespace and tc filters that move every frame between the interface and the tap. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"
#include "lib/hostnet.h"
#include "lib/unik_spawn.h"
#include "lib/vmm_confine.h"

/* The guest's tap, inside the container's own namespace, where nothing else takes the name. */
#define OCI_TAP_NAME "uktap0"

void oci_net_init(struct oci_net *n)
{
	memset(n, 0, sizeof(*n));
	n->nsfd = -1;
	n->hold_fd = -1;
}

/* The holder: a child that unshares (or joins) the container's network namespace and stays in it
 * while the hooks run, so that they find the namespace at /proc/PID/ns/net as they would find a
 * container's init there.  It ends when its pipe closes or unik-oci dies. */
static int start_holder(const struct oci_config *cfg, struct oci_net *n, struct unik_error *err)
{
	int ready[2], hold[2], e = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) {
		unik_error_sys(err, errno, "pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		unik_error_sys(err, errno, "fork");
		return -1;
	}
	if (pid == 0) {
		char c;

		close(ready[0]);
		close(hold[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cfg->netns == OCI_NETNS_NEW) {
			if (unshare(CLONE_NEWNET) < 0)
				e = errno;
		} else {
			int fd = open(cfg->netns_path, O_RDONLY | O_CLOEXEC);

			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
				e = errno;
		}
		if (write(ready[1], &e, sizeof(e)) != sizeof(e) || e)
			_exit(1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	n->holder = pid;
	n->hold_fd = hold[1];
	while ((got = read(ready[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (got != (ssize_t)sizeof(e)) {
		unik_error_set(err, UNIK_E_IO, "the network namespace's holder died");
		return -1;
	}
	if (e && cfg->netns == OCI_NETNS_NEW)
		unik_error_sys(err, e, "create a network namespace");
	else if (e)
		unik_error_sys(err, e, "join the network namespace `%s`", cfg->netns_path);
	return e ? -1 : 0;
}

int oci_net_prepare(const struct oci_config *cfg, struct oci_net *n, struct unik_error *err)
{
	char path[64];

	oci_net_init(n);
	if (cfg->netns == OCI_NETNS_HOST)
		return 0;
	if (start_holder(cfg, n, err) < 0) {
		oci_net_release(n);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)n->holder);
	n->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (n->nsfd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		oci_net_release(n);
		return -1;
	}
	return 0;
}

pid_t oci_net_hook_pid(const struct oci_net *n)
{
	return n->holder > 0 ? n->holder : getpid();
}

void oci_net_release(struct oci_net *n)
{
	if (n->hold_fd >= 0)
		close(n->hold_fd);
	n->hold_fd = -1;
	if (n->holder > 0)
		while (waitpid(n->holder, NULL, 0) < 0 && errno == EINTR)
			;
	n->holder = 0;
	if (n->nsfd >= 0)
		close(n->nsfd);
	n->nsfd = -1;
}

int oci_net_enter(const struct oci_net *n, int *saved, struct unik_error *err)
{
	*saved = -1;
	if (n->nsfd < 0)
		return 0;
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0) {
		unik_error_sys(err, errno, "open our network namespace");
		return -1;
	}
	if (setns(n->nsfd, CLONE_NEWNET) < 0) {
		unik_error_sys(err, errno, "enter the container's network namespace");
		close(*saved);
		*saved = -1;
		return -1;
	}
	return 0;
}

void oci_net_leave(int saved)
{
	if (saved < 0)
		return;
	/* Failing to return would leave the runtime's later work in the container's namespace;
	 * nothing after this needs the network, but say so. */
	if (setns(saved, CLONE_NEWNET) < 0)
		oci_log("warning", "return to the runtime's network namespace: %s",
		        strerror(errno));
	close(saved);
}

/* The interface of the IPv4 default route and its gateway, from /proc/net/route of the current
 * namespace.  0 when there is none. */
static int default_route(char ifname[IFNAMSIZ], struct in_addr *gw)
{
	FILE *f = fopen("/proc/thread-self/net/route", "re");
	char line[256], name[IFNAMSIZ + 1];
	unsigned dst, gate, flags, mask;
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", name, &dst, &gate, &flags,
		           &mask) != 5)
			continue; /* the header */
		if (dst == 0 && mask == 0 && (flags & 0x1) && strlen(name) < IFNAMSIZ) {
			/* The kernel prints the address as the number it holds, in network order.
			 */
			gw->s_addr = gate;
			memcpy(ifname, name, strlen(name) + 1);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* Without a default route (an internal network), the first interface but lo with an address. */
static int first_interface(char ifname[IFNAMSIZ])
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK) && strlen(i->ifa_name) < IFNAMSIZ) {
			memcpy(ifname, i->ifa_name, strlen(i->ifa_name) + 1);
			found = 1;
		}
	freeifaddrs(ifa);
	return found;
}

/* The first IPv4 name server of a resolv.conf that the guest can reach: a loopback one (Docker's
 * embedded 127.0.0.11) lives in the container's namespace, not in the guest. */
static void first_nameserver(const char *path, char *out, size_t len)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[512], addr[64];
	struct in_addr a;

	out[0] = '\0';
	if (!f)
		return;
	while (!out[0] && fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %63s", addr) == 1 &&
		    inet_pton(AF_INET, addr, &a) == 1 && (ntohl(a.s_addr) >> 24) != 127)
			inet_ntop(AF_INET, &a, out, (socklen_t)len);
	fclose(f);
}

static int run_tool(const char *const *argv, struct unik_error *err)
{
	_cleanup_free_ char *out = NULL;
	struct unik_spawn_opts o = UNIK_SPAWN_OPTS_INIT;
	int status;

	o.stdin_fd = UNIK_SPAWN_DEVNULL;
	o.stderr_fd = 1; /* captured with stdout, for the message */
	if (unik_spawn_capture(argv, &o, &out, NULL, &status, err) < 0) {
		unik_error_prefix(err, "%s (install iproute2)", argv[0]);
		return -1;
	}
	if (status) {
		_cleanup_free_ char *cmd = NULL;
		size_t n = out ? strlen(out) : 0;

		while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
			out[--n] = '\0';
		for (size_t i = 0; argv[i]; i++) {
			char *c = xasprintf("%s%s%s", cmd ? cmd : "", cmd ? " " : "", argv[i]);

			free(cmd);
			cmd = c;
		}
		unik_error_set(err, UNIK_E_IO, "`%s` failed (exit status %d)%s%s", cmd, status,
		               n ? ": " : "", n ? out : "");
		return -1;
	}
	return 0;
}

/* Every frame that arrives on from leaves through to: an ingress qdisc on from, one filter that
 * matches everything (u32 on zero bytes: matchall is not built into every kernel) and a mirred
 * redirect. */
static int redirect(const char *from, const char *to, struct unik_error *err)
{
	const char *qdisc[] = {"tc", "qdisc", "replace", "dev", from, "ingress", NULL};
	const char *filter[] = {"tc",    "filter",   "add",    "dev",    from,     "parent",
	                        "ffff:", "protocol", "all",    "u32",    "match",  "u8",
	                        "0",     "0",        "action", "mirred", "egress", "redirect",
	                        "dev",   to,         NULL};

	if (run_tool(qdisc, err) < 0 || run_tool(filter, err) < 0)
		return -1;
	return 0;
}

static int ifreq_get(int s, unsigned long req, const char *ifname, struct ifreq *r,
                     struct unik_error *err)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->ifr_name, ifname, strlen(ifname) + 1);
	if (ioctl(s, req, r) < 0) {
		unik_error_sys(err, errno, "read the address of `%s`", ifname);
		return -1;
	}
	return 0;
}

int oci_net_attach(struct oci_net *n, const struct oci_config *cfg, struct unik_error *err)
{
	_cleanup_close_ int s = -1;
	_cleanup_free_ char *resolv = NULL;
	struct in_addr gw = {0}, addr, mask;
	struct unik_vmm_user vu;
	struct ifreq r;
	const unsigned char *hw;
	char ifname[IFNAMSIZ] = "", a[INET_ADDRSTRLEN];
	int prefix;

	if (n->nsfd < 0)
		return 0;
	if (!default_route(ifname, &gw) && !first_interface(ifname)) {
		oci_log("debug",
		        "the network namespace has no IPv4 interface: the guest gets no NIC");
		return 0;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		unik_error_sys(err, errno, "socket");
		return -1;
	}
	if (ifreq_get(s, SIOCGIFADDR, ifname, &r, NULL) < 0) {
		oci_log("debug", "`%s` has no IPv4 address: the guest gets no NIC", ifname);
		return 0;
	}
	addr = ((struct sockaddr_in *)&r.ifr_addr)->sin_addr;
	if (ifreq_get(s, SIOCGIFNETMASK, ifname, &r, err) < 0)
		return -1;
	mask = ((struct sockaddr_in *)&r.ifr_netmask)->sin_addr;
	prefix = __builtin_popcount(mask.s_addr);
	if (ifreq_get(s, SIOCGIFHWADDR, ifname, &r, err) < 0)
		return -1;
	if (r.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "the container's interface `%s` is not Ethernet: a guest NIC cannot "
		               "take its place",
		               ifname);
		return -1;
	}
	hw = (const unsigned char *)r.ifr_hwaddr.sa_data;

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(n->ip, sizeof(n->ip), "%s/%d", a, prefix);
	if (gw.s_addr)
		inet_ntop(AF_INET, &gw, n->gw, sizeof(n->gw));
	resolv = oci_config_resolv_conf(cfg);
	first_nameserver(resolv, n->dns, sizeof(n->dns));
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	snprintf(n->tap, sizeof(n->tap), "%s", OCI_TAP_NAME);

	/* The tap belongs to QEMU's user, which opens it by name after dropping root. */
	if (unik_vmm_user_get(&vu, err) < 0 ||
	    unik_tap_create(n->tap, NULL, vu.uid, vu.gid, err) < 0)
		return -1;
	if (redirect(ifname, n->tap, err) < 0 || redirect(n->tap, ifname, err) < 0)
		return -1;
	/* The guest answers for the address now: the namespace's kernel must not (its ARP
	 * replies and TCP resets would race the guest's).  The routes through it go with it. */
	{
		const char *del[] = {"ip", "-4", "addr", "del", n->ip, "dev", ifname, NULL};

		if (run_tool(del, err) < 0)
			return -1;
	}

	memset(&n->dev, 0, sizeof(n->dev));
	n->dev.kind = UNIK_DEVICE_NET;
	n->dev.name = "net0";
	n->dev.tap = n->tap;
	n->dev.ip = n->ip;
	n->dev.gateway = n->gw[0] ? n->gw : NULL;
	n->dev.dns = n->dns[0] ? n->dns : NULL;
	/* The interface's MAC: the engine's bridge has learnt it and its neighbours hold it in
	 * their ARP caches, so frames for the address reach the guest unchanged. */
	snprintf(n->dev.mac, sizeof(n->dev.mac), "%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1],
	         hw[2], hw[3], hw[4], hw[5]);
	n->nic = true;
	oci_log("debug", "guest NIC on %s (%s): %s gw %s dns %s mac %s", ifname, n->tap, n->ip,
	        n->gw[0] ? n->gw : "none", n->dns[0] ? n->dns : "none", n->dev.mac);
	return 0;
}
