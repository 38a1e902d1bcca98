/* What unik-oci reads from an OCI bundle's config.json, how it tells a unikernel from an ordinary
 * container, and how a container's process (args, env, memory limit) becomes the guest's command
 * line and memory size (docs/oci.md). */
#ifndef UNIK_OCI_CONFIG_H
#define UNIK_OCI_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/devices.h"
#include "lib/error.h"
#include "lib/util.h"

/* Annotations unik-oci understands (podman --annotation, Kubernetes pod annotations, ctr). */
#define OCI_ANNOTATION_KERNEL "org.unik.kernel" /* kernel path inside the root fs */
/* A newc cpio next to the kernel, KERNEL + this suffix, is the guest's root fs (initrd). */
#define OCI_ROOTFS_SUFFIX     ".rootfs.cpio"
#define OCI_ANNOTATION_MEMORY "org.unik.memory" /* guest memory in MiB without a memory limit */

/* The compiler base that built an image (rump, includeos, mirage): a label of the images `unik
 * export --format oci` writes, which unik-oci also takes as an annotation. */
#define OCI_LABEL_BASE "org.unik.base"

#define OCI_DEFAULT_MEMORY_MB 64

/* The container's network namespace (linux.namespaces, type "network"). */
enum oci_netns {
	OCI_NETNS_HOST = 0, /* none listed: the runtime's own, shared with the host */
	OCI_NETNS_NEW,      /* listed without a path: the runtime makes a new one */
	OCI_NETNS_PATH,     /* listed with a path (podman, `ip netns`): join that one */
};

/* A bind mount of config.json that may become a share of the guest (docs/oci.md "Volumes"):
 * `docker run -v DIR:/data[:ro]` and named volumes. */
struct oci_bind {
	char *source;      /* the host path, absolute (a relative one is taken from the bundle) */
	char *destination; /* the container path, absolute and clean ("/data") */
	bool readonly;     /* options hold "ro" (after any "rw") */
};

/* The parts of config.json unik-oci uses.  Owned by whoever called oci_config_parse; released
 * with oci_config_free. */
struct oci_config {
	char *oci_version;    /* "1.0.2-dev"; "" when absent */
	struct strv args;     /* process.args, at least one word */
	struct strv env;      /* process.env, "NAME=VALUE" as given */
	char *cwd;            /* process.cwd, "/" when absent */
	bool terminal;        /* process.terminal */
	char *root_path;      /* root.path made absolute against the bundle */
	char *hostname;       /* hostname, 1 to 64 bytes; "" when absent */
	int64_t memory_limit; /* linux.resources.memory.limit in bytes; 0 when absent or <= 0 */
	json_t *annotations;  /* an object of strings (never NULL; empty when absent) */
	enum oci_netns netns;
	char *netns_path; /* with OCI_NETNS_PATH, else NULL */
	/* The host file that becomes the container's /etc/resolv.conf: the source of a bind
	 * mount on /etc/resolv.conf (docker, podman), else NULL (see oci_config_resolv_conf). */
	char *resolv_mount;
	json_t *hooks; /* the "hooks" object, checked (never NULL; empty when absent) */
	/* The bind mounts (type "bind", or options "bind"/"rbind") in config order, without the
	 * runtime's own (oci_mount_is_runtimes). */
	struct oci_bind *binds;
	size_t nbinds;
};

/* Parses the text of config.json; bundle (absolute) anchors a relative root.path.  Fails with
 * UNIK_E_INVALID and a message naming the field ("config.json: process.args must be a non-empty
 * array of strings") or the place of a syntax error ("config.json line 3 column 7: ...").
 * Fields unik-oci does not use are not checked.  *out is zeroed first and needs oci_config_free
 * after a failure too. */
int oci_config_parse(const char *text, size_t len, const char *bundle, struct oci_config *out,
                     struct unik_error *err);

/* Reads <bundle>/config.json and parses it. */
int oci_config_load(const char *bundle, struct oci_config *out, struct unik_error *err);

void oci_config_free(struct oci_config *c);

/* The host path of the container's /etc/resolv.conf: the bind mount's source, else the root fs's
 * own file when it exists, else NULL.  Caller frees. */
char *oci_config_resolv_conf(const struct oci_config *c);

/* True when a mount on dst is the runtime's own business, never the guest's: /proc, /sys, /dev
 * and below, /run and below, /etc/resolv.conf, /etc/hostname and /etc/hosts (docs/oci.md
 * "Volumes" says why).  dst is clean and absolute. */
bool oci_mount_is_runtimes(const char *dst);

/* The guest's shares, from c->binds: an fs device named share0, share1, ... (in config order)
 * for each bind whose source is a directory, mounted at its destination, read-only with "ro".
 * A bind of anything else (a regular file such as a secret, a socket) is left out with a line
 * saying so in notes: 9p shares directories.  A directory QEMU's user ($UNIK_QEMU_USER) cannot
 * read, or write when the share is writable, is shared with a line in notes that says so.  Their
 * strings point into c, which must outlive them; release with oci_shares_free, also after a
 * failure. */
struct oci_shares {
	struct unik_device *devs;
	size_t n;
	struct strv names; /* owns devs[i].name */
	struct strv notes; /* what was left out and why, one line each */
};
/* Fails with UNIK_E_NOTFOUND naming a source that does not exist (runc fails there too). */
int oci_config_shares(const struct oci_config *c, struct oci_shares *out, struct unik_error *err);
void oci_shares_free(struct oci_shares *s);

/* The annotation's value, or NULL.  Owned by c. */
const char *oci_config_annotation(const struct oci_config *c, const char *key);

/* 1 when path is a regular file holding an x86-64 ELF with the unik note (name "unik", type 1),
 * 0 when it is anything else (not ELF, another ELF, unreadable), -1 with err when it cannot be
 * opened at all. */
int oci_elf_is_unik(const char *path, struct unik_error *err);

/* Same, on bytes already in memory (for tests and the fuzzer). */
bool oci_elf_buf_is_unik(const void *buf, size_t len);

/* Finds the file a container path names inside root (absolute host path), resolving symbolic
 * links as if root were "/" (openat2 RESOLVE_IN_ROOT where the kernel has it).  A name without a
 * slash is searched in the PATH of env (process.env), as runc does.  *host is the resolved host
 * path (caller frees).  Fails with UNIK_E_NOTFOUND when nothing is there. */
int oci_resolve_in_root(const char *root, const char *cwd, const struct strv *env, const char *name,
                        char **host, struct unik_error *err);

/* Decides whether the bundle is a unikernel.  Returns 1 with *kernel (host path, caller frees)
 * when process.args[0] resolves inside the root fs to a unik kernel or the org.unik.kernel
 * annotation names one; 0 when it is an ordinary container (hand it to runc); -1 on an error
 * that must not be handed on: the annotation names a missing file or a file that is not a unik
 * kernel. */
int oci_detect_kernel(const struct oci_config *c, char **kernel, struct unik_error *err);

/* The guest command line (guest ABI: env(1) style): every process.env word except PATH (a
 * unikernel has one program and no exec; the image's PATH means nothing there) and words that
 * are not NAME=VALUE, then basename(args[0]) as argv[0] and the other args as they are.
 * Caller frees *out. */
int oci_guest_cmdline(const struct oci_config *c, char **out, struct unik_error *err);

/* Guest memory in MiB: the memory limit (docker --memory) rounded up to whole MiB, else the
 * org.unik.memory annotation, else OCI_DEFAULT_MEMORY_MB.  Fails on a malformed annotation or a
 * limit under 8 MiB, which no unik guest boots in. */
int oci_guest_memory_mb(const struct oci_config *c, uint64_t *mb, struct unik_error *err);

#endif
