/* How a guest ended, read from its console log: the runtime's "unik: exit status N" and
 * "unik: crash: " lines (docs/guest-abi.md).  Every provider that keeps a console.log in the
 * instance directory (qemu, kvm, xen, aws) reads the end of a run through this. */
#ifndef UNIK_GUEST_CONSOLE_H
#define UNIK_GUEST_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* Files in an instance directory. */
#define UNIK_CONSOLE_FILE       "console.log"
#define UNIK_CONSOLE_START_FILE "console.start" /* where this run's console output begins */
#define UNIK_CONSOLE_OLD_FILE   "console.log.1" /* the log before the last rotation */
/* When console.log's bytes were written: "OFFSET UNIX_MS" lines, one per write that came at
 * least UNIK_CONSOLE_TIMES_MS after the one before (unik logs -t and --since). */
#define UNIK_CONSOLE_TIMES_FILE     "console.times"
#define UNIK_CONSOLE_OLD_TIMES_FILE "console.times.1"
#define UNIK_CONSOLE_TIMES_MS       5

/* The default cap on console.log (and on console.log.1). */
#define UNIK_CONSOLE_MAX_DEFAULT (16LL << 20)

struct unik_console_end {
	int exit_status;      /* N of the last "unik: exit status N" line, or -1 */
	bool crashed;         /* a "unik: crash: " line was seen */
	char crash_line[200]; /* the first crash line ("unik: crash: ..."), when crashed */
};

/* Scans console text (the tail of console.log of an ended VM; a partial first line is the
 * caller's to skip) for the runtime's ending lines, which must start a line.  "\r\n" endings are
 * accepted, and so is a last line without its newline. */
void unik_console_parse(const char *text, size_t len, struct unik_console_end *out);

/* Where the current run's output begins in <dir>/console.log: the offset recorded in
 * <dir>/console.start, or 0 for a first run. */
off_t unik_console_start(const char *dir);

/* Reads the last bytes of <dir>/console.log from this run's start and parses them.  A missing
 * log is an empty one. */
void unik_console_read_end(const char *dir, struct unik_console_end *out);

/* A console log with a cap, written by the process that reads the guest's console (unik-shim):
 * when console.log would grow past max bytes it becomes console.log.1 (replacing the older one)
 * and a new console.log begins, so at most 2 * max bytes are kept and the newest output is in
 * console.log.  Cuts are made after a newline when one fits, so the runtime's ending lines stay
 * whole; console.start is reset to 0 on rotation (the new file is all this run's). */
struct unik_console_log {
	char *dir; /* owned */
	int fd;
	long long size, max;
	bool full;    /* the next byte goes to a new file */
	int times_fd; /* console.times, or -1 */
	long long times_ms;
};

/* Opens <dir>/console.log for appending; max <= 0 means UNIK_CONSOLE_MAX_DEFAULT. */
int unik_console_log_open(struct unik_console_log *l, const char *dir, long long max,
                          struct unik_error *err);

/* Appends n bytes, rotating as needed.  -1 (errno set) when the log cannot be written. */
int unik_console_log_write(struct unik_console_log *l, const char *buf, size_t n);

void unik_console_log_close(struct unik_console_log *l);

/* console.times of dir, read: offsets ascending with the time each was written. */
struct unik_console_time {
	long long off, ms;
};
/* Reads <dir>/console.times into *out (caller frees), *n entries; -1 when there is none (a
 * provider that writes no times). */
int unik_console_times_load(const char *dir, struct unik_console_time **out, size_t *n);
/* The time (Unix ms) of the byte at off: that of the last entry at or before it; -1 if none. */
long long unik_console_time_at(const struct unik_console_time *t, size_t n, long long off);

/* Parses a cap given in MiB ("16") or with a unit ("512K", "4M", "1G", "65536" bytes with "B").
 * Fails with a message naming what, on anything else or a cap under 4 KiB. */
int unik_console_max_parse(const char *what, const char *s, long long *out, struct unik_error *err);

#endif
