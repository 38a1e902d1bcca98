/* Calls that would start another process: a unikernel runs one program, so each fails as under
 * a process limit (ENOSYS, ECHILD) and the program carries on. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *name(int e)
{
	return e == ENOSYS ? "ENOSYS" : e == ECHILD ? "ECHILD" : strerror(e);
}

int main(void)
{
	errno = 0;
	int r = system("true");
	printf("system: %d %s\n", r, name(errno));

	pid_t pid;
	char *argv[] = {"true", NULL};
	r = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	printf("posix_spawn: %s\n", name(r));

	errno = 0;
	long l = syscall(SYS_fork);
	printf("fork: %ld %s\n", l, name(errno));
	errno = 0;
	l = syscall(SYS_vfork);
	printf("vfork: %ld %s\n", l, name(errno));
	errno = 0;
	r = execve("/bin/true", argv, environ);
	printf("execve: %d %s\n", r, name(errno));
	errno = 0;
	r = waitpid(-1, NULL, 0);
	printf("waitpid: %d %s\n", r, name(errno));
	printf("carried on\n");
	return 0;
}
