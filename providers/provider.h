/* The provider interface: how the daemon runs an image somewhere.  One folder per provider
 * (providers/qemu/, later kvm/, xen/, aws/), one entry in the registry (providers/registry.c).
 * A provider never knows which compiler built an image. */
#ifndef UNIK_PROVIDER_H
#define UNIK_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "lib/devices.h"
#include "lib/error.h"
#include "lib/util.h"

/* What the daemon asks for.  All strings are owned by the caller and outlive the call. */
struct unik_run_spec {
	const char *instance_id;   /* unik's id, [a-z0-9]{12} */
	const char *instance_name; /* the user's name */
	const char *hostname;      /* the guest's hostname (ABI v2), NULL for instance_name */
	const char *instance_dir;  /* $UNIK_HOME/instances/<id>, exists and is empty */
	const char *kernel;        /* path of the image's kernel ELF (format "elf") */
	const char *image;         /* path of the image in the provider's image_format, checked */
	const char *initrd;        /* newc cpio with the image's root fs, or NULL */
	const char *cmdline;       /* the guest command line (docs/guest-abi.md), "" for defaults */
	uint64_t memory_mb;        /* guest memory */
	const char *image_id;      /* the image's id, [a-z0-9]{12} */
	const char *image_dir;     /* $UNIK_HOME/images/<id>: where stage() recorded its work */
	/* The image's bootable disk when it has been packed in one (qcow2, else raw), or NULL;
	 * disk_format names its format.  It bakes disk_cmdline (the image's default command
	 * line, "" for the kernel's) into its boot configuration. */
	const char *disk;
	const char *disk_format;
	const char *disk_cmdline;
	/* Provider options, "key=value" words, NULL-ended (never NULL itself): daemon-config.yaml
	 * first (providers: {kvm: [{uri: ...}]}), then the request's (--provider-opt); for a key
	 * given twice the later word wins (unik_provider_opt() returns it).  Keys are checked
	 * against the provider's opt_keys before run() is called. */
	const char *const *opts;
	/* The instance's devices (lib/devices.h), already checked with unik_devices_check against
	 * the provider's caps, MACs filled in; ndevices is 0 for none.  The provider attaches each
	 * (virtio-mmio on microvm, virtio-pci on pc/q35, <interface>/<disk>/<filesystem> in domain
	 * XML, vif/disk in libxl's config) and boots the guest with unik_devices_cmdline()'s
	 * manifest words in front of cmdline, so the guest knows their names. */
	const struct unik_device *devices;
	size_t ndevices;
	/* For a caller that is itself a container's runtime (unik-oci), never set by the daemon:
	 * the VM's supervisor stays the caller's child and becomes the container's process.  It
	 * keeps the caller's stdio (the guest console goes to its stdout as well as to
	 * console.log, its stdin to the guest), waits at hold_fifo (when not NULL) until someone
	 * opens that FIFO for reading and reads one byte, takes the VM with it when it is killed,
	 * and exits with the guest's status.  run() returns once the supervisor is ready, before
	 * the VM starts: state PENDING, pid the supervisor's.  Only qemu supports it; false for
	 * the detached supervisor of `unik run`. */
	bool foreground;
	const char *hold_fifo;
};

/* What stage() gets: copy an image to where the provider runs it from (an AMI for aws). */
struct unik_stage_spec {
	const char *image_id;    /* [a-z0-9]{12} */
	const char *image_name;  /* the user's name */
	const char *image_dir;   /* $UNIK_HOME/images/<id>: record what was made here, e.g.
	                            <image_dir>/aws.state, so run() and unstage() find it */
	const char *image;       /* path of the image in the provider's image_format, checked */
	const char *kernel;      /* the kernel ELF */
	const char *cmdline;     /* the image's baked default command line */
	uint64_t memory_mb;      /* the image's default memory */
	const char *const *opts; /* as in unik_run_spec */
	/* Progress for the user ("uploading 3/8 parts"), one line at a time, no newline. */
	void (*progress)(void *ctx, const char *line);
	void *ctx;
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
	/* The provider's own handle, for describe-instance: what an operator types into the
	 * host's tools (virsh, xl, aws).  Empty when the provider has none. */
	char handle[128];   /* domain name "unik-hello-ab12cd34ef56", EC2 "i-0abc..." */
	char handle_id[64]; /* domain UUID; empty if none */
};

/* A provider's private per-instance record is a JSON-free, flat key=value text the provider
 * writes into the instance directory itself (e.g. <dir>/provider.state); the daemon stores only
 * the instance directory and hands it back.  This is what lets a restarted daemon adopt.
 *
 * Every operation but available() gets the provider's context as ctx: what open() made, or NULL
 * for a provider without open(). */
struct unik_provider {
	const char *name;         /* "qemu" */
	const char *description;  /* one line for `unik providers` */
	const char *image_format; /* the image format it runs: "elf" for qemu */
	/* The option keys run(), stage() and available() understand (NULL-ended), each with a
	 * one-line help in opt_help[i]; the daemon refuses any other key with a hint. */
	const char *const *opt_keys;
	const char *const *opt_help;

	/* The device kinds it attaches, UNIK_DEVICE_BIT(kind) each (lib/devices.h).  The core
	 * refuses a run with any other kind before calling run(). */
	unsigned caps;
	/* Whether it has a user-mode network (QEMU's, libvirt's, a cloud's default one): a net
	 * device with neither network nor tap is one it attaches.  The core gives a program that
	 * uses sockets such a NIC by default only where this is true. */
	bool user_net;

	/* Optional.  Makes the provider's context for these options (a libvirt connection, AWS
	 * credentials read once), which every later call gets as ctx; close() frees it.  Without
	 * open(), ctx is NULL. */
	int (*open)(const char *const *opts, void **ctx, struct unik_error *err);
	void (*close)(void *ctx);

	/* Whether it can run on this host now with these options; on false, reason says why,
	 * e.g. "qemu-system-x86_64 is not installed", or libvirt's own message. */
	bool (*available)(const char *const *opts, char *reason, size_t reason_len);

	/* Starts the instance and returns once the VM process exists (state RUNNING) or failed.
	 * The guest console goes to <instance_dir>/console.log.  The VM must survive the daemon:
	 * it runs in its own session, and its exit status is recorded in <instance_dir> by a
	 * supervisor so that status() works after a daemon restart. */
	int (*run)(void *ctx, const struct unik_run_spec *spec, struct unik_instance_status *st,
	           struct unik_error *err);

	/* The current status, from <instance_dir> and the live process.  Cheap; safe to call
	 * often, from any thread, and on instances started by an earlier daemon. */
	int (*status)(void *ctx, const char *instance_dir, struct unik_instance_status *st,
	              struct unik_error *err);

	/* Stops a running instance: a graceful request first (QMP), then force after
	 * timeout_ms (or at once if force).  The state becomes STOPPED.  Idempotent. */
	int (*stop)(void *ctx, const char *instance_dir, bool force, int timeout_ms,
	            struct unik_error *err);

	/* Frees what the provider holds for a finished instance (sockets, pid files) but leaves
	 * console.log alone.  The daemon removes the directory afterwards. */
	int (*remove)(void *ctx, const char *instance_dir, struct unik_error *err);

	/* Optional.  Starts a finished instance again in place (the same domain, the same EC2
	 * instance), appending to console.log.  When NULL, the daemon calls remove() and run()
	 * with the instance's original spec instead. */
	int (*start)(void *ctx, const char *instance_dir, struct unik_instance_status *st,
	             struct unik_error *err);

	/* Optional: for providers that run images from somewhere else (aws: an AMI).  Idempotent:
	 * returns at once when <image_dir> records a finished stage.  The daemon calls it after a
	 * build for this provider, and before run() when the image was built for another one. */
	int (*stage)(void *ctx, const struct unik_stage_spec *spec, struct unik_error *err);
	/* Optional: undoes stage() (deregister the AMI, delete the snapshot) when the image is
	 * removed.  Idempotent; a no-op when nothing was staged. */
	int (*unstage)(void *ctx, const char *image_dir, const char *const *opts,
	               struct unik_error *err);

	/* Optional.  Adopts or reaps an instance a restarted daemon found in its store: reports its
	 * status like status(), and when it has ended frees what the provider still held for it
	 * (a transient domain, a stale socket).  Without it, the core calls status(). */
	int (*reconcile)(void *ctx, const char *instance_dir, struct unik_instance_status *st,
	                 struct unik_error *err);

	/* Optional: events in place of polling.  A descriptor that becomes readable when the
	 * instance's state may have changed (a pidfd of its VM process, a libvirt event pipe); the
	 * core then calls status(), and closes the descriptor once the instance has ended.  -1 with
	 * err when there is none for this instance; the core then polls status() as it does for
	 * providers without events. */
	int (*event_fd)(void *ctx, const char *instance_dir, struct unik_error *err);
};

/* Whether p attaches devices of this kind; the console always. */
bool unik_provider_attaches(const struct unik_provider *p, enum unik_device_kind kind);

/* How an ended guest ended, from <dir>/console.log (docs/guest-abi.md): a crash report is
 * CRASHED with 255 and the crash line, an exit line EXITED with its status, and else, when
 * stopped (stop() was asked), STOPPED.  Returns false, with st untouched, when none of these
 * tells: the provider then says what it knows (CRASHED without an exit status). */
bool unik_status_from_console(const char *dir, bool stopped, struct unik_instance_status *st);

/* Sets st->detail from a format, cut to fit. */
void unik_status_detail(struct unik_instance_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The value of key in a "key=value" list (the last one given), or NULL. */
const char *unik_provider_opt(const char *const *opts, const char *key);

/* path made absolute (realpath), or NULL with err naming the provider, what and path.  Caller
 * frees. */
char *unik_provider_path(const char *provider, const char *what, const char *path,
                         struct unik_error *err);
/* A run spec's instance directory, kernel and initrd (NULL when there is none) as absolute
 * paths, the kernel and initrd readable; -1 with err (and nothing to free) otherwise. */
int unik_run_spec_paths(const char *provider, const struct unik_run_spec *spec, char **dir,
                        char **kernel, char **initrd, struct unik_error *err);
/* A copy of the spec's devices whose disks and directories are absolute paths (realpath, so
 * they exist), for a hypervisor that opens them from elsewhere; *out is NULL when there are no
 * devices.  The strings go into *paths.  The caller frees *out and *paths, also on failure. */
int unik_run_spec_devices(const char *provider, const struct unik_run_spec *spec,
                          struct unik_device **out, struct strv *paths, struct unik_error *err);

/* The registry: NULL-terminated list of compiled-in providers, and lookup by name. */
extern const struct unik_provider *const unik_providers[];
const struct unik_provider *unik_provider_find(const char *name);
const char *unik_provider_default(void); /* "qemu" */

#endif
