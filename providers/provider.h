/* The provider interface: how the daemon runs an image somewhere.  One folder per provider
 * (providers/qemu/, later kvm/, xen/, aws/), one entry in the registry (providers/registry.c).
 * A provider never knows which compiler built an image. */
#ifndef UNIK_PROVIDER_H
#define UNIK_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "util.h"

/* What the daemon asks for.  All strings are owned by the caller and outlive the call. */
struct unik_run_spec {
	const char *instance_id;   /* unik's id, [a-z0-9]{12} */
	const char *instance_name; /* the user's name */
	const char *instance_dir;  /* $UNIK_HOME/instances/<id>, exists and is empty */
	const char *kernel;        /* path of the image's kernel ELF (format "elf") */
	const char *image;         /* path of the image in the provider's image_format, checked */
	const char *initrd;        /* newc cpio with the image's root fs, or NULL */
	const char *cmdline;       /* the guest command line (docs/guest-abi.md), "" for defaults */
	uint64_t memory_mb;        /* guest memory */
};

/* The states of docs/api (instances): pending -> running -> exited | crashed | stopped. */
enum unik_instance_state {
	UNIK_STATE_PENDING = 0,
	UNIK_STATE_RUNNING,
	UNIK_STATE_EXITED,  /* the guest printed "unik: exit status N"; exit_code = N */
	UNIK_STATE_CRASHED, /* the guest crashed (exit 255 with a crash report), or the VM died
	                       without an exit status */
	UNIK_STATE_STOPPED, /* stopped on request (unik stop) */
};

const char *unik_instance_state_name(enum unik_instance_state s); /* static string */

/* What the provider reports about a running or finished instance. */
struct unik_instance_status {
	enum unik_instance_state state;
	int exit_code;    /* valid for EXITED and CRASHED (255 for a crash; -1 if unknown) */
	pid_t pid;        /* the VM's process on this host, 0 if none */
	char ip[64];      /* empty when the instance has no network */
	char detail[256]; /* e.g. "killed by signal 9", the crash line, ... ; may be empty */
};

/* A provider's private per-instance record is a JSON-free, flat key=value text the provider
 * writes into the instance directory itself (e.g. <dir>/provider.state); the daemon stores only
 * the instance directory and hands it back.  This is what lets a restarted daemon adopt. */
struct unik_provider {
	const char *name;         /* "qemu" */
	const char *description;  /* one line for `unik providers` */
	const char *image_format; /* the image format it runs: "elf" for qemu */

	/* Whether it can run on this host now; on false, *reason (static or malloc'd by the
	 * provider into the buffer) says why, e.g. "qemu-system-x86_64 is not installed". */
	bool (*available)(char *reason, size_t reason_len);

	/* Starts the instance and returns once the VM process exists (state RUNNING) or failed.
	 * The guest console goes to <instance_dir>/console.log.  The VM must survive the daemon:
	 * it runs in its own session, and its exit status is recorded in <instance_dir> by a
	 * supervisor so that status() works after a daemon restart. */
	int (*run)(const struct unik_run_spec *spec, struct unik_instance_status *st,
	           struct unik_error *err);

	/* The current status, from <instance_dir> and the live process.  Cheap; safe to call
	 * often, from any thread, and on instances started by an earlier daemon. */
	int (*status)(const char *instance_dir, struct unik_instance_status *st,
	              struct unik_error *err);

	/* Stops a running instance: a graceful request first (QMP), then force after
	 * timeout_ms (or at once if force).  The state becomes STOPPED.  Idempotent. */
	int (*stop)(const char *instance_dir, bool force, int timeout_ms, struct unik_error *err);

	/* Frees what the provider holds for a finished instance (sockets, pid files) but leaves
	 * console.log alone.  The daemon removes the directory afterwards. */
	int (*remove)(const char *instance_dir, struct unik_error *err);
};

/* The registry: NULL-terminated list of compiled-in providers, and lookup by name. */
extern const struct unik_provider *const unik_providers[];
const struct unik_provider *unik_provider_find(const char *name);
const char *unik_provider_default(void); /* "qemu" */

#endif
