/* Reads a process's state and start time from /proc/PID/stat, and its arguments from
 * /proc/PID/cmdline. */
#include "lib/proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/PID/NAME's first size - 1 bytes into buf, NUL-terminated: their count, or -1. */
static ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	if (pid <= 0 || size < 2)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

ssize_t unik_proc_cmdline(pid_t pid, char *buf, size_t size)
{
	return proc_read(pid, "cmdline", buf, size);
}

int unik_proc_stat(pid_t pid, char *state, unsigned long long *start)
{
	char buf[1024], *p;

	if (proc_read(pid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	/* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	p += 2;
	if (state)
		*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (start)
		*start = strtoull(p, NULL, 10);
	return 0;
}
