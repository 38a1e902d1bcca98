/* Confining a QEMU process before it is exec'd (unik-shim for the qemu provider, unik-oci's init
 * for containers): it runs as an unprivileged uid/gid that owns nothing, with no capabilities
 * (bounding set included) and no_new_privs, and reaches its instance's files only through
 * descriptors opened for it, since $UNIK_HOME (0700, root) is closed to that uid.  QEMU's own
 * `-sandbox` adds the seccomp filter; see docs/providers.md. */
#ifndef UNIK_VMM_CONFINE_H
#define UNIK_VMM_CONFINE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/error.h"

/* The identity QEMU runs as unless $UNIK_QEMU_USER says otherwise ("UID:GID" or a user name). */
#define UNIK_QEMU_USER_DEFAULT "64122:64122"
#define UNIK_QEMU_USER_ENV     "UNIK_QEMU_USER"

/* Descriptors QEMU finds open at exec, named on its command line (providers/qemu/argv.c). */
#define UNIK_VMM_FD_QMP    3 /* a listening unix socket: -chardev socket,fd=3 */
#define UNIK_VMM_FD_KERNEL 4 /* -kernel /proc/self/fd/4 */
#define UNIK_VMM_FD_INITRD 5 /* -initrd /proc/self/fd/5 */
/* The backing of an instance's devices (lib/devices.h), device i's at UNIK_VMM_FD_DEVICES + 2i
 * and, for a writable disk, a read-only twin at the next: disks for -add-fd (QEMU picks from the
 * set the descriptor whose access mode it wants, and probes read-only first), shared directories
 * for -fsdev path=/proc/self/fd/N. */
#define UNIK_VMM_FD_DEVICES     6
#define UNIK_VMM_FD_DEVICES_MAX 32
/* Descriptors the supervisor keeps for itself in QEMU's child are at this one or above. */
#define UNIK_VMM_FD_PRIVATE 64

struct unik_vmm_user {
	uid_t uid;
	gid_t gid;
};

/* Parses "UID:GID" or the name of a user in the passwd database.  Root (uid or gid 0) is
 * refused: it would undo the confinement. */
int unik_vmm_user_parse(const char *spec, struct unik_vmm_user *u, struct unik_error *err);

/* The user from $UNIK_QEMU_USER, else UNIK_QEMU_USER_DEFAULT. */
int unik_vmm_user_get(struct unik_vmm_user *u, struct unik_error *err);

/* Whether u may read a file with these attributes by its mode bits. */
bool unik_vmm_can_read(const struct stat *st, const struct unik_vmm_user *u);

/* Whether QEMU, confined to u (NULL: running as this process's own user, which is not root),
 * can open /dev/kvm read-write.  The confined QEMU keeps /dev/kvm's group when it is not root's
 * (unik_vmm_confine_child), so Debian's udev rule (group kvm, mode 0660) lets it in; a bare
 * /dev/kvm of mode 0600 owned by root, as on a machine without udev, does not. */
bool unik_vmm_can_open_kvm(const struct unik_vmm_user *u);

/* The same by /dev/kvm's attributes, for a QEMU confined to u. */
bool unik_vmm_kvm_open_to(const struct stat *st, const struct unik_vmm_user *u);

/* Copies src to dir/name, mode 0640, group u->gid: for hypervisors started by others (libvirt)
 * that open files by path and may relabel them (a copy, so the original is never touched). */
int unik_vmm_place_file(const char *src, const char *dir, const char *name,
                        const struct unik_vmm_user *u, struct unik_error *err);

/* How a device's backing is opened for QEMU. */
enum unik_vmm_fd_mode {
	UNIK_VMM_FD_RO,  /* a file, read-only: QEMU takes it from an fd set, never reopening it */
	UNIK_VMM_FD_RW,  /* a file, read-write, likewise */
	UNIK_VMM_FD_DIR, /* a directory QEMU reopens through /proc/self/fd/N as its own user, which
	                    checks the directory's mode but not the path to it */
	UNIK_VMM_FD_TAP, /* path is a tap interface's name: /dev/net/tun attached to it, for
	                    -netdev tap,fd=N (QEMU's user may not open /dev/net/tun itself) */
	UNIK_VMM_FD_RAWTAP, /* the same without the virtio-net header: plain frames, for
	                       unik-spt (the spt provider) */
};

struct unik_vmm_fd {
	int target; /* UNIK_VMM_FD_DEVICES ... */
	enum unik_vmm_fd_mode mode;
	const char *path;
};

/* What the child opens for QEMU before it drops its privileges.  NULL fields are skipped. */
struct unik_vmm_files {
	const char *kernel;            /* becomes UNIK_VMM_FD_KERNEL */
	const char *initrd;            /* becomes UNIK_VMM_FD_INITRD */
	const char *qmp;               /* a socket bound and listened to here, UNIK_VMM_FD_QMP */
	const struct unik_vmm_fd *fds; /* devices' backing, nfds of them */
	size_t nfds;
};

/* Parses the "N:ro|rw|dir|tap|rawtap:PATH" of unik-shim's --fd into f (path points into spec): N
 * must be a device descriptor (UNIK_VMM_FD_DEVICES ...).  -1 with err otherwise. */
int unik_vmm_fd_parse(const char *spec, struct unik_vmm_fd *f, struct unik_error *err);
/* The "N:MODE:PATH" word for f.  Caller frees. */
char *unik_vmm_fd_format(const struct unik_vmm_fd *f);

/* For the child between fork and exec (single-threaded parent): opens the files, then gives up
 * root for u (when running as root; u may be NULL to keep the identity), hides /tmp, /run, the
 * homes and the like in a mount namespace of its own (as root, best effort), empties every
 * capability set and sets no_new_privs.  On failure returns -1 with errno set and *what naming
 * the step, a static string. */
int unik_vmm_confine_child(const struct unik_vmm_files *f, const struct unik_vmm_user *u,
                           const char **what);

#endif
