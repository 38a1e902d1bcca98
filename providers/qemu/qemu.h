/* The qemu provider's internals, split out so unit tests can reach them: the QEMU command line,
 * the instance directory's records and a small QMP client. */
#ifndef UNIK_PROVIDER_QEMU_H
#define UNIK_PROVIDER_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/guest_console.h"
#include "lib/hostnet.h"
#include "lib/util.h"
#include "lib/vmm_confine.h"
#include "providers/provider.h"

extern const struct unik_provider unik_provider_qemu;

/* Files in an instance directory (see docs/providers.md). */
#define QEMU_CONSOLE_FILE       UNIK_CONSOLE_FILE
#define QEMU_QMP_FILE           "qmp.sock"
#define QEMU_PID_FILE           "qemu.pid"
#define QEMU_SHIM_PID_FILE      "shim.pid"
#define QEMU_EXIT_FILE          "exit"
#define QEMU_ERR_FILE           "qemu.err"
#define QEMU_SHIM_LOG_FILE      "shim.log"
#define QEMU_STOPPED_FILE       "stopped"
#define QEMU_STATE_FILE         "provider.state"
#define QEMU_CONSOLE_START_FILE UNIK_CONSOLE_START_FILE

/* ---- command line (argv.c) ------------------------------------------------------------------ */

/* QEMU's seccomp filter: no obsolete calls, no set*id, no fork/exec, no scheduler or affinity
 * changes. */
#define QEMU_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* Provider option: the cap on console.log (docs/providers.md). */
#define QEMU_OPT_CONSOLE_MAX     "console_max"
#define QEMU_CONSOLE_MAX_DEFAULT "16M"
/* Provider option: the machine type, microvm (virtio-mmio) or pc / q35 (virtio-pci). */
#define QEMU_OPT_MACHINE     "machine"
#define QEMU_MACHINE_DEFAULT "microvm"

struct qemu_config {
	const char *qemu;   /* program, "qemu-system-x86_64" */
	const char *accel;  /* "kvm" or "tcg" */
	const char *dir;    /* instance directory (absolute) */
	const char *kernel; /* absolute; QEMU gets it as UNIK_VMM_FD_KERNEL */
	const char *initrd; /* absolute, or NULL; QEMU gets it as UNIK_VMM_FD_INITRD */
	const char *cmdline;
	uint64_t memory_mb;
	const char *machine; /* "microvm" (NULL too), "pc" or "q35" */
	/* The devices to attach (checked by unik_devices_check; paths absolute).  Disks and
	 * shared directories reach QEMU as descriptors, device i's as UNIK_VMM_FD_DEVICES + 2i
	 * (and + 2i + 1 for a writable disk's read-only twin; qemu_device_fds). */
	const struct unik_device *devices;
	size_t ndevices;
	/* The instance's id, which names the taps the provider makes (lib/hostnet.h). */
	const char *instance_id;
	/* Filled by qemu_name_taps: device i's tap when the provider makes it (a NIC on a
	 * network), else "".  QEMU gets it as descriptor UNIK_VMM_FD_DEVICES + 2i, attached by
	 * its supervisor. */
	char taps[UNIK_VMM_FD_DEVICES_MAX / 2][UNIK_IFNAME_MAX + 1];
};

/* Names the taps of c's NICs on a network: unik_tap_name(instance_id, i) for device i. */
void qemu_name_taps(struct qemu_config *c);

/* The words of unik-shim's --forward for the ports published on c's NICs that are not on
 * user-mode networking ("tcp:HOSTIP:HOSTPORT:GUESTIP:GUESTPORT"): the shim relays them to the
 * guest's address.  A NIC with ports but no address fails with UNIK_E_INVALID. */
int qemu_forwards(const struct qemu_config *c, struct strv *out, struct unik_error *err);

/* The accelerator to use: "tcg" when UNIK_ACCEL=tcg or QEMU, confined to u (NULL: not
 * switching users), could not open /dev/kvm read-write, else "kvm".  Static string. */
const char *qemu_pick_accel(const struct unik_vmm_user *u);

/* Appends QEMU's whole argument vector (argv[0] first) to *out.  QEMU expects the descriptors
 * of lib/vmm_confine.h (QMP socket, kernel, initrd) and the console on its stdio, as
 * unik_vmm_confine_child leaves them.  Fails with UNIK_E_INVALID on a missing field or a zero
 * memory size. */
int qemu_build_argv(const struct qemu_config *c, struct strv *out, struct unik_error *err);

/* The descriptors QEMU needs for c's devices (a disk's file, a share's directory, a tap), for its
 * supervisor to open (lib/vmm_confine.h): fills out (UNIK_VMM_FD_DEVICES_MAX entries) and
 * returns how many.  Paths point into c->devices. */
size_t qemu_device_fds(const struct qemu_config *c, struct unik_vmm_fd *out);

/* Where the QMP socket of the instance in dir is bound: its absolute path when that fits a unix
 * socket address, else its name relative to dir (QEMU's supervisor binds it from there).
 * Caller frees. */
char *qemu_qmp_path(const char *dir);

/* ---- processes (proc.c) --------------------------------------------------------------------- */

/* A process identity that survives PID reuse: the PID and its start time (/proc/PID/stat,
 * field 22, clock ticks since boot). */
struct qemu_proc {
	pid_t pid;
	unsigned long long start;
};

/* Reads "PID START" from a pid file. -1 when the file is missing or malformed. */
int qemu_proc_read(const char *dir, const char *file, struct qemu_proc *p);

/* True when p is alive (not a zombie) and is still the process that was recorded. */
bool qemu_proc_alive(const struct qemu_proc *p);

/* A pollable descriptor for p (pidfd) that becomes readable when it ends; -1 when p is gone,
 * recycled, or pidfds are not supported (errno says which: ESRCH or ENOSYS). */
int qemu_proc_open(const struct qemu_proc *p);

/* Waits up to timeout_ms for p to end (pidfd poll, else a 1 ms poll).  True once it ended. */
bool qemu_proc_wait_gone(const struct qemu_proc *p, int timeout_ms);

/* Sends sig to p unless p is gone or recycled. */
void qemu_proc_kill(const struct qemu_proc *p, int sig);

/* ---- QMP (qmp.c) ---------------------------------------------------------------------------- */

struct qemu_qmp;

/* Connects to a QMP socket, reads the greeting and negotiates capabilities.  timeout_ms bounds
 * the whole session, later commands included.  *out is the caller's, released with
 * qemu_qmp_close. */
int qemu_qmp_open(const char *sock_path, int timeout_ms, struct qemu_qmp **out,
                  struct unik_error *err);

/* Runs one command ("quit", "query-status", ...) without arguments and waits for its answer,
 * skipping events.  *ret (if not NULL) gets the JSON text of "return" (caller frees).  A QMP
 * error fails with its description. */
int qemu_qmp_execute(struct qemu_qmp *q, const char *command, char **ret, struct unik_error *err);

void qemu_qmp_close(struct qemu_qmp *q);

/* ---- shared with the spt provider (providers/spt/), which runs unik-spt under unik-shim the
 * way this one runs QEMU, and keeps the same records in the instance directory ---- */

/* $env_name, else `name` beside the running program or in its installed layout
 * (lib/selfpath.h), else in PATH.  Caller frees; NULL when not found. */
char *qemu_find_program(const char *env_name, const char *name);
/* Reads unik-shim's one-line report ("ok PID" or "error ERRNO MESSAGE") from fd into buf;
 * its length, or -1 when none came in time. */
int qemu_shim_read_ready(int fd, char *buf, size_t size);
/* A restart reuses the directory: forgets how the previous run ended. */
int qemu_forget_previous_run(const char *dir, struct unik_error *err);
/* Deletes the taps named in list ("a,b"). */
int qemu_delete_taps(const char *list, struct unik_error *err);
/* The last non-empty line of a file in dir, "" when none. */
void qemu_last_line(const char *dir, const char *name, char *out, size_t size);
/* The provider operations on an instance directory of unik-shim's records; the process it
 * supervises may be any program that exits on SIGTERM (no QMP socket: stop sends SIGTERM). */
int qemu_status(void *ctx, const char *dir, struct unik_instance_status *st,
                struct unik_error *err);
int qemu_stop(void *ctx, const char *dir, bool force, int timeout_ms, struct unik_error *err);
int qemu_remove(void *ctx, const char *dir, struct unik_error *err);
int qemu_event_fd(void *ctx, const char *dir, struct unik_error *err);

#endif
