/* Name resolution through musl's own resolver: for each name on the command line, what
 * getaddrinfo (AF_INET) and gethostbyname answer, one line each, so that a test compares the
 * guest's lines with what it expects (and with this program run natively).  "hostname" stands
 * for the name uname reports; "-set NAME" calls sethostname first; "-wait" waits (up to 20 s)
 * for /etc/resolv.conf to name a server, as a DHCP lease writes it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *gai_name(int e)
{
	switch (e) {
	case EAI_NONAME:
		return "EAI_NONAME";
	case EAI_AGAIN:
		return "EAI_AGAIN";
	case EAI_FAIL:
		return "EAI_FAIL";
	case EAI_SYSTEM:
		return "EAI_SYSTEM";
	default:
		return gai_strerror(e);
	}
}

static const char *herr_name(int e)
{
	switch (e) {
	case HOST_NOT_FOUND:
		return "HOST_NOT_FOUND";
	case TRY_AGAIN:
		return "TRY_AGAIN";
	case NO_RECOVERY:
		return "NO_RECOVERY";
	case NO_DATA:
		return "NO_DATA";
	default:
		return "h_errno?";
	}
}

static void lookup(const char *name)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	char buf[INET_ADDRSTRLEN];
	int e = getaddrinfo(name, NULL, &hints, &res);

	if (e)
		printf("getaddrinfo %s: %s\n", name, gai_name(e));
	else {
		struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
		printf("getaddrinfo %s: %s\n", name,
		       inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
		freeaddrinfo(res);
	}
	struct hostent *h = gethostbyname(name);
	if (!h)
		printf("gethostbyname %s: %s\n", name, herr_name(h_errno));
	else
		printf("gethostbyname %s: %s\n", name,
		       inet_ntop(AF_INET, h->h_addr_list[0], buf, sizeof(buf)));
}

int main(int argc, char **argv)
{
	struct utsname u;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-set") && i + 1 < argc) {
			i++;
			if (sethostname(argv[i], strlen(argv[i])) < 0) {
				perror("sethostname");
				return 1;
			}
			continue;
		}
		if (!strcmp(argv[i], "-wait")) {
			int tries = 0;
			for (; tries < 200; tries++) {
				char line[200] = "";
				FILE *f = fopen("/etc/resolv.conf", "r");
				while (f && fgets(line, sizeof(line), f) &&
				       strncmp(line, "nameserver", 10))
					;
				if (f)
					fclose(f);
				if (!strncmp(line, "nameserver", 10))
					break;
				usleep(100000);
			}
			if (tries == 200) {
				puts("no name server in /etc/resolv.conf");
				return 1;
			}
			continue;
		}
		if (!strcmp(argv[i], "hostname")) {
			uname(&u);
			printf("uname -n: %s\n", u.nodename);
			lookup(u.nodename);
			continue;
		}
		lookup(argv[i]);
	}
	/* Linux's errors: a name longer than 64 bytes is EINVAL. */
	char longname[80];
	memset(longname, 'x', sizeof(longname));
	printf("sethostname 80 bytes: %s\n",
	       sethostname(longname, sizeof(longname)) < 0 ? "refused" : "taken");
	return 0;
}
