/* How a guest ended, read from its console log: the runtime's "unik: exit status N" and
 * "unik: crash: " lines (docs/guest-abi.md).  Every provider that keeps a console.log in the
 * instance directory (qemu, kvm, xen, aws) reads the end of a run through this. */
#ifndef UNIK_GUEST_CONSOLE_H
#define UNIK_GUEST_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Files in an instance directory. */
#define UNIK_CONSOLE_FILE       "console.log"
#define UNIK_CONSOLE_START_FILE "console.start" /* where this run's console output begins */

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

#endif
