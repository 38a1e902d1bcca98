/* Facts about host processes from /proc, for supervisors that must tell a live process from a
 * recycled PID (unik-shim, the providers, unik-oci). */
#ifndef UNIK_PROC_H
#define UNIK_PROC_H

#include <sys/types.h>

/* The state letter (R, S, Z, ...) and start time (clock ticks since boot, field 22 of
 * /proc/PID/stat) of pid.  Returns -1 when the process does not exist or cannot be read. */
int unik_proc_stat(pid_t pid, char *state, unsigned long long *start);

/* pid's arguments (/proc/PID/cmdline: each ends with a NUL), at most size - 1 bytes of them
 * into buf, NUL-terminated.  Returns their length, or -1 when the process does not exist,
 * cannot be read, or has none (a zombie, a kernel thread). */
ssize_t unik_proc_cmdline(pid_t pid, char *buf, size_t size);

#endif
