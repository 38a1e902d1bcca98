/* The fake provider: a struct unik_provider named "fake" that records every call and simulates a
 * guest without any VM, so the core's logic and the provider contract
 * (tests/integration/test_provider_contract.py) can be tested with no QEMU.
 *
 * The guest it simulates boots (a "fake: boot ..." line in console.log), runs for run_ms
 * milliseconds and exits with exit_code ("unik: exit status N", as a real guest prints), or runs
 * until stopped when run_ms is -1.  Both come from the run's provider options (opt_keys below),
 * and fail=OP makes operation OP fail, to test error paths.  Its state is a key=value file,
 * <dir>/fake.state (lib/kv.h), read again by every call, so a second process adopts what a first
 * one started; the end of the guest is noticed (and written down) by whichever call first sees
 * that its time is up.  While an instance lives it "holds" <dir>/fake.sock, which remove() and a
 * reconcile() of an ended instance free.
 *
 * Every call is appended as one line to the log file (unik_fake_set_log, else $UNIK_FAKE_LOG,
 * else none): the operation, then tab-separated key=value fields (tabs, newlines and backslashes
 * in values escaped as \t, \n and \\), for instance a run's: ctx, dir, id, name, kernel,
 * cmdline, mem, opts ("a=1,b=2") and devices ("net:eth0:tap=t0:mac=52:54:00:..;blk:...").
 *
 * Every operation but open() and available() needs the context open() made, and fails with
 * UNIK_E_INTERNAL without it: a core that forgets to open the provider is caught. */
#ifndef UNIK_TESTS_FAKE_PROVIDER_H
#define UNIK_TESTS_FAKE_PROVIDER_H

#include "providers/provider.h"

/* Not const: its caps can be changed (unik_fake_set_caps). */
extern struct unik_provider unik_provider_fake;

/* The options run() understands. */
#define UNIK_FAKE_OPT_RUN_MS     "run_ms"    /* how long the guest runs; -1: until stopped */
#define UNIK_FAKE_OPT_EXIT_CODE  "exit_code" /* its exit status, 0-255 (255 is a crash) */
#define UNIK_FAKE_OPT_FAIL       "fail"      /* an operation that fails with UNIK_E_IO */
#define UNIK_FAKE_DEFAULT_RUN_MS 100

/* The files it keeps in an instance directory. */
#define UNIK_FAKE_STATE_FILE "fake.state"
#define UNIK_FAKE_HELD_FILE  "fake.sock"

/* The device kinds it attaches (UNIK_DEVICE_BIT each); all of net, blk and fs by default. */
void unik_fake_set_caps(unsigned caps);
/* Where calls are logged; NULL for $UNIK_FAKE_LOG (none when unset).  The string is copied. */
void unik_fake_set_log(const char *path);

/* Calls counted in this process since the last unik_fake_reset, for unit tests. */
struct unik_fake_counts {
	unsigned open, close, run, status, stop, start, remove, reconcile, event_fd;
	unsigned live_ctx; /* contexts opened and not yet closed */
};
void unik_fake_counts(struct unik_fake_counts *out);
/* Zeroes the counts and restores the default caps and log. */
void unik_fake_reset(void);

#endif
