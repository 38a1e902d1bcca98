/* Calls a system call a unikernel cannot provide, twice, and carries on. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	for (int i = 1; i <= 2; i++) {
		errno = 0;
		long r = syscall(SYS_ptrace, 0L, 0L, 0L, 0L);
		int e = errno;
		printf("call %d: r=%ld errno=%s\n", i, r, e == ENOSYS ? "ENOSYS" : strerror(e));
	}
	printf("carried on\n");
	return 0;
}
