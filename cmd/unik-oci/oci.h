/* unik-oci: an OCI runtime (runc's command line) that boots unikernel containers through the
 * core and the qemu provider, with unik-shim as the container's process, and hands every other
 * container to runc.  Shared declarations of its verbs. */
#ifndef UNIK_OCI_H
#define UNIK_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/oci_config.h"
#include "lib/oci_state.h"
#include "lib/util.h"
#include "core/vm.h"

#define OCI_DEFAULT_ROOT "/run/unik-oci"
#define OCI_SPEC_VERSION "1.0.2"

/* Global options (runc's), set by main. */
struct oci_globals {
	const char *root;
	const char *log_path;
	bool log_json;
	bool debug;
	int argc; /* the whole command line, to hand to runc unchanged */
	char **argv;
};
extern struct oci_globals oci_g;

/* ---- log.c ---- */
/* Logs at level ("error", "warning", "info", "debug") to --log in the chosen format, or to
 * stderr as "unik-oci: msg" when there is no --log.  debug lines appear only with --debug. */
void oci_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs err as an error and returns the exit status for a failed verb (1). */
int oci_fail(const struct unik_error *err);

/* ---- container.c ---- */
/* A container's directory <root>/<id>, checked for a safe id.  Caller frees. */
char *oci_container_dir(const char *id, struct unik_error *err);

/* True when <root>/<id> holds a unik-oci record; false for anything else (runc's or nothing). */
bool oci_is_unik_container(const char *id);

/* Locks and loads a unik container: *lockfd (caller closes, which unlocks) holds flock on its
 * directory, exclusive or shared.  Fails with UNIK_E_NOTFOUND "container ID does not exist". */
int oci_container_open(const char *id, bool exclusive, char **dir, int *lockfd,
                       struct oci_state *st, struct unik_error *err);

/* "created", "running" or "stopped", from the container's process (unik-shim) and the exec
 * FIFO; "creating" while create has not recorded the process. */
const char *oci_container_status(const char *dir, const struct oci_state *st);

/* The container's VM through the core (core/vm.h): the qemu provider opened on vm, with dir as
 * its instance directory.  Close with unik_vm_close. */
int oci_container_vm(struct unik_vm *vm, struct unik_error *err);

/* Sends sig to the container's running QEMU (its provider's status names it), unless it has
 * ended. */
void oci_signal_vm(struct unik_vm *vm, const char *dir, int sig);

/* Sends sig to a recorded process unless it is gone or its PID was reused. */
int oci_signal_proc(pid_t pid, unsigned long long start, int sig);
bool oci_proc_alive(pid_t pid, unsigned long long start);

/* Writes a PID file as runc does (the number alone, atomically). */
int oci_write_pid_file(const char *path, pid_t pid, struct unik_error *err);

/* The runc binary (UNIK_OCI_RUNC, else runc in PATH or /usr/sbin, /usr/bin, /usr/local/sbin,
 * /usr/local/bin), or NULL.  Static storage. */
const char *oci_runc_path(void);

/* Replaces this process with runc and the same arguments.  Returns only on failure. */
int oci_delegate(struct unik_error *err);

/* Signal names and numbers: "TERM", "SIGTERM", "15".  -1 when unknown. */
int oci_parse_signal(const char *s);

/* ---- hooks.c ---- */
/* Runs hooks[kind] (config.json's hooks, checked by oci_config_parse) one after the other, each
 * with the state document of st (status, and pid as the container's process) on its stdin.
 * stop_on_error: the first failure fails the call (prestart, createRuntime); else failures are
 * logged as warnings and the rest still run (poststart, poststop). */
int oci_run_hooks(json_t *hooks, const char *kind, const struct oci_state *st, const char *status,
                  pid_t pid, bool stop_on_error, struct unik_error *err);

/* ---- net.c ---- */
/* The container's network namespace while a unikernel container is created, and the NIC that
 * gives the guest the namespace's interface (docs/oci.md). */
struct oci_net {
	pid_t holder; /* a child that sits in the namespace while the hooks run, or 0 */
	int hold_fd;  /* the pipe that keeps it there */
	int nsfd;     /* the container's namespace; -1 when it is the runtime's (no NIC) */
	bool nic;     /* dev is filled: the guest takes ifname's place through tap */
	char ifname[16], tap[16], ip[24], gw[16], dns[16];
	struct unik_device dev; /* its strings point into this struct */
};
void oci_net_init(struct oci_net *n);
/* Makes (OCI_NETNS_NEW) or joins (OCI_NETNS_PATH) the namespace in a holder child; nothing for
 * the host's.  Release with oci_net_release, also on failure. */
int oci_net_prepare(const struct oci_config *cfg, struct oci_net *n, struct unik_error *err);
/* The PID the hooks are told is the container's: the holder's, else ours. */
pid_t oci_net_hook_pid(const struct oci_net *n);
/* Enters the container's namespace (nothing without one); *saved is ours, for oci_net_leave. */
int oci_net_enter(const struct oci_net *n, int *saved, struct unik_error *err);
void oci_net_leave(int saved);
/* Inside the namespace, once the engine has configured it: finds the interface of the IPv4
 * default route, makes the tap, redirects traffic both ways with tc, takes the address off the
 * interface and fills n->dev.  Without such an interface, 0 and no NIC. */
int oci_net_attach(struct oci_net *n, const struct oci_config *cfg, struct unik_error *err);
/* Lets the holder go and closes the namespace (the container's processes keep it). */
void oci_net_release(struct oci_net *n);

/* ---- verbs ---- */
int cmd_create(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_spec(int argc, char **argv);

/* Small option parser shared by the verbs: runc accepts "--opt value", "--opt=value" and the
 * one-dash forms.  Options are described by a NULL-terminated table. */
struct oci_opt {
	const char *name; /* long name without dashes */
	char short_name;  /* or 0 */
	bool has_value;
	const char **value; /* set to the value (has_value) or "true" (a flag) */
};
/* Parses argv[1..]; leaves the positional arguments in *pos (not copied).  On --help/-h prints
 * usage and exits 0.  Fails (returns -1 after logging) on an unknown option. */
int oci_parse_opts(int argc, char **argv, const struct oci_opt *opts, const char *usage,
                   struct strv *pos);

#endif
